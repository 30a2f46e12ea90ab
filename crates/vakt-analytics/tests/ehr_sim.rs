//! On a simulated region under attack, the EHR detectors find the attacker's
//! collection through a phished clinician's account; benign bulk (approved
//! research exports, the emergency departments, the integration account)
//! stays below a stated false-positive rate; and no clear patient identifier
//! appears in any finding.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vakt_analytics::ehr::{EhrAnalytics, EhrConfig, EhrContext};
use vakt_core::Alert;
use vakt_core::pseudo::Pseudonymiser;

fn files_under(root: &Path, want: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut stack = vec![root.to_owned()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if want(&p) {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

struct Run {
    alerts: Vec<Alert>,
    /// The attacker's EHR account.
    account: String,
    /// Hours (since the epoch) in which the attacker read records.
    attack_hours: BTreeSet<i64>,
    /// Every identity number and record id of the region's patients.
    identifiers: Vec<String>,
    /// Users' hours with reads, by user (for false-positive rates).
    user_hours: usize,
    user_days: usize,
    problems: usize,
    output: String,
}

fn run(
    seed: u64,
    patients: usize,
    days: u32,
    stealth: vakt_sim::Stealth,
    speed: vakt_sim::Speed,
) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = vakt_sim::Config::new(dir.path(), seed, patients, days);
    // A known procedure: these tests are of the detectors made for it.
    cfg.procedures = Some(vakt_sim::procedures::Procedures::classic());
    // The attacker alone: the insiders' cases are scored by `vakt demo`
    // (crates/vakt/tests/insiders.rs).
    cfg.insiders = false;
    cfg.stealth = stealth;
    cfg.speed = speed;
    vakt_sim::run(&cfg).unwrap();
    let root = dir.path();
    let ctx = EhrContext::load(&[root.join("tenants"), root.join("registers")]);
    let problems = ctx.problems.len();
    for p in ctx.problems.iter().take(5) {
        eprintln!("context problem: {p}");
    }
    let ctx = Arc::new(ctx);
    let pseudo = Arc::new(Pseudonymiser::new(b"test key for the simulated region").unwrap());
    let mut ehr = EhrAnalytics::new(
        ctx.clone(),
        EhrConfig::default(),
        pseudo.clone(),
        Arc::from("region"),
    );
    let mut hours: BTreeSet<(String, i64)> = BTreeSet::new();
    for f in files_under(&root.join("tenants"), &|p| {
        p.ends_with("ehr/auditevent.ndjson")
    }) {
        vakt_ingest::read_path(&f, &vakt_ingest::Options::default(), &mut |v| {
            if let vakt_ingest::Visit::Event(e) = v {
                if let Some(u) = e
                    .common(vakt_core::field::ACTOR_USER_UID)
                    .and_then(|v| v.as_str())
                {
                    hours.insert((u.to_owned(), e.time.0.div_euclid(3_600_000_000_000)));
                }
                ehr.observe(&e);
            }
        });
    }
    ehr.flush();
    let alerts = ehr.alerts();
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("truth/summary.json")).unwrap())
            .unwrap();
    let account = truth["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["how"].as_str().unwrap().contains("EHR"))
        .unwrap()["user"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut attack_hours = BTreeSet::new();
    for line in std::fs::read_to_string(root.join("truth/events.jsonl"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["stage"] == "collection" {
            let t = vakt_core::Timestamp::parse(v["time"].as_str().unwrap()).unwrap();
            attack_hours.insert(t.0.div_euclid(3_600_000_000_000));
        }
    }
    let mut identifiers = Vec::new();
    for f in files_under(&root.join("tenants"), &|p| {
        p.ends_with("fhir/Patient.ndjson")
    }) {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            identifiers.push(v["id"].as_str().unwrap().to_owned());
            identifiers.push(v["identifier"][0]["value"].as_str().unwrap().to_owned());
        }
    }
    let output = alerts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect::<Vec<_>>()
        .join("\n");
    let user_days: BTreeSet<(String, i64)> =
        hours.iter().map(|(u, h)| (u.clone(), h / 24)).collect();
    Run {
        alerts,
        account,
        attack_hours,
        identifiers,
        user_hours: hours.len(),
        user_days: user_days.len(),
        problems,
        output,
    }
}

fn is_attacker(a: &Alert, account: &str) -> bool {
    a.entities()
        .iter()
        .any(|e| matches!(e, vakt_core::Entity::Account(u) if u == account))
}

/// Per detector: findings, precision (findings about the attacker's account
/// during the collection / findings) and recall (the collection's hours
/// covered by one of its findings / all of them).
fn scores(r: &Run) -> BTreeMap<&'static str, (usize, f64, f64)> {
    let mut out = BTreeMap::new();
    let (lo, hi) = (
        *r.attack_hours.first().unwrap(),
        *r.attack_hours.last().unwrap(),
    );
    for d in vakt_analytics::ehr::detectors() {
        let found: Vec<&Alert> = r.alerts.iter().filter(|a| a.detector == d).collect();
        if found.is_empty() {
            continue;
        }
        let right = found
            .iter()
            .filter(|a| {
                is_attacker(a, &r.account)
                    && a.last.0.div_euclid(3_600_000_000_000) >= lo
                    && a.first.0.div_euclid(3_600_000_000_000) <= hi
            })
            .count();
        let covered = r
            .attack_hours
            .iter()
            .filter(|h| {
                found.iter().any(|a| {
                    is_attacker(a, &r.account)
                        && a.first.0.div_euclid(3_600_000_000_000) <= **h
                        && a.last.0.div_euclid(3_600_000_000_000) >= **h
                })
            })
            .count();
        out.insert(
            d,
            (
                found.len(),
                right as f64 / found.len() as f64,
                covered as f64 / r.attack_hours.len() as f64,
            ),
        );
    }
    out
}

#[test]
fn the_attackers_collection_is_found_and_benign_bulk_is_not_flagged() {
    let r = run(
        2018,
        20_000,
        2,
        vakt_sim::Stealth::Medium,
        vakt_sim::Speed::Fast,
    );
    assert_eq!(r.problems, 0, "the simulated context loads cleanly");
    let s = scores(&r);
    eprintln!(
        "attacker {} read in {} hours; {} user-hours, {} user-days with reads",
        r.account,
        r.attack_hours.len(),
        r.user_hours,
        r.user_days
    );
    for (d, (n, p, rc)) in &s {
        eprintln!("{d:<22} findings {n:>4}  precision {p:.3}  recall (collection hours) {rc:.3}");
    }
    for a in r.alerts.iter().filter(|a| is_attacker(a, &r.account)) {
        eprintln!(
            "  attacker: {} {:.2} {} {:?}",
            a.detector, a.score, a.title, a.evidence
        );
    }
    for a in r
        .alerts
        .iter()
        .filter(|a| !is_attacker(a, &r.account))
        .take(10)
    {
        eprintln!(
            "  not the attacker: {} {:.2} {}",
            a.detector, a.score, a.title
        );
    }
    // Floors (measured figures are in the issue note).
    let get = |d: &str| s.get(d).copied().unwrap_or((0, 0.0, 0.0));
    let (_, p, rc) = get("ehr-no-relationship");
    assert!(p >= 0.9 && rc >= 0.9, "no-relationship {p} {rc}");
    let (_, p, rc) = get("ehr-bulk");
    assert!(p >= 0.9 && rc >= 0.8, "bulk {p} {rc}");
    let (_, p, rc) = get("ehr-outside-community");
    assert!(p >= 0.9 && rc >= 0.9, "outside-community {p} {rc}");
    let (_, p, rc) = get("ehr-scripted");
    assert!(p >= 0.9 && rc >= 0.8, "scripted {p} {rc}");
    // Protected persons: any look-up without a relationship is reported
    // (benign consults included, at medium); the high ones are the collector's.
    let (_, _, rc) = get("ehr-protected");
    assert!(rc >= 0.5, "protected recall {rc}");
    let high: Vec<&Alert> = r
        .alerts
        .iter()
        .filter(|a| a.detector == "ehr-protected" && a.severity == vakt_core::Severity::High)
        .collect();
    let right = high.iter().filter(|a| is_attacker(a, &r.account)).count();
    eprintln!(
        "ehr-protected, high only: {} findings, precision {:.3}",
        high.len(),
        right as f64 / high.len().max(1) as f64
    );
    assert!(
        !high.is_empty() && right == high.len(),
        "high protected findings not all the attacker's"
    );
    // Benign users: findings of medium or high severity per user-day.
    let benign_serious = r
        .alerts
        .iter()
        .filter(|a| !is_attacker(a, &r.account) && a.severity >= vakt_core::Severity::Medium)
        .count();
    let rate = benign_serious as f64 / r.user_days as f64;
    eprintln!(
        "benign medium/high findings: {benign_serious} over {} user-days = {rate:.4}",
        r.user_days
    );
    assert!(rate <= 0.01, "benign false-positive rate {rate}");
    // Research exports and the integration account are never flagged.
    assert!(
        !r.alerts
            .iter()
            .any(|a| a.title.contains("svc-ehr-integration")),
        "the integration account was flagged"
    );
    // No clear identifier anywhere in the findings.
    for id in &r.identifiers {
        assert!(
            !r.output.contains(id.as_str()),
            "a clear patient identifier leaked"
        );
    }
}

/// The stealthy attacker (`--stealth high --speed normal`): two hundred
/// records over 30 hours of day 3, after two days of the victim's normal
/// work. What is still found is stated by the floors below (measured figures
/// in the issue note).
#[test]
fn the_stealthy_attacker_over_three_days() {
    let r = run(
        2018,
        20_000,
        3,
        vakt_sim::Stealth::High,
        vakt_sim::Speed::Normal,
    );
    let s = scores(&r);
    eprintln!(
        "attacker {} read in {} hours; {} user-days with reads",
        r.account,
        r.attack_hours.len(),
        r.user_days
    );
    for (d, (n, p, rc)) in &s {
        eprintln!("{d:<22} findings {n:>4}  precision {p:.3}  recall (collection hours) {rc:.3}");
    }
    for a in r.alerts.iter().filter(|a| is_attacker(a, &r.account)) {
        eprintln!("  attacker: {} {:.2} {}", a.detector, a.score, a.title);
    }
    let get = |d: &str| s.get(d).copied().unwrap_or((0, 0.0, 0.0));
    let (_, p, rc) = get("ehr-no-relationship");
    assert!(p >= 0.9 && rc >= 0.5, "no-relationship {p} {rc}");
    for id in &r.identifiers {
        assert!(
            !r.output.contains(id.as_str()),
            "a clear patient identifier leaked"
        );
    }
}
