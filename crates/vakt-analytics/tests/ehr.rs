//! EHR access detectors on a small hand-made trust, one behaviour at a time,
//! and the public FHIR examples and Synthea data as context and events.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vakt_analytics::ehr::{EhrAnalytics, EhrConfig, EhrContext};
use vakt_core::field::{ACTOR_USER_UID, API_OPERATION, PATIENT_UID, PURPOSE_OF_USE, SRC_IP};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Alert, Event, Locator, Origin, Timestamp, Value};

fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("VAKT_SHARED_DATA") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

const H: i64 = 3_600;
/// 2018-01-01T00:00:00Z, a Monday.
const T0: i64 = 1_514_764_800;

fn nin(date6: &str) -> String {
    (100..499)
        .find_map(|i| {
            let s = format!("{date6}{i}");
            (0..100)
                .map(|k| format!("{s}{k:02}"))
                .find(|n| vakt_core::nin::validate(n).is_ok())
        })
        .unwrap()
}

/// A trust: an ED and a cardiology ward; Kari (cardiology physician, lives at
/// Storgata 5 with family name Berg), Ola (ED nurse), Per (researcher), a
/// service account; patients: p1 in cardiology's care, p2 Kari's husband
/// (Berg, Storgata 5), p3 a neighbour (Storgata 9), p4 = Ola's own patient
/// record (Ola is staff), p5 protected, p6 dead in 2016, p7 living in
/// Finnmark (county 54) while the trust's patients live in Oslo (03), and
/// p100..p400 other Oslo patients.
fn context(dir: &Path) -> EhrContext {
    let kari_nin = nin("010180");
    let ola_nin = nin("020285");
    let mut patients = Vec::new();
    let patient = |id: &str, nin: &str, family: &str, line: &str, muni: &str, extra: &str| {
        format!(
            r#"{{"resourceType":"Patient","id":"{id}","identifier":[{{"system":"urn:oid:2.16.578.1.12.4.1.4.1","value":"{nin}"}}],"name":[{{"family":"{family}"}}],"address":[{{"use":"home","line":["{line}"],"postalCode":"0150","extension":[{{"url":"http://hl7.no/fhir/StructureDefinition/no-basis-municipalitycode","valueCoding":{{"code":"{muni}"}}}}]}}],"managingOrganization":{{"reference":"Organization/trust"}}{extra}}}"#
        )
    };
    patients.push(patient(
        "p1",
        &nin("030370"),
        "Hansen",
        "Parkveien 1",
        "0301",
        "",
    ));
    patients.push(patient(
        "p2",
        &nin("040478"),
        "Berg",
        "Storgata 5",
        "0301",
        "",
    ));
    patients.push(patient(
        "p3",
        &nin("050565"),
        "Dahl",
        "Storgata 9",
        "0301",
        "",
    ));
    patients.push(patient("p4", &ola_nin, "Nilsen", "Bakken 2", "0301", ""));
    patients.push(patient(
        "p5",
        &nin("060690"),
        "Lie",
        "Slottet 1",
        "0301",
        "",
    ));
    patients.push(patient(
        "p6",
        &nin("070740"),
        "Moe",
        "Veien 3",
        "0301",
        r#","deceasedDateTime":"2016-05-01""#,
    ));
    patients.push(patient("p7", &nin("080850"), "Vik", "Havna 4", "5401", ""));
    for i in 100..400 {
        patients.push(patient(
            &format!("p{i}"),
            &nin(&format!("{:02}0{}60", 10 + i % 18, 1 + i % 9)),
            "Olsen",
            &format!("Gate {i}"),
            "0301",
            "",
        ));
    }
    // A bad identity number: reported, the patient still loaded.
    patients.push(r#"{"resourceType":"Patient","id":"pbad","identifier":[{"system":"urn:oid:2.16.578.1.12.4.1.4.1","value":"01010112345"}]}"#.to_owned());
    std::fs::write(dir.join("Patient.ndjson"), patients.join("\n")).unwrap();
    let orgs = [
        r#"{"resourceType":"Organization","id":"trust","name":"Test HF"}"#,
        r#"{"resourceType":"Organization","id":"ed","name":"Test Akuttmottak","partOf":{"reference":"Organization/trust"}}"#,
        r#"{"resourceType":"Organization","id":"card","name":"Test Kardiologi","partOf":{"reference":"Organization/trust"}}"#,
        r#"{"resourceType":"Organization","id":"res","name":"Test Forskning","partOf":{"reference":"Organization/trust"}}"#,
    ];
    std::fs::write(dir.join("Organization.ndjson"), orgs.join("\n")).unwrap();
    let staff = [
        format!(r#"{{"resourceType":"Practitioner","id":"kari","identifier":[{{"system":"urn:vakt:username","value":"kari"}},{{"system":"urn:oid:2.16.578.1.12.4.1.4.1","value":"{kari_nin}"}}],"name":[{{"family":"Berg"}}],"address":[{{"line":["Storgata 5"],"postalCode":"0150"}}]}}"#),
        format!(r#"{{"resourceType":"Practitioner","id":"ola","identifier":[{{"system":"urn:vakt:username","value":"ola"}},{{"system":"urn:oid:2.16.578.1.12.4.1.4.1","value":"{ola_nin}"}}],"name":[{{"family":"Nilsen"}}]}}"#),
        r#"{"resourceType":"Practitioner","id":"per","identifier":[{"system":"urn:vakt:username","value":"per"}]}"#.to_owned(),
        r#"{"resourceType":"Practitioner","id":"svc","identifier":[{"system":"urn:vakt:username","value":"svc-integration"}]}"#.to_owned(),
        r#"{"resourceType":"PractitionerRole","id":"r1","practitioner":{"reference":"Practitioner/kari"},"organization":{"reference":"Organization/card"},"code":[{"coding":[{"code":"physician"}]}]}"#.to_owned(),
        r#"{"resourceType":"PractitionerRole","id":"r2","practitioner":{"reference":"Practitioner/ola"},"organization":{"reference":"Organization/ed"},"code":[{"coding":[{"code":"nurse"}]}]}"#.to_owned(),
        r#"{"resourceType":"PractitionerRole","id":"r3","practitioner":{"reference":"Practitioner/per"},"organization":{"reference":"Organization/res"},"code":[{"coding":[{"code":"researcher"}]}]}"#.to_owned(),
        r#"{"resourceType":"PractitionerRole","id":"r4","practitioner":{"reference":"Practitioner/svc"},"organization":{"reference":"Organization/trust"},"code":[{"coding":[{"code":"service"}]}]}"#.to_owned(),
    ];
    std::fs::write(dir.join("Practitioner.ndjson"), staff.join("\n")).unwrap();
    let enc = r#"{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/p1"},"period":{"start":"2017-12-30T00:00:00Z"},"serviceProvider":{"reference":"Organization/card"}}"#;
    std::fs::write(dir.join("Encounter.json"), enc).unwrap();
    std::fs::write(
        dir.join("protected.csv"),
        "patient_id,category\np5,politician\n",
    )
    .unwrap();
    EhrContext::load(&[dir.to_owned()])
}

struct Trust {
    ehr: EhrAnalytics,
    n: u64,
}

impl Trust {
    fn read(&mut self, t: i64, who: &str, patients: &[&str], purpose: &str, op: &str, ip: [u8; 4]) {
        self.n += 1;
        let mut e = Event {
            time: Timestamp((T0 + t) * 1_000_000_000),
            tenant: Arc::from("trust"),
            source: vakt_core::SourceKind::new("fhir:AuditEvent"),
            fields: Vec::new(),
            common: Vec::new(),
            origin: Origin {
                path: Arc::from("audit.ndjson"),
                locator: Locator::Line(self.n),
            },
        };
        e.set_common(ACTOR_USER_UID, Value::str(&format!("Practitioner/{who}")));
        let refs: Vec<Value> = patients
            .iter()
            .map(|p| Value::str(&format!("Patient/{p}")))
            .collect();
        e.set_common(
            PATIENT_UID,
            if refs.len() == 1 {
                refs[0].clone()
            } else {
                Value::List(refs)
            },
        );
        e.set_common(PURPOSE_OF_USE, Value::List(vec![Value::str(purpose)]));
        e.set_common(API_OPERATION, Value::str(op));
        e.set_common(SRC_IP, Value::Ip(IpAddr::V4(Ipv4Addr::from(ip))));
        self.ehr.observe(&e);
    }

    /// Kari's and Ola's ordinary days: a few reads of p1 (Kari: in her
    /// department's care) or ED patients (Ola) between 08 and 15, from their workstations.
    fn ordinary_days(&mut self, days: i64) {
        for d in 0..days {
            for h in 8..15 {
                for k in 0..3 {
                    self.read(
                        d * 24 * H + h * H + k * 900,
                        "kari",
                        &["p1"],
                        "TREAT",
                        "read",
                        [10, 0, 0, 5],
                    );
                    let p = format!("p{}", 100 + (d * 40 + h * 3 + k) % 300);
                    self.read(
                        d * 24 * H + h * H + k * 900 + 60,
                        "ola",
                        &[&p],
                        "TREAT",
                        "read",
                        [10, 0, 0, 6],
                    );
                }
            }
        }
    }

    fn alerts(mut self) -> Vec<Alert> {
        self.ehr.flush();
        self.ehr.alerts()
    }
}

fn trust() -> (tempfile::TempDir, Trust) {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    (
        dir,
        Trust {
            ehr: EhrAnalytics::new(
                Arc::new(ctx),
                EhrConfig::default(),
                Arc::new(Pseudonymiser::new(b"a key for this hand-made trust").unwrap()),
                Arc::from("trust"),
            ),
            n: 0,
        },
    )
}

fn of<'a>(alerts: &'a [Alert], detector: &str) -> Vec<&'a Alert> {
    alerts.iter().filter(|a| a.detector == detector).collect()
}

#[test]
fn the_context_loads_and_reports_a_bad_identity_number() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = context(dir.path());
    assert_eq!(ctx.patients.len(), 308);
    assert_eq!(ctx.problems.len(), 1, "{:?}", ctx.problems);
    assert!(
        ctx.problems[0].reason.contains("check digit"),
        "{}",
        ctx.problems[0]
    );
    // The number itself is not in the message.
    assert!(!ctx.problems[0].reason.contains("01010112345"));
    assert!(ctx.orgs["ed"].emergency && !ctx.orgs["card"].emergency);
    assert_eq!(ctx.protected["p5"].as_ref(), "politician");
    assert_eq!(
        ctx.trust_counties["trust"]
            .iter()
            .copied()
            .collect::<Vec<_>>(),
        vec![3]
    );
    assert_eq!(
        ctx.relationship("kari", "p1", (T0 + 3600) * 1_000_000_000, 0),
        vakt_analytics::ehr::Relation::Department
    );
    assert_eq!(
        ctx.relationship("ola", "p1", (T0 + 3600) * 1_000_000_000, 0),
        vakt_analytics::ehr::Relation::None
    );
}

