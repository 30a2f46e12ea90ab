//! `vakt hunt` and `vakt rules check` end to end.

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("VAKT_SHARED_DATA") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn vakt_in(dir: Option<&Path>, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vakt"));
    cmd.args(args)
        .env_remove("VAKT_RULES")
        .env_remove("VAKT_CONFIG")
        .env("HOME", "/nonexistent");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().expect("vakt runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn vakt(args: &[&str]) -> (i32, String, String) {
    vakt_in(None, args)
}

const MIMIKATZ: &str = "evtx/EVTX-to-MITRE-Attack/TA0003-Persistence/T1543.003-Create or Modify System Process-Windows Service/ID7045-New service for Mimikatz +npcap.evtx";

#[test]
fn hunt_reports_detections_with_rule_host_fields_and_origin() {
    let rules = shared().join("sigma/rules");
    let f = shared().join(MIMIKATZ);
    let (code, out, err) = vakt(&[
        "hunt",
        f.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let hits: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let m = hits
        .iter()
        .find(|h| h["rule"]["title"] == "Mimikatz Use")
        .expect("Mimikatz Use");
    assert_eq!(m["rule"]["type"], "sigma");
    assert_eq!(m["rule"]["level"], "high");
    assert_eq!(m["severity"], "high");
    assert!(m["rule"]["id"].is_string());
    assert!(
        m["techniques"].as_array().is_some_and(|a| !a.is_empty()),
        "{m}"
    );
    assert!(m["key"].as_str().is_some_and(|k| k.len() == 32), "{m}");
    let host = m["actors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "host")
        .expect("the host acted");
    assert!(!host["value"].as_str().unwrap().is_empty());
    let o = &m["origins"][0];
    assert!(o["path"].as_str().unwrap().ends_with(".evtx"));
    assert!(o["where"].as_str().unwrap().starts_with("record "));
    // The record's own EventRecordID, as Event Viewer, Chainsaw and Hayabusa show it.
    assert!(
        o["record_id"].as_str().unwrap().parse::<u64>().is_ok(),
        "{o}"
    );
    assert_eq!(o["source"], "evtx:System");
    assert!(chrono::DateTime::parse_from_rfc3339(m["first"].as_str().unwrap()).is_ok());
    // The summary names the rules, the counts and the speed.
    assert!(
        err.contains("detections by rule") && err.contains("events/s"),
        "{err}"
    );

    let (_, crit, _) = vakt(&[
        "hunt",
        "-q",
        f.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--format",
        "jsonl",
        "--min-level",
        "critical",
    ]);
    assert!(
        crit.lines()
            .all(|l| l.contains("\"severity\":\"critical\""))
    );
    let (_, csv, _) = vakt(&[
        "hunt",
        "-q",
        f.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--format",
        "csv",
    ]);
    assert!(
        csv.starts_with("time,rule,id,level,attack,host,fields,path,where,record_id,count,key\n")
    );
    assert!(csv.contains("Mimikatz Use"));
    let (_, table, _) = vakt(&[
        "hunt",
        "-q",
        f.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "--tag",
        "attack.t1543.003",
    ]);
    assert!(table.starts_with("time"), "{table}");
    assert!(
        !table.contains("Mimikatz Use"),
        "Mimikatz Use is not tagged t1543.003"
    );
}

#[test]
fn rules_come_from_a_config_file_when_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let rules = shared().join("sigma/rules/windows/builtin/win_alert_mimikatz_keywords.yml");
    std::fs::write(
        dir.path().join("vakt.yml"),
        format!("rules:\n  - {}\n", rules.display()),
    )
    .unwrap();
    let f = shared().join(MIMIKATZ);
    let (code, out, err) = vakt_in(
        Some(dir.path()),
        &["hunt", "-q", f.to_str().unwrap(), "--format", "jsonl"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 2, "{out}");
    // No rules anywhere: the behaviour analytics alone (nothing to find in
    // an EVTX file); with --analytics none as well, an error.
    let (code, out, err) = vakt(&["hunt", f.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("running the behaviour analytics only"),
        "{err}"
    );
    assert_eq!(out.lines().count(), 0, "{out}");
    let (code, _, err) = vakt(&["hunt", f.to_str().unwrap(), "--analytics", "none"]);
    assert_eq!(code, 1);
    assert!(err.contains("no rules"), "{err}");
}

#[test]
fn rules_check_counts_and_explains() {
    let rules = shared().join("sigma");
    let (code, out, _) = vakt(&[
        "rules",
        "check",
        "--format",
        "json",
        rules.join("rules").to_str().unwrap(),
        rules.join("rules-emerging-threats").to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let loaded = v["loaded"].as_u64().unwrap();
    let total = v["rules"].as_u64().unwrap();
    assert!(loaded * 100 >= total * 98, "{loaded}/{total}");
    // The two emerging-threat rules with `expand` placeholders are reported, so the exit code is 2.
    assert_eq!(code, 2);
    assert_eq!(v["unsupported"], 2);
    assert!(
        v["unsupported_rules"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("placeholder")
    );
}

/// Sigma over health-record access: a CERT's own rule (`product: ehr`) over FHIR
/// AuditEvents, and a correlation over events from several files.
#[test]
fn sigma_over_fhir_auditevents_with_a_correlation_across_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ehr.yml"),
        "title: Break-glass access to a patient record
id: 5d1c2f7e-0000-4000-8000-000000000001
name: break_glass
status: test
level: high
tags: [attack.t1078]
logsource: {product: ehr}
detection:
    sel:
        purpose_of_use: ETREAT
        patient.uid|startswith: 'Patient/'
    condition: sel
---
title: Any read of Patient/example
id: 5d1c2f7e-0000-4000-8000-000000000002
name: example_read
level: low
logsource: {product: ehr}
detection:
    sel:
        entity.what.reference|startswith: 'Patient/example'
    condition: sel
---
title: Patient/example touched three times
id: 5d1c2f7e-0000-4000-8000-000000000003
level: medium
correlation:
    type: event_count
    rules: [example_read]
    group-by: [patient.uid]
    timespan: 5000d
    condition:
        gte: 3
",
    )
    .unwrap();
    let r4 = shared().join("fhir-r4-examples/AuditEvent");
    let r5 = shared().join("fhir-r5-examples/AuditEvent");
    let (code, out, err) = vakt(&[
        "hunt",
        "-q",
        r4.to_str().unwrap(),
        r5.to_str().unwrap(),
        "--rules",
        dir.path().to_str().unwrap(),
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    let hits: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let glass: Vec<_> = hits
        .iter()
        .filter(|h| h["rule"]["title"] == "Break-glass access to a patient record")
        .collect();
    assert_eq!(glass.len(), 1, "{out}");
    assert!(
        glass[0]["origins"][0]["path"]
            .as_str()
            .unwrap()
            .contains("breakglass")
    );
    let corr: Vec<_> = hits
        .iter()
        .filter(|h| h["rule"]["title"] == "Patient/example touched three times")
        .collect();
    assert!(!corr.is_empty(), "{out}");
    assert_eq!(corr[0]["rule"]["correlation"], "event_count");
    assert!(
        corr[0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e[0] == "patient.uid" && e[1] == "Patient/example"),
        "{}",
        corr[0]
    );
    // The correlated rule does not report on its own (no `generate: true`).
    assert!(
        hits.iter()
            .all(|h| h["rule"]["title"] != "Any read of Patient/example")
    );
}

#[test]
fn demo_simulates_hunts_and_compares_with_the_truth() {
    let dir = tempfile::tempdir().unwrap();
    let rules = shared().join("sigma/rules");
    let (code, out, err) = vakt(&[
        "demo",
        "--out",
        dir.path().to_str().unwrap(),
        "--patients",
        "2000",
        "--days",
        "1",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // The summary names the most severe incident and its stages in order;
    // among them the LSASS dump the rules flag and the beacon the analytics find.
    let stages: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("The most severe"))
        .skip(1)
        .take_while(|l| l.starts_with("  ") && !l.contains("patient zero"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let at = |s: &str| stages.iter().position(|x| *x == s);
    assert!(at("execution") < at("credential-access"), "{out}");
    assert!(
        at("credential-access").is_some() && at("command-and-control").is_some(),
        "{out}"
    );
    assert!(out.contains("Against the truth"), "{out}");
    for f in ["alerts.jsonl", "incidents.json", "case.json", "store"] {
        assert!(dir.path().join(f).exists(), "no {f}");
    }
}

#[test]
fn analytics_alone_find_the_rita_beacon_and_unknown_detectors_are_refused() {
    let rules = tempfile::tempdir().unwrap();
    let logs = shared().join("zeek-rita-testdata/missing_host/2024-04-19");
    let (code, out, err) = vakt(&[
        "hunt",
        "-q",
        logs.to_str().unwrap(),
        "--rules",
        rules.path().to_str().unwrap(),
        "--analytics",
        "beacon,long-connection",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let detectors: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["rule"]["detector"].as_str().unwrap())
        .collect();
    assert_eq!(
        detectors.into_iter().collect::<Vec<_>>(),
        ["beacon", "long-connection"]
    );
    assert!(rows.iter().all(|r| r["rule"]["type"] == "analytic"));
    let beacon = rows
        .iter()
        .find(|r| r["detector"] == "beacon" && r["actors"][0]["value"] == "73.54.23.243")
        .expect("the labelled beacon");
    assert_eq!(beacon["severity"], "high");
    assert!(
        beacon["origins"][0]["path"]
            .as_str()
            .unwrap()
            .contains("conn.")
    );
    let (code, _, err) = vakt(&[
        "hunt",
        "-q",
        logs.to_str().unwrap(),
        "--rules",
        rules.path().to_str().unwrap(),
        "--analytics",
        "beacons",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("unknown analytics detector `beacons`"),
        "{err}"
    );
    // Without rules: the analytics alone, summarised per detector.
    let (code, out, err) = vakt(&["hunt", logs.to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("behaviour analytics: beacon"), "{err}");
    assert!(out.lines().count() >= 2, "{out}");
}

/// `vakt beacons` lists what RITA lists for the same logs: RITA's own
/// `proxy_rolling` known answers (see vakt-analytics' real_data tests for how
/// they are derived), a bad `--internal` is refused.
#[test]
fn beacons_lists_ritas_known_answers() {
    let dir = shared().join("zeek-rita-testdata/proxy_rolling");
    let d = dir.to_str().unwrap();
    let (code, out, err) = vakt(&["beacons", d, "--format", "json", "-q"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["dataset_range"],
        serde_json::json!([1714417205, 1714424225])
    );
    let list = v["beacons"].as_array().unwrap();
    let get = |src: &str, dst: &str| {
        list.iter()
            .find(|b| b["src"] == src && b["dst"] == dst)
            .unwrap_or_else(|| panic!("{src} -> {dst} missing"))
    };
    let dns = get("10.0.0.238", "75.75.75.75");
    assert_eq!(
        (dns["count"].as_u64(), dns["score"].as_f64()),
        (Some(1160), Some(0.673))
    );
    assert_eq!(dns["type"], "ip");
    let proxied = get("10.0.0.111", "safebrowsing.googleapis.com:443");
    assert_eq!(
        (proxied["count"].as_u64(), proxied["score"].as_f64()),
        (Some(46), Some(0.624))
    );
    assert_eq!(
        (proxied["type"].as_str(), proxied["proxied"].as_bool()),
        (Some("sni"), Some(true))
    );
    // Sorted by score.
    let scores: Vec<f64> = list.iter().map(|b| b["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]));
    let (code, _, err) = vakt(&["beacons", d, "--internal", "nonsense"]);
    assert_eq!(code, 1);
    assert!(err.contains("--internal"), "{err}");
}

/// `vakt hunt --stream-window`: the analytics run as a stream over RITA's
/// labelled missing_host logs (hourly rotated, two days, read in time order
/// across log kinds): the labelled HTTP beacon is raised during the first
/// day, low first and high hours later, each finding saying when it was
/// raised; a few records logged more than an hour after they ended arrive
/// late but are still counted (none falls out of the window).
#[test]
fn hunt_streams_the_analytics_and_says_when_each_finding_was_raised() {
    let dir = shared().join("zeek-rita-testdata/missing_host");
    let (code, out, err) = vakt(&[
        "hunt",
        dir.to_str().unwrap(),
        "--stream-window",
        "24h",
        "--analytics",
        "beacon",
        "--format",
        "jsonl",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("(0 of them before the window"), "{err}");
    // The finding, restated at each severity it rose to: when it was raised at each.
    let beacon: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["actors"][0]["value"] == "73.54.23.243")
        .filter(|v| v["title"].as_str().unwrap().contains("to 64.225.56.201"))
        .collect();
    assert_eq!(beacon.len(), 1, "{out}");
    let raised: Vec<(String, String)> = beacon[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| {
            let level = e[0].as_str()?.strip_prefix("raised_")?;
            Some((level.to_owned(), e[1].as_str()?.to_owned()))
        })
        .collect();
    assert!(!raised.is_empty(), "{out}");
    let high = raised
        .iter()
        .find(|(l, _)| l == "high")
        .expect("raised as high");
    assert!(high.1.starts_with("2024-04-19T"), "{raised:?}");
    assert!(raised[0].1 <= high.1, "{raised:?}");
    let (code, _, err) = vakt(&["hunt", dir.to_str().unwrap(), "--stream-window", "2x"]);
    assert_ne!(code, 0);
    assert!(err.contains("unit must be"), "{err}");
}

/// A full `vakt hunt` over a simulated region (SigmaHQ rules, network and EHR
/// analytics, with the EHR context): the attacker's collection is reported,
/// and no identity number or record id of any patient appears anywhere in
/// the output or the log; the same key gives the same pseudonyms, another
/// key other ones; a key too short is refused.
#[test]
fn a_full_hunt_never_shows_a_clear_patient_identifier() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("region");
    let (code, _, err) = vakt(&[
        "sim",
        "--out",
        out.to_str().unwrap(),
        "--seed",
        "7",
        "--patients",
        "3000",
        "--days",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    let key = dir.path().join("key");
    std::fs::write(&key, "a secret key of the trust, 32 bytes").unwrap();
    let rules = shared().join("sigma/rules");
    let hunt = |key: &Path| {
        vakt(&[
            "hunt",
            out.join("tenants").to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--context",
            out.join("tenants").to_str().unwrap(),
            "--context",
            out.join("registers").to_str().unwrap(),
            "--pseudonym-key-file",
            key.to_str().unwrap(),
            "--format",
            "jsonl",
        ])
    };
    let (code, stdout, stderr) = hunt(&key);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"detector\":\"ehr-bulk\""), "{stderr}");
    let mut identifiers = Vec::new();
    for t in std::fs::read_dir(out.join("tenants")).unwrap() {
        let f = t.unwrap().path().join("fhir/Patient.ndjson");
        for line in std::fs::read_to_string(f).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            identifiers.push(v["id"].as_str().unwrap().to_owned());
            identifiers.push(v["identifier"][0]["value"].as_str().unwrap().to_owned());
        }
    }
    assert!(identifiers.len() >= 6000);
    for id in &identifiers {
        assert!(
            !stdout.contains(id.as_str()) && !stderr.contains(id.as_str()),
            "a clear identifier leaked"
        );
    }
    let pseudonyms = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .flat_map(|w| w.split('"'))
            .filter(|w| w.starts_with("pt-") && w.len() == 19)
            .map(str::to_owned)
            .collect()
    };
    let first = pseudonyms(&stdout);
    assert!(!first.is_empty());
    let (_, again, _) = hunt(&key);
    assert_eq!(first, pseudonyms(&again));
    // The same key named per tenant in the config file gives the same pseudonyms.
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    std::fs::write(
        cwd.join("vakt.yml"),
        format!("pseudonym_keys:\n  default: {}\n", key.display()),
    )
    .unwrap();
    let (code, from_config, err) = vakt_in(
        Some(&cwd),
        &[
            "hunt",
            out.join("tenants").to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--context",
            out.join("tenants").to_str().unwrap(),
            "--context",
            out.join("registers").to_str().unwrap(),
            "--format",
            "jsonl",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("random key"), "{err}");
    assert_eq!(first, pseudonyms(&from_config));
    let other = dir.path().join("other");
    std::fs::write(&other, "another trust's secret key, 32 b").unwrap();
    let (_, third, _) = hunt(&other);
    assert_ne!(first, pseudonyms(&third));
    std::fs::write(&other, "short").unwrap();
    let (code, _, err) = hunt(&other);
    assert_eq!(code, 1);
    assert!(err.contains("at least 16 bytes"), "{err}");
}

/// `vakt hunt --intel`: the simulated attack's indicators (from its truth)
/// match every command-and-control and exfiltration record of the attack
/// in the network logs, and nothing else; a malformed indicator is reported
/// with its line and the run exits 2; a warninglisted indicator does not
/// alert unless forced.
#[test]
fn hunt_matches_indicators_against_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("region");
    let (code, _, err) = vakt(&[
        "sim",
        "--out",
        out.to_str().unwrap(),
        "--seed",
        "5",
        "--patients",
        "3000",
        "--days",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("truth/summary.json")).unwrap())
            .unwrap();
    let ind = &truth["indicators"];
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(
        &iocs,
        format!(
            "# from the truth\n{}\n{}\n{}\n{}\n",
            ind["c2_domain"].as_str().unwrap(),
            ind["c2_ip"].as_str().unwrap(),
            ind["exfil_ip"].as_str().unwrap(),
            ind["tunnel_domain"].as_str().unwrap()
        ),
    )
    .unwrap();
    let empty = dir.path().join("no-rules");
    std::fs::create_dir(&empty).unwrap();
    let run = |extra: &[&str]| {
        let mut args: Vec<String> = vec![
            "hunt".into(),
            out.join("tenants").to_string_lossy().into_owned(),
            "--rules".into(),
            empty.to_string_lossy().into_owned(),
            "--analytics".into(),
            "none".into(),
            "--format".into(),
            "jsonl".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        vakt(&refs)
    };
    let (code, stdout, err) = run(&["--intel", iocs.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let alerts: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .collect();
    assert!(!alerts.is_empty());
    // The attack's command-and-control and exfiltration records in the
    // network logs, and the indicators each holds as a field (a domain or
    // one of its subdomains).
    let values: Vec<String> = ["c2_domain", "c2_ip", "exfil_ip", "tunnel_domain"]
        .iter()
        .map(|k| ind[*k].as_str().unwrap().to_owned())
        .collect();
    let mut expected = std::collections::BTreeSet::new();
    let mut per_indicator: std::collections::BTreeMap<&str, u64> = Default::default();
    for l in std::fs::read_to_string(out.join("truth/events.jsonl"))
        .unwrap()
        .lines()
    {
        let v: serde_json::Value = serde_json::from_str(l).unwrap();
        let stage = v["stage"].as_str().unwrap();
        let file = v["file"].as_str().unwrap();
        if (stage == "command-and-control" || stage == "exfiltration") && file.contains("/zeek/") {
            let path = out.join(file);
            let n = v["line"].as_u64().unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            // The columns the matcher reads: addresses and the names asked for.
            let names: Vec<&str> = text
                .lines()
                .find_map(|l| l.strip_prefix("#fields\t"))
                .unwrap()
                .split('\t')
                .collect();
            let record: Vec<&str> = text
                .lines()
                .nth(n as usize - 1)
                .unwrap()
                .split('\t')
                .collect();
            let read = ["id.orig_h", "id.resp_h", "query", "server_name", "host"];
            for value in &values {
                let holds = names.iter().zip(&record).any(|(name, f)| {
                    read.contains(name) && (f == value || f.ends_with(&format!(".{value}")))
                });
                if holds {
                    *per_indicator.entry(value.as_str()).or_default() += 1;
                }
            }
            expected.insert((path.to_string_lossy().into_owned(), n));
        }
    }
    // Every match is one of the attack's records (the indicators are its
    // own), and every record of the attack holding an indicator matched it:
    // an indicator's matches from one actor are one alert, its count the
    // events.
    let mut counted: std::collections::BTreeMap<String, u64> = Default::default();
    for a in &alerts {
        assert_eq!(a["rule"]["type"], "indicator", "{a}");
        *counted
            .entry(a["rule"]["value"].as_str().unwrap().to_owned())
            .or_default() += a["count"].as_u64().unwrap();
        for o in a["origins"].as_array().unwrap() {
            let place = (
                o["path"].as_str().unwrap().to_owned(),
                o["where"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("line ")
                    .parse::<u64>()
                    .unwrap(),
            );
            assert!(
                expected.contains(&place),
                "a match outside the attack: {place:?}"
            );
        }
    }
    let want: std::collections::BTreeMap<String, u64> = per_indicator
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(counted, want);
    // A malformed line: reported with its line, exit code 2, the rest still matched.
    std::fs::write(
        &iocs,
        format!(
            "{}\nnot an indicator at all\n",
            ind["c2_ip"].as_str().unwrap()
        ),
    )
    .unwrap();
    let (code, stdout, err) = run(&["--intel", iocs.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("line 2"), "{err}");
    assert!(!stdout.is_empty());
    // Warninglisted (here: the test ranges' own list of the C2 address) does not alert unless forced.
    let wl = dir.path().join("wl.json");
    std::fs::write(
        &wl,
        format!(
            r#"{{"name": "our own list", "type": "cidr", "list": ["{}/32"]}}"#,
            ind["c2_ip"].as_str().unwrap()
        ),
    )
    .unwrap();
    std::fs::write(&iocs, format!("{}\n", ind["c2_ip"].as_str().unwrap())).unwrap();
    let (_, quiet, err) = run(&[
        "--intel",
        iocs.to_str().unwrap(),
        "--warninglist",
        wl.to_str().unwrap(),
    ]);
    assert!(quiet.is_empty(), "{err}");
    let (_, forced, _) = run(&[
        "--intel",
        iocs.to_str().unwrap(),
        "--warninglist",
        wl.to_str().unwrap(),
        "--intel-force",
    ]);
    assert!(!forced.is_empty());
}
