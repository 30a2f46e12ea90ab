//! Retro-hunts over the event store: equal to a full scan, skipping what cannot match.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use vakt_core::field::{DST_IP, DST_PORT, FILE_SHA256, QUERY_HOSTNAME, SRC_IP};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Event, Locator, Origin, Timestamp, Value};
use vakt_intel::{Indicator, Kind, Matcher};
use vakt_store::Store;

const DAY: i64 = 86_400;
const T0: i64 = 1_514_764_800; // 2018-01-01

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn event(t: i64, source: &str, n: u64) -> Event {
    Event {
        time: Timestamp(t * 1_000_000_000),
        tenant: Arc::from("ous"),
        source: vakt_core::SourceKind::new(source),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from(format!("{source}.log")),
            locator: Locator::Line(n),
        },
    }
}

/// Thirty days of a small network: 800 connections and 200 DNS queries a
/// day; on day 3, host 10.0.0.42 calls 203.0.113.66 five times and looks up
/// `c2.evil.example`; a process with a known bad SHA-256 runs on day 17.
fn history() -> Vec<Event> {
    let mut rng = Rng(7);
    let mut out = Vec::new();
    let mut n = 0;
    for day in 0..30 {
        for k in 0..1000 {
            n += 1;
            let t = T0 + day * DAY + (rng.next() % DAY as u64) as i64;
            let src = IpAddr::V4(Ipv4Addr::new(10, 0, 0, (rng.next() % 200) as u8));
            if k < 800 {
                let mut e = event(t, "zeek:conn", n);
                e.set_common(SRC_IP, Value::Ip(src));
                e.set_common(
                    DST_IP,
                    Value::Ip(IpAddr::V4(Ipv4Addr::new(
                        93,
                        (rng.next() % 50) as u8,
                        (rng.next() % 250) as u8,
                        1,
                    ))),
                );
                e.set_common(DST_PORT, Value::Int(443));
                out.push(e);
            } else {
                let mut e = event(t, "zeek:dns", n);
                e.set_common(SRC_IP, Value::Ip(src));
                e.set_common(
                    QUERY_HOSTNAME,
                    Value::str(&format!(
                        "host{}.benign{}.example",
                        rng.next() % 30,
                        rng.next() % 40
                    )),
                );
                out.push(e);
            }
        }
        if day == 2 {
            for k in 0..5 {
                n += 1;
                let mut e = event(T0 + 2 * DAY + 36_000 + k * 300, "zeek:conn", n);
                e.set_common(SRC_IP, Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 42))));
                e.set_common(
                    DST_IP,
                    Value::Ip(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 66))),
                );
                out.push(e);
            }
            n += 1;
            let mut e = event(T0 + 2 * DAY + 35_990, "zeek:dns", n);
            e.set_common(SRC_IP, Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 42))));
            e.set_common(QUERY_HOSTNAME, Value::str("c2.evil.example"));
            out.push(e);
        }
        if day == 16 {
            n += 1;
            let mut e = event(
                T0 + 16 * DAY + 100,
                "evtx:Microsoft-Windows-Sysmon/Operational",
                n,
            );
            e.set_common(
                FILE_SHA256,
                Value::str("EF537F25C895BFA782526529A9B63D97AA631564D5D789C2B765448C8635FB6C"),
            );
            e.set_common(vakt_core::field::DEVICE_HOSTNAME, Value::str("OUS-WS0042"));
            out.push(e);
        }
    }
    out.sort_by_key(|e| e.time);
    out
}

fn indicator(kind: Kind, v: &str) -> Indicator {
    Indicator {
        kind,
        value: vakt_intel::normalise(kind, v).unwrap(),
        source: Arc::from("partner-feed"),
        id: format!("{}-{v}", kind.name()),
        name: String::new(),
        confidence: Some(80),
        valid: (None, None),
        tlp: Some("amber".into()),
        kill_chain: Vec::new(),
        to_ids: true,
        warning: None,
        sightings: 0,
    }
}