#[test]
fn ordinary_work_raises_nothing() {
    let (_d, mut t) = trust();
    t.ordinary_days(4);
    let alerts = t.alerts();
    assert!(alerts.is_empty(), "{alerts:#?}");
}

#[test]
fn family_neighbour_and_colleague_look_ups() {
    let (_d, mut t) = trust();
    t.ordinary_days(2);
    let at = 2 * 24 * H + 10 * H;
    t.read(at, "kari", &["p2"], "TREAT", "read", [10, 0, 0, 5]);
    t.read(at + 60, "kari", &["p3"], "TREAT", "read", [10, 0, 0, 5]);
    t.read(at + 120, "kari", &["p4"], "TREAT", "read", [10, 0, 0, 5]);
    let alerts = t.alerts();
    let snoop = of(&alerts, "ehr-snooping");
    let kinds: Vec<String> = snoop
        .iter()
        .map(|a| a.evidence.iter().find(|e| e.0 == "kind").unwrap().1.clone())
        .collect();
    assert_eq!(kinds.len(), 3, "{snoop:#?}");
    for k in ["family", "neighbour", "colleague"] {
        assert!(kinds.iter().any(|x| x == k), "{k} missing: {kinds:?}");
    }
    // Patients appear as pseudonyms only.
    let text = format!("{alerts:?}");
    assert!(
        !text.contains("p2\"") && !text.contains("Patient/p"),
        "{text}"
    );
    assert!(snoop.iter().all(|a| {
        a.entities()
            .iter()
            .any(|e| matches!(e, vakt_core::Entity::Patient(p) if p.starts_with("pt-")))
    }));
}

