//! Correlation and scoping on hand-made alerts and a small store.

use std::net::IpAddr;
use std::sync::Arc;

use vakt_context::EhrContext;
use vakt_context::care::PatientInfo;
use vakt_core::field::{ACTOR_USER_UID, PATIENT_UID, SRC_IP, USER_NAME};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{
    Alert, AlertKey, Entity, Event, EventRef, Locator, Origin, Severity, Timestamp, Value,
};
use vakt_incident::scope::gdpr_clock;
use vakt_incident::{Assets, CorrelationConfig, PatientIndex, ScopeConfig, correlate, scope};

const H: i64 = 3_600_000_000_000;

fn alert(id: &str, t: i64, actors: Vec<Entity>, targets: Vec<Entity>) -> Alert {
    Alert {
        key: AlertKey(id.into()),
        detector: "sigma".into(),
        title: format!("alert {id}"),
        severity: Severity::Medium,
        first: Timestamp(t),
        last: Timestamp(t),
        actors,
        targets,
        origins: vec![EventRef::at(&Origin {
            path: Arc::from("x.log"),
            locator: Locator::Line(1),
        })],
        ..Alert::default()
    }
}

fn host(h: &str) -> Entity {
    Entity::Host(h.into())
}
fn ip(a: &str) -> Entity {
    Entity::Ip(a.parse().unwrap())
}
fn account(a: &str) -> Entity {
    Entity::Account(a.into())
}

fn assets(rows: &str) -> (tempfile::TempDir, Assets) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("assets.csv"),
        format!("host,ip,kind,trust,holds_patients_of\n{rows}"),
    )
    .unwrap();
    let a = Assets::load(&[dir.path().to_owned()]);
    assert!(a.problems.is_empty(), "{:?}", a.problems);
    (dir, a)
}

fn ids(incident: &vakt_incident::Incident) -> Vec<&str> {
    incident.alerts.iter().map(String::as_str).collect()
}

