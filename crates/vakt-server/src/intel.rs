//! Indicators added while the service runs: files dropped into the data
//! folder's `intel/` (STIX 2.1, MISP, lists — whatever `vakt hunt --intel`
//! reads). The folder is looked at every few seconds; when its files
//! change, the indicators (those given at start and the folder's) are
//! loaded again and matched live from then on, and the whole set is
//! retro-hunted over the stored history on a thread of its own — its alerts
//! have the same keys as live ones, so what was already raised is restated,
//! never doubled.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant, SystemTime};

use vakt_core::{Alert, Detector};
use vakt_detect::detectors::{Indicators, IntelDetector};
use vakt_detect::{Pipeline, Quiet, Source};
use vakt_store::{EventQuery, Store};

/// How often the folder is looked at.
const EVERY: Duration = Duration::from_secs(3);

/// The watched folder and what came of it.
pub struct IntelWatch {
    /// `DIR/intel`.
    dir: PathBuf,
    /// Indicator paths given at start (kept in every reload).
    base: Vec<PathBuf>,
    /// MISP warninglists: indicators on them load but do not alert.
    warninglists: Vec<PathBuf>,
    /// The store to retro-hunt.
    store: PathBuf,
    seen: Vec<(PathBuf, u64, Option<SystemTime>)>,
    looked: Instant,
    retro_tx: Sender<Vec<Alert>>,
    /// Alerts of retro-hunts, as they finish.
    pub retro: Receiver<Vec<Alert>>,
}

fn signature(dir: &Path) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
    let (files, _) = vakt_ingest::collect_files(&[dir.to_owned()]);
    let mut v: Vec<_> = files
        .into_iter()
        .filter_map(|p| {
            let m = std::fs::metadata(&p).ok()?;
            Some((p, m.len(), m.modified().ok()))
        })
        .collect();
    v.sort();
    v
}

impl IntelWatch {
    /// Watches `dir` (made if missing); `base` are the indicators given at start.
    pub fn new(
        dir: PathBuf,
        base: Vec<PathBuf>,
        warninglists: Vec<PathBuf>,
        store: PathBuf,
    ) -> IntelWatch {
        let _ = std::fs::create_dir_all(&dir);
        let (retro_tx, retro) = channel();
        IntelWatch {
            seen: signature(&dir),
            dir,
            base,
            warninglists,
            store,
            looked: Instant::now(),
            retro_tx,
            retro,
        }
    }

    /// The indicators of the start and the folder, for matching.
    pub fn load(&self) -> Arc<Indicators> {
        let mut paths = self.base.clone();
        paths.push(self.dir.clone());
        let mut loaded = vakt_intel::load(&paths);
        if !self.warninglists.is_empty() {
            match vakt_intel::Warninglists::load(&self.warninglists) {
                Ok(lists) => loaded.mark_warninglisted(&lists),
                Err(e) => tracing::warn!(target: "vakt::intel", "warninglists: {e}"),
            }
        }
        for p in &loaded.problems {
            tracing::warn!(target: "vakt::intel", "intel: {p}");
        }
        let alerting: Vec<bool> = loaded
            .indicators
            .iter()
            .map(|i| i.to_ids && i.warning.is_none())
            .collect();
        tracing::info!(target: "vakt::intel", "{} indicators now matched live", loaded.indicators.len());
        Arc::new(Indicators::new(
            vakt_intel::Matcher::new(loaded.indicators),
            alerting,
        ))
    }

    /// When the folder changed since last looked (at most every few
    /// seconds): the new indicators, and a retro-hunt of them started.
    pub fn check(&mut self) -> Option<Arc<Indicators>> {
        if self.looked.elapsed() < EVERY {
            return None;
        }
        self.looked = Instant::now();
        let now = signature(&self.dir);
        if now == self.seen {
            return None;
        }
        self.seen = now;
        let indicators = self.load();
        let (store, tx, ind) = (
            self.store.clone(),
            self.retro_tx.clone(),
            indicators.clone(),
        );
        let _ = std::thread::Builder::new()
            .name("vakt-retro".into())
            .spawn(move || {
                let started = Instant::now();
                match retro_hunt(&store, ind) {
                    Ok(alerts) => {
                        tracing::info!(
                            target: "vakt::intel",
                            "retro-hunt of the stored history: {} alerts in {:.1} s",
                            alerts.len(),
                            started.elapsed().as_secs_f64()
                        );
                        let _ = tx.send(alerts);
                    }
                    Err(e) => tracing::error!(target: "vakt::intel", "retro-hunt failed: {e}"),
                }
            });
        Some(indicators)
    }
}

/// The indicators over every stored event (committed segments).
fn retro_hunt(store: &Path, indicators: Arc<Indicators>) -> Result<Vec<Alert>, String> {
    let store = Store::beside_writer(store);
    let detectors: Vec<Box<dyn Detector>> = vec![Box::new(IntelDetector::new(indicators))];
    let mut pipeline = Pipeline::new(detectors, Vec::new());
    pipeline.threads = 1;
    let out = pipeline
        .run(
            &Source::Store {
                store: &store,
                query: EventQuery::default(),
            },
            &Quiet,
        )
        .map_err(|e| e.to_string())?;
    Ok(out.alerts)
}