#[test]
fn protected_deceased_and_out_of_region_without_relationship() {
    let (_d, mut t) = trust();
    t.ordinary_days(1);
    let at = 24 * H + 9 * H;
    t.read(at, "kari", &["p5"], "TREAT", "read", [10, 0, 0, 5]);
    t.read(at + 60, "kari", &["p6"], "TREAT", "read", [10, 0, 0, 5]);
    t.read(at + 120, "kari", &["p7"], "TREAT", "read", [10, 0, 0, 5]);
    t.read(at + 180, "kari", &["p7"], "TREAT", "read", [10, 0, 0, 5]);
    // Ola, in the emergency department, reads the protected person too: explained, lower.
    t.read(at + 240, "ola", &["p5"], "TREAT", "read", [10, 0, 0, 6]);
    let alerts = t.alerts();
    let prot = of(&alerts, "ehr-protected");
    assert_eq!(prot.len(), 2, "{prot:#?}");
    let kari = prot.iter().find(|a| a.title.contains("kari")).unwrap();
    let ola = prot.iter().find(|a| a.title.contains("ola")).unwrap();
    assert!(kari.score > ola.score, "{kari:?} {ola:?}");
    assert_eq!(of(&alerts, "ehr-deceased").len(), 1);
    assert_eq!(of(&alerts, "ehr-out-of-region").len(), 1);
}

