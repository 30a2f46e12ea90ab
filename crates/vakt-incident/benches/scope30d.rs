//! Breach scoping over 30 days of a 100,000-patient region.
//!
//! `cargo bench -p vakt-incident --bench scope30d` (`VAKT_BENCH_PATIENTS`,
//! `VAKT_BENCH_READS_PER_DAY` for other sizes). A store is written through the
//! store writer: 30 days of EHR reads (100,000 a day by 5,000 staff from
//! their workstations, patients at random) and Windows logons (5,000 a day);
//! on day 11 a clinician's workstation is compromised, on day 12 an
//! administrator logs on from it and the clinician's account reads 800
//! records an hour. The incident (two alerts: the workstation with the
//! account, and its lateral movement to an EHR server) is correlated, and
//! then scoped: the patient index (pseudonymising every patient) and the
//! scope over the store are timed separately, and the result checked against
//! what was planted.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use vakt_context::EhrContext;
use vakt_context::care::PatientInfo;
use vakt_core::field::{ACTOR_USER_UID, PATIENT_UID, SRC_IP, USER_NAME};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Alert, AlertKey, Entity, Event, Locator, Origin, Severity, Timestamp, Value};
use vakt_incident::scope::gdpr_clock;
use vakt_incident::{Assets, CorrelationConfig, PatientIndex, ScopeConfig};
use vakt_sim::rng::Rng;

const S: i64 = 1_000_000_000;
const H: i64 = 3_600 * S;
const DAY: i64 = 24 * H;
const T0: i64 = 1_514_764_800 * S; // 2018-01-01
const STAFF: u64 = 5_000;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn workstation(staff: u64) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a0b_0000u32 + staff as u32 + 1))
}

fn event(t: i64, source: &vakt_core::SourceKind, tenant: &Arc<str>, n: u64) -> Event {
    Event {
        time: Timestamp(t),
        tenant: tenant.clone(),
        source: source.clone(),
        fields: Vec::new(),
        common: Vec::new(),
        origin: Origin {
            path: Arc::from("bench"),
            locator: Locator::Line(n),
        },
    }
}

fn alert(id: &str, t: i64, actors: Vec<Entity>, targets: Vec<Entity>) -> Alert {
    Alert {
        key: AlertKey(id.into()),
        detector: "sigma".into(),
        title: id.into(),
        severity: Severity::High,
        first: Timestamp(t),
        last: Timestamp(t),
        techniques: vec!["T1059.001".into()],
        actors,
        targets,
        ..Alert::default()
    }
}

