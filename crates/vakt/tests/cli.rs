//! End-to-end tests of the `vakt` binary on the real data in `../shared/data`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("VAKT_SHARED_DATA") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn vakt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vakt"))
        .args(args)
        .output()
        .expect("vakt runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn stats_json(paths: &[&Path]) -> (i32, serde_json::Value) {
    let mut args = vec!["stats", "--format", "json", "--quiet"];
    let owned: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    args.extend(owned.iter().map(String::as_str));
    let (code, out, err) = vakt(&args);
    let json =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"));
    (code, json)
}

/// Record counts of the OTRF Security-Datasets zips (one JSON event per line).
/// Produced independently of vakt with Python 3.11's zipfile and str.split:
/// `python3 -c "import zipfile; z=zipfile.ZipFile(P); print(sum(1 for n in z.namelist()
///   if not n.startswith('__MACOSX') for l in z.read(n).decode().split('\n') if l.strip()))"`
const OTRF_COUNTS: &[(&str, u64)] = &[
    ("credential_access/cmd_sam_copy_esentutl.zip", 915),
    (
        "credential_access/empire_dcsync_dcerpc_drsuapi_DsGetNCChanges.zip",
        8465,
    ),
    ("credential_access/psh_lsass_memory_dump_comsvcs.zip", 184),
    (
        "credential_access/rdp_interactive_taskmanager_lsass_dump.zip",
        5489,
    ),
    (
        "defense_evasion/reg_disable_eventlog_service_startuptype_modification_via_registry.zip",
        3872,
    ),
    (
        "discovery/empire_shell_net_localgroup_administrators.zip",
        884,
    ),
    ("lateral_movement/covenant_copy_smb_CreateRequest.zip", 506),
    ("lateral_movement/empire_psexec_dcerpc_tcp_svcctl.zip", 4348),
    (
        "lateral_movement/empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip",
        6383,
    ),
    ("lateral_movement/schtask_create.zip", 1041),
    ("other/aptsimulator_cobaltstrike.zip", 2611),
    (
        "persistence/empire_persistence_registry_modification_run_keys_elevated_user.zip",
        657,
    ),
];

#[test]
fn otrf_zips_give_the_independent_counts() {
    let dir = shared().join("windows-sysmon-otrf");
    for (file, expected) in OTRF_COUNTS {
        let (code, s) = stats_json(&[&dir.join(file)]);
        assert_eq!(code, 0, "{file}");
        assert_eq!(s["events"], *expected, "{file}");
        assert_eq!(s["rejected"], 0, "{file}");
    }
    let (code, s) = stats_json(&[&dir]);
    assert_eq!(code, 0);
    assert_eq!(s["events"], OTRF_COUNTS.iter().map(|c| c.1).sum::<u64>());
    // The Sysmon channel is there under its own name.
    assert!(
        s["by_source"]["evtx:Microsoft-Windows-Sysmon/Operational"]["events"].as_u64()
            > Some(10_000)
    );
}

/// Record counts of EVTX files from python-evtx 0.8.1 (Willi Ballenthin's pure-Python
/// parser, independent of the Rust `evtx` crate):
/// `python3 -c "import sys, Evtx.Evtx as e; print(sum(1 for _ in e.Evtx(sys.argv[1]).__enter__().records()))" FILE`
const EVTX_COUNTS: &[(&str, u64)] = &[
    (
        "EVTX-ATTACK-SAMPLES/Command and Control/bits_openvpn.evtx",
        1537,
    ),
    (
        "EVTX-ATTACK-SAMPLES/Lateral Movement/LM_5145_Remote_FileCopy.evtx",
        869,
    ),
    (
        "EVTX-to-MITRE-Attack/EVTX_full_APT_attack_steps/ID5145-4624-DonPAPI full extraction.evtx",
        750,
    ),
    (
        "EVTX-to-MITRE-Attack/TA0008-Lateral Movement/T1550-Use Alternate Authentication Material/ID4624-Mimikatz Pass the hash.evtx",
        8,
    ),
    (
        "EVTX-ATTACK-SAMPLES/AutomatedTestingTools/Malware/rundll32_cmd_schtask.evtx",
        50,
    ),
];

