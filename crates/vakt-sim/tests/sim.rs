//! The simulated region: deterministic, readable by vakt, and true to its
//! own ground truth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value as Json;
use vakt_sim::nin::{NinKind, validate};
use vakt_sim::{Config, run};

fn simulate(dir: &Path, seed: u64) -> vakt_sim::Summary {
    let mut cfg = Config::new(dir, seed, 3000, 2);
    cfg.staff = 160;
    run(&cfg).expect("simulation runs")
}

fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn ndjson(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    simulate(a.path(), 7);
    simulate(b.path(), 7);
    simulate(c.path(), 8);
    let fa = files(a.path());
    let rel = |root: &Path, f: &Path| f.strip_prefix(root).unwrap().to_owned();
    assert_eq!(
        fa.iter().map(|f| rel(a.path(), f)).collect::<Vec<_>>(),
        files(b.path())
            .iter()
            .map(|f| rel(b.path(), f))
            .collect::<Vec<_>>()
    );
    for f in &fa {
        let other = b.path().join(rel(a.path(), f));
        assert!(
            std::fs::read(f).unwrap() == std::fs::read(&other).unwrap(),
            "{} differs",
            f.display()
        );
    }
    let audit = "tenants/ous/day-001/ehr/auditevent.ndjson";
    assert_ne!(
        std::fs::read(a.path().join(audit)).unwrap(),
        std::fs::read(c.path().join(audit)).unwrap()
    );
}

#[test]
fn every_file_is_read_by_vakt_with_nothing_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let summary = simulate(dir.path(), 1);
    let mut events = 0u64;
    let mut problems = Vec::new();
    for f in files(dir.path()) {
        vakt_ingest::read_path(&f, &vakt_ingest::Options::default(), &mut |v| match v {
            vakt_ingest::Visit::Event(_) => events += 1,
            vakt_ingest::Visit::Rejected(e) => problems.push(e.to_string()),
            vakt_ingest::Visit::Unreadable(e) => problems.push(e.to_string()),
            _ => {}
        });
    }
    assert!(problems.is_empty(), "{problems:#?}");
    // Every record written is an event (the truth ledger is JSON Lines with a time too).
    assert!(events >= summary.records, "{events} < {}", summary.records);
}

#[test]
fn every_identity_number_validates_as_synthetic() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), 2);
    let mut n = 0;
    for f in files(dir.path())
        .iter()
        .filter(|f| f.ends_with("fhir/Patient.ndjson"))
    {
        for p in ndjson(f) {
            let nin = p["identifier"][0]["value"].as_str().unwrap();
            assert_eq!(validate(nin), Ok(NinKind::Synthetic), "{nin}");
            n += 1;
        }
    }
    assert_eq!(n, 3000);
    // The protected-person register names real patients of the region.
    let register: Vec<String> = files(dir.path())
        .iter()
        .filter(|f| f.to_string_lossy().ends_with("protected-persons.csv"))
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .skip(1)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(!register.is_empty());
    assert!(
        register
            .iter()
            .all(|l| validate(l.split(',').nth(1).unwrap()).is_ok())
    );
}