#[test]
fn retro_hunt_equals_a_full_scan_and_skips_what_cannot_match() {
    let dir = tempfile::tempdir().unwrap();
    let (store, removed) = Store::open(dir.path()).unwrap();
    assert_eq!(removed, 0);
    let events = history();
    let mut w = store
        .writer(Arc::new(
            Pseudonymiser::new(b"store test key, 16+ bytes").unwrap(),
        ))
        .with_sizes(4_000, 500);
    for e in &events {
        w.append(e).unwrap();
    }
    w.flush().unwrap();
    assert_eq!(w.written(), events.len() as u64);
    let st = store.stats().unwrap();
    assert_eq!(st.events, events.len() as u64);
    assert_eq!(st.first, Some(events[0].time.0));
    assert_eq!(st.last, Some(events.last().unwrap().time.0));
    assert_eq!(st.by_tenant["ous"], events.len() as u64);
    assert!(st.segments >= 60, "{st:?}");

    let new = vec![
        indicator(Kind::Ip, "203.0.113.66"),
        indicator(Kind::Domain, "evil.example"),
        indicator(
            Kind::Sha256,
            "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c",
        ),
        indicator(Kind::Ip, "198.51.100.1"),
        indicator(Kind::Cidr, "93.7.0.0/16"),
    ];
    let found = vakt_intel::retro::hunt(&store, &new).unwrap();
    eprintln!(
        "segments {:?}, row groups {:?}, events read {}",
        found.segments, found.row_groups, found.events_read
    );
    // The full scan: every event through the matcher.
    let m = Matcher::new(new.clone());
    let mut full: std::collections::BTreeMap<String, (u64, i64, i64)> = Default::default();
    for e in &events {
        let mut hits = Vec::new();
        m.event(e, &mut hits);
        let mut idx: Vec<u32> = hits.iter().map(|h| h.indicator).collect();
        idx.sort_unstable();
        idx.dedup();
        for i in idx {
            let s = full
                .entry(new[i as usize].value.clone())
                .or_insert((0, i64::MAX, i64::MIN));
            s.0 += 1;
            s.1 = s.1.min(e.time.0);
            s.2 = s.2.max(e.time.0);
        }
    }
    let got: std::collections::BTreeMap<String, (u64, i64, i64)> = found
        .sightings
        .iter()
        .map(|s| (s.value.clone(), (s.count, s.first, s.last)))
        .collect();
    assert_eq!(got, full);
    // The C2: first contacted on day 3 by 10.0.0.42, five times.
    let c2 = found
        .sightings
        .iter()
        .find(|s| s.value == "203.0.113.66")
        .unwrap();
    assert_eq!(c2.count, 5);
    assert_eq!((c2.first - T0 * 1_000_000_000) / (DAY * 1_000_000_000), 2);
    assert_eq!(c2.hosts.iter().collect::<Vec<_>>(), vec!["10.0.0.42"]);
    assert_eq!(
        found
            .sightings
            .iter()
            .find(|s| s.value == "evil.example")
            .unwrap()
            .count,
        1
    );
    assert_eq!(
        found
            .sightings
            .iter()
            .find(|s| s.kind == "sha256")
            .unwrap()
            .hosts
            .iter()
            .next()
            .unwrap(),
        "OUS-WS0042"
    );
    assert!(!found.sightings.iter().any(|s| s.value == "198.51.100.1"));

    // Without the network (which needs the addresses read), bloom filters skip most row groups.
    let exact = vakt_intel::retro::hunt(&store, &new[..4]).unwrap();
    eprintln!(
        "exact only: segments {:?}, row groups {:?}",
        exact.segments, exact.row_groups
    );
    assert!(
        exact.row_groups.1 * 4 < exact.row_groups.0,
        "{:?}",
        exact.row_groups
    );
    let got2: usize = exact.sightings.len();
    assert_eq!(got2, 3);
}
