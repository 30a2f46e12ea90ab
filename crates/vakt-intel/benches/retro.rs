//! Retro-hunt of 1,000 new indicators over 100 million stored events.
//!
//! `cargo bench -p vakt-intel --bench retro` (`VAKT_BENCH_EVENTS` for another
//! count, `VAKT_BENCH_DIR` to keep the store somewhere else than a temporary
//! folder). Events are generated as a region's network logs would give them —
//! 75 % connections (a source of 5,000 internal hosts, a destination of
//! 200,000 outside addresses), 25 % DNS queries (names under 50,000 domains)
//! — over 30 days, and on day 3 now and then (1 in 10,000 events) an
//! attacker's four C2 addresses and names; written through the store writer
//! (segments of 65,536 events, row groups of 16,384). Then 1,000 new
//! indicators (500 addresses, 300 domains, 200 SHA-256), the attacker's 8
//! among them, are hunted.
//! Reports: write rate; store bytes per million events against the same
//! events as Zeek TSV lines; the hunt's seconds, sightings, and the share of
//! segments and row groups skipped by the bloom filters.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use vakt_core::field::{DST_IP, DST_PORT, QUERY_HOSTNAME, SRC_IP, SRC_PORT};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Event, Locator, Origin, Timestamp, Value};
use vakt_intel::{Indicator, Kind};

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

fn c2(i: u64) -> Ipv4Addr {
    Ipv4Addr::new(203, 0, 113, 10 + i as u8)
}

fn outside(i: u64) -> Ipv4Addr {
    Ipv4Addr::from(0x5000_0000u32 + (i as u32) * 7)
}

fn ind(kind: Kind, value: String) -> Indicator {
    Indicator {
        kind,
        value,
        source: Arc::from("bench-feed"),
        id: String::new(),
        name: String::new(),
        confidence: Some(80),
        valid: (None, None),
        tlp: None,
        kill_chain: Vec::new(),
        to_ids: true,
        warning: None,
        sightings: 0,
    }
}

fn main() {
    let n: u64 = std::env::var("VAKT_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000_000);
    let tmp;
    let dir = match std::env::var_os("VAKT_BENCH_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_owned()
        }
    };
    let (store, _) = vakt_store::Store::open(&dir).unwrap();
    let mut w = store.writer(Arc::new(
        Pseudonymiser::new(b"benchmark key, 16+ bytes").unwrap(),
    ));
    let mut rng = Rng(9);
    let mk = |src: &str| Event {
        time: Timestamp(0),
        tenant: Arc::from("ous"),
        source: vakt_core::SourceKind::new(src),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from(format!("{src}.log")),
            locator: Locator::Line(0),
        },
    };
    let (mut conn, mut dns) = (mk("zeek:conn"), mk("zeek:dns"));
    let start = 1_514_764_800i64 * 1_000_000_000;
    let span = 30 * 86_400i64 * 1_000_000_000;
    let mut raw_bytes = 0u64;
    let t = Instant::now();
    for k in 0..n {
        let time = Timestamp(start + (span as u128 * k as u128 / n as u128) as i64);
        let r = rng.next();
        let src = IpAddr::V4(Ipv4Addr::new(10, 20, (r >> 8) as u8 % 20, r as u8));
        // On day 3 only, now and then, the attacker's four C2 addresses and names.
        let day3 = k * 30 / n == 2;
        let special = day3 && (r >> 50).is_multiple_of(10_000);
        let e = if !r.is_multiple_of(4) {
            conn.time = time;
            conn.origin.locator = Locator::Line(k);
            conn.set_common(SRC_IP, Value::Ip(src));
            conn.set_common(SRC_PORT, Value::Int(49152 + (r >> 20) as i64 % 16000));
            let dst = if special {
                c2((r >> 30) % 4)
            } else {
                outside((r >> 24) % 200_000)
            };
            conn.set_common(DST_IP, Value::Ip(IpAddr::V4(dst)));
            conn.set_common(DST_PORT, Value::Int(443));
            // A Zeek conn.log line of this record is about 150 bytes.
            raw_bytes += 150;
            &conn
        } else {
            dns.time = time;
            dns.origin.locator = Locator::Line(k);
            dns.set_common(SRC_IP, Value::Ip(src));
            let name = if special {
                format!("cdn.c2-{}.example", (r >> 30) % 4)
            } else {
                format!("www{}.d{}.example", (r >> 40) % 10, (r >> 16) % 50_000)
            };
            dns.set_common(QUERY_HOSTNAME, Value::str(&name));
            // A Zeek dns.log line is about 200 bytes.
            raw_bytes += 200;
            &dns
        };
        w.append(e).unwrap();
    }
    w.flush().unwrap();
    let write = t.elapsed().as_secs_f64();
    let st = store.stats().unwrap();
    // 1,000 new indicators, 10 of them in the history.
    let mut inds = Vec::new();
    for i in 0..500u64 {
        let a = if i < 4 {
            c2(i)
        } else {
            Ipv4Addr::from(0x6000_0000u32 + i as u32)
        };
        inds.push(ind(Kind::Ip, a.to_string()));
    }
    for i in 0..300u64 {
        let d = if i < 4 {
            format!("c2-{i}.example")
        } else {
            format!("never{i}.example")
        };
        inds.push(ind(Kind::Domain, d));
    }
    for i in 0..200u64 {
        inds.push(ind(Kind::Sha256, format!("{:064x}", i + 1)));
    }

    let t = Instant::now();
    let found = vakt_intel::retro::hunt(&store, &inds).unwrap();
    let hunt = t.elapsed().as_secs_f64();
    println!(
        "events stored      {} in {write:.1} s ({:.0} events/s, one core)",
        st.events,
        st.events as f64 / write
    );
    println!(
        "store size         {} bytes = {:.1} MB per million events; the same as Zeek TSV about {:.1} MB per million ({:.0} %)",
        st.bytes,
        st.bytes as f64 / st.events as f64,
        raw_bytes as f64 / n as f64,
        100.0 * st.bytes as f64 / raw_bytes as f64
    );
    println!(
        "segments           {}; row groups {}",
        found.segments.0, found.row_groups.0
    );
    println!(
        "retro-hunt         1,000 indicators in {hunt:.2} s: {} seen; read {} of {} segments ({:.1} % skipped), {} of {} row groups ({:.1} % skipped), {} events compared",
        found.sightings.len(),
        found.segments.1,
        found.segments.0,
        100.0 * (1.0 - found.segments.1 as f64 / found.segments.0.max(1) as f64),
        found.row_groups.1,
        found.row_groups.0,
        100.0 * (1.0 - found.row_groups.1 as f64 / found.row_groups.0.max(1) as f64),
        found.events_read
    );
}