/// The attacker's reads in the EHR logs (the lines the truth ledger marks) are
/// exactly the patients in `truth/exposed_patients.csv`, and they are reads by
/// the phished clinician's account.
#[test]
fn attacker_reads_equal_the_truth_set() {
    let dir = tempfile::tempdir().unwrap();
    let summary = simulate(dir.path(), 3);
    let truth = std::fs::read_to_string(dir.path().join("truth/events.jsonl")).unwrap();
    let mut by_file: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    let mut stages = BTreeSet::new();
    for l in truth.lines() {
        let v: Json = serde_json::from_str(l).unwrap();
        stages.insert(v["stage"].as_str().unwrap().to_owned());
        // The EHR reads (a staged archive is collection too, on Windows).
        if v["stage"] == "collection" && v["file"].as_str().unwrap().ends_with("auditevent.ndjson")
        {
            by_file
                .entry(v["file"].as_str().unwrap().to_owned())
                .or_default()
                .insert(v["line"].as_u64().unwrap());
        }
    }
    for s in [
        "initial-access",
        "execution",
        "command-and-control",
        "credential-access",
        "lateral-movement",
        "collection",
        "exfiltration",
    ] {
        assert!(stages.contains(s), "no {s} in {stages:?}");
    }
    let summary_json: Json = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("truth/summary.json")).unwrap(),
    )
    .unwrap();
    let victim = summary_json["accounts"][0]["practitioner"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut read = BTreeSet::new();
    for (file, lines) in &by_file {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        for (i, l) in text.lines().enumerate() {
            if lines.contains(&(i as u64 + 1)) {
                let v: Json = serde_json::from_str(l).unwrap();
                assert_eq!(v["resourceType"], "AuditEvent");
                assert_eq!(
                    v["agent"][0]["who"]["reference"],
                    format!("Practitioner/{victim}")
                );
                let p = v["entity"][0]["what"]["reference"].as_str().unwrap();
                read.insert(p.trim_start_matches("Patient/").to_owned());
            }
        }
    }
    let rows: Vec<Vec<String>> =
        std::fs::read_to_string(dir.path().join("truth/exposed_patients.csv"))
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| l.split(',').map(str::to_owned).collect())
            .collect();
    let exposed: BTreeSet<String> = rows.iter().map(|r| r[0].clone()).collect();
    let collected: BTreeSet<String> = rows
        .iter()
        .filter(|r| r[6] == "1")
        .map(|r| r[0].clone())
        .collect();
    assert!(!exposed.is_empty());
    assert_eq!(read, collected);
    assert_eq!(summary.exposed, exposed.len());
    assert_eq!(summary.collected, collected.len());
    // Exposed beyond the collection: exactly the patients read in the
    // sessions the summary says the attacker controlled (an account or an
    // address, from a time), checked here from the AuditEvents as written.
    let sessions: Vec<(String, String, i64)> = summary_json["controlled_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["practitioner"].as_str().unwrap_or("").to_owned(),
                s["address"].as_str().unwrap_or("").to_owned(),
                vakt_core::Timestamp::parse(s["from"].as_str().unwrap())
                    .unwrap()
                    .0,
            )
        })
        .collect();
    assert_eq!(sessions.len(), 3);
    let mut in_session = BTreeSet::new();
    let mut files = Vec::new();
    vakt_core::files::walk(
        &dir.path().join("tenants"),
        &|p| p.ends_with("auditevent.ndjson"),
        &mut files,
    )
    .unwrap();
    for f in files {
        for l in std::fs::read_to_string(&f).unwrap().lines() {
            let v: Json = serde_json::from_str(l).unwrap();
            let t = vakt_core::Timestamp::parse(v["recorded"].as_str().unwrap())
                .unwrap()
                .0;
            let who = v["agent"][0]["who"]["reference"].as_str().unwrap();
            let address = v["agent"][0]["network"]["address"].as_str().unwrap();
            if sessions.iter().any(|(p, a, from)| {
                t >= *from && (who == format!("Practitioner/{p}") || address == a)
            }) {
                for e in v["entity"].as_array().unwrap() {
                    let p = e["what"]["reference"].as_str().unwrap();
                    in_session.insert(p.trim_start_matches("Patient/").to_owned());
                }
            }
        }
    }
    assert_eq!(in_session, exposed);
    assert!(exposed.len() > collected.len());
    // Protected persons come first: every protected patient of the trust is among them.
    let trust = summary_json["trust"].as_str().unwrap();
    let register = std::fs::read_to_string(
        dir.path()
            .join(format!("registers/{trust}-protected-persons.csv")),
    )
    .unwrap();
    for l in register.lines().skip(1) {
        assert!(exposed.contains(l.split(',').next().unwrap()), "{l}");
    }
}

#[test]
fn benign_periodic_traffic_exists() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), 4);
    let conn =
        std::fs::read_to_string(dir.path().join("tenants/ous/day-001/zeek/conn.log")).unwrap();
    let mut by_pair: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for l in conn.lines().filter(|l| !l.starts_with('#')) {
        let c: Vec<&str> = l.split('\t').collect();
        by_pair
            .entry((c[2].to_owned(), format!("{}:{}", c[4], c[5])))
            .or_default()
            .push(c[0].parse().unwrap());
    }
    let regular = |ts: &Vec<f64>, period: f64| {
        let mut t = ts.clone();
        t.sort_by(f64::total_cmp);
        t.len() >= 20 && t.windows(2).all(|w| ((w[1] - w[0]) - period).abs() < 2.0)
    };
    // Servers report to monitoring every minute; workstations check for updates every hour.
    assert!(
        by_pair
            .iter()
            .any(|((_, d), ts)| d.ends_with(":5666") && regular(ts, 60.0))
    );
    assert!(
        by_pair
            .iter()
            .any(|((_, d), ts)| d == "13.107.4.50:443" && regular(ts, 3600.0))
    );
    // Backups move hundreds of gigabytes at night.
    assert!(conn.lines().filter(|l| !l.starts_with('#')).any(|l| {
        l.split('\t')
            .nth(9)
            .and_then(|b| b.parse::<u64>().ok())
            .is_some_and(|b| b > 10_000_000_000)
    }));
}

