//! Rare destinations: new, repeatedly used, by one or two hosts of many.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use vakt_analytics::network::NetworkAnalytics;
use vakt_core::field::{BYTES_OUT, DST_IP, DST_PORT, SRC_IP};
use vakt_core::{Event, Locator, Origin, Timestamp, Value};

fn observe(na: &mut NetworkAnalytics, t: i64, src: IpAddr, dst: IpAddr, n: u64) {
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
    // Sizes and times irregular enough not to be a beacon.
    e.set_common(BYTES_OUT, Value::Int(500 + (n * 7919 % 20_000) as i64));
    na.observe(&e);
}

/// A pseudo-random offset below `range` (a hash of `n`).
fn jitter(n: u64, range: i64) -> i64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % range as u64) as i64
}

fn host(i: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, i))
}

#[test]
fn a_new_destination_two_hosts_use_is_rare_and_one_three_use_is_not() {
    let mut na = NetworkAnalytics::new();
    let popular = [
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)),
    ];
    let mut n = 0;
    // 30 hosts, ten hours, irregular use of two popular destinations.
    for h in 1..=30u8 {
        for k in 0..40i64 {
            n += 1;
            let t = (k * 900 + (n as i64 * 7919) % 600) % 36_000;
            observe(&mut na, t, host(h), popular[(k % 2) as usize], n);
        }
    }
    let rare = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 9));
    let shared = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 10));
    // From hour 5: hosts 1 and 2 use `rare` 30 times over three hours;
    // hosts 1, 2 and 3 use `shared`.
    for _ in 0..30 {
        for h in [1u8, 2] {
            n += 1;
            observe(&mut na, 18_000 + jitter(n, 10_800), host(h), rare, n);
        }
        for h in [1u8, 2, 3] {
            n += 1;
            observe(
                &mut na,
                18_000 + jitter(n + 1_000_000, 10_800),
                host(h),
                shared,
                n,
            );
        }
    }
    let all = na.alerts();
    for a in &all {
        eprintln!("{} {}", a.detector, a.title);
    }
    let found: Vec<_> = all
        .into_iter()
        .filter(|a| a.detector == "rare-destination")
        .collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].targets[0], vakt_core::Entity::Ip(rare));
    assert!(
        found[0]
            .entities()
            .contains(&vakt_core::Entity::Ip(host(1)))
    );
    assert!(
        found[0]
            .entities()
            .contains(&vakt_core::Entity::Ip(host(2)))
    );
}
