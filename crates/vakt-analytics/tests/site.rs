//! The site model decides what the network detectors judge: probing from
//! the Internet is `inbound-scan`, never a beacon; a private address that
//! the site does not name is outside; replies of discovery services are not
//! scans; long sessions and uploads are judged against the host's own
//! baseline; HTTP without a Host header kept up for an hour is found.

use std::net::IpAddr;
use std::sync::Arc;

use vakt_analytics::network::NetworkAnalytics;
use vakt_core::field::{BYTES_OUT, DST_IP, DST_PORT, DURATION, SRC_IP, SRC_PORT, USER_AGENT};
use vakt_core::site::Sites;
use vakt_core::{Alert, Event, FieldId, Locator, Origin, SourceKind, Timestamp, Value};

struct Conn<'a> {
    t: i64,
    src: &'a str,
    dst: &'a str,
    sport: i64,
    port: i64,
    state: &'a str,
    duration: f64,
    bytes: i64,
}

fn conn(c: &Conn<'_>) -> Event {
    let mut e = Event {
        time: Timestamp(c.t * 1_000_000_000),
        tenant: Arc::from("t"),
        source: SourceKind::new("zeek:conn"),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("conn.log"),
            locator: Locator::Line(1),
        },
    };
    e.set_common(SRC_IP, Value::Ip(c.src.parse::<IpAddr>().unwrap()));
    e.set_common(DST_IP, Value::Ip(c.dst.parse::<IpAddr>().unwrap()));
    e.set_common(SRC_PORT, Value::Int(c.sport));
    e.set_common(DST_PORT, Value::Int(c.port));
    e.set_common(DURATION, Value::Interval((c.duration * 1e9) as i64));
    e.set_common(BYTES_OUT, Value::Int(c.bytes));
    e.fields.push((
        FieldId::intern("conn_state").unwrap(),
        Value::Str(c.state.into()),
    ));
    e
}

fn base(t: i64, src: &'static str, dst: &'static str, port: i64) -> Conn<'static> {
    Conn {
        t,
        src,
        dst,
        sport: 40000 + t % 20000,
        port,
        state: "SF",
        duration: 0.5,
        bytes: 400,
    }
}

fn site(yaml: &str) -> Arc<vakt_core::site::Site> {
    Sites::parse(yaml).unwrap().of("t")
}

fn run(yaml: &str, events: &[Event]) -> Vec<Alert> {
    let mut na = NetworkAnalytics::for_site(Arc::from("t"), site(yaml));
    for e in events {
        na.observe(e);
    }
    na.alerts()
}

fn of<'a>(alerts: &'a [Alert], detector: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.detector == detector).collect()
}

#[test]
fn probing_from_the_internet_is_inbound_scanning_never_a_beacon() {
    // An outside host hits the site's PC on telnet every 60 s for a day.
    let events: Vec<Event> = (0..1440)
        .map(|i| {
            conn(&Conn {
                state: "S0",
                ..base(1_700_000_000 + i * 60, "45.140.140.75", "147.32.81.167", 23)
            })
        })
        .collect();
    let alerts = run("internal: [147.32.81.167]", &events);
    assert!(of(&alerts, "beacon").is_empty(), "{alerts:#?}");
    let probes = of(&alerts, "inbound-scan");
    assert_eq!(probes.len(), 1, "{alerts:#?}");
    assert_eq!(probes[0].severity, vakt_core::Severity::Low);
    assert!(probes[0].title.contains("45.140.140.75"));
    // Without a site file both ends are outside: no inbound finding.
    let alerts = run("{}", &events);
    assert!(of(&alerts, "inbound-scan").is_empty(), "{alerts:#?}");
}

#[test]
fn a_private_c2_outside_the_site_is_outbound() {
    // A workstation calls 192.168.0.4 every 300 s: with the site naming
    // only 10.0.0.0/16 it is an outbound beacon (fit 0.45 is enough).
    let events: Vec<Event> = (0..288)
        .map(|i| {
            conn(&base(
                1_700_000_000 + i * 300 + (i * 7) % 20,
                "10.0.1.6",
                "192.168.0.4",
                8443,
            ))
        })
        .collect();
    let alerts = run("internal: [10.0.0.0/16]", &events);
    let b = of(&alerts, "beacon");
    assert_eq!(b.len(), 1, "{alerts:#?}");
    assert!(
        b[0].evidence
            .iter()
            .any(|(k, v)| k == "direction" && v == "outbound"),
        "{:?}",
        b[0].evidence
    );
}

