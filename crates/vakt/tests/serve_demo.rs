//! The simulated attack streamed into `vakt serve` — each trust's logs of
//! a day posted as they would arrive, day after day — raises the attack
//! incident `vakt demo` finds on the same logs: critical, every stage the
//! demo's has, the demo's Sigma, indicator and EHR alerts about it, and the
//! same events stored.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use support::*;

fn shared(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(rel)
}

#[test]
fn the_attack_streamed_into_serve_raises_the_demos_incident() {
    let d = tempfile::tempdir().unwrap();
    let case = d.path().join("case");
    let rules = shared("sigma/rules");
    let ran = std::process::Command::new(env!("CARGO_BIN_EXE_vakt"))
        .args(["demo", "--dir", case.to_str().unwrap(), "--format", "json"])
        .env("VAKT_RULES", &rules)
        .env_remove("VAKT_PSEUDONYM_KEY_FILE")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&ran.stderr).into_owned();
    assert!(ran.status.success(), "{said}");
    let demo: serde_json::Value = serde_json::from_slice(&ran.stdout).unwrap();
    let attack = &demo["incidents"][0];
    assert_eq!(attack["severity"], "critical", "{attack}");

    let dir = d.path().join("serve");
    let tok = token(&dir, "default");
    let mut args: Vec<String> = vec![
        "--rules".into(),
        rules.display().to_string(),
        "--intel".into(),
        case.join("intel").display().to_string(),
        "--context".into(),
        case.join("registers").display().to_string(),
        "--assets".into(),
        case.join("registers").display().to_string(),
        "--pseudonym-key-file".into(),
        case.join("pseudonym.key").display().to_string(),
    ];
    let mut trusts: Vec<PathBuf> = std::fs::read_dir(case.join("tenants"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    trusts.sort();
    for t in &trusts {
        args.push("--context".into());
        args.push(t.join("fhir").display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let s = Server::start(&dir, &refs);
    let auth = bearer(&tok);
    // Day by day, each trust ships its day.
    let days: BTreeSet<String> = trusts
        .iter()
        .flat_map(|t| std::fs::read_dir(t).unwrap().flatten())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|n| n.starts_with("day-"))
        .collect();
    let mut posted = 0;
    for day in &days {
        for t in &trusts {
            for f in files_under(&t.join(day)) {
                let body = std::fs::read(&f).unwrap();
                let (code, answer) = request(
                    &s.addr,
                    "POST",
                    "/api/v1/ingest",
                    &[("Authorization", &auth)],
                    &body,
                )
                .unwrap();
                assert_eq!(code, 200, "{}: {answer}", f.display());
                posted += 1;
            }
        }
    }
    assert!(posted > 50);
    s.stop();

    // The same events stored.
    let theirs = stored(&case);
    let ours = stored(&dir);
    assert_eq!(ours["events"], theirs["events"]);
    assert_eq!(ours["by_source"], theirs["by_source"]);

    // The most severe incident is the attack, with every stage the demo saw.
    let c = vakt_server::db::open(&dir.join("vakt.db")).unwrap();
    let incidents = vakt_server::db::incidents(&c).unwrap();
    let top = incidents
        .iter()
        .max_by_key(|i| (i.severity, i.alerts.len()))
        .unwrap();
    assert_eq!(top.severity, vakt_core::Severity::Critical);
    let stages: BTreeSet<String> = top.stages.iter().map(|s| s.stage.clone()).collect();
    for st in attack["stages"].as_array().unwrap() {
        assert!(
            stages.contains(st.as_str().unwrap()),
            "{st} missing: {stages:?}"
        );
    }
    // Its alerts hold the demo's Sigma, indicator and EHR alerts about the
    // attack (the network analytics judge a stream by what they have seen
    // so far, so their findings may differ in detail from a batch's).
    let kept = alerts(&dir);
    let in_top: BTreeSet<(String, String, i64)> = kept
        .iter()
        .filter(|a| top.alerts.iter().any(|k| *k == a.key.to_string()))
        .map(|a| (a.detector.clone(), a.title.clone(), a.first.0))
        .collect();
    let demo_alerts: Vec<vakt_core::Alert> = std::fs::read_to_string(case.join("alerts.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let incidents_file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("incidents.json")).unwrap())
            .unwrap();
    let demo_top = incidents_file
        .as_array()
        .or_else(|| incidents_file["incidents"].as_array())
        .and_then(|a| a.first())
        .unwrap();
    let demo_keys: BTreeSet<String> = demo_top["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k.as_str().map(str::to_owned))
        .collect();
    let mut compared = 0;
    for a in demo_alerts
        .iter()
        .filter(|a| demo_keys.contains(&a.key.to_string()))
    {
        if a.detector == "sigma" || a.detector == "intel" || a.detector.starts_with("ehr-") {
            let k = (a.detector.clone(), a.title.clone(), a.first.0);
            assert!(
                in_top.contains(&k),
                "the demo's {k:?} is not in the live incident"
            );
            compared += 1;
        }
    }
    assert!(
        compared >= 20,
        "the demo said {said}; only {compared} alerts compared: {} demo alerts, {} in its attack incident ({:?}); demo stages {}",
        demo_alerts.len(),
        demo_keys.len(),
        demo_top["id"],
        attack["stages"]
    );
}
