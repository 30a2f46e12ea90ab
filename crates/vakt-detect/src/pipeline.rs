//! The pipeline: read each input once, and feed every event to the event
//! sinks (the store) and every detector in one pass; then the alerts, once,
//! to every alert sink.
//!
//! Inputs (files, or the event store's segments) are read in parallel, in
//! order: a detector that can be forked runs a fresh instance per input on
//! the worker that reads it, and the instances are merged back in input
//! order, so the result does not depend on the number of threads. A
//! detector that needs events in order (the EHR detectors, a stream) and
//! the event sinks get every event on one thread, in input order. When the
//! input ends every detector is flushed, the alerts are settled by key (a
//! later statement of a finding replaces the earlier), selected, and handed
//! to the alert sinks in time order.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use rustc_hash::FxHashMap;
use vakt_core::{Alert, AlertKey, Detector, Event, Sink, Timestamp};
use vakt_ingest::{Options, RecordError, Visit};
use vakt_store::{EventQuery, ReadStats, Store};

use crate::filter::{AlertFilter, AllowLists};
use crate::ordered::run_ordered;
use crate::quarantine::Quarantine;
use crate::summary::{InputResult, Summary};

/// What went wrong in a run (not the input: bad records are counted, not errors).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A sink could not take what it was given.
    #[error(transparent)]
    Sink(#[from] vakt_core::Error),
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] vakt_store::StoreError),
    /// The quarantine could not be written.
    #[error("quarantine: {0}")]
    Quarantine(std::io::Error),
}

/// Where the events come from.
#[derive(Debug)]
pub enum Source<'a> {
    /// Files and folders (walked recursively; archives opened).
    Files {
        /// The paths.
        paths: &'a [PathBuf],
        /// How to read them.
        options: Options,
        /// Put Zeek's rotated logs in time order across log kinds (streams).
        time_order: bool,
    },
    /// The event store.
    Store {
        /// The store.
        store: &'a Store,
        /// Which events.
        query: EventQuery,
    },
}

/// Told of progress (a progress bar, say).
pub trait Progress: Sync {
    /// How many inputs there are.
    fn inputs(&self, n: usize) {
        let _ = n;
    }
    /// One input is read.
    fn input_done(&self) {}
}

/// Progress nobody watches.
#[derive(Debug, Default)]
pub struct Quiet;
impl Progress for Quiet {}

/// What a run gave.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What was read.
    pub summary: Summary,
    /// The alerts, selected, in time order (as the alert sinks got them).
    pub alerts: Vec<Alert>,
    /// Alerts raised before the selection.
    pub raised: usize,
    /// Behaviour findings set aside by allow-lists, per list.
    pub set_aside: std::collections::BTreeMap<String, usize>,
    /// What reading the store read, when the source was the store.
    pub store: Option<ReadStats>,
    /// Seconds spent reading and detecting (not loading rules).
    pub seconds: f64,
    /// Each detector's state at the end, in a line.
    pub footprints: Vec<String>,
}

/// The settled alerts: one per key, the latest statement of each.
#[derive(Debug, Default)]
struct Book {
    alerts: Vec<Alert>,
    index: FxHashMap<AlertKey, usize>,
}

impl Book {
    fn add(&mut self, a: Alert) {
        match self.index.get(&a.key) {
            Some(&i) => self.alerts[i].update(a),
            None => {
                self.index.insert(a.key.clone(), self.alerts.len());
                self.alerts.push(a);
            }
        }
    }
}