#[test]
fn discovery_replies_are_not_a_scan_and_the_sites_scanner_is_not_reported() {
    let mut events = Vec::new();
    // SSDP replies from 200 devices to one PC's ephemeral ports, never answered.
    for i in 0..200 {
        events.push(conn(&Conn {
            sport: 1900,
            state: "S0",
            ..base(1_700_000_000 + i, "10.0.0.9", "10.0.0.5", 50000 + i)
        }));
    }
    // The site's own scanner sweeps 40 hosts' SSH.
    for i in 0..40 {
        let dst: &'static str = Box::leak(format!("10.0.2.{i}").into_boxed_str());
        events.push(conn(&Conn {
            state: "S0",
            ..base(1_700_000_100 + i, "10.0.9.50", dst, 22)
        }));
    }
    let alerts = run("internal: [10.0.0.0/8]\nscanners: [10.0.9.50]", &events);
    assert!(of(&alerts, "scan").is_empty(), "{alerts:#?}");
    // Without the scanner named, the sweep is a scan.
    let alerts = run("internal: [10.0.0.0/8]", &events);
    let s = of(&alerts, "scan");
    assert_eq!(s.len(), 1, "{alerts:#?}");
    assert!(s[0].title.contains("10.0.9.50"));
}

#[test]
fn long_sessions_and_uploads_are_judged_against_the_hosts_own_baseline() {
    let mut events = Vec::new();
    // Host A: one 3-hour session to an address nobody looked up, and 30 MB
    // up to a server no one else uses; its other uploads are small.
    events.push(conn(&Conn {
        duration: 3.0 * 3600.0,
        ..base(1_700_000_000, "10.0.0.5", "203.0.113.7", 443)
    }));
    events.push(conn(&Conn {
        bytes: 30_000_000,
        ..base(1_700_000_100, "10.0.0.5", "203.0.113.8", 443)
    }));
    for i in 0..20 {
        let dst: &'static str = Box::leak(format!("198.51.100.{i}").into_boxed_str());
        events.push(conn(&Conn {
            bytes: 50_000,
            ..base(1_700_000_200 + i, "10.0.0.5", dst, 443)
        }));
    }
    // Many short connections that add up to hours are not a long connection.
    for i in 0..100 {
        events.push(conn(&Conn {
            duration: 120.0,
            ..base(1_700_000_000 + i * 300, "10.0.0.6", "203.0.113.9", 443)
        }));
    }
    // Host B syncs 200 MB to each of several cloud addresses every day: one
    // more is its normal.
    for i in 0..6 {
        let dst: &'static str = Box::leak(format!("192.0.2.{i}").into_boxed_str());
        events.push(conn(&Conn {
            bytes: 200_000_000,
            ..base(1_700_000_300 + i, "10.0.0.7", dst, 443)
        }));
    }
    // The site's proxy sends 30 MB to a server only it uses: everyone's.
    events.push(conn(&Conn {
        bytes: 30_000_000,
        ..base(1_700_000_400, "10.0.0.8", "203.0.113.10", 443)
    }));
    let alerts = run("internal: [10.0.0.0/8]\nproxies: [10.0.0.8]", &events);
    let long = of(&alerts, "long-connection");
    assert_eq!(long.len(), 1, "{long:#?}");
    assert!(long[0].title.contains("203.0.113.7"));
    let up = of(&alerts, "exfiltration");
    assert_eq!(up.len(), 1, "{up:#?}");
    assert!(up[0].title.contains("203.0.113.8"), "{}", up[0].title);
}