/// The share of clinicians' reads without a care relationship, computed from
/// the written Encounters, CareTeams and AuditEvents, stays near the setting.
#[test]
fn reads_without_a_care_relationship_stay_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), 5);
    let attacker: BTreeSet<(String, u64)> =
        std::fs::read_to_string(dir.path().join("truth/events.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: Json = serde_json::from_str(l).unwrap();
                (
                    v["file"].as_str().unwrap().to_owned(),
                    v["line"].as_u64().unwrap(),
                )
            })
            .collect();
    let (mut total, mut without) = (0u64, 0u64);
    for trust in ["ous", "ahus", "si", "vv"] {
        let base = dir.path().join("tenants").join(trust);
        // Practitioner → departments whose care team they are in.
        let mut team: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for t in ndjson(&base.join("fhir/CareTeam.ndjson")) {
            let dept = t["managingOrganization"][0]["reference"]
                .as_str()
                .unwrap()
                .to_owned();
            for p in t["participant"].as_array().unwrap() {
                team.entry(p["member"]["reference"].as_str().unwrap().to_owned())
                    .or_default()
                    .insert(dept.clone());
            }
        }
        // Patient → (department, start, end) of each encounter.
        let mut enc: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
        for e in ndjson(&base.join("fhir/Encounter.ndjson")) {
            enc.entry(e["subject"]["reference"].as_str().unwrap().to_owned())
                .or_default()
                .push((
                    e["serviceProvider"]["reference"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                    e["period"]["start"].as_str().unwrap().to_owned(),
                    e["period"]["end"].as_str().unwrap().to_owned(),
                ));
        }
        for day in ["day-001", "day-002"] {
            let rel = format!("tenants/{trust}/{day}/ehr/auditevent.ndjson");
            for (i, a) in ndjson(&dir.path().join(&rel)).iter().enumerate() {
                if a["subtype"][0]["code"] != "read"
                    || attacker.contains(&(rel.clone(), i as u64 + 1))
                {
                    continue;
                }
                let who = a["agent"][0]["who"]["reference"].as_str().unwrap();
                let Some(depts) = team.get(who) else { continue };
                let patient = a["entity"][0]["what"]["reference"].as_str().unwrap();
                let t = a["recorded"].as_str().unwrap();
                let ts = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
                let related = enc.get(patient).is_some_and(|es| {
                    es.iter()
                        .any(|(d, s, e)| depts.contains(d) && ts(s) <= ts(t) && ts(t) <= ts(e))
                });
                total += 1;
                if !related {
                    without += 1;
                }
            }
        }
    }
    let share = without as f64 / total as f64;
    assert!(total > 1000, "{total} reads");
    assert!(
        (0.03..=0.07).contains(&share),
        "{share:.3} of {total} reads without a relationship (setting 0.05)"
    );
}

