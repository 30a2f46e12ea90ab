//! `vakt ingest --store`, `vakt store stats`, `vakt intel add|list|stats|export`
//! end to end, and a kill -9 in the middle of an ingest.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn vakt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vakt"))
        .args(args)
        .env_remove("VAKT_CONFIG")
        .env("HOME", "/nonexistent")
        .output()
        .expect("vakt runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sim(dir: &Path, seed: &str) -> PathBuf {
    let out = dir.join("region");
    let (code, _, err) = vakt(&[
        "sim",
        "--out",
        out.to_str().unwrap(),
        "--seed",
        seed,
        "--patients",
        "3000",
        "--days",
        "2",
    ]);
    assert_eq!(code, 0, "{err}");
    out
}

/// A kill -9 during `vakt ingest --store` leaves a store that opens, holds
/// every segment it said it had completed before the kill, and no partial file.
#[test]
fn a_kill_during_ingest_leaves_a_whole_store() {
    let dir = tempfile::tempdir().unwrap();
    let region = sim(dir.path(), "3");
    let store = dir.path().join("store");
    let mut child = Command::new(env!("CARGO_BIN_EXE_vakt"))
        .args([
            "ingest",
            region.join("tenants").to_str().unwrap(),
            "--store",
            store.to_str().unwrap(),
            "--segment-events",
            "2000",
            "--threads",
            "1",
        ])
        .env_remove("VAKT_CONFIG")
        .env("HOME", "/nonexistent")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut done: Vec<PathBuf> = Vec::new();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(Ok(l)) = lines.next() {
        if let Some(p) = l.strip_prefix("stored ") {
            done.push(PathBuf::from(p));
            if done.len() >= 5 {
                break;
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(done.len() >= 5, "the ingest said {} segments", done.len());
    let (st, removed) = vakt_store::Store::open(&store).unwrap();
    let _ = removed;
    // No partial file left, every said segment there and whole.
    let mut stack = vec![store.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                // Segments, and the writers' lock file.
                assert!(
                    p.to_string_lossy().ends_with(".parquet")
                        || p.file_name().is_some_and(|n| n == ".writer.lock"),
                    "left over: {}",
                    p.display()
                );
            }
        }
    }
    let segments = st.segments();
    for d in &done {
        assert!(segments.contains(d), "{} missing", d.display());
    }
    let stats = st.stats().expect("every segment reads");
    assert!(stats.events >= 5 * 2000, "{stats:?}");
    let (code, out, err) = vakt(&[
        "store",
        "stats",
        store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["events"].as_u64(), Some(stats.events));
}

/// The store filled from a simulated region, then the attack's indicators
/// added: the retro-hunt says when each was first seen and by which host
/// (the truth's first command-and-control record), records the sightings,
/// lists and counts the indicators, and exports STIX 2.1 Sightings and MISP
/// sightings.
#[test]
fn intel_add_retro_hunts_the_stored_history() {
    let dir = tempfile::tempdir().unwrap();
    let region = sim(dir.path(), "4");
    let store = dir.path().join("store");
    let truth: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(region.join("truth/summary.json")).unwrap())
            .unwrap();
    let c2 = truth["indicators"]["c2_ip"].as_str().unwrap().to_owned();
    let c2_domain = truth["indicators"]["c2_domain"]
        .as_str()
        .unwrap()
        .to_owned();
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, format!("{c2}\n{c2_domain}\n")).unwrap();
    // Stored, and matched live while storing.
    let (code, live, err) = vakt(&[
        "ingest",
        region.join("tenants").to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--intel",
        iocs.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    let live: Vec<serde_json::Value> = live
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!live.is_empty());
    assert!(
        live.iter()
            .all(|m| m["rule"]["value"] == c2.as_str() || m["rule"]["value"] == c2_domain.as_str())
    );
    let (code, out, err) = vakt(&[
        "intel",
        "add",
        iocs.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let s = v["sightings"].as_array().unwrap();
    assert_eq!(s.len(), 2, "{out}");
    let ip = s.iter().find(|x| x["value"] == c2.as_str()).unwrap();
    // The retro-hunt finds what live matching found while storing (each
    // indicator's matches from one actor are one alert, counting them).
    let live_ip: u64 = live
        .iter()
        .filter(|m| m["rule"]["value"] == c2.as_str())
        .map(|m| m["count"].as_u64().unwrap())
        .sum();
    assert_eq!(ip["count"].as_u64(), Some(live_ip));
    // The first C2 connection in the truth (network logs).
    let mut first = None;
    for l in std::fs::read_to_string(region.join("truth/events.jsonl"))
        .unwrap()
        .lines()
    {
        let t: serde_json::Value = serde_json::from_str(l).unwrap();
        if t["stage"] == "command-and-control" && t["file"].as_str().unwrap().contains("/zeek/conn")
        {
            first = Some(vakt_core::Timestamp::parse(t["time"].as_str().unwrap()).unwrap());
            break;
        }
    }
    let first = first.unwrap();
    assert_eq!(
        vakt_core::Timestamp::parse(ip["first"].as_str().unwrap()).unwrap(),
        first
    );
    let reached = truth["hosts"].as_array().unwrap();
    let ws_ip = reached
        .iter()
        .find(|h| h["host"].as_str().unwrap().contains("-WS"))
        .unwrap()["ip"]
        .as_str()
        .unwrap();
    assert!(
        ip["hosts"].as_array().unwrap().iter().any(|h| h == ws_ip),
        "{ip}"
    );
    assert!(
        v["row_groups"]["read"].as_u64().unwrap() <= v["row_groups"]["total"].as_u64().unwrap()
    );
    // Recorded, listed, counted, exported.
    let (_, list, _) = vakt(&[
        "intel",
        "list",
        "--store",
        store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (_, stats, _) = vakt(&[
        "intel",
        "stats",
        "--store",
        store.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(
        (stats["indicators"].as_u64(), stats["sightings"].as_u64()),
        (Some(2), Some(2))
    );
    let (_, stix, _) = vakt(&[
        "intel",
        "export",
        "--store",
        store.to_str().unwrap(),
        "--format",
        "stix",
    ]);
    let bundle: serde_json::Value = serde_json::from_str(&stix).unwrap();
    let objs = bundle["objects"].as_array().unwrap();
    let sightings: Vec<_> = objs.iter().filter(|o| o["type"] == "sighting").collect();
    assert_eq!(sightings.len(), 2);
    for s in sightings {
        let of = s["sighting_of_ref"].as_str().unwrap();
        assert!(
            objs.iter()
                .any(|o| o["id"] == of && o["type"] == "indicator"),
            "{s}"
        );
    }
    let (_, misp, _) = vakt(&[
        "intel",
        "export",
        "--store",
        store.to_str().unwrap(),
        "--format",
        "misp",
    ]);
    let misp_v: serde_json::Value = serde_json::from_str(&misp).unwrap();
    assert_eq!(misp_v.as_array().unwrap().len(), 2);
    // The OASIS stix2-validator accepts the bundle; pymisp loads the sightings.
    let peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers");
    let (stix_file, misp_file) = (
        dir.path().join("sightings.stix.json"),
        dir.path().join("sightings.misp.json"),
    );
    std::fs::write(&stix_file, &stix).unwrap();
    std::fs::write(&misp_file, &misp).unwrap();
    for args in [
        vec![
            peers.join("stix_validate.py").display().to_string(),
            stix_file.display().to_string(),
        ],
        vec![
            peers.join("misp_load.py").display().to_string(),
            "--sightings".into(),
            misp_file.display().to_string(),
        ],
    ] {
        let out = Command::new(support::python())
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