fn main() {
    let patients = env("VAKT_BENCH_PATIENTS", 100_000);
    let per_day = env("VAKT_BENCH_READS_PER_DAY", 100_000);
    let dir = tempfile::tempdir().expect("a temporary folder");
    let pseudo = Arc::new(Pseudonymiser::new(b"bench key, sixteen bytes or more").expect("key"));
    let (store, _) = vakt_store::Store::open(&dir.path().join("store")).expect("store");
    let mut w = store.writer(pseudo.clone());
    let mut rng = Rng::new(30);
    let (fhir, evtx, tenant): (vakt_core::SourceKind, vakt_core::SourceKind, Arc<str>) = (
        vakt_core::SourceKind::fhir_audit_event(),
        vakt_core::SourceKind::windows("Security"),
        Arc::from("default"),
    );
    let victim = 7u64;
    let compromised = T0 + 10 * DAY + 8 * H + 30 * 60 * S;
    let started = Instant::now();
    let mut n = 0u64;
    let mut planted = std::collections::BTreeSet::new();
    for day in 0..30 {
        let mut day_events: Vec<Event> = Vec::with_capacity(per_day as usize + 6_000);
        for _ in 0..per_day {
            let staff = rng.below(STAFF);
            let t = T0 + day * DAY + 7 * H + rng.range(0, 10 * H);
            let p = rng.below(patients);
            n += 1;
            let mut e = event(t, &fhir, &tenant, n);
            e.set_common(
                ACTOR_USER_UID,
                Value::str(&format!("Practitioner/s{staff}")),
            );
            e.set_common(SRC_IP, Value::Ip(workstation(staff)));
            e.set_common(PATIENT_UID, Value::str(&format!("Patient/p{p}")));
            if staff == victim && t >= compromised {
                planted.insert(p);
            }
            day_events.push(e);
        }
        for _ in 0..5_000 {
            let staff = rng.below(STAFF);
            n += 1;
            let mut e = event(T0 + day * DAY + rng.range(0, DAY), &evtx, &tenant, n);
            e.set_common(USER_NAME, Value::str(&format!("s{staff}")));
            e.set_common(SRC_IP, Value::Ip(workstation(staff)));
            day_events.push(e);
        }
        if day == 11 {
            // The administrator logs on from the workstation; the account reads 800 records.
            n += 1;
            let mut e = event(T0 + day * DAY + 9 * H, &evtx, &tenant, n);
            e.set_common(USER_NAME, Value::str("admin1"));
            e.set_common(SRC_IP, Value::Ip(workstation(victim)));
            day_events.push(e);
            for k in 0..800 {
                let p = rng.below(patients);
                n += 1;
                let mut e = event(T0 + day * DAY + 11 * H + k * 4 * S, &fhir, &tenant, n);
                e.set_common(
                    ACTOR_USER_UID,
                    Value::str(&format!("Practitioner/s{victim}")),
                );
                e.set_common(SRC_IP, Value::Ip(workstation(victim)));
                e.set_common(PATIENT_UID, Value::str(&format!("Patient/p{p}")));
                planted.insert(p);
                day_events.push(e);
            }
        }
        day_events.sort_by_key(|e| e.time);
        for e in &day_events {
            w.append(e).expect("append");
        }
    }
    w.flush().expect("flush");
    let write_secs = started.elapsed().as_secs_f64();
    println!(
        "store: {} events over 30 days written in {write_secs:.1} s ({} segments)",
        w.written(),
        w.segments().len()
    );
    // The region's patients.
    let mut ctx = EhrContext::default();
    for p in 0..patients {
        ctx.patients.insert(
            format!("p{p}").into(),
            PatientInfo {
                municipality: Some(
                    [301u16, 219, 101, 402, 501, 602, 701, 806, 904, 1001][(p % 10) as usize],
                ),
                trust: Some(format!("t{}", p % 8).into()),
                birth: Some(format!("{}-06-15", 1930 + p % 88).into()),
                ..Default::default()
            },
        );
    }
    // The incident: the workstation and the account, and its move to an EHR server.
    let assets_dir = tempfile::tempdir().expect("a temporary folder");
    std::fs::write(
        assets_dir.path().join("assets.csv"),
        format!(
            "host,ip,kind,trust,holds_patients_of\nws-victim,{},workstation,t0,\nehr1,10.99.0.1,ehr-server,t0,t0\n",
            workstation(victim)
        ),
    )
    .expect("assets");
    let assets = Assets::load(&[assets_dir.path().to_owned()]);
    let alerts = vec![
        alert(
            "A1",
            compromised,
            vec![
                Entity::Host("ws-victim".into()),
                Entity::Account(format!("s{victim}")),
            ],
            vec![],
        ),
        alert(
            "A2",
            compromised + DAY,
            vec![Entity::Ip(workstation(victim))],
            vec![Entity::Ip("10.99.0.1".parse().expect("address"))],
        ),
    ];
    let incidents = vakt_incident::correlate(&alerts, &assets, &CorrelationConfig::default());
    let incident = &incidents[0];
    for _ in 0..3 {
        let t = Instant::now();
        let index = PatientIndex::new(&ctx, pseudo.clone(), "default");
        let index_secs = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let e = vakt_incident::scope(
            incident,
            &alerts,
            &store,
            &index,
            &ScopeConfig {
                until: None,
                clocks: vec![gdpr_clock()],
                tenant: "default".into(),
            },
        )
        .expect("scope");
        let scope_secs = t.elapsed().as_secs_f64();
        assert_eq!(e.confirmed, planted.len(), "the planted reads");
        assert!(e.accounts.iter().any(|a| a.key == "account:admin1"));
        println!(
            "scope: {} patients confirmed (planted {}), {} possible; patient index {index_secs:.3} s, scope {scope_secs:.3} s ({} rows read, {} of {} row groups skipped); together {:.3} s",
            e.confirmed,
            planted.len(),
            e.possible,
            e.scan.rows,
            e.scan.row_groups_skipped,
            e.scan.row_groups_read + e.scan.row_groups_skipped,
            index_secs + scope_secs
        );
    }
}