#[test]
fn http_without_a_host_header_kept_up_for_an_hour_is_found() {
    let http = |t: i64, host: &str| {
        let mut e = Event {
            time: Timestamp(t * 1_000_000_000),
            tenant: Arc::from("t"),
            source: SourceKind::new("zeek:http"),
            fields: Vec::new(),
            common: Vec::new(),
            origin: Origin {
                path: Arc::from("http.log"),
                locator: Locator::Line(1),
            },
        };
        e.set_common(SRC_IP, Value::Ip("73.54.23.243".parse().unwrap()));
        e.set_common(DST_IP, Value::Ip("64.225.56.201".parse().unwrap()));
        e.set_common(vakt_core::field::URL_HOSTNAME, Value::Str(host.into()));
        e.set_common(
            USER_AGENT,
            Value::Str("Modzilla/0.0001 (Atari 7800)".into()),
        );
        e.fields
            .push((FieldId::intern("method").unwrap(), Value::Str("GET".into())));
        e
    };
    let yaml =
        "internal: [64.225.56.201]\npublic_services: [{address: 64.225.56.201, ports: [80]}]";
    // Every 5 minutes for two hours, without Host.
    let events: Vec<Event> = (0..24).map(|i| http(1_700_000_000 + i * 300, "")).collect();
    let alerts = run(yaml, &events);
    let h = of(&alerts, "http-anomaly");
    assert_eq!(h.len(), 1, "{alerts:#?}");
    assert!(h[0].title.contains("Modzilla"), "{}", h[0].title);
    // A burst of the same within a minute is a probe, not a program.
    let events: Vec<Event> = (0..24).map(|i| http(1_700_000_000 + i, "")).collect();
    assert!(of(&run(yaml, &events), "http-anomaly").is_empty());
    // With a Host header, nothing.
    let events: Vec<Event> = (0..24)
        .map(|i| http(1_700_000_000 + i * 300, "example.org"))
        .collect();
    assert!(of(&run(yaml, &events), "http-anomaly").is_empty());
}

#[test]
fn a_user_agent_only_one_host_sends_to_a_rare_destination_is_found_given_a_population() {
    let http = |t: i64, src: &str, dst: &str, ua: &str| {
        let mut e = Event {
            time: Timestamp(t * 1_000_000_000),
            tenant: Arc::from("t"),
            source: SourceKind::new("zeek:http"),
            fields: Vec::new(),
            common: Vec::new(),
            origin: Origin {
                path: Arc::from("http.log"),
                locator: Locator::Line(1),
            },
        };
        e.set_common(SRC_IP, Value::Ip(src.parse().unwrap()));
        e.set_common(DST_IP, Value::Ip(dst.parse().unwrap()));
        let host = if dst == "93.184.216.34" {
            "www.example"
        } else {
            "updates.example"
        };
        e.set_common(vakt_core::field::URL_HOSTNAME, Value::Str(host.into()));
        e.set_common(USER_AGENT, Value::Str(ua.into()));
        e.fields
            .push((FieldId::intern("method").unwrap(), Value::Str("GET".into())));
        e
    };
    let t0 = 1_700_000_000;
    let region = |hosts: usize, odd_dst: &str| {
        let mut events = Vec::new();
        // Every host browses the common site with the common agent (and
        // connects to it: its prevalence).
        for h in 0..hosts {
            let src = format!("10.0.0.{}", 10 + h);
            for k in 0..3 {
                let t = t0 + (h as i64) * 7 + k * 900;
                events.push(conn(&base(
                    t,
                    Box::leak(src.clone().into_boxed_str()),
                    "93.184.216.34",
                    80,
                )));
                events.push(http(
                    t,
                    &src,
                    "93.184.216.34",
                    "Mozilla/5.0 (Windows NT 10.0)",
                ));
            }
        }
        // One host's own agent, every 5 minutes for two hours.
        for i in 0..24 {
            events.push(http(t0 + i * 300, "10.0.0.10", odd_dst, "Updater/1.0 (x)"));
        }
        events.sort_by_key(|e| e.time);
        events
    };
    let alerts = run("internal: [10.0.0.0/8]", &region(12, "198.51.100.7"));
    let r = of(&alerts, "rare-user-agent");
    assert_eq!(r.len(), 1, "{alerts:#?}");
    assert!(r[0].title.contains("Updater/1.0"), "{}", r[0].title);
    assert!(r[0].title.contains("10.0.0.10"), "{}", r[0].title);
    // Too few hosts for rarity to mean anything.
    assert!(
        of(
            &run("internal: [10.0.0.0/8]", &region(5, "198.51.100.7")),
            "rare-user-agent"
        )
        .is_empty()
    );
    // The odd agent to the destination everybody uses: its vendor's service.
    assert!(
        of(
            &run("internal: [10.0.0.0/8]", &region(12, "93.184.216.34")),
            "rare-user-agent"
        )
        .is_empty()
    );
}
