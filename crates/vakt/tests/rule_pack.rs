//! vakt's own rule pack (`rules/`, built into the binary): every rule fires
//! on the events of its `.match` fixture and on none of its `.miss` fixture
//! (near misses: the same shape changed in the one way that makes it
//! benign), run through `vakt hunt` as any log would be.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Alerts of `vakt hunt` over `file` with only the built-in pack (an empty
/// rule folder given, so the pack loads alone): rule id → matched events.
fn hunt(file: &Path) -> BTreeMap<String, u64> {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vakt"))
        .args([
            "hunt",
            "--analytics",
            "none",
            "--format",
            "json",
            "-q",
            "--rules",
        ])
        .arg(empty.path())
        .arg(file)
        .env_remove("VAKT_RULES")
        .env_remove("VAKT_CONFIG")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let alerts: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut hits = BTreeMap::new();
    for a in alerts.as_array().unwrap() {
        let id = a["rule"]["id"].as_str().unwrap_or("").to_owned();
        *hits.entry(id).or_default() += a["count"].as_u64().unwrap_or(1);
    }
    hits
}

/// The reporting rules of a file: (id, title, is a correlation); a base
/// rule that a correlation in the same file names reports only through it.
fn reporting(text: &str) -> Vec<(String, String, bool)> {
    let docs: Vec<&str> = text.split("\n---\n").collect();
    let correlated = docs.iter().any(|d| d.contains("\ncorrelation:"));
    docs.iter()
        .filter_map(|d| {
            let field = |k: &str| {
                d.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(|v| v.trim().trim_matches('\'').trim_matches('"').to_owned())
            };
            let corr = d.contains("\ncorrelation:") || d.starts_with("correlation:");
            if correlated && !corr {
                return None;
            }
            Some((field("id:")?, field("title:").unwrap_or_default(), corr))
        })
        .collect()
}

fn fixture(stem: &str, kind: &str) -> PathBuf {
    let dir = repo().join("rules/tests");
    std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&format!("{stem}.{kind}.")))
        })
        .unwrap_or_else(|| panic!("rules/tests/{stem}.{kind}.* is missing"))
}

#[test]
fn every_rule_matches_its_events_and_not_its_near_misses() {
    let mut files: Vec<PathBuf> = Vec::new();
    for area in std::fs::read_dir(repo().join("rules")).unwrap() {
        let area = area.unwrap().path();
        if !area.is_dir() || area.ends_with("tests") {
            continue;
        }
        for f in std::fs::read_dir(&area).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|x| x == "yml") {
                files.push(f);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut failures = Vec::new();
    for f in &files {
        let stem = f.file_stem().unwrap().to_str().unwrap();
        let rules = reporting(&std::fs::read_to_string(f).unwrap());
        assert!(!rules.is_empty(), "{}: no rule", f.display());
        let (m, n) = (fixture(stem, "match"), fixture(stem, "miss"));
        let events = std::fs::read_to_string(&m)
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count() as u64;
        let (hit, miss) = (hunt(&m), hunt(&n));
        for (id, title, corr) in &rules {
            let got = hit.get(id).copied().unwrap_or(0);
            // A plain rule matches every event of its fixture; a
            // correlation fires at least once.
            let ok = if *corr { got >= 1 } else { got == events };
            if !ok {
                failures.push(format!(
                    "{stem}: `{title}` matched {got} of {events} events of {}",
                    m.display()
                ));
            }
            if let Some(k) = miss.get(id) {
                failures.push(format!(
                    "{stem}: `{title}` matched {k} near misses in {}",
                    n.display()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rules_check_lists_the_pack() {
    let empty = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vakt"))
            .args(["rules", "check", "--format", "json"])
            .args(extra)
            .arg(empty.path())
            .env("HOME", "/nonexistent")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let v = run(&[]);
    let pack = v["pack"].as_array().unwrap();
    assert!(pack.len() >= 10, "{v}");
    assert!(
        pack.iter()
            .all(|r| r["path"].as_str().unwrap().starts_with("vakt:rules/"))
    );
    assert!(
        pack.iter().any(|r| r["logsource"]["product"] == "ehr"),
        "{v}"
    );
    assert_eq!(v["unsupported"], 0, "{v}");
    assert_eq!(v["never_match"], 0, "{v}");
    // Correlations are counted apart from the rules they correlate.
    assert!(
        v["loaded"].as_u64().unwrap() + v["correlations"].as_u64().unwrap() >= pack.len() as u64,
        "{v}"
    );
    let none = run(&["--no-pack"]);
    assert_eq!(none["loaded"], 0, "{none}");
    assert_eq!(none["pack"].as_array().map(Vec::len), Some(0));
}
