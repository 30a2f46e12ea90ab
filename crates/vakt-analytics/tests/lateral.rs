//! Lateral movement by hosts with and without a history of administration.

use std::net::IpAddr;
use std::sync::Arc;

use vakt_analytics::network::NetworkAnalytics;
use vakt_core::field::{DST_IP, DST_PORT, SRC_IP};
use vakt_core::{Event, Locator, Origin, Timestamp, Value};

fn conn(t_min: i64, src: &str, dst: &str, port: i64) -> Event {
    let mut e = Event {
        time: Timestamp((1_700_000_000 + t_min * 60) * 1_000_000_000),
        tenant: Arc::from("t"),
        source: vakt_core::SourceKind::new("zeek:conn"),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("conn.log"),
            locator: Locator::Line(t_min as u64 + 1),
        },
    };
    e.set_common(SRC_IP, Value::Ip(src.parse::<IpAddr>().unwrap()));
    e.set_common(DST_IP, Value::Ip(dst.parse::<IpAddr>().unwrap()));
    e.set_common(DST_PORT, Value::Int(port));
    e
}

#[test]
fn an_administrator_reaching_many_new_hosts_within_the_hour_is_flagged() {
    let mut na = NetworkAnalytics::new();
    // Ten hours of data; the first fifth (two hours) is the baseline.
    // 10.0.0.5 administers two servers from the start; 10.0.0.6 one.
    for h in 0..10 {
        na.observe(&conn(h * 60, "10.0.0.5", "10.0.1.1", 3389));
        na.observe(&conn(h * 60 + 5, "10.0.0.5", "10.0.1.2", 5985));
        na.observe(&conn(h * 60 + 7, "10.0.0.6", "10.0.1.1", 22));
    }
    // Later 10.0.0.6 reaches one new server an hour: routine.
    for h in 3..9 {
        na.observe(&conn(h * 60 + 30, "10.0.0.6", &format!("10.0.2.{h}"), 22));
    }
    // At hour 6, 10.0.0.5 reaches four hosts it never touched, in 20 minutes.
    for (i, host) in ["10.0.3.1", "10.0.3.2", "10.0.3.3", "10.0.3.4"]
        .iter()
        .enumerate()
    {
        na.observe(&conn(360 + 5 * i as i64, "10.0.0.5", host, 445));
    }
    let lateral: Vec<_> = na
        .alerts()
        .into_iter()
        .filter(|a| a.detector == "lateral-movement")
        .collect();
    assert_eq!(lateral.len(), 1, "{lateral:#?}");
    let a = &lateral[0];
    assert!(
        a.title
            .starts_with("10.0.0.5 reached 4 internal hosts it never administered before"),
        "{}",
        a.title
    );
    assert_eq!(a.severity, vakt_core::Severity::High);
    assert!(
        a.evidence
            .contains(&("hosts_administered_before".into(), "2".into()))
    );
}
