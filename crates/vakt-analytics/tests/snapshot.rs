//! Saved detector state: a stream interrupted twice — its network and EHR
//! detectors saved, fresh ones made, the state loaded into them — raises
//! exactly what the same stream uninterrupted raises (a cluster's new owner
//! resumes a partition from a snapshot this way).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use vakt_analytics::ehr::{EhrConfig, EhrContext, EhrDetectors};
use vakt_analytics::network::NetworkDetectors;
use vakt_analytics::stream::StreamConfig;
use vakt_core::detector::{load_all, save_all};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Alert, Detector, Event, Timestamp};

fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut stack = vec![root.to_owned()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn canonical(mut v: Vec<Alert>) -> Vec<String> {
    let mut out: Vec<String> = v
        .drain(..)
        .map(|a| serde_json::to_string(&a).unwrap())
        .collect();
    out.sort();
    out
}

#[test]
fn a_stream_resumed_from_saved_state_raises_what_the_uninterrupted_one_raises() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = vakt_sim::Config::new(dir.path(), 7, 1_500, 2);
    vakt_sim::run(&cfg).unwrap();
    let root = dir.path();
    let ctx = Arc::new(EhrContext::load(&[
        root.join("tenants"),
        root.join("registers"),
    ]));
    let pseudo = Arc::new(Pseudonymiser::new(b"test key for the simulated region").unwrap());
    let mut events: Vec<Event> = Vec::new();
    for f in files_under(&root.join("tenants")) {
        vakt_ingest::read_path(&f, &vakt_ingest::Options::default(), &mut |v| {
            if let vakt_ingest::Visit::Event(e) = v {
                events.push(e);
            }
        });
    }
    events.sort_by_key(|e| e.time);
    assert!(events.len() > 10_000, "{} events", events.len());
    let make = || -> Vec<Box<dyn Detector>> {
        vec![
            Box::new(NetworkDetectors::streaming(None, StreamConfig::default())),
            Box::new(EhrDetectors::new(
                ctx.clone(),
                EhrConfig::default(),
                pseudo.clone(),
                None,
            )),
        ]
    };
    // As a worker runs them: observe, and advance every five minutes of
    // stream time.
    let step = 300 * 1_000_000_000i64;
    let run = |cuts: &[usize]| -> (Vec<Alert>, usize) {
        let mut ds = make();
        let mut out = Vec::new();
        let mut advanced: Option<Timestamp> = None;
        let mut saved_bytes = 0;
        for (i, e) in events.iter().enumerate() {
            if cuts.contains(&i) {
                let saved = save_all(&ds).unwrap();
                saved_bytes = saved.iter().map(|(_, b)| b.0.len()).sum();
                ds = make();
                load_all(&mut ds, &saved).unwrap();
            }
            for d in &mut ds {
                d.observe(e, &mut out);
            }
            if advanced.is_none_or(|a| e.time.0 - a.0 >= step) {
                for d in &mut ds {
                    d.advance(e.time, &(), &mut out);
                }
                advanced = Some(e.time);
            }
        }
        for d in &mut ds {
            d.flush(&(), &mut out);
        }
        (out, saved_bytes)
    };
    let (straight, _) = run(&[]);
    let n = events.len();
    let (resumed, bytes) = run(&[n / 3, 2 * n / 3]);
    let detectors: std::collections::BTreeSet<&str> =
        straight.iter().map(|a| a.detector.as_str()).collect();
    eprintln!(
        "{} events, {} findings ({detectors:?}); the last saved state {bytes} bytes",
        n,
        straight.len()
    );
    assert!(
        detectors.iter().any(|d| d.starts_with("ehr-")) && detectors.len() >= 3,
        "too few kinds of findings to say anything: {detectors:?}"
    );
    assert_eq!(canonical(resumed), canonical(straight));
}

#[test]
fn state_saved_by_another_family_or_damaged_is_refused() {
    let ctx = Arc::new(EhrContext::default());
    let pseudo = Arc::new(Pseudonymiser::new(b"test key for the simulated region").unwrap());
    let mut net: Vec<Box<dyn Detector>> = vec![Box::new(NetworkDetectors::streaming(
        None,
        StreamConfig::default(),
    ))];
    let mut ehr: Vec<Box<dyn Detector>> = vec![Box::new(EhrDetectors::new(
        ctx,
        EhrConfig::default(),
        pseudo,
        None,
    ))];
    // Some state to save: a few connections.
    let mut e = Event {
        time: Timestamp(1_700_000_000_000_000_000),
        tenant: Arc::from("t"),
        source: vakt_core::SourceKind::new("zeek:conn"),
        fields: Vec::new(),
        common: Vec::new(),
        origin: vakt_core::Origin {
            path: Arc::from("stream"),
            locator: vakt_core::Locator::Line(1),
        },
    };
    let mut out = Vec::new();
    for i in 0..20i64 {
        e.time = Timestamp(1_700_000_000_000_000_000 + i * 60_000_000_000);
        e.set_common(
            vakt_core::field::SRC_IP,
            vakt_core::Value::Ip("10.0.0.9".parse().unwrap()),
        );
        e.set_common(
            vakt_core::field::DST_IP,
            vakt_core::Value::Ip("198.51.100.7".parse().unwrap()),
        );
        e.set_common(vakt_core::field::DST_PORT, vakt_core::Value::Int(443));
        net[0].observe(&e, &mut out);
    }
    let saved = save_all(&net).unwrap();
    assert!(saved[0].1.0.len() > 100, "{} bytes", saved[0].1.0.len());
    assert!(
        load_all(&mut ehr, &saved).is_err(),
        "network state loaded as EHR state"
    );
    let mut damaged = saved.clone();
    let half = damaged[0].1.0.len() / 2 + 1;
    damaged[0].1.0.truncate(half);
    damaged[0].1.0.push(0xff);
    assert!(load_all(&mut net, &damaged).is_err());
    let mut batch: Vec<Box<dyn Detector>> = vec![Box::new(NetworkDetectors::new(None))];
    assert!(
        load_all(&mut batch, &saved).is_err(),
        "stream state loaded into batch detectors"
    );
    assert!(load_all(&mut net, &saved).is_ok());
}