#[test]
fn bulk_scripted_off_hours_and_a_new_address() {
    let (_d, mut t) = trust();
    t.ordinary_days(4);
    // Day 5, 02:00-03:00, from a new address: 200 patients, one every 15 s.
    let start = 4 * 24 * H + 2 * H;
    for k in 0..200 {
        let p = format!("p{}", 100 + k % 300);
        t.read(
            start + k * 15,
            "kari",
            &[&p],
            "TREAT",
            "read",
            [10, 9, 9, 9],
        );
    }
    let alerts = t.alerts();
    for d in [
        "ehr-bulk",
        "ehr-scripted",
        "ehr-off-hours",
        "ehr-new-address",
        "ehr-no-relationship",
    ] {
        let found = of(&alerts, d);
        assert_eq!(found.len(), 1, "{d}: {alerts:#?}");
        assert!(found[0].title.contains("kari"), "{}", found[0].title);
    }
}

/// An hour within two of one the user works in is shift variation, also
/// across midnight; one further away is off-hours.
#[test]
fn off_hours_are_more_than_two_hours_from_any_usual_hour_across_midnight() {
    let (_d, mut t) = trust();
    t.ordinary_days(4);
    // Kari also works late: reads at 23:00 on each of the four days.
    for d in 0..4 {
        for k in 0..3 {
            t.read(
                d * 24 * H + 23 * H + k * 600,
                "kari",
                &["p1"],
                "TREAT",
                "read",
                [10, 0, 0, 5],
            );
        }
    }
    // Day 5: ten reads at 01:00 (two hours after 23:00), ten at 04:00.
    for (hour, n) in [(1, 10), (4, 10)] {
        for k in 0..n {
            t.read(
                4 * 24 * H + hour * H + k * 200,
                "kari",
                &["p1"],
                "TREAT",
                "read",
                [10, 0, 0, 5],
            );
        }
    }
    let alerts = t.alerts();
    let off = of(&alerts, "ehr-off-hours");
    assert_eq!(off.len(), 1, "{off:#?}");
    assert!(off[0].title.contains("04:00-05:00"), "{}", off[0].title);
}

#[test]
fn emergency_purpose_and_department_explain_a_missing_relationship() {
    let (_d, mut t) = trust();
    t.ordinary_days(1);
    let at = 24 * H + 9 * H;
    // 30 reads without relationship: by Kari with ETREAT (explained), by Ola in the ED (explained).
    for k in 0..30 {
        let p = format!("p{}", 200 + k);
        t.read(at + k * 100, "kari", &[&p], "ETREAT", "read", [10, 0, 0, 5]);
        t.read(
            at + k * 100 + 50,
            "ola",
            &[&p],
            "TREAT",
            "read",
            [10, 0, 0, 6],
        );
    }
    let alerts = t.alerts();
    assert!(of(&alerts, "ehr-no-relationship").is_empty(), "{alerts:#?}");
}