/// The insiders' truth is what was written: every case's patients are read
/// by its account in the audit logs; a relative shares the insider's family
/// name and address, a neighbour their street and postcode, a colleague's
/// record holds a colleague's identity number.
#[test]
fn the_insiders_truth_is_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(dir.path(), 5, 3000, 3);
    cfg.staff = 160;
    run(&cfg).unwrap();
    let truth: Json = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("truth/insiders.json")).unwrap(),
    )
    .unwrap();
    let cases = truth["cases"].as_array().unwrap();
    assert!(cases.len() >= 3, "{truth}");
    // Who read whom, from the audit logs; the context as written.
    let mut read: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let (mut patients, mut staff) = (BTreeMap::new(), BTreeMap::new());
    for f in files(dir.path()) {
        let name = f.file_name().unwrap().to_str().unwrap();
        if name == "auditevent.ndjson" {
            for e in ndjson(&f) {
                let who = e["agent"][0]["who"]["reference"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                for x in e["entity"].as_array().unwrap() {
                    let p = x["what"]["reference"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("Patient/");
                    read.entry(who.clone()).or_default().insert(p.to_owned());
                }
            }
        } else if name == "Patient.ndjson" {
            for p in ndjson(&f) {
                patients.insert(p["id"].as_str().unwrap().to_owned(), p);
            }
        } else if name == "Practitioner.ndjson" {
            for p in ndjson(&f) {
                staff.insert(p["id"].as_str().unwrap().to_owned(), p);
            }
        }
    }
    let line = |r: &Json| r["address"][0]["line"][0].as_str().unwrap_or("").to_owned();
    let street = |l: &str| {
        l.rsplit_once(' ')
            .map_or(l.to_owned(), |(s, _)| s.to_owned())
    };
    let mut kinds = BTreeSet::new();
    for c in cases {
        let account = format!(
            "Practitioner/{}",
            c["account"]["practitioner"].as_str().unwrap()
        );
        let by = read.get(&account).cloned().unwrap_or_default();
        let me = &staff[c["staff"]["practitioner"].as_str().unwrap()];
        for p in c["patients"].as_array().unwrap() {
            let p = p.as_str().unwrap();
            assert!(by.contains(p), "{}: {p} not read by {account}", c["case"]);
            let pat = &patients[p];
            match c["kind"].as_str().unwrap() {
                "family" => {
                    assert_eq!(pat["name"][0]["family"], me["name"][0]["family"], "{c}");
                    assert_eq!(line(pat), line(me), "{c}");
                }
                "neighbour" => {
                    assert_eq!(street(&line(pat)), street(&line(me)), "{c}");
                    assert_ne!(line(pat), line(me), "{c}");
                    assert_eq!(
                        pat["address"][0]["postalCode"],
                        me["address"][0]["postalCode"]
                    );
                }
                "colleague" => {
                    let nin = pat["identifier"][0]["value"].as_str().unwrap();
                    assert!(
                        staff.values().any(|s| s["identifier"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .any(|i| i["value"] == nin)),
                        "{c}: the patient is nobody's colleague"
                    );
                }
                "protected" => {}
                _ => {}
            }
        }
        kinds.insert(c["kind"].as_str().unwrap().to_owned());
    }
    assert!(kinds.len() >= 3, "{kinds:?}");
}

/// A recorded attack replayed: re-hosted onto the attacked trust (none of
/// the lab's names left), every record in the ledger under the recording,
/// its hosts among the attacker's, and read by vakt with nothing rejected.
#[test]
fn a_replayed_recording_is_rehosted_with_its_truth() {
    let rec = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/windows-sysmon-otrf/credential_access/psh_lsass_memory_dump_comsvcs.zip");
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config::new(dir.path(), 3, 3000, 2);
    cfg.staff = 160;
    cfg.replay = vec![rec];
    run(&cfg).unwrap();
    let summary: Json = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("truth/summary.json")).unwrap(),
    )
    .unwrap();
    let r = &summary["replays"][0];
    assert_eq!(r["stage"], "credential-access");
    assert_eq!(r["records"], 184, "{r}");
    let ledger = std::fs::read_to_string(dir.path().join("truth/events.jsonl")).unwrap();
    let replayed: Vec<Json> = ledger
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .filter(|v| v["recording"].is_string())
        .collect();
    assert_eq!(replayed.len(), 184);
    let hosts: BTreeSet<&str> = summary["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    for v in &replayed {
        assert!(hosts.contains(v["host"].as_str().unwrap()), "{v}");
    }
    let mut problems = Vec::new();
    for f in files(dir.path())
        .iter()
        .filter(|f| f.ends_with("windows/events.jsonl"))
    {
        let text = std::fs::read_to_string(f).unwrap().to_lowercase();
        for lab in ["workstation5", "theshire", "wardog", "mordor"] {
            assert!(!text.contains(lab), "{lab} left in {}", f.display());
        }
        vakt_ingest::read_path(f, &vakt_ingest::Options::default(), &mut |v| match v {
            vakt_ingest::Visit::Rejected(e) => problems.push(e.to_string()),
            vakt_ingest::Visit::Unreadable(e) => problems.push(e.to_string()),
            _ => {}
        });
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
