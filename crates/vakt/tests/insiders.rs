//! The EHR detectors scored against the simulator's insider truth on three
//! seeds (`truth/insiders.json`: colleagues, family, neighbours, protected
//! persons, slow snooping, bulk browsing, exports outside an approval,
//! service accounts), and recorded attacks replayed into the intrusion.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

fn shared(rel: &str) -> PathBuf {
    let root = std::env::var_os("VAKT_SHARED_DATA").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
        PathBuf::from,
    );
    root.join(rel)
}

fn demo(extra: &[&str]) -> Json {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vakt"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(["demo", "--format", "json", "--patients", "4000", "--dir"])
        .arg(dir.path().join("case"))
        .args(extra)
        .env_remove("VAKT_RULES")
        .env_remove("VAKT_CONFIG")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Kinds of misuse an EHR detector is made for. Slow snooping (under every
/// daily threshold) and exports (a research export beyond its approval looks
/// like an approved one: there is no approvals register) are scored too,
/// but not required here.
fn made_for(kind: &str) -> bool {
    matches!(
        kind,
        "colleague" | "family" | "neighbour" | "protected" | "bulk" | "service"
    )
}

#[test]
fn the_ehr_detectors_are_scored_against_the_insiders_on_three_seeds() {
    let o = shared("windows-sysmon-otrf");
    let recordings = [
        o.join("credential_access/psh_lsass_memory_dump_comsvcs.zip"),
        o.join("lateral_movement/empire_psexec_dcerpc_tcp_svcctl.zip"),
        o.join("discovery/empire_shell_net_localgroup_administrators.zip"),
    ];
    let mut replay: Vec<&str> = Vec::new();
    for r in &recordings {
        replay.extend(["--replay", r.to_str().unwrap()]);
    }
    let (mut found, mut cases, mut on_cases, mut alerts) = (0, 0, 0, 0);
    let (mut must, mut must_found) = (0u64, 0u64);
    for (seed, extra) in [("3", &[][..]), ("11", &replay[..]), ("29", &[][..])] {
        let mut args = vec!["--seed", seed];
        args.extend_from_slice(extra);
        let j = demo(&args);
        let t = &j["truth"];
        let ins = &t["insiders"];
        let n = ins["cases"].as_u64().unwrap();
        assert!(n >= 3, "seed {seed}: {ins}");
        let by_kind = ins["by_kind"].as_object().unwrap();
        assert_eq!(
            by_kind
                .values()
                .map(|k| k["cases"].as_u64().unwrap())
                .sum::<u64>(),
            n,
            "every case is scored: {ins}"
        );
        let missed: Vec<String> = ins["missed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                format!(
                    "{}/{}",
                    m["kind"].as_str().unwrap(),
                    m["shape"].as_str().unwrap()
                )
            })
            .collect();
        let of_kinds: u64 = by_kind
            .iter()
            .filter(|(k, _)| made_for(k))
            .map(|(_, v)| v["cases"].as_u64().unwrap())
            .sum();
        let missed_of_kinds = missed
            .iter()
            .filter(|m| made_for(m.split('/').next().unwrap()))
            .count() as u64;
        must += of_kinds;
        must_found += of_kinds - missed_of_kinds;
        eprintln!(
            "seed {seed}: {} of {n} insider cases found (recall {:.2}), {} of {} EHR alerts on a case (precision {:.2}); missed {missed:?}",
            ins["found"],
            ins["recall"].as_f64().unwrap(),
            ins["ehr_alerts_on_cases"],
            ins["ehr_alerts"],
            ins["precision"].as_f64().unwrap(),
        );
        found += ins["found"].as_u64().unwrap();
        cases += n;
        on_cases += ins["ehr_alerts_on_cases"].as_u64().unwrap();
        alerts += ins["ehr_alerts"].as_u64().unwrap();
        // The intrusion is one incident, whatever the insiders do, and
        // the exposure exact.
        assert_eq!(t["missing"], 0, "seed {seed}");
        assert_eq!(t["extra"], 0, "seed {seed}");
        if extra.is_empty() {
            assert_eq!(t["attack_incidents"], 1, "seed {seed}: {t}");
        } else {
            // A replayed recording has no network logs: a recorded remote
            // session shows only as the target's 4624, which is no alert, so
            // an alert the recording raises on its target before the
            // simulated lateral movement reaches that host stands alone
            // (here: PowerShell on the PsExec target). At most that one.
            assert!(
                t["attack_incidents"].as_u64().unwrap() <= 2,
                "seed {seed}: {t}"
            );
            // Replayed recordings: each raised alerts on its own records,
            // and they are in the intrusion's incident.
            let replays = t["replays"].as_array().unwrap();
            assert_eq!(replays.len(), 3, "{t}");
            for r in replays {
                assert!(r["alerts"].as_u64().unwrap() > 0, "{r}");
                assert_eq!(r["in_attack_incident"], true, "{r}");
            }
        }
    }
    eprintln!(
        "three seeds: recall {:.2} ({found} of {cases}), precision {:.2} ({on_cases} of {alerts}); of the kinds a detector is made for: {must_found} of {must}",
        found as f64 / cases as f64,
        on_cases as f64 / alerts.max(1) as f64
    );
    assert!(
        must_found * 4 >= must * 3,
        "the EHR detectors find at least three in four cases of the kinds they are made for: {must_found} of {must}"
    );
    assert!(
        on_cases * 5 >= alerts,
        "precision under 0.2: {on_cases} of {alerts}"
    );
}
