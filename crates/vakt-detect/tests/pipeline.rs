//! The pipeline: its result does not depend on the number of threads; a
//! replay never duplicates an alert; bad records are counted, quarantined
//! byte for byte, and the rest still read; a forked detector sees every
//! event once, an ordered one every event in input order.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use vakt_core::detector::{Detector, downcast};
use vakt_core::{Alert, Event, Events};
use vakt_detect::detectors::SigmaRules;
use vakt_detect::{Analytics, Pipeline, Quiet, Setup, Source, detectors};
use vakt_sigma::{Mapping, RuleSet};

fn shared() -> PathBuf {
    if let Some(p) = std::env::var_os("VAKT_SHARED_DATA") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

fn rules() -> Arc<SigmaRules> {
    let (set, _) = RuleSet::load(
        &[shared().join("sigma/rules/windows")],
        &Mapping::default_mapping(),
        &Default::default(),
    );
    Arc::new(SigmaRules::new(set))
}

fn run(p: &mut Pipeline, paths: &[PathBuf]) -> vakt_detect::Outcome {
    let source = Source::Files {
        paths,
        options: vakt_ingest::Options::default(),
        time_order: false,
    };
    p.run(&source, &Quiet).unwrap()
}

fn json(alerts: &[Alert]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| serde_json::to_string(a).unwrap())
        .collect()
}

#[test]
fn the_number_of_threads_does_not_change_the_alerts() {
    let rules = rules();
    let paths = [
        shared().join("evtx/EVTX-ATTACK-SAMPLES/Credential Access"),
        shared().join("zeek-rita-testdata/missing_host"),
    ];
    let mut outcomes = Vec::new();
    for threads in [1, 3] {
        let setup = Setup {
            rules: Some(rules.clone()),
            analytics: Analytics::All,
            ..Setup::default()
        };
        let mut p = Pipeline::new(detectors(&setup), Vec::new());
        p.threads = threads;
        outcomes.push(run(&mut p, &paths));
    }
    assert!(
        outcomes[0].alerts.len() > 20,
        "{}",
        outcomes[0].alerts.len()
    );
    assert!(outcomes[0].alerts.iter().any(|a| a.detector == "beacon"));
    assert_eq!(json(&outcomes[0].alerts), json(&outcomes[1].alerts));
    assert_eq!(
        outcomes[0].summary.total().events,
        outcomes[1].summary.total().events
    );
}

#[test]
fn a_replay_never_duplicates_an_alert() {
    let rules = rules();
    let folder = shared().join("evtx/EVTX-ATTACK-SAMPLES/Lateral Movement");
    let setup = Setup {
        rules: Some(rules),
        analytics: Analytics::None,
        ..Setup::default()
    };
    let once = run(
        &mut Pipeline::new(detectors(&setup), Vec::new()),
        std::slice::from_ref(&folder),
    );
    let twice = run(
        &mut Pipeline::new(detectors(&setup), Vec::new()),
        &[folder.clone(), folder],
    );
    assert!(!once.alerts.is_empty());
    assert_eq!(
        twice.summary.total().events,
        2 * once.summary.total().events
    );
    // The same events, the same alerts: each keeps its key.
    assert_eq!(json(&once.alerts), json(&twice.alerts));
}

#[test]
fn bad_records_are_counted_kept_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let quarantine = dir.path().join("quarantine");
    let setup = Setup {
        analytics: Analytics::All,
        ..Setup::default()
    };
    let mut p = Pipeline::new(detectors(&setup), Vec::new());
    p.quarantine = Some(quarantine.clone());
    let out = run(&mut p, &[shared().join("zeek-rita-testdata/truncated")]);
    // RITA's truncated fixture: two rows cut short, 61 read.
    assert_eq!(out.summary.rejected, 2, "{:?}", out.summary);
    assert_eq!(out.summary.exit_code(), 2);
    assert_eq!(out.summary.total().events, 61);
    let index = std::fs::read_to_string(quarantine.join("index.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(index.lines().next().unwrap()).unwrap();
    assert!(
        first["where"].as_str().unwrap().starts_with("line "),
        "{first}"
    );
    assert!(
        first["path"].as_str().unwrap().ends_with("conn.log"),
        "{first}"
    );
    let raw = std::fs::read(quarantine.join(first["raw_file"].as_str().unwrap())).unwrap();
    assert_eq!(
        raw.len(),
        first["raw_len"].as_u64().unwrap() as usize + 1,
        "raw bytes and a newline"
    );
}

/// Counts the events it sees; forkable (each fork counts its own).
struct Counting {
    events: u64,
}

impl Detector for Counting {
    fn name(&self) -> &'static str {
        "counting"
    }
    fn observe(&mut self, _: &Event, _: &mut Vec<Alert>) {
        self.events += 1;
    }
    fn fork(&self) -> Option<Box<dyn Detector>> {
        Some(Box::new(Counting { events: 0 }))
    }
    fn merge(&mut self, other: Box<dyn Detector>) {
        if let Some(o) = downcast::<Events, Counting>(other) {
            self.events += o.events;
        }
    }
}

/// Keeps the origin of every event it sees, in order; not forkable.
struct InOrder {
    seen: Arc<Mutex<Vec<(String, vakt_core::Locator)>>>,
}

impl Detector for InOrder {
    fn name(&self) -> &'static str {
        "in-order"
    }
    fn observe(&mut self, e: &Event, _: &mut Vec<Alert>) {
        self.seen
            .lock()
            .unwrap()
            .push((e.origin.path.to_string(), e.origin.locator));
    }
}

#[test]
fn forked_detectors_see_every_event_once_and_ordered_ones_in_input_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut p = Pipeline::new(
        vec![
            Box::new(Counting { events: 0 }),
            Box::new(InOrder { seen: seen.clone() }),
        ],
        Vec::new(),
    );
    p.threads = 3;
    let out = run(&mut p, &[shared().join("zeek-rita-testdata/proxy_rolling")]);
    let total = out.summary.total().events;
    assert!(total > 1_000);
    let counted = p
        .detectors()
        .iter()
        .find_map(|d| (&**d as &dyn std::any::Any).downcast_ref::<Counting>())
        .unwrap()
        .events;
    assert_eq!(counted, total);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len() as u64, total);
    // Files in path order, records in file order.
    let mut sorted = seen.clone();
    sorted.sort();
    assert_eq!(*seen, sorted);
}
