//! DGA: a host whose look-ups of many random names fail within an hour is
//! found; failing plain names (search suffixes), random names that resolve,
//! and failures spread over many hours are not.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use vakt_analytics::network::NetworkAnalytics;
use vakt_core::field::{QUERY_HOSTNAME, SRC_IP};
use vakt_core::{Event, FieldId, Locator, Origin, Timestamp, Value};

fn lookup(na: &mut NetworkAnalytics, t: i64, client: u8, name: &str, rcode: &str, n: u64) {
    let mut e = Event {
        time: Timestamp((1_700_000_000 + t) * 1_000_000_000),
        tenant: Arc::from("t"),
        source: vakt_core::SourceKind::zeek("dns"),
        fields: vec![(FieldId::intern("rcode_name").unwrap(), Value::str(rcode))],
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("dns.log"),
            locator: Locator::Line(n),
        },
    };
    e.set_common(
        SRC_IP,
        Value::Ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, client))),
    );
    e.set_common(QUERY_HOSTNAME, Value::str(name));
    na.observe(&e);
}

/// A random-looking label (a hash of `n`, as letters and digits).
fn random_label(n: u64) -> String {
    let mut z = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD6E8_FEB8_6659_FD93;
    (0..14)
        .map(|_| {
            z ^= z << 13;
            z ^= z >> 7;
            z ^= z << 17;
            b"abcdefghijklmnopqrstuvwxyz0123456789"[(z % 36) as usize] as char
        })
        .collect()
}

#[test]
fn many_random_names_failing_within_an_hour_are_a_dga() {
    let mut na = NetworkAnalytics::new();
    let mut n = 0;
    for i in 0..60u64 {
        n += 1;
        // The infected host: a new random name every minute, none resolves.
        lookup(
            &mut na,
            i as i64 * 55,
            5,
            &format!("{}.com", random_label(i)),
            "NXDOMAIN",
            n,
        );
        // A workstation's search suffixes fail all day: few names, plain ones.
        n += 1;
        let plain = [
            "wpad.helse.local",
            "printer.helse.local",
            "isatap.helse.local",
        ];
        lookup(
            &mut na,
            i as i64 * 60,
            6,
            plain[i as usize % 3],
            "NXDOMAIN",
            n,
        );
        // Random names that resolve (a CDN's): not failures.
        n += 1;
        lookup(
            &mut na,
            i as i64 * 50,
            7,
            &format!("{}.net", random_label(1000 + i)),
            "NOERROR",
            n,
        );
        // Random names failing, but one every two hours: no burst.
        n += 1;
        lookup(
            &mut na,
            i as i64 * 7_200,
            8,
            &format!("{}.org", random_label(2000 + i)),
            "NXDOMAIN",
            n,
        );
    }
    let dga: Vec<_> = na
        .alerts()
        .into_iter()
        .filter(|a| a.detector == "dga")
        .collect();
    assert_eq!(dga.len(), 1, "{dga:#?}");
    let a = &dga[0];
    assert_eq!(
        a.actors,
        vec![vakt_core::Entity::Ip("10.0.0.5".parse().unwrap())]
    );
    assert_eq!(a.techniques, vec!["T1568.002"]);
    assert_eq!(a.severity, vakt_core::Severity::High);
    assert_eq!(a.evidence("failed_domains"), Some("60"));
    assert!(a.title.contains("60 random-looking domains"), "{}", a.title);
    assert_eq!(a.first.0 + 59 * 55 * 1_000_000_000, a.last.0);
}