#[test]
fn alerts_sharing_a_host_in_time_join_and_others_do_not() {
    let (_d, a) = assets("ws1,10.0.0.1,workstation,t,\nws2,10.0.0.2,workstation,t,\n");
    let alerts = vec![
        alert(
            "1",
            0,
            vec![host("WS1.helse.local"), account("HELSE\\anna")],
            vec![],
        ),
        // The same host by address, an hour later.
        alert("2", H, vec![ip("10.0.0.1")], vec![ip("198.51.100.7")]),
        // Another host, the same patient as nothing: patients never join.
        alert(
            "3",
            2 * H,
            vec![host("ws2")],
            vec![Entity::Patient("pt-1".into())],
        ),
        alert("4", 2 * H, vec![host("ws2")], vec![]),
        alert(
            "5",
            2 * H,
            vec![account("bob")],
            vec![Entity::Patient("pt-1".into())],
        ),
        // ws1 again, but three days later: a new story.
        alert("6", 72 * H, vec![host("ws1")], vec![]),
    ];
    let inc = correlate(&alerts, &a, &CorrelationConfig::default());
    let mut groups: Vec<Vec<&str>> = inc.iter().map(ids).collect();
    groups.sort();
    assert_eq!(
        groups,
        vec![vec!["1", "2"], vec!["3", "4"], vec!["5"], vec!["6"]]
    );
    // The joined incident knows the host by name and address, and the outside address.
    let first = inc
        .iter()
        .find(|i| i.alerts.contains(&"1".to_string()))
        .unwrap();
    let ws1 = first.nodes.iter().find(|n| n.key == "host:ws1").unwrap();
    assert_eq!(ws1.ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(ws1.role, "compromised");
    let out = first
        .nodes
        .iter()
        .find(|n| n.key == "ip:198.51.100.7")
        .unwrap();
    assert_eq!(out.role, "external");
    assert!(
        first
            .edges
            .iter()
            .any(|e| e.from == "account:anna" && e.to == "host:ws1")
    );
}

#[test]
fn a_long_beacon_holds_the_story_together_and_an_account_follows_its_host() {
    let (_d, a) = assets("ws1,10.0.0.1,workstation,t,\n");
    let mut beacon = alert("b", H, vec![ip("10.0.0.1")], vec![ip("198.51.100.7")]);
    beacon.last = Timestamp(100 * H);
    beacon.techniques = vec!["T1071".into()];
    let mut exec = alert("e", 0, vec![host("ws1"), account("anna")], vec![]);
    exec.tactics = vec!["execution".into()];
    // Anna's EHR reads four days later: no entity in common with the beacon,
    // but Anna's account was used on ws1, which still beacons.
    let mut ehr = alert("r", 96 * H, vec![account("anna")], vec![]);
    ehr.techniques = vec!["T1213".into()];
    ehr.detector = "ehr-bulk".into();
    let inc = correlate(&[exec, beacon, ehr], &a, &CorrelationConfig::default());
    assert_eq!(inc.len(), 1);
    let stages: Vec<&str> = inc[0].stages.iter().map(|s| s.stage.as_str()).collect();
    assert_eq!(stages, ["execution", "command-and-control", "collection"]);
    assert_eq!(inc[0].patient_zero.as_ref().unwrap().entity, "host:ws1");
    // Three stages raise the severity one step.
    assert_eq!(inc[0].severity, Severity::High);
}

/// A host reached by lateral movement carries the story on: what happens on
/// it days later joins the incident of the host it was reached from, while
/// that host's beacon keeps the incident open.
#[test]
fn what_happens_on_a_reached_host_later_joins_the_story() {
    let (_d, a) = assets("ws1,10.0.0.1,workstation,t,\nsrv,10.0.5.5,file-server,t,\n");
    let mut beacon = alert("b", 0, vec![host("ws1")], vec![ip("198.51.100.7")]);
    beacon.last = Timestamp(200 * H);
    let lateral = alert("l", H, vec![ip("10.0.0.1")], vec![ip("10.0.5.5")]);
    let later = alert("x", 100 * H, vec![host("srv")], vec![]);
    let inc = correlate(
        &[beacon.clone(), lateral.clone(), later.clone()],
        &a,
        &CorrelationConfig::default(),
    );
    assert_eq!(
        inc.len(),
        1,
        "{:?}",
        inc.iter().map(ids).collect::<Vec<_>>()
    );
    // Without the beacon the workstation's story has ended: two incidents.
    let inc = correlate(&[lateral, later], &a, &CorrelationConfig::default());
    assert_eq!(inc.len(), 2);
}

#[test]
fn a_server_everyone_reaches_joins_nothing() {
    let (_d, a) = assets("dc,10.0.9.9,domain-controller,t,\n");
    let alerts: Vec<Alert> = (1..=5)
        .map(|i| {
            alert(
                &i.to_string(),
                i * 60_000_000_000,
                vec![ip(&format!("10.0.0.{i}"))],
                vec![host("dc")],
            )
        })
        .collect();
    let inc = correlate(&alerts, &a, &CorrelationConfig::default());
    assert_eq!(inc.len(), 5);
    // Four do join through it.
    let inc = correlate(&alerts[..4], &a, &CorrelationConfig::default());
    assert_eq!(inc.len(), 1);
    assert_eq!(
        inc[0].nodes.iter().filter(|n| n.role == "reached").count(),
        1
    );
}

fn ev(t: i64, source: &str, user: &str, src: &str, patient: Option<&str>) -> Event {
    let mut e = Event {
        time: Timestamp(t),
        tenant: Arc::from("default"),
        source: vakt_core::SourceKind::new(source),
        fields: vec![],
        common: vec![],
        origin: Origin {
            path: Arc::from("audit.ndjson"),
            locator: Locator::Line((t / 1_000_000_000) as u64),
        },
    };
    if source.starts_with("fhir") {
        e.set_common(ACTOR_USER_UID, Value::str(user));
    } else {
        e.set_common(USER_NAME, Value::str(user));
    }
    e.set_common(SRC_IP, Value::Ip(src.parse::<IpAddr>().unwrap()));
    if let Some(p) = patient {
        e.set_common(PATIENT_UID, Value::str(&format!("Patient/{p}")));
    }
    e
}

#[test]
fn scoping_counts_the_compromised_sessions_reads_from_when_they_were_compromised() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = vakt_store::Store::open(&dir.path().join("store")).unwrap();
    let pseudo = Arc::new(Pseudonymiser::new(b"a test key of enough bytes").unwrap());
    let mut w = store.writer(pseudo.clone());
    let t0 = 1_514_800_000_000_000_000; // 2018-01-01
    let fhir = "fhir:AuditEvent";
    for e in [
        // Before the compromise: not exposed.
        ev(t0, fhir, "Practitioner/anna", "10.0.0.1", Some("p1")),
        // Anna's account after: exposed, wherever from.
        ev(
            t0 + 2 * H,
            fhir,
            "Practitioner/anna",
            "10.0.0.1",
            Some("p2"),
        ),
        ev(
            t0 + 3 * H,
            fhir,
            "Practitioner/anna",
            "10.0.5.5",
            Some("p3"),
        ),
        // Someone else at the compromised workstation: exposed.
        ev(
            t0 + 4 * H,
            fhir,
            "Practitioner/carl",
            "10.0.0.1",
            Some("p4"),
        ),
        // Someone else elsewhere: not.
        ev(
            t0 + 4 * H,
            fhir,
            "Practitioner/carl",
            "10.0.0.7",
            Some("p5"),
        ),
        // The administrator logs on from the workstation at +5 h (a Windows
        // logon), then reads a record at +6 h from elsewhere: exposed.
        ev(
            t0 + 5 * H,
            "evtx:Security",
            "HELSE\\admin",
            "10.0.0.1",
            None,
        ),
        ev(
            t0 + 6 * H,
            fhir,
            "Practitioner/admin",
            "10.0.8.8",
            Some("p6"),
        ),
        // Read by the integration on the EHR server the attacker reached: possible, not confirmed.
        ev(t0 + 6 * H, fhir, "Practitioner/svc", "10.0.1.5", Some("p7")),
    ] {
        w.append(&e).unwrap();
    }
    // Another tenant's read by an account of the same name from an address
    // like the workstation's: another trust's data, not in this scope.
    let mut elsewhere = ev(
        t0 + 3 * H,
        fhir,
        "Practitioner/anna",
        "10.0.0.1",
        Some("p8"),
    );
    elsewhere.tenant = Arc::from("another-trust");
    w.append(&elsewhere).unwrap();
    w.flush().unwrap();
    // The context: seven patients of trust t in two counties, one a child, one protected.
    let mut ctx = EhrContext::default();
    for (i, (muni, birth)) in [
        (301u16, "1970-01-01"),
        (301, "1970-01-01"),
        (219, "2010-05-05"),
        (219, "1980-01-01"),
        (301, "1990-01-01"),
        (301, "1950-01-01"),
        (301, "1960-01-01"),
        (301, "1960-01-01"),
    ]
    .iter()
    .enumerate()
    {
        ctx.patients.insert(
            format!("p{}", i + 1).into(),
            PatientInfo {
                municipality: Some(*muni),
                trust: Some("t".into()),
                birth: Some((*birth).into()),
                ..Default::default()
            },
        );
    }
    ctx.protected.insert("p4".into(), "politician".into());
    let patients = PatientIndex::new(&ctx, pseudo.clone(), "default");
    let (_d, a) = assets("ws1,10.0.0.1,workstation,t,\nehr1,10.0.1.5,ehr-server,t,t\n");
    let mut exec = alert(
        "e",
        t0 + H,
        vec![host("ws1"), account("anna")],
        vec![ip("10.0.1.5")],
    );
    exec.severity = Severity::High;
    let incidents = correlate(
        std::slice::from_ref(&exec),
        &a,
        &CorrelationConfig::default(),
    );
    let inc = &incidents[0];
    let e = scope(
        inc,
        std::slice::from_ref(&exec),
        &store,
        &patients,
        &ScopeConfig {
            until: None,
            clocks: vec![gdpr_clock()],
            tenant: "default".into(),
        },
    )
    .unwrap();
    let got: std::collections::BTreeSet<String> =
        e.notification.iter().map(|n| n.patient.clone()).collect();
    let want: std::collections::BTreeSet<String> = ["p2", "p3", "p4", "p6"]
        .iter()
        .map(|p| pseudo.pseudonym("default", p))
        .collect();
    assert_eq!(got, want);
    assert_eq!(e.confirmed, 4);
    // The evidence starts with the earliest access in scope.
    assert_eq!(
        e.evidence[0],
        format!("audit.ndjson: line {}", (t0 + 2 * H) / 1_000_000_000)
    );
    assert_eq!(e.accesses, 4);
    // Possible: the trust's other records, held on the reached EHR server.
    assert_eq!(e.possible, 4);
    assert_eq!(e.by_county["Oslo"].confirmed, 2);
    assert_eq!(e.by_county["Akershus"].confirmed, 2);
    assert_eq!(e.by_county["Oslo"].possible, 4);
    assert_eq!(e.by_category.get("protected"), Some(&1));
    assert_eq!(e.by_category.get("child"), Some(&1));
    assert!(
        e.accounts
            .iter()
            .any(|s| s.key == "account:admin" && s.why.contains("logged on"))
    );
    // The clock: 72 hours from the high-severity alert.
    assert_eq!(e.awareness, Some(Timestamp(t0 + H)));
    assert_eq!(e.clocks[0].due, Some(Timestamp(t0 + 73 * H)));
    // Containment before the administrator's read leaves it out.
    let contained = scope(
        inc,
        std::slice::from_ref(&exec),
        &store,
        &patients,
        &ScopeConfig {
            until: Some(t0 + 5 * H),
            clocks: vec![],
            tenant: "default".into(),
        },
    )
    .unwrap();
    assert_eq!(contained.confirmed, 3);
    // An account's own conduct (an EHR finding, no host): only what it read
    // during the flagged activity, not everything after.
    let mut look_up = alert("p", t0 + 4 * H, vec![account("carl")], vec![]);
    look_up.detector = "ehr-protected".into();
    let incidents = correlate(
        std::slice::from_ref(&look_up),
        &a,
        &CorrelationConfig::default(),
    );
    let e = scope(
        &incidents[0],
        std::slice::from_ref(&look_up),
        &store,
        &patients,
        &ScopeConfig::default(),
    )
    .unwrap();
    let got: Vec<&str> = e.notification.iter().map(|n| n.patient.as_str()).collect();
    let p4 = pseudo.pseudonym("default", "p4");
    let p5 = pseudo.pseudonym("default", "p5");
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got.contains(&p4.as_str()) && got.contains(&p5.as_str()));
    assert!(e.basis.starts_with("an account's own conduct"));
}

