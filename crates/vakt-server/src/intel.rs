//! Indicators added while the service runs: files dropped into the data
//! folder's `intel/` (STIX 2.1, MISP, lists — whatever `vakt hunt --intel`
//! reads). The folder is looked at every few seconds; when its files
//! change, the indicators (those given at start and the folder's) are
//! loaded again and matched live from then on, and the whole set is
//! retro-hunted over the stored history on a thread of its own — its alerts
//! have the same keys as live ones, so what was already raised is restated,
//! never doubled.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
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
    /// The retro-hunts asked for through the API, and how they went.
    pub hunts: Arc<Mutex<Hunts>>,
    /// How long a retro-hunt waits before it reads the store: events that
    /// passed the detectors just before the new indicators were loaded
    /// are committed by then (two checkpoints), so none falls between the
    /// live match and the hunt.
    pub settle: Duration,
}

/// How a retro-hunt stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuntState {
    /// Its indicators are written; the folder has not been looked at since.
    Waiting,
    /// Reading the stored history.
    Running,
    /// Done.
    Done,
    /// It could not run (the error is kept).
    Failed,
}

impl HuntState {
    fn name(self) -> &'static str {
        match self {
            HuntState::Waiting => "waiting",
            HuntState::Running => "running",
            HuntState::Done => "done",
            HuntState::Failed => "failed",
        }
    }
}

/// A retro-hunt of indicators added through the API.
#[derive(Debug, Clone)]
pub struct Hunt {
    /// Its number.
    pub id: u64,
    /// The file its indicators were written to (in `intel/`).
    pub file: String,
    /// Who added them.
    pub by: String,
    /// Indicators in the file.
    pub indicators: usize,
    /// How it stands.
    pub state: HuntState,
    /// When added, started, finished (RFC 3339).
    pub times: [Option<String>; 3],
    /// Alerts it raised: key and tenant.
    pub alerts: Vec<(String, String)>,
    /// Why it failed.
    pub error: Option<String>,
}

impl Hunt {
    /// As the API shows it: only the alerts of tenants `sees` allows.
    pub fn view(&self, sees: impl Fn(&str) -> bool) -> serde_json::Value {
        let alerts: Vec<&str> = self
            .alerts
            .iter()
            .filter(|(_, t)| sees(t))
            .map(|(k, _)| k.as_str())
            .collect();
        serde_json::json!({
            "id": self.id, "file": self.file, "by": self.by, "indicators": self.indicators,
            "state": self.state.name(), "added": self.times[0], "started": self.times[1],
            "finished": self.times[2], "alerts": alerts.len(), "alert_keys": alerts,
            "error": self.error,
        })
    }
}

/// The retro-hunts asked for through the API.
#[derive(Debug, Default)]
pub struct Hunts {
    jobs: Vec<Hunt>,
}

impl Hunts {
    /// Records a hunt of the indicators just written to `file`; its number.
    pub fn add(&mut self, file: String, by: String, indicators: usize) -> u64 {
        let id = self.jobs.len() as u64 + 1;
        self.jobs.push(Hunt {
            id,
            file,
            by,
            indicators,
            state: HuntState::Waiting,
            times: [Some(crate::now().to_rfc3339()), None, None],
            alerts: Vec::new(),
            error: None,
        });
        id
    }

    /// Every hunt, oldest first.
    pub fn list(&self) -> &[Hunt] {
        &self.jobs
    }

    /// One hunt.
    pub fn get(&self, id: u64) -> Option<&Hunt> {
        self.jobs.iter().find(|j| j.id == id)
    }

    fn start(&mut self) -> Vec<u64> {
        let mut ids = Vec::new();
        for j in self
            .jobs
            .iter_mut()
            .filter(|j| j.state == HuntState::Waiting)
        {
            j.state = HuntState::Running;
            j.times[1] = Some(crate::now().to_rfc3339());
            ids.push(j.id);
        }
        ids
    }

    fn finish(&mut self, ids: &[u64], outcome: Result<&[Alert], &str>) {
        for j in self.jobs.iter_mut().filter(|j| ids.contains(&j.id)) {
            j.times[2] = Some(crate::now().to_rfc3339());
            match outcome {
                Ok(alerts) => {
                    j.state = HuntState::Done;
                    j.alerts = alerts
                        .iter()
                        .map(|a| (a.key.to_string(), a.tenant.to_string()))
                        .collect();
                }
                Err(e) => {
                    j.state = HuntState::Failed;
                    j.error = Some(e.to_owned());
                }
            }
        }
    }
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
        hunts: Arc<Mutex<Hunts>>,
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
            hunts,
            settle: Duration::ZERO,
        }
    }

    /// Retro-hunts wait this long before reading the store (see `settle`).
    pub fn settling(mut self, settle: Duration) -> IntelWatch {
        self.settle = settle;
        self
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
        let hunts = self.hunts.clone();
        let ids = hunts.lock().unwrap_or_else(|p| p.into_inner()).start();
        let settle = self.settle;
        let _ = std::thread::Builder::new()
            .name("vakt-retro".into())
            .spawn(move || {
                std::thread::sleep(settle);
                let started = Instant::now();
                match retro_hunt(&store, ind) {
                    Ok(alerts) => {
                        tracing::info!(
                            target: "vakt::intel",
                            "retro-hunt of the stored history: {} alerts in {:.1} s",
                            alerts.len(),
                            started.elapsed().as_secs_f64()
                        );
                        hunts
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .finish(&ids, Ok(&alerts));
                        let _ = tx.send(alerts);
                    }
                    Err(e) => {
                        tracing::error!(target: "vakt::intel", "retro-hunt failed: {e}");
                        hunts
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .finish(&ids, Err(&e));
                    }
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
