//! Live matching: one million indicators, ten million events, one core.
//!
//! `cargo bench -p vakt-intel --bench match1m` (`VAKT_BENCH_EVENTS`,
//! `VAKT_BENCH_INDICATORS`). Indicators: 40 % single IPv4 addresses, 10 %
//! IPv4 networks (1 in 100 a /16, the rest /24 to /30), 30 % domains, 10 % SHA-256 hashes, 10 % URLs,
//! as a large feed mix looks. Events, generated in memory (one reused event
//! per kind, its values changed per event): 70 % connections (two
//! addresses), 25 % DNS queries (a name of three labels), 5 % process starts
//! with a SHA-256. The loop runs once with the look-up and once without; the
//! difference is the look-up's own time, reported as events/s, with the
//! hits, the matcher's build time and the peak resident memory.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use vakt_core::field::{DST_IP, FILE_SHA256, QUERY_HOSTNAME, SRC_IP};
use vakt_core::{Event, Locator, Origin, Timestamp, Value};
use vakt_intel::{Indicator, Kind, Matcher};

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

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<f64>().ok()? / 1024.0)
}

fn ind(kind: Kind, value: String) -> Indicator {
    Indicator {
        kind,
        value,
        source: Arc::from("bench"),
        id: String::new(),
        name: String::new(),
        confidence: None,
        valid: (None, None),
        tlp: None,
        kill_chain: Vec::new(),
        to_ids: true,
        warning: None,
        sightings: 0,
    }
}

fn name(r: u64) -> String {
    format!("h{}.d{}.example", r % 50, (r >> 8) % 2_000_000)
}

fn main() {
    let n_ind: u64 = std::env::var("VAKT_BENCH_INDICATORS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let n_ev: u64 = std::env::var("VAKT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let mut rng = Rng(42);
    let mut inds = Vec::with_capacity(n_ind as usize);
    for k in 0..n_ind {
        let r = rng.next();
        let v = match k % 10 {
            0..=3 => ind(Kind::Ip, Ipv4Addr::from(r as u32).to_string()),
            4 => {
                let len = if r.is_multiple_of(100) {
                    16
                } else {
                    24 + (r % 7) as u8
                };
                let net = (r as u32) & (u32::MAX << (32 - u32::from(len)));
                ind(Kind::Cidr, format!("{}/{len}", Ipv4Addr::from(net)))
            }
            // One domain indicator in 1,000 is among the names the events use.
            5..=7 => ind(
                Kind::Domain,
                format!(
                    "d{}.example",
                    (r >> 8) % 2_000_000 + if r.is_multiple_of(1000) { 0 } else { 3_000_000 }
                ),
            ),
            8 => ind(
                Kind::Sha256,
                format!("{:016x}{:016x}{:016x}{:016x}", r, r ^ 1, r ^ 2, r ^ 3),
            ),
            _ => ind(
                Kind::Url,
                format!("http://u{}.example/p/{}", r % 1_000_000, r % 97),
            ),
        };
        inds.push(v);
    }
    let t = Instant::now();
    let m = Matcher::new(inds);
    let build = t.elapsed().as_secs_f64();
    let mk = |src: &str| Event {
        time: Timestamp(0),
        tenant: Arc::from("bench"),
        source: vakt_core::SourceKind::new(src),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("bench"),
            locator: Locator::Line(0),
        },
    };
    let (mut conn, mut dns, mut proc_) = (
        mk("zeek:conn"),
        mk("zeek:dns"),
        mk("evtx:Microsoft-Windows-Sysmon/Operational"),
    );
    // One reused event per kind, its values changed per event as a reader
    // would fill it: timed once with the look-up and once without, the
    // difference is the look-up's own cost.
    let mut hits = Vec::new();
    let mut total_hits = 0u64;
    let mut run = |with_lookup: bool, rng: &mut Rng| -> f64 {
        let t = Instant::now();
        for _ in 0..n_ev {
            let (k, a, b) = (rng.next() % 100, rng.next(), rng.next());
            let e = if k < 70 {
                conn.set_common(
                    SRC_IP,
                    Value::Ip(IpAddr::V4(Ipv4Addr::new(
                        10,
                        (a >> 8) as u8,
                        (a >> 16) as u8,
                        a as u8,
                    ))),
                );
                conn.set_common(DST_IP, Value::Ip(IpAddr::V4(Ipv4Addr::from(b as u32))));
                &conn
            } else if k < 95 {
                dns.set_common(QUERY_HOSTNAME, Value::str(&name(b)));
                &dns
            } else {
                proc_.set_common(
                    FILE_SHA256,
                    Value::str(&format!("{b:016x}{a:016x}{b:016x}{a:016x}")),
                );
                &proc_
            };
            if with_lookup {
                hits.clear();
                m.event(e, &mut hits);
                total_hits += hits.len() as u64;
            } else {
                std::hint::black_box(e);
            }
        }
        t.elapsed().as_secs_f64()
    };
    let with = run(true, &mut Rng(7));
    let without = run(false, &mut Rng(7));
    let timed = (with - without).max(1e-9);
    println!(
        "indicators         {} (matcher built in {build:.2} s)",
        m.len()
    );
    println!("events             {n_ev}");
    println!(
        "events + look-up   {with:.2} s; events alone {without:.2} s; look-up alone {timed:.2} s = {:.0} events/s (one core)",
        n_ev as f64 / timed
    );
    println!("hits               {total_hits}");
    println!(
        "peak RSS           {:.0} MiB",
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