/// Incidents kept current as alerts arrive one by one (the live path) are
/// the incidents of correlating the same alerts from scratch (the batch),
/// after every alert: random stories over a small region with hubs,
/// accounts moving between hosts, lateral movement, late alerts and
/// restated ones.
#[test]
fn incidents_kept_current_equal_correlating_from_scratch() {
    use vakt_incident::Correlator;
    let (_d, a) = assets(
        "ws1,10.0.0.1,workstation,t,\nws2,10.0.0.2,workstation,t,\nws3,10.0.0.3,workstation,t,\n\
         dc,10.0.9.1,domain-controller,t,\nehr,10.0.9.2,ehr-server,t,t\n",
    );
    let assets = Arc::new(a);
    let hosts: Vec<String> = (1..=24).map(|i| format!("ws{i}")).collect();
    let accounts: Vec<String> = (1..=12).map(|i| format!("user{i}")).collect();
    let outside = ["198.51.100.7", "203.0.113.9", "192.0.2.44"];
    let mut state = 0x5eed_u64;
    let mut next = |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    for round in 0..30 {
        let mut c = Correlator::new(assets.clone(), CorrelationConfig::default());
        let mut restated = 0;
        for k in 0..50 {
            let t = next(30 * 24) as i64 * H;
            let mut actors = vec![];
            let mut targets = vec![];
            let h = |i: u64| host(&hosts[i as usize]);
            match next(6) {
                0 => actors.push(h(next(24))),
                1 => actors.push(ip(&format!("10.0.0.{}", 1 + next(3)))),
                2 => actors.push(account(&accounts[next(12) as usize])),
                3 => actors.push(host(["dc", "ehr"][next(2) as usize])),
                _ => {
                    actors.push(h(next(24)));
                    actors.push(account(&accounts[next(12) as usize]));
                }
            }
            match next(5) {
                0 | 1 => targets.push(h(next(24))),
                2 => targets.push(ip(outside[next(3) as usize])),
                3 => targets.push(Entity::Domain("evil.example".into())),
                _ => {}
            }
            let id = format!("r{round}-{k}");
            let mut al = alert(&id, t, actors, targets);
            al.last = Timestamp(t + next(3) as i64 * 20 * H);
            c.add(al.clone());
            // Now and then a detector restates an alert it raised (later end).
            if next(10) == 0 {
                restated += 1;
                al.last = Timestamp(al.last.0 + 30 * H);
                c.add(al);
            }
            let scratch = c.from_scratch();
            assert_eq!(
                c.partition(),
                scratch.partition(),
                "round {round}, alert {k}"
            );
        }
        let batch = correlate(c.alerts(), &assets, &CorrelationConfig::default());
        assert_eq!(c.incidents(), batch, "round {round}");
        assert!(c.rebuilds() >= restated, "round {round}");
        eprintln!(
            "round {round}: {} incidents, {} rebuilds, {restated} restated",
            c.partition().len(),
            c.rebuilds()
        );
    }
}

