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

/// Hosts that only reach the same internal server are not one story (an
/// administrator's session to a server the attacker also reached); hosts
/// reaching the same outside address are, until so many do that it is a
/// hub (a popular cloud address) that joins nothing.
#[test]
fn a_server_reached_joins_nothing_and_an_outside_hub_neither() {
    let (_d, a) = assets("dc,10.0.9.9,domain-controller,t,\n");
    let reaching = |target: Entity, n: i64| -> Vec<Alert> {
        (1..=n)
            .map(|i| {
                alert(
                    &i.to_string(),
                    i * 60_000_000_000,
                    vec![ip(&format!("10.0.0.{i}"))],
                    vec![target.clone()],
                )
            })
            .collect()
    };
    let inc = correlate(&reaching(host("dc"), 4), &a, &CorrelationConfig::default());
    assert_eq!(inc.len(), 4);
    let inc = correlate(
        &reaching(ip("198.51.100.7"), 4),
        &a,
        &CorrelationConfig::default(),
    );
    assert_eq!(inc.len(), 1);
    assert_eq!(
        inc[0].nodes.iter().filter(|n| n.role == "external").count(),
        1
    );
    let inc = correlate(
        &reaching(ip("198.51.100.7"), 5),
        &a,
        &CorrelationConfig::default(),
    );
    assert_eq!(inc.len(), 5);
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
/// alert on a reached host that came (in arrival order) before the session
/// that reached it was seen — whether the alerts arrive in time order or not.
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
    let want = vec![vec!["i".to_string()], vec!["j".into(), "x".into()]];
    assert_eq!(groups(&used_on), want);
    let mut reversed = used_on.clone();
    reversed.reverse();
    assert_eq!(groups(&reversed), want);
    // ws1 acts, and two days on is seen reaching ws2; something happens on
    // ws2 a minute later (its story: ws1's) — and something on ws2 before
    // anyone reached it, which is not.
    let reached = vec![
        alert("j", 51 * H, vec![host("ws2")], vec![]),
        alert("x", H, vec![host("ws1")], vec![]),
        alert(
            "i",
            51 * H - 60_000_000_000,
            vec![host("ws1")],
            vec![host("ws2")],
        ),
        alert("k", 20 * H, vec![host("ws2")], vec![]),
    ];
    let want = vec![
        vec!["i".to_string(), "j".into()],
        vec!["k".into()],
        vec!["x".into()],
    ];
    assert_eq!(groups(&reached), want);
    let mut reversed = reached.clone();
    reversed.reverse();
    assert_eq!(groups(&reversed), want);
}

fn with(mut a: Alert, detector: &str, tactics: &[&str], severity: Severity) -> Alert {
    a.detector = detector.into();
    a.tactics = tactics.iter().map(|t| t.to_string()).collect();
    a.severity = severity;
    a
}

