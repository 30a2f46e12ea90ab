//! Ten million Zeek conn records through the network detectors on one core.
//!
//! `cargo bench -p vakt-analytics --bench conn10m` (set `VAKT_BENCH_RECORDS`
//! for another count). The records are generated in memory — one reused
//! event whose time, addresses, port, bytes and duration change per record —
//! so the figure is the detectors' own cost, not a reader's. One day of a
//! region: 5,000 internal hosts, each with 40 usual destinations among 2,000
//! popular ones, 5% of connections to a long tail of 100,000 rare addresses,
//! 1% SMB to ten file servers, 1% remote administration by 50 administrators
//! of their own servers, and 20 hidden beacons.
//! Reports records/s for observing, the time to score and alert, the number
//! of pairs, and the peak resident memory (VmHWM).

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use vakt_analytics::network::NetworkAnalytics;
use vakt_core::field::{BYTES_OUT, DST_IP, DST_PORT, DURATION, SRC_IP};
use vakt_core::{Event, Locator, Origin, Timestamp, Value};

/// SplitMix64: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn internal(i: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8))
}

fn external(i: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(
        100 + (i >> 16) as u8 % 100,
        (i >> 8) as u8,
        i as u8,
        7,
    ))
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let n: u64 = std::env::var("VAKT_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    const HOSTS: u64 = 5_000;
    const DAY: i64 = 1_700_000_000;
    let mut rng = Rng(2018);
    let mut e = Event {
        time: Timestamp(0),
        tenant: Arc::from("bench"),
        source: vakt_core::SourceKind::new("zeek:conn"),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("generated/conn.log"),
            locator: Locator::Line(0),
        },
    };
    let mut na = NetworkAnalytics::new();
    let rss_before = peak_rss_mib();
    let start = Instant::now();
    for i in 0..n {
        let r = rng.below(1000);
        let (src, dst, port, t, bytes, dur) = if r < 2 {
            // 20 beacons, every 60 s with a little jitter, 300 bytes out.
            let b = rng.below(20);
            let k = rng.below(1440) as i64;
            let t = DAY + k * 60 + rng.below(3) as i64;
            (internal(b * 97), external(200_000 + b), 443, t, 300, 0.2)
        } else if r < 12 {
            // Workstations to their file server over SMB.
            let h = rng.below(HOSTS);
            let t = DAY + rng.below(86_400) as i64;
            (internal(h), internal(60_000 + h % 10), 445, t, 2_000, 1.0)
        } else if r < 22 {
            // 50 administrators, each to its own ten of 500 servers.
            let a = rng.below(50);
            let server = (a * 7 + rng.below(10)) % 500;
            let t = DAY + rng.below(86_400) as i64;
            let port = [3389, 5985, 22][rng.below(3) as usize];
            (
                internal(50_000 + a),
                internal(61_000 + server),
                port,
                t,
                2_000,
                1.0,
            )
        } else if r < 72 {
            let h = rng.below(HOSTS);
            let d = 10_000 + rng.below(100_000);
            let t = DAY + rng.below(86_400) as i64;
            (internal(h), external(d), 443, t, 1_500, 2.0)
        } else {
            let h = rng.below(HOSTS);
            let d = (h * 7919 + rng.below(40)) % 2_000;
            let t = DAY + rng.below(86_400) as i64;
            let bytes = 500 + rng.below(20_000) as i64;
            (internal(h), external(d), 443, t, bytes, 0.5)
        };
        e.time = Timestamp(t * 1_000_000_000);
        e.origin.locator = Locator::Line(i + 1);
        e.set_common(SRC_IP, Value::Ip(src));
        e.set_common(DST_IP, Value::Ip(dst));
        e.set_common(DST_PORT, Value::Int(port));
        e.set_common(BYTES_OUT, Value::Int(bytes));
        e.set_common(DURATION, Value::Float(dur));
        na.observe(&e);
    }
    let observed = start.elapsed();
    let rss_observed = peak_rss_mib();
    let scoring = Instant::now();
    let alerts = na.alerts();
    let scored = scoring.elapsed();
    let beacons = alerts.iter().filter(|a| a.detector == "beacon").count();
    println!("records            {n}");
    println!(
        "observe            {:.2} s  ({:.0} records/s, one core)",
        observed.as_secs_f64(),
        n as f64 / observed.as_secs_f64()
    );
    println!("score and alert    {:.2} s", scored.as_secs_f64());
    println!(
        "total              {:.2} s  ({:.0} records/s)",
        (observed + scored).as_secs_f64(),
        n as f64 / (observed + scored).as_secs_f64()
    );
    println!("{}", na.footprint());
    println!("alerts             {} ({beacons} beacons)", alerts.len());
    // The planted beacons go to external(200_000 + b).
    let planted: Vec<String> = (0..20).map(|b| external(200_000 + b).to_string()).collect();
    let others: Vec<&str> = alerts
        .iter()
        .filter(|a| !planted.iter().any(|p| a.title.contains(&format!(" {p} "))))
        .map(|a| a.title.as_str())
        .collect();
    println!(
        "planted beacons    {} of 20 found",
        alerts.len() - others.len()
    );
    println!("other findings     {}", others.len());
    for t in others.iter().take(5) {
        println!("                   {t}");
    }
    if let (Some(a), Some(b), Some(c)) = (rss_before, rss_observed, peak_rss_mib()) {
        println!("peak RSS           {c:.0} MiB (before {a:.0}, after observing {b:.0})");
    }
}