#[test]
fn evtx_files_give_the_independent_counts() {
    let dir = shared().join("evtx");
    for (file, expected) in EVTX_COUNTS {
        let (code, s) = stats_json(&[&dir.join(file)]);
        assert_eq!(code, 0, "{file}");
        assert_eq!(s["events"], *expected, "{file}");
    }
    // The whole development split: 13,298 events, the sum of MANIFEST.tsv's
    // counts (PyPI evtx 0.14.0), over 389 .evtx files plus four documents that are skipped.
    let (code, s) = stats_json(&[&dir]);
    assert_eq!(code, 0);
    assert_eq!(s["events"], 13_298);
    assert_eq!(s["rejected"], 0);
    let skipped: Vec<&str> = s["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["path"].as_str().unwrap())
        .collect();
    assert!(
        skipped.iter().any(|p| p.ends_with("MANIFEST.tsv")),
        "{skipped:?}"
    );
}

/// The only records in `../shared/data` that are rejected: rows that are
/// malformed on purpose in parser-robustness fixtures (RITA's `truncated/` and
/// `has_unknown_field/`, a hand-edited row in a Slips notice.log). Everything
/// else in an event format is read whole.
const KNOWN_BAD: &[(&str, &str)] = &[
    ("zeek-rita-testdata/has_unknown_field/http.log", "line 9"),
    ("zeek-rita-testdata/truncated/conn.log", "line 67"),
    ("zeek-rita-testdata/truncated/conn_json.log", "line 4"),
    (
        "zeek-slips-testdata/test10-mixed-zeek-dir/notice.log",
        "line 21",
    ),
];

#[test]
fn all_shared_data_reads_with_only_the_deliberately_broken_rows_rejected() {
    let q = tempfile::tempdir().unwrap();
    let data = shared();
    let (code, out, _) = vakt(&[
        "stats",
        "--format",
        "json",
        "--quiet",
        "--quarantine",
        q.path().to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    let s: serde_json::Value = serde_json::from_str(&out).unwrap();
    let index = std::fs::read_to_string(q.path().join("index.jsonl")).unwrap();
    let mut rejected: Vec<(String, String)> = index
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            let p = v["path"].as_str().unwrap();
            let rel = p
                .strip_prefix(data.to_str().unwrap())
                .unwrap_or(p)
                .trim_start_matches('/');
            (rel.to_owned(), v["where"].as_str().unwrap().to_owned())
        })
        .collect();
    rejected.sort();
    let expected: Vec<(String, String)> = KNOWN_BAD
        .iter()
        .map(|(p, w)| (p.to_string(), w.to_string()))
        .collect();
    assert_eq!(rejected, expected);
    assert_eq!(s["rejected"], KNOWN_BAD.len() as u64);
    assert_eq!(code, 2, "records were rejected, so the exit code is 2");
    assert_eq!(s["unreadable"].as_array().unwrap().len(), 0);

    // Every format is there.
    let by = &s["by_source"];
    assert_eq!(
        by["fhir:AuditEvent"]["events"], 22,
        "9 R4 + 13 R5 AuditEvent examples"
    );
    assert_eq!(
        by["suricata:eve"]["events"], 3750,
        "PROVENANCE.md: 3,750 events in the shared split"
    );
    assert!(by["zeek:conn"]["events"].as_u64() > Some(100_000));
    assert!(by["evtx:Security"]["events"].as_u64() > Some(10_000));

    // Files in no event format are skipped with a reason, never rejected.
    let skipped = s["skipped"].as_array().unwrap();
    let reason_of = |suffix: &str| {
        skipped
            .iter()
            .find(|k| k["path"].as_str().unwrap().ends_with(suffix))
            .map(|k| k["reason"].as_str().unwrap().to_owned())
    };
    assert!(reason_of("proc_creation_win_renamed_whoami.yml").is_some());
    assert_eq!(
        reason_of("fhir-r4-examples/Patient/patient-example.json").as_deref(),
        Some("FHIR Patient resource (context, not an event)")
    );
    assert!(reason_of("stix21-examples/examples/threat-reports/apt1.json").is_some());
    assert!(reason_of("ioc-abusech-feodo/ipblocklist.csv").is_some());
    // The quarantined raw bytes are the rejected line itself.
    let raw = std::fs::read_dir(q.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .contains("truncated_conn.log")
        })
        .map(|e| std::fs::read(e.path()).unwrap())
        .unwrap();
    assert!(raw.starts_with(b"1517336086.507674\tCWjAXr3YklCCTQsYPg"));
}

