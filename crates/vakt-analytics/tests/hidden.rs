//! A beacon hidden among a host's busy benign traffic to the same destination.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use vakt_analytics::network::NetworkAnalytics;
use vakt_core::field::{BYTES_OUT, DST_IP, DST_PORT, SRC_IP};
use vakt_core::{Event, Locator, Origin, Timestamp, Value};

fn event(t: i64, src: IpAddr, dst: IpAddr, bytes: i64, n: u64) -> Event {
    let mut e = Event {
        time: Timestamp((1_700_000_000 + t) * 1_000_000_000),
        tenant: Arc::from("t"),
        source: vakt_core::SourceKind::new("zeek:conn"),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("conn.log"),
            locator: Locator::Line(n),
        },
    };
    e.set_common(SRC_IP, Value::Ip(src));
    e.set_common(DST_IP, Value::Ip(dst));
    e.set_common(DST_PORT, Value::Int(443));
    e.set_common(BYTES_OUT, Value::Int(bytes));
    e
}

/// A pseudo-random number in `0..range` (a hash of `n`).
fn hash(n: u64, range: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) % range
}

/// One host calls a cloud front every 5 minutes (±10 %) for a day, and also
/// uses it for ordinary work: three times as many connections at random
/// times with random sizes. RITA's score of the whole pair falls (its timing
/// and size parts break; what keeps it at medium are the histogram and
/// duration parts, which random all-day traffic earns as well); vakt reports
/// the beacon from its periodic part, as high, and says how it was found.
/// Another host using the same front the same way without the implant —
/// which RITA scores medium too — is not reported: it fits no period.
#[test]
fn a_beacon_hidden_in_busy_traffic_to_its_destination_is_reported() {
    let infected = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3));
    let clean = IpAddr::V4(Ipv4Addr::new(10, 1, 2, 4));
    let front = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    let mut na = NetworkAnalytics::new();
    let mut rita = vakt_analytics::beacon::BeaconTracker::new();
    let mut see = |e: Event| {
        rita.observe(&e);
        na.observe(&e);
    };
    let mut n = 0u64;
    let mut t = 50i64;
    while t < 86_400 {
        n += 1;
        see(event(t, infected, front, 310 + hash(n, 6) as i64, n));
        t += 270 + hash(n ^ 0xABCD, 61) as i64;
    }
    let beats = n;
    for host in [infected, clean] {
        for _ in 0..3 * beats {
            n += 1;
            let at = hash(n, 86_400) as i64;
            see(event(at, host, front, 200 + hash(n ^ 7, 30_000) as i64, n));
        }
    }
    let clean_rita = rita
        .findings(&vakt_analytics::beacon::BeaconConfig::default())
        .into_iter()
        .find(|f| f.src == clean)
        .expect("scored");
    assert!(clean_rita.score.score >= 0.5, "{clean_rita:?}");
    let alerts = na.alerts();
    let beacons: Vec<_> = alerts.iter().filter(|a| a.detector == "beacon").collect();
    assert_eq!(beacons.len(), 1, "{beacons:#?}");
    let a = beacons[0];
    let ev = |k: &str| {
        a.evidence
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.clone())
    };
    assert!(
        a.entities().contains(&vakt_core::Entity::Ip(infected)),
        "{a:#?}"
    );
    assert!(a.score >= 0.9, "{a:#?}");
    let whole: f64 = ev("whole_pair_score").unwrap().parse().unwrap();
    assert!(
        whole + 0.15 < a.score,
        "RITA's score of the whole pair: {whole}"
    );
    let found: u64 = ev("hidden_beats").unwrap().parse().unwrap();
    assert!(
        found as f64 >= 0.9 * beats as f64,
        "{found} of {beats} beats"
    );
    let period: f64 = ev("period_s").unwrap().parse().unwrap();
    assert!((period - 300.0).abs() < 15.0, "{period}");
    assert!(a.title.contains("hidden among"), "{}", a.title);
}