/// An administrator legitimately reaches the same servers as the attacker on
/// the same day — before the attacker, and again between the attacker's
/// session to a server and what the attacker does there — and raises
/// lateral-movement alerts of its own: neither the administrator's host nor
/// its alerts are in the attack incident, in any arrival order; patient zero
/// is the phished workstation and the clock starts at the first alert of
/// the intrusion; the compromised hosts say why they are.
#[test]
fn an_administrator_reaching_the_attackers_servers_is_not_in_the_incident() {
    let (_d, a) = assets(
        "ws1,10.0.0.1,workstation,t,\nadm1,10.0.200.2,workstation,t,\n\
         dc,10.0.9.1,domain-controller,t,\nehr,10.0.9.2,ehr-server,t,t\n",
    );
    let m = 60_000_000_000;
    let day = 24 * H;
    let alerts = vec![
        // The administrator's morning: a burst of new RDP sessions.
        with(
            alert(
                "adm-a",
                day + 7 * H,
                vec![ip("10.0.200.2")],
                vec![ip("10.0.9.1"), ip("10.0.9.2")],
            ),
            "lateral-movement",
            &["lateral-movement"],
            Severity::Medium,
        ),
        // The workstation's user opened a new share two hours before the
        // phish: the host's ordinary life, in its story but not the intrusion.
        with(
            alert(
                "old",
                day + 6 * H,
                vec![ip("10.0.0.1")],
                vec![ip("10.0.9.2")],
            ),
            "lateral-movement",
            &["lateral-movement"],
            Severity::Medium,
        ),
        // The phish, the implant and its C2.
        with(
            alert(
                "phish",
                day + 8 * H,
                vec![host("ws1"), account("HELSE\\anna")],
                vec![],
            ),
            "sigma",
            &["initial-access"],
            Severity::Low,
        ),
        with(
            alert(
                "exec",
                day + 8 * H + m,
                vec![host("ws1"), account("anna")],
                vec![],
            ),
            "sigma",
            &["execution"],
            Severity::High,
        ),
        {
            let mut b = with(
                alert(
                    "c2",
                    day + 8 * H + 5 * m,
                    vec![ip("10.0.0.1")],
                    vec![ip("198.51.100.23")],
                ),
                "beacon",
                &["command-and-control"],
                Severity::High,
            );
            b.last = Timestamp(day + 20 * H);
            b
        },
        // Lateral movement with a stolen administrator's account.
        with(
            alert(
                "lat",
                day + 10 * H,
                vec![ip("10.0.0.1")],
                vec![ip("10.0.9.1"), ip("10.0.9.2")],
            ),
            "lateral-movement",
            &["lateral-movement"],
            Severity::High,
        ),
        // The administrator again, minutes later, to the EHR server.
        with(
            alert(
                "adm-b",
                day + 10 * H + 5 * m,
                vec![ip("10.0.200.2")],
                vec![ip("10.0.9.2")],
            ),
            "lateral-movement",
            &["lateral-movement"],
            Severity::Medium,
        ),
        with(
            alert("psexec", day + 10 * H + m / 20, vec![host("dc")], vec![]),
            "sigma",
            &["execution"],
            Severity::Medium,
        ),
        with(
            alert(
                "winrm",
                day + 10 * H + 10 * m,
                vec![host("ehr"), account("jaber")],
                vec![],
            ),
            "sigma",
            &["lateral-movement"],
            Severity::High,
        ),
    ];
    for order in 0..3 {
        let mut al = alerts.clone();
        match order {
            1 => al.reverse(),
            2 => al.sort_by_key(|a| a.first),
            _ => {}
        }
        let inc = correlate(&al, &a, &CorrelationConfig::default());
        let attack = inc
            .iter()
            .find(|i| i.alerts.contains(&"exec".to_string()))
            .unwrap();
        let mut got: Vec<&str> = ids(attack);
        got.sort();
        assert_eq!(
            got,
            ["c2", "exec", "lat", "old", "phish", "psexec", "winrm"],
            "order {order}: {:?}",
            inc.iter().map(ids).collect::<Vec<_>>()
        );
        assert!(!attack.nodes.iter().any(|n| n.key == "host:adm1"));
        assert_eq!(inc[0].id, attack.id, "the attack is the first incident");
        let pz = attack.patient_zero.as_ref().unwrap();
        assert_eq!(
            (pz.entity.as_str(), pz.time),
            ("host:ws1", Timestamp(day + 8 * H))
        );
        assert_eq!(attack.awareness, Some(Timestamp(day + 8 * H)));
        assert_eq!(attack.stages[0].stage, "initial-access");
        let role = |k: &str| {
            attack
                .nodes
                .iter()
                .find(|n| n.key == k)
                .map(|n| (n.role.as_str(), n.why.clone().unwrap_or_default()))
                .unwrap()
        };
        assert_eq!(role("host:ws1").0, "compromised");
        assert!(
            role("host:ws1").1.contains("alert phish"),
            "{:?}",
            role("host:ws1")
        );
        assert_eq!(role("host:dc").0, "compromised");
        assert_eq!(role("host:ehr").0, "compromised");
        assert_eq!(role("account:jaber").0, "compromised");
        // The administrator's own incidents: its host only reached others.
        for i in inc
            .iter()
            .filter(|i| i.alerts.iter().any(|x| x.starts_with("adm")))
        {
            assert!(
                i.alerts.iter().all(|x| x.starts_with("adm")),
                "{:?}",
                ids(i)
            );
            let adm = i.nodes.iter().find(|n| n.key == "host:adm1").unwrap();
            assert_eq!(adm.role, "suspected");
            assert_eq!(i.queue, "cert");
        }
    }
}

/// A single protected-person look-up, and snooping with no intrusion, are
/// the privacy office's cases; the same kind of finding by an account the
/// attacker used on a compromised host is the CERT's, in the intrusion.
#[test]
fn privacy_findings_are_the_privacy_offices_unless_they_join_an_intrusion() {
    let (_d, a) = assets("ws1,10.0.0.1,workstation,t,\n");
    let protected = |id: &str, t: i64, who: &str| {
        with(
            alert(
                id,
                t,
                vec![account(who)],
                vec![Entity::Patient("pt-1".into())],
            ),
            "ehr-protected",
            &[],
            Severity::Medium,
        )
    };
    let snoop = with(
        alert("snoop", 3 * H, vec![account("bob")], vec![]),
        "ehr-snooping",
        &[],
        Severity::Medium,
    );
    let exec = with(
        alert("exec", 0, vec![host("ws1"), account("anna")], vec![]),
        "sigma",
        &["execution"],
        Severity::High,
    );
    let scripted = with(
        alert("bulk", 5 * H, vec![account("carl")], vec![]),
        "ehr-scripted",
        &[],
        Severity::Medium,
    );
    let inc = correlate(
        &[
            protected("p1", H, "anna"),
            protected("p2", 2 * H, "bob"),
            snoop,
            exec,
            scripted,
        ],
        &a,
        &CorrelationConfig::default(),
    );
    let queue = |id: &str| {
        inc.iter()
            .find(|i| i.alerts.contains(&id.to_string()))
            .map(|i| i.queue.as_str())
            .unwrap()
    };
    assert_eq!(
        queue("p1"),
        "cert",
        "anna's look-up joins the intrusion on ws1"
    );
    assert_eq!(queue("p2"), "privacy");
    assert_eq!(queue("snoop"), "privacy");
    assert_eq!(queue("bulk"), "cert", "a script reading is the CERT's");
    // The CERT's incidents come first.
    let first_privacy = inc.iter().position(|i| i.queue == "privacy").unwrap();
    assert!(inc[..first_privacy].iter().all(|i| i.queue == "cert"));
    assert!(inc[first_privacy..].iter().all(|i| i.queue == "privacy"));
}