#[test]
fn exit_codes_mean_something() {
    let good = shared().join("suricata-eve-slips/test6-malicious.eve.before-2021-06-07T0930.json");
    let (code, _, _) = vakt(&["stats", "-q", good.to_str().unwrap()]);
    assert_eq!(code, 0);
    let bad = shared().join("zeek-rita-testdata/truncated");
    let (code, _, err) = vakt(&["stats", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("truncated/conn.log: line 67"), "{err}");
    let (code, _, err) = vakt(&["stats", "/nonexistent/vakt-test"]);
    assert_eq!(code, 1);
    assert!(err.contains("/nonexistent/vakt-test"), "{err}");
    let (_, help, _) = vakt(&["stats", "--help"]);
    assert!(help.contains("Exit codes:"));
}

/// Diagnostics (a rejected record here) as one JSON object per line for log
/// collectors with `--log-format json`; as `vakt: …` lines by default.
#[test]
fn diagnostics_are_text_or_json_lines() {
    let bad = shared().join("zeek-rita-testdata/truncated");
    let (code, _, err) = vakt(&["stats", bad.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.lines()
            .any(|l| l.starts_with("vakt: rejected: ") && l.contains("conn.log: line 67")),
        "{err}"
    );
    let (code, _, err) = vakt(&["stats", bad.to_str().unwrap(), "--log-format", "json"]);
    assert_eq!(code, 2);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let rejected = lines
        .iter()
        .find(|l| l["fields"]["message"].as_str().unwrap().contains("line 67"))
        .unwrap();
    assert_eq!(rejected["level"], "WARN");
    assert_eq!(rejected["target"], "vakt::input");
    assert!(rejected["timestamp"].is_string());
    // Quiet: errors only.
    let (_, _, err) = vakt(&["stats", "-q", bad.to_str().unwrap()]);
    assert!(!err.contains("rejected:"), "{err}");
}

#[test]
fn stats_json_has_the_documented_shape() {
    let f = shared().join("zeek-rita-testdata/proxy");
    let (code, s) = stats_json(&[&f]);
    assert_eq!(code, 0);
    for key in ["events", "rejected", "first", "last", "by_source"] {
        assert!(s.get(key).is_some(), "missing {key}");
    }
    let first = s["first"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(first).is_ok(),
        "{first}"
    );
    let conn = &s["by_source"]["zeek:conn"];
    assert!(conn["events"].as_u64() > Some(0));
    assert_eq!(conn["rejected"], 0);
}

#[test]
fn ingest_writes_normalised_events_in_a_deterministic_order() {
    let dir = shared().join("zeek-rita-testdata/proxy");
    let t = tempfile::tempdir().unwrap();
    let a = t.path().join("a.jsonl");
    let b = t.path().join("b.jsonl");
    let d = dir.to_str().unwrap();
    let (c1, _, _) = vakt(&[
        "ingest",
        "-q",
        "--threads",
        "1",
        "-o",
        a.to_str().unwrap(),
        d,
    ]);
    let (c2, _, _) = vakt(&[
        "ingest",
        "-q",
        "--threads",
        "2",
        "-o",
        b.to_str().unwrap(),
        d,
    ]);
    assert_eq!((c1, c2), (0, 0));
    let a = std::fs::read_to_string(a).unwrap();
    assert_eq!(a, std::fs::read_to_string(b).unwrap());
    let first: serde_json::Value = serde_json::from_str(a.lines().next().unwrap()).unwrap();
    assert_eq!(first["tenant"], "default");
    assert!(first["origin"]["path"].as_str().unwrap().ends_with(".log"));
    assert!(first["origin"]["line"].as_u64().is_some());
    let conn = a
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["source"] == "zeek:conn")
        .unwrap();
    assert!(conn["common"]["src_endpoint.ip"].is_string());
    assert!(conn["fields"]["id.orig_h"].is_string());
}

#[test]
fn sim_command_is_deterministic_and_readable() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for d in [a.path(), b.path()] {
        let (code, _, err) = vakt(&[
            "sim",
            "-q",
            "--out",
            d.to_str().unwrap(),
            "--seed",
            "42",
            "--patients",
            "800",
            "--days",
            "1",
            "--scenario",
            "apt2018",
        ]);
        assert_eq!(code, 0, "{err}");
    }
    let same = |rel: &str| {
        std::fs::read(a.path().join(rel)).unwrap() == std::fs::read(b.path().join(rel)).unwrap()
    };
    for rel in [
        "truth/events.jsonl",
        "truth/exposed_patients.csv",
        "tenants/ous/day-001/zeek/conn.log",
        "tenants/ous/fhir/Patient.ndjson",
    ] {
        assert!(same(rel), "{rel} differs");
    }
    let (code, s) = stats_json(&[a.path()]);
    assert_eq!(code, 0);
    assert_eq!(s["rejected"], 0);
    assert!(s["by_source"]["fhir:AuditEvent"]["events"].as_u64() > Some(1000));
}