#[test]
fn research_exports_pass_other_bulk_exports_and_service_misuse_do_not() {
    let (_d, mut t) = trust();
    t.ordinary_days(1);
    let many: Vec<String> = (100..400).map(|i| format!("p{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    t.read(
        24 * H + 10 * H,
        "per",
        &many,
        "HRESCH",
        "export",
        [10, 0, 0, 7],
    );
    t.read(
        24 * H + 11 * H,
        "ola",
        &many,
        "TREAT",
        "search-type",
        [10, 0, 0, 6],
    );
    t.read(
        24 * H + 12 * H,
        "svc",
        &["p1"],
        "TREAT",
        "read",
        [10, 0, 0, 8],
    );
    let alerts = t.alerts();
    let exports = of(&alerts, "ehr-bulk-export");
    assert_eq!(exports.len(), 1, "{exports:#?}");
    assert!(exports[0].title.contains("ola") && exports[0].title.contains("300"));
    assert_eq!(of(&alerts, "ehr-service-misuse").len(), 1);
}

/// The official FHIR R4 and R5 examples and the Synthea bulk export load as
/// context without a single problem, and their AuditEvents as events.
#[test]
fn public_fhir_examples_and_synthea_load() {
    let dirs: Vec<PathBuf> = ["fhir-r4-examples", "fhir-r5-examples", "fhir-synthea-bulk"]
        .iter()
        .map(|d| shared().join(d))
        .collect();
    let ctx = EhrContext::load(&dirs);
    assert!(ctx.problems.is_empty(), "{:?}", ctx.problems);
    eprintln!("{:?}", ctx.loaded);
    assert_eq!(ctx.loaded.get("Patient"), Some(&192));
    assert_eq!(ctx.loaded.get("Practitioner"), Some(&387));
    assert_eq!(ctx.loaded.get("PractitionerRole"), Some(&330));
    assert_eq!(ctx.loaded.get("Encounter"), Some(&1225));
    // Synthea's roles name their practitioner by NPI: resolved to the practitioner.
    let resolved = ctx
        .staff
        .values()
        .filter(|s| s.role.is_some() && s.family.is_some())
        .count();
    eprintln!("resolved {resolved} of {}", ctx.staff.len());
    assert!(resolved >= 280, "{resolved}");
    let mut ehr = EhrAnalytics::new(
        Arc::new(ctx),
        EhrConfig::default(),
        Arc::new(Pseudonymiser::ephemeral()),
        Arc::from("synthea"),
    );
    let mut rejected = 0;
    let (files, unreadable) = vakt_ingest::collect_files(&dirs);
    assert!(unreadable.is_empty());
    for d in &files {
        vakt_ingest::read_path(d, &vakt_ingest::Options::default(), &mut |v| match v {
            vakt_ingest::Visit::Event(e) => ehr.observe(&e),
            vakt_ingest::Visit::Rejected(_) => rejected += 1,
            _ => {}
        });
    }
    ehr.flush();
    assert!(ehr.facts().events >= 20, "{}", ehr.facts().events);
    assert_eq!(rejected, 0);
}

/// An AuditEvent may name the patient by identity number instead of record
/// id: it is the same patient (here the protected one); a number failing its
/// check digits is counted as bad input.
#[test]
fn patients_named_by_identity_number() {
    let (_d, mut t) = trust();
    t.ordinary_days(1);
    let at = 24 * H + 9 * H;
    let p5 = nin("060690");
    t.read(at, "kari", &[&p5], "TREAT", "read", [10, 0, 0, 5]);
    t.read(
        at + 60,
        "kari",
        &["01010112345"],
        "TREAT",
        "read",
        [10, 0, 0, 5],
    );
    assert_eq!(t.ehr.facts().invalid_identity_numbers, 1);
    let alerts = t.alerts();
    assert_eq!(of(&alerts, "ehr-protected").len(), 1, "{alerts:#?}");
    assert!(!format!("{alerts:?}").contains(&p5));
}

/// Streaming: an encounter arriving after the context was loaded makes the
/// accesses after it related; before it they were not; an updated version
/// of the same encounter (now ended long ago) replaces it.
#[test]
fn context_learned_while_streaming() {
    let (_d, mut t) = trust();
    t.ordinary_days(1);
    let at = 24 * H + 9 * H;
    // Twelve reads without a relationship, and p170 read before its encounter is known.
    for k in 0..12 {
        t.read(
            at + k * 60,
            "kari",
            &[&format!("p{}", 150 + k)],
            "TREAT",
            "read",
            [10, 0, 0, 5],
        );
    }
    let enc = |end: &str| {
        serde_json::json!({"resourceType": "Encounter", "id": "e9", "subject": {"reference": "Patient/p170"},
            "period": {"start": "2018-01-02T09:30:00Z", "end": end}, "serviceProvider": {"reference": "Organization/card"}})
    };
    t.read(
        at + 30 * 60,
        "kari",
        &["p170"],
        "TREAT",
        "read",
        [10, 0, 0, 5],
    );
    t.ehr.learn(&enc("2018-01-20T00:00:00Z")).unwrap();
    t.read(
        at + 40 * 60,
        "kari",
        &["p170"],
        "TREAT",
        "read",
        [10, 0, 0, 5],
    );
    // The same encounter, updated: it ended in 2017 (more than the grace period before).
    t.ehr.learn(&enc("2017-11-01T00:00:00Z")).unwrap();
    t.read(
        at + 41 * 60,
        "kari",
        &["p170"],
        "TREAT",
        "read",
        [10, 0, 0, 5],
    );
    assert!(
        t.ehr
            .learn(&serde_json::json!({"resourceType": "Encounter", "id": "x"}))
            .is_err()
    );
    let alerts = t.alerts();
    let nr = of(&alerts, "ehr-no-relationship");
    assert_eq!(nr.len(), 1, "{alerts:#?}");
    // 12 others, p170 before its encounter was known and after it was ended: 14.
    assert!(
        nr[0]
            .evidence
            .contains(&("without_relationship".into(), "14".into())),
        "{:?}",
        nr[0].evidence
    );
}
