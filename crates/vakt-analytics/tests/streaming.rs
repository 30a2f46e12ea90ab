//! Streaming: state covers a window and stays bounded however long the
//! stream, and findings are the window's.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use vakt_analytics::network::NetworkAnalytics;
use vakt_core::field::{BYTES_OUT, DST_IP, DST_PORT, SRC_IP};
use vakt_core::{Event, Locator, Origin, Timestamp, Value};

const DAY: i64 = 86_400;
const START: i64 = 1_700_006_400; // a midnight

fn conn(e: &mut Event, t: i64, src: IpAddr, dst: IpAddr) {
    e.time = Timestamp(t * 1_000_000_000);
    e.set_common(SRC_IP, Value::Ip(src));
    e.set_common(DST_IP, Value::Ip(dst));
    e.set_common(DST_PORT, Value::Int(443));
    e.set_common(BYTES_OUT, Value::Int(400));
}

#[test]
fn a_week_of_stream_with_a_one_day_window() {
    let mut e = Event {
        time: Timestamp(0),
        tenant: Arc::from("t"),
        source: Arc::from("zeek:conn"),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("stream"),
            locator: Locator::Line(0),
        },
    };
    let implant = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    let c2 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 23));
    let mut na = NetworkAnalytics::new();
    let mut pairs_per_day = Vec::new();
    let mut x: u64 = 1;
    for day in 0..7 {
        let base = START + day * DAY;
        // The implant every 300 s.
        for k in 0..288 {
            conn(&mut e, base + k * 300, implant, c2);
            na.observe(&e);
        }
        // 2,000 one-off browsing pairs to addresses never seen again.
        for i in 0..2000u32 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let src = IpAddr::V4(Ipv4Addr::new(10, 0, 1, (i % 200) as u8));
            let dst = IpAddr::V4(Ipv4Addr::from(0x5000_0000u32 + (day as u32) * 100_000 + i));
            conn(&mut e, base + (x >> 48) as i64 % DAY, src, dst);
            na.observe(&e);
        }
        // Keep one day: forget all before this day's start.
        na.expire(Timestamp(base * 1_000_000_000));
        let f = na.footprint();
        let pairs: usize = f
            .split("beacon pairs ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        pairs_per_day.push(pairs);
    }
    // Bounded: one day's pairs (2,000 one-offs and the implant), not seven.
    assert!(
        pairs_per_day.iter().all(|p| *p <= 2001),
        "{pairs_per_day:?}"
    );
    assert_eq!(pairs_per_day[6], 2001, "{pairs_per_day:?}");
    let beacons: Vec<_> = na
        .alerts()
        .into_iter()
        .filter(|a| a.detector == "beacon")
        .collect();
    assert_eq!(beacons.len(), 1, "{beacons:?}");
    // The window's: from the last day only.
    assert!(beacons[0].first.0 >= (START + 6 * DAY) * 1_000_000_000);
    assert!(
        beacons[0].evidence.contains(&("connections", "288".into())),
        "{:?}",
        beacons[0].evidence
    );
}
