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
        source: vakt_core::SourceKind::new("zeek:conn"),
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
        beacons[0]
            .evidence
            .contains(&("connections".into(), "288".into())),
        "{:?}",
        beacons[0].evidence
    );
}

/// The stream runner over a week: an implant starts beaconing on day 3 at
/// 10:00 among a region's one-off browsing; with a one-day window evaluated
/// hourly, the beacon is raised once, within hours of its start (not before
/// it), never again while it goes on at the same severity; the state stays
/// at about a day's pairs; events older than the lateness are counted late.
#[test]
fn the_stream_runner_raises_a_beacon_once_soon_after_it_starts() {
    use vakt_analytics::stream::{NetworkStream, StreamConfig};
    let mut e = Event {
        time: Timestamp(0),
        tenant: Arc::from("t"),
        source: vakt_core::SourceKind::new("zeek:conn"),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("stream"),
            locator: Locator::Line(0),
        },
    };
    let implant = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    let c2 = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 23));
    let start = START + 2 * DAY + 10 * 3600;
    let mut s = NetworkStream::new(StreamConfig::default());
    let mut raised = Vec::new();
    let mut x: u64 = 1;
    let mut beat = start;
    let mut max_pairs = 0;
    // Time-ordered: every minute, a few browsing connections, and the beat when due.
    for minute in 0..7 * 24 * 60i64 {
        let t = START + minute * 60;
        for i in 0..2u32 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let src = IpAddr::V4(Ipv4Addr::new(10, 0, 1, (x >> 56) as u8));
            let dst = IpAddr::V4(Ipv4Addr::from(0x5000_0000u32 + (minute as u32) * 2 + i));
            conn(&mut e, t + (x >> 58) as i64, src, dst);
            raised.extend(s.push(&e));
        }
        if t >= beat {
            conn(&mut e, beat, implant, c2);
            raised.extend(s.push(&e));
            beat += 300;
        }
        if minute % 600 == 0 {
            let f = s.footprint();
            let pairs: usize = f
                .split("beacon pairs ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            max_pairs = max_pairs.max(pairs);
        }
    }
    // One late event (two hours behind), still inside the window.
    conn(&mut e, START + 7 * DAY - 7200, implant, c2);
    raised.extend(s.push(&e));
    raised.extend(s.flush_raised());
    let beacons: Vec<_> = raised
        .iter()
        .filter(|r| r.alert.detector == "beacon")
        .collect();
    assert!(!beacons.is_empty(), "not raised");
    for b in &beacons {
        assert!(
            b.alert.entities().contains(&vakt_core::Entity::Ip(c2)),
            "{:?}",
            b.alert
        );
    }
    for b in &beacons {
        eprintln!(
            "raised {:?} {:.1} h after the start: {}",
            b.alert.severity,
            (b.at.0 / 1_000_000_000 - start) as f64 / 3600.0,
            b.alert.title
        );
    }
    let first = beacons[0].at.0 / 1_000_000_000;
    assert!(
        first > start && first <= start + 12 * 3600,
        "raised {} h after the start",
        (first - start) / 3600
    );
    // Once per severity at most (low, medium, high).
    assert!(beacons.len() <= 3, "{}", beacons.len());
    let mut sev: Vec<_> = beacons.iter().map(|b| b.alert.severity).collect();
    sev.dedup();
    assert_eq!(
        sev.len(),
        beacons.len(),
        "raised again at the same severity"
    );
    // Two one-off pairs a minute, for at most the window, a step and the
    // lateness (25 h 5 min) before an evaluation cuts, plus the implant's.
    assert!(max_pairs <= 2 * (24 * 60 + 60 + 5) + 1, "{max_pairs}");
    assert_eq!((s.late(), s.dropped()), (1, 0));
    assert!(s.evaluations() >= 7 * 24 - 1, "{}", s.evaluations());
}
