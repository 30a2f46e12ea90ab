//! On a simulated region under attack, the network detectors find the
//! attack's beacon, DNS tunnel, upload and lateral movement, and the benign
//! periodic traffic does not rank above them.

use std::path::Path;

use vakt_analytics::network::NetworkAnalytics;
use vakt_core::{Alert, Entity};

fn analyse(root: &Path) -> Vec<Alert> {
    let mut net = NetworkAnalytics::new();
    let mut stack = vec![root.join("tenants")];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().contains("/zeek/") {
                files.push(p);
            }
        }
    }
    files.sort();
    for f in files {
        vakt_ingest::read_path(&f, &vakt_ingest::Options::default(), &mut |v| {
            if let vakt_ingest::Visit::Event(e) = v {
                net.observe(&e);
            }
        });
    }
    net.alerts()
}

fn involves(a: &Alert, ip: &str) -> bool {
    a.entities()
        .iter()
        .any(|e| matches!(e, Entity::Ip(i) if i.to_string() == ip))
}

#[test]
fn the_attack_is_found_and_benign_periodic_traffic_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = vakt_sim::Config::new(dir.path(), 11, 3000, 2);
    // A known procedure: these tests are of the detectors made for it.
    cfg.procedures = Some(vakt_sim::procedures::Procedures::classic());
    cfg.staff = 160;
    vakt_sim::run(&cfg).unwrap();
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("truth/summary.json")).unwrap(),
    )
    .unwrap();
    let reached: Vec<String> = truth["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["ip"].as_str().unwrap().to_owned())
        .collect();
    let alerts = analyse(dir.path());
    for a in alerts.iter().take(12) {
        eprintln!("{:<17} {:.3} {}", a.detector, a.score, a.title);
    }
    let find = |detector: &str, ip: &str| {
        alerts
            .iter()
            .position(|a| a.detector == detector && involves(a, ip))
    };
    let beacon = find("beacon", "198.51.100.23").expect("the implant's beacon");
    let Entity::Ip(victim) = alerts[beacon].entities()[0].clone() else {
        panic!("no source")
    };
    let victim_host = victim.to_string();
    assert!(
        reached.contains(&victim_host),
        "{victim_host} not in {reached:?}"
    );
    // The same implant, by the name in its TLS handshakes (SNI).
    assert!(
        alerts.iter().any(|a| a.detector == "beacon"
            && a.entities()[0] == Entity::Ip(victim)
            && matches!(&a.entities()[1], Entity::Domain(_))),
        "no beacon to the C2's name"
    );
    // Every beacon found is the implant's.
    for a in alerts.iter().filter(|a| a.detector == "beacon") {
        assert_eq!(a.entities()[0], Entity::Ip(victim), "{}", a.title);
    }
    assert!(alerts.iter().any(|a| {
        a.detector == "dns-tunnel"
            && a.entities()
                .contains(&Entity::Domain("msft-update-check.com".into()))
    }));
    assert!(find("exfiltration", "203.0.113.77").is_some());
    let lateral =
        find("lateral-movement", &victim_host).expect("the victim's workstation moving laterally");
    assert!(
        alerts[lateral]
            .evidence
            .iter()
            .any(|(k, v)| *k == "hosts_within_an_hour" && v == "3"),
        "{:?}",
        alerts[lateral]
    );
    // Administrators' habitual one-server-at-a-time sessions are not lateral movement.
    let lateral_all: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.detector == "lateral-movement")
        .collect();
    assert_eq!(lateral_all.len(), 1, "{lateral_all:#?}");
    // Update checks and monitoring heartbeats are perfectly periodic, but the
    // whole region talks to them: they are not reported above the implant.
    for benign in ["13.107.4.50"] {
        if let Some(b) = find("beacon", benign) {
            assert!(
                b > beacon,
                "benign periodic traffic to {benign} ranks above the beacon"
            );
        }
    }
    assert!(
        !alerts
            .iter()
            .take(beacon + 1)
            .any(|a| a.detector == "beacon" && a.title.contains(":5666")),
        "monitoring ranks above the beacon"
    );
}

/// Five days: the exfiltration hour stands out against the host's own
/// history and its peers', and no other host's hour does (night backups,
/// PACS transfers and research exports included).
#[test]
fn the_exfiltration_hour_is_unusual_for_the_host_and_its_peers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = vakt_sim::Config::new(dir.path(), 11, 3000, 5);
    // A known procedure: these tests are of the detectors made for it.
    cfg.procedures = Some(vakt_sim::procedures::Procedures::classic());
    cfg.staff = 160;
    vakt_sim::run(&cfg).unwrap();
    let alerts = analyse(dir.path());
    let hourly: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.detector == "exfiltration" && a.title.contains("in one hour"))
        .collect();
    assert_eq!(hourly.len(), 1, "{hourly:#?}");
    let truth = std::fs::read_to_string(dir.path().join("truth/events.jsonl")).unwrap();
    let exfil_hours: std::collections::BTreeSet<String> = truth
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["stage"] == "exfiltration")
        .map(|v| v["time"].as_str().unwrap()[..13].to_owned())
        .collect();
    let hour = hourly[0].first.to_string();
    assert!(
        exfil_hours.contains(&hour[..13]),
        "{hour} not in {exfil_hours:?}"
    );
}