/// A link learnt late reaches back: an account's alert that came before the
/// account was seen on a host still joins that host's story, and so does an
/// alert on a host that came before anyone was seen reaching it — whether
/// the alerts arrive in time order or not.
#[test]
fn links_learnt_later_reach_back_to_earlier_alerts() {
    use vakt_incident::Correlator;
    let (_d, a) = assets("ws1,10.0.0.1,workstation,t,\nws2,10.0.0.2,workstation,t,\n");
    let assets = Arc::new(a);
    let groups = |alerts: &[Alert]| {
        let mut c = Correlator::new(assets.clone(), CorrelationConfig::default());
        for al in alerts {
            c.add(al.clone());
        }
        let mut g: Vec<Vec<String>> = c
            .incidents()
            .iter()
            .map(|i| ids(i).iter().map(|s| s.to_string()).collect())
            .collect();
        g.sort();
        g
    };
    // Anna acts alone, ws1 acts an hour later; two days on, Anna is seen on ws1.
    let used_on = vec![
        alert("j", 0, vec![account("anna")], vec![]),
        alert("x", H, vec![host("ws1")], vec![]),
        alert("i", 50 * H, vec![host("ws1"), account("anna")], vec![]),
    ];
    // Something on ws2, ws1 an hour later; two days on, ws1 is seen reaching ws2.
    let reached = vec![
        alert("j", 0, vec![host("ws2")], vec![]),
        alert("x", H, vec![host("ws1")], vec![]),
        alert("i", 50 * H, vec![host("ws1")], vec![host("ws2")]),
    ];
    for alerts in [used_on, reached] {
        let want = vec![vec!["i".to_string()], vec!["j".into(), "x".into()]];
        assert_eq!(groups(&alerts), want);
        let mut reversed = alerts.clone();
        reversed.reverse();
        assert_eq!(groups(&reversed), want);
    }
}