/// Detectors, sinks and the selection, ready to run over a source.
pub struct Pipeline {
    detectors: Vec<Box<dyn Detector>>,
    sinks: Vec<Box<dyn Sink>>,
    /// The analyst's selection of alerts.
    pub filter: AlertFilter,
    /// Allow-lists over behaviour findings.
    pub allow: AllowLists,
    /// Only events from (inclusive) and before these times reach the detectors.
    pub window: (Option<Timestamp>, Option<Timestamp>),
    /// Worker threads.
    pub threads: usize,
    /// Where rejected records are kept, byte for byte.
    pub quarantine: Option<PathBuf>,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field(
                "detectors",
                &self.detectors.iter().map(|d| d.name()).collect::<Vec<_>>(),
            )
            .field(
                "sinks",
                &self.sinks.iter().map(|s| s.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What a worker sends while reading one input.
enum Msg {
    Alerts(Vec<Alert>),
    Events(Vec<Event>),
    Rejected(RecordError),
    Done(InputResult, Vec<Box<dyn Detector>>),
}

/// Reads one input, telling the visitor what it finds.
type Reader<'a> = dyn Fn(&mut dyn FnMut(Visit)) + 'a;

/// Alerts are handed on in batches of this many.
const ALERT_BATCH: usize = 1024;
/// Events are handed on in batches of this many (a channel message per
/// event would cost more than most detectors).
const EVENT_BATCH: usize = 512;

/// Zeek's rotated logs (`conn.13:00:00-14:00:00.log.gz`, in a folder per
/// day) in time order: by folder, then by the hour in the name, then by name,
/// so that a day's conn, dns and ssl logs of one hour come together. Other
/// files keep their place in name order within their folder.
pub fn time_order(files: &mut [PathBuf]) {
    fn hour(p: &Path) -> String {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        name.split('.')
            .find(|part| {
                let b = part.as_bytes();
                b.len() >= 8
                    && b[2] == b':'
                    && b[5] == b':'
                    && b[..2].iter().all(u8::is_ascii_digit)
            })
            .map(|s| s[..8].to_owned())
            .unwrap_or_default()
    }
    files.sort_by_cached_key(|p| (p.parent().map(Path::to_path_buf), hour(p), p.clone()));
}

impl Pipeline {
    /// A pipeline of these detectors, writing to these sinks.
    pub fn new(detectors: Vec<Box<dyn Detector>>, sinks: Vec<Box<dyn Sink>>) -> Pipeline {
        Pipeline {
            detectors,
            sinks,
            filter: AlertFilter::default(),
            allow: AllowLists::default(),
            window: (None, None),
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            quarantine: None,
        }
    }

    /// The detectors (to read their counts after a run).
    pub fn detectors(&self) -> &[Box<dyn Detector>] {
        &self.detectors
    }

    /// The sinks (to read what they hold after a run).
    pub fn sinks(&self) -> &[Box<dyn Sink>] {
        &self.sinks
    }

    /// Takes the sinks back.
    pub fn into_sinks(self) -> Vec<Box<dyn Sink>> {
        self.sinks
    }

    /// Reads the source once, detects, and writes the alerts.
    pub fn run(
        &mut self,
        source: &Source<'_>,
        progress: &dyn Progress,
    ) -> Result<Outcome, PipelineError> {
        let started = Instant::now();
        let mut out = Outcome::default();
        // Forkable detectors run per input; the others see every event here.
        let mut templates: Vec<(usize, Box<dyn Detector>)> = Vec::new();
        for (i, d) in self.detectors.iter().enumerate() {
            if let Some(t) = d.fork() {
                templates.push((i, t));
            }
        }
        let parallel: Vec<usize> = templates.iter().map(|(i, _)| *i).collect();
        let ordered: Vec<usize> = (0..self.detectors.len())
            .filter(|i| !parallel.contains(i))
            .collect();
        let event_sinks: Vec<usize> = (0..self.sinks.len())
            .filter(|i| self.sinks[*i].wants_events())
            .collect();
        let to_main = !ordered.is_empty() || !event_sinks.is_empty();
        let templates = Mutex::new(templates);
        let fork = || -> Vec<Box<dyn Detector>> {
            let t = templates.lock().unwrap_or_else(|p| p.into_inner());
            t.iter().filter_map(|(_, d)| d.fork()).collect()
        };
        let window = self.window;
        let in_window =
            |e: &Event| window.0.is_none_or(|f| e.time >= f) && window.1.is_none_or(|t| e.time < t);
        let mut quarantine = match &self.quarantine {
            Some(dir) => Some(Quarantine::create(dir).map_err(PipelineError::Quarantine)?),
            None => None,
        };
        let keep_raw = quarantine.is_some();
        let mut book = Book::default();
        let mut raised: Vec<Alert> = Vec::new();
        let mut summary = Summary::default();
        // The files to read, walked first (what cannot be walked is said now).
        let files = match source {
            Source::Files {
                paths,
                time_order: ordered_in_time,
                ..
            } => {
                let (mut files, walk_errors) = vakt_ingest::collect_files(paths);
                if *ordered_in_time {
                    time_order(&mut files);
                }
                for e in &walk_errors {
                    tracing::error!(target: "vakt::input", "cannot read: {e}");
                }
                summary.unreadable.extend(walk_errors);
                files
            }
            Source::Store { .. } => Vec::new(),
        };

        // Every input, read on a worker, handed on here in input order.
        let work = |read: &Reader<'_>, emit: &mut dyn FnMut(Msg)| {
            let mut forks = fork();
            let mut r = InputResult::default();
            let mut alerts = Vec::new();
            let mut events = Vec::new();
            read(&mut |v| match v {
                Visit::Opened { .. } => {}
                Visit::Event(e) => {
                    r.by_source
                        .entry(e.source.as_arc().clone())
                        .or_default()
                        .see(e.time);
                    if !in_window(&e) {
                        return;
                    }
                    for d in &mut forks {
                        d.observe(&e, &mut alerts);
                    }
                    if alerts.len() >= ALERT_BATCH {
                        emit(Msg::Alerts(std::mem::take(&mut alerts)));
                    }
                    if to_main {
                        events.push(e);
                        if events.len() >= EVENT_BATCH {
                            emit(Msg::Events(std::mem::take(&mut events)));
                        }
                    }
                }
                Visit::Rejected(mut e) => {
                    r.by_source.entry(e.source.clone()).or_default().rejected += 1;
                    if !keep_raw {
                        e.raw = Vec::new();
                    }
                    emit(Msg::Rejected(e));
                }
                Visit::Skipped { path, reason } => r.skipped.push((path, reason)),
                Visit::Unreadable(e) => r.unreadable.push(e),
            });
            if !alerts.is_empty() {
                emit(Msg::Alerts(alerts));
            }
            if !events.is_empty() {
                emit(Msg::Events(events));
            }
            emit(Msg::Done(r, forks));
        };
        let detectors = &mut self.detectors;
        let sinks = &mut self.sinks;
        let mut consume = |msg: Msg| -> Result<(), PipelineError> {
            match msg {
                Msg::Alerts(a) => raised.extend(a),
                Msg::Events(batch) => {
                    for e in &batch {
                        for &i in &ordered {
                            detectors[i].observe(e, &mut raised);
                        }
                        for &i in &event_sinks {
                            sinks[i].event(e)?;
                        }
                    }
                }
                Msg::Rejected(e) => {
                    summary.reject(&e);
                    if let Some(q) = quarantine.as_mut() {
                        q.write(std::slice::from_ref(&e))
                            .map_err(PipelineError::Quarantine)?;
                    }
                }
                Msg::Done(r, forks) => {
                    summary.add(r);
                    for (&i, f) in parallel.iter().zip(forks) {
                        detectors[i].merge(f);
                    }
                    progress.input_done();
                }
            }
            for a in raised.drain(..) {
                book.add(a);
            }
            Ok(())
        };
        match source {
            Source::Files { options, .. } => {
                progress.inputs(files.len());
                run_ordered(
                    files.len(),
                    self.threads,
                    |i, emit| {
                        work(
                            &|visit| vakt_ingest::read_path(&files[i], options, visit),
                            &mut |m| emit(m),
                        )
                    },
                    |_, m| consume(m),
                )?;
            }
            Source::Store { store, query } => {
                let segments = store.event_segments(query);
                progress.inputs(segments.len());
                let read_stats = Mutex::new(ReadStats::default());
                let failed: Mutex<Option<vakt_store::StoreError>> = Mutex::new(None);
                run_ordered(
                    segments.len(),
                    self.threads,
                    |i, emit| {
                        work(
                            &|visit| match vakt_store::read_segment(&segments[i], query, &mut |e| {
                                visit(Visit::Event(e))
                            }) {
                                Ok(st) => read_stats
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .add(&st),
                                Err(e) => {
                                    let mut f = failed.lock().unwrap_or_else(|p| p.into_inner());
                                    f.get_or_insert(e);
                                }
                            },
                            &mut |m| emit(m),
                        )
                    },
                    |_, m| consume(m),
                )?;
                if let Some(e) = failed.into_inner().unwrap_or_else(|p| p.into_inner()) {
                    return Err(e.into());
                }
                let st = read_stats.into_inner().unwrap_or_else(|p| p.into_inner());
                if st.bad_rows > 0 {
                    tracing::warn!(
                        target: "vakt::store",
                        "{} stored events could not be read back (their fields are not JSON) and were passed over",
                        st.bad_rows
                    );
                }
                out.store = Some(st);
            }
        }
        if let Some(q) = quarantine {
            q.finish().map_err(PipelineError::Quarantine)?;
        }

        // The input has ended: every detector says what it holds.
        let mut raised = Vec::new();
        for d in self.detectors.iter_mut() {
            d.flush(&(), &mut raised);
        }
        for a in raised {
            book.add(a);
        }
        out.footprints = self
            .detectors
            .iter()
            .filter_map(|d| d.footprint())
            .collect();
        out.raised = book.alerts.len();
        let mut alerts: Vec<Alert> = book
            .alerts
            .into_iter()
            .filter(|a| self.allow.keeps(a) && self.filter.keeps(a))
            .collect();
        // In time order; alerts at the same moment (rules on one event) by title.
        alerts.sort_by(|a, b| {
            a.first
                .cmp(&b.first)
                .then_with(|| a.title.cmp(&b.title))
                .then_with(|| a.key.cmp(&b.key))
        });
        for s in self.sinks.iter_mut() {
            for a in &alerts {
                s.alert(a)?;
            }
            s.finish()?;
        }
        out.set_aside = self.allow.set_aside.clone();
        out.seconds = started.elapsed().as_secs_f64();
        out.summary = summary;
        out.alerts = alerts;
        Ok(out)
    }
}
