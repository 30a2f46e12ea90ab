//! Beacon scoring on real Zeek logs with a known command-and-control channel.

use std::path::{Path, PathBuf};

use vakt_analytics::beacon::{BeaconConfig, BeaconTracker};

fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("VAKT_SHARED_DATA") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn track(paths: &[PathBuf]) -> BeaconTracker {
    let mut t = BeaconTracker::new();
    for p in paths {
        vakt_ingest::read_path(p, &vakt_ingest::Options::default(), &mut |v| {
            if let vakt_ingest::Visit::Event(e) = v
                && &*e.source == "zeek:conn"
            {
                t.observe(&e);
            }
        });
    }
    t
}

/// OTRF's APT29 day 1: NASHUA's implant calls 192.168.0.4 on 8443 (the
/// README's ground truth: 376 of 479 connections). Its timing and sizes are
/// perfectly regular (RITA's timestamp and data-size parts are 1.0), and no
/// other busy pair comes close. The capture is short, so RITA's histogram and
/// duration parts — made for a day of data — stay at 0, and the RITA score is
/// 0.5: scoring short captures well is left for the jitter-tolerant period
/// estimation this crate does not have yet.
#[test]
fn apt29_c2_has_perfectly_regular_timing_and_sizes() {
    let t = track(&[shared().join("zeek-otrf-apt29/day1/NASHUA_conn.log")]);
    let f = t.findings(&BeaconConfig::default());
    for x in f.iter().take(5) {
        eprintln!(
            "{} -> {} ({} conns): {:?}",
            x.src, x.dst, x.connections, x.score
        );
    }
    let c2 = f
        .iter()
        .find(|x| x.dst.to_string() == "192.168.0.4")
        .expect("the C2 pair is scored");
    assert!(c2.connections > 300);
    assert_eq!((c2.score.ts, c2.score.ds), (1.0, 1.0), "{c2:?}");
    assert_eq!(c2.score.score, 0.5);
    // Among pairs with over 100 connections it is the most regular.
    let busy_regular = f
        .iter()
        .filter(|x| x.connections > 100)
        .max_by(|a, b| (a.score.ts + a.score.ds).total_cmp(&(b.score.ts + b.score.ds)))
        .unwrap();
    assert_eq!(busy_regular.dst, c2.dst);
}
