//! Behind the write-ahead log: three threads.
//!
//! - the **log** thread takes batches as requests bring them, writes every
//!   batch that is waiting as one group and fsyncs once, answers each
//!   request (acknowledged = durable), and hands the batches on in log order;
//! - the **store** thread appends their events to the event store and
//!   commits an epoch every checkpoint interval: flush the segments (named
//!   with the epoch), then record `{epoch, seq}` — the last log record
//!   stored — in `checkpoint.json`, then drop the log files before it. After
//!   a crash the segments of the uncommitted epoch are removed and the log
//!   replayed from `seq`, so every acknowledged event is stored exactly once;
//! - the **detect** thread runs every detector over the events in log
//!   order, advances the windowed ones as stream time passes, keeps alerts
//!   by key in SQLite (a replay restates an alert, never duplicates it) and
//!   keeps incidents current with the correlator.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use crate::sql::Connection;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use vakt_core::{Alert, Detector, Event, Timestamp};
use vakt_detect::AllowLists;
use vakt_store::StoreWriter;

use crate::metrics::{self, Metrics};
use crate::wal::{self, Wal};

/// Input bytes held from acceptance until the store and the detectors are
/// done with them: what bounds the service's memory.
#[derive(Debug)]
pub struct Reservation {
    metrics: Arc<Metrics>,
    bytes: i64,
}

impl Reservation {
    /// Reserves `bytes` if the total stays within `max`.
    pub fn take(metrics: &Arc<Metrics>, bytes: usize, max: usize) -> Option<Reservation> {
        let bytes = bytes as i64;
        let before = metrics.inflight_bytes.fetch_add(bytes, Relaxed);
        if before + bytes > max as i64 && before > 0 {
            metrics.inflight_bytes.fetch_sub(bytes, Relaxed);
            return None;
        }
        Some(Reservation {
            metrics: metrics.clone(),
            bytes,
        })
    }

    /// Nothing reserved (replayed batches: already durable).
    pub fn none(metrics: &Arc<Metrics>) -> Reservation {
        Reservation {
            metrics: metrics.clone(),
            bytes: 0,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.metrics.inflight_bytes.fetch_sub(self.bytes, Relaxed);
    }
}

/// A batch in the log, on its way to the store and the detectors.
#[derive(Debug)]
pub struct Work {
    /// Its log record.
    pub seq: u64,
    /// Its events.
    pub events: Vec<Event>,
    /// When it was acknowledged.
    pub acked: Instant,
    /// A watched file's position with this batch.
    pub tail: Option<crate::batch::TailMark>,
    _hold: Reservation,
}

/// A batch for the log thread.
#[derive(Debug)]
pub struct Append {
    /// The log record's payload ([`crate::batch::Batch::encode`]).
    pub payload: Vec<u8>,
    /// Its events, parsed.
    pub events: Vec<Event>,
    /// Its bytes, held until stored and detected.
    pub hold: Reservation,
    /// A watched file's position with this batch.
    pub tail: Option<crate::batch::TailMark>,
    /// The answer: the record's sequence number once durable.
    pub reply: tokio::sync::oneshot::Sender<Result<u64, String>>,
}

/// Where the next thread's batches go.
#[derive(Debug, Clone)]
pub struct Downstream {
    /// The store thread.
    pub store: SyncSender<Arc<Work>>,
    /// The detect thread.
    pub detect: SyncSender<Arc<Work>>,
    /// The counters.
    pub metrics: Arc<Metrics>,
}

impl Downstream {
    /// Hands a batch on to both threads.
    pub fn send(
        &self,
        seq: u64,
        events: Vec<Event>,
        tail: Option<crate::batch::TailMark>,
        hold: Reservation,
    ) {
        let w = Arc::new(Work {
            seq,
            events,
            acked: Instant::now(),
            tail,
            _hold: hold,
        });
        self.metrics.store_queue.fetch_add(1, Relaxed);
        self.metrics.detect_queue.fetch_add(1, Relaxed);
        let _ = self.store.send(w.clone());
        let _ = self.detect.send(w);
    }
}

/// The log thread: group commit, acknowledge, hand on in order.
pub fn log_thread(
    mut wal: Wal,
    rx: Receiver<Append>,
    down: Downstream,
    closing: Arc<std::sync::atomic::AtomicBool>,
) {
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(a) => a,
            Err(RecvTimeoutError::Timeout) if closing.load(Relaxed) => break,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
        };
        let mut group = vec![first];
        while group.len() < 512 {
            match rx.try_recv() {
                Ok(a) => group.push(a),
                Err(_) => break,
            }
        }
        let payloads: Vec<&[u8]> = group.iter().map(|a| a.payload.as_slice()).collect();
        let bytes: usize = payloads.iter().map(|p| p.len() + 16).sum();
        let t = Instant::now();
        match wal.append(&payloads) {
            Ok(first_seq) => {
                down.metrics.fsync.observe(t.elapsed().as_secs_f64());
                down.metrics.wal_bytes.fetch_add(bytes as u64, Relaxed);
                for (i, a) in group.into_iter().enumerate() {
                    let seq = first_seq + i as u64;
                    let _ = a.reply.send(Ok(seq));
                    down.send(seq, a.events, a.tail, a.hold);
                }
            }
            Err(e) => {
                tracing::error!(target: "vakt::serve", "{e}");
                for a in group {
                    let _ = a.reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// What the store has taken of the log: segments of epochs up to `epoch`
/// are committed, and hold every log record up to `seq` — and, so, every
/// line of the watched files up to `tails`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    /// The last committed epoch.
    pub epoch: u64,
    /// The last log record stored.
    pub seq: u64,
    /// Watched files, by watch and file: how far they are stored.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub tails: std::collections::BTreeMap<String, crate::batch::TailPos>,
}

/// Watched files no longer on disk, to drop from the checkpoint once the
/// store is past the given log record.
pub type Forget = Arc<std::sync::Mutex<Vec<(String, u64)>>>;

impl Checkpoint {
    /// The checkpoint in `dir` (none yet: zero).
    pub fn read(dir: &Path) -> Result<Checkpoint, String> {
        let p = dir.join("checkpoint.json");
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| format!("{}: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Checkpoint::default()),
            Err(e) => Err(format!("{}: {e}", p.display())),
        }
    }

    /// Writes it durably (temporary file, fsync, rename, fsync the folder).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let tmp = dir.join("checkpoint.json.tmp");
        let f = std::fs::File::create(&tmp)?;
        serde_json::to_writer(&f, self).map_err(std::io::Error::other)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join("checkpoint.json"))?;
        std::fs::File::open(dir)?.sync_all()
    }
}

/// The store thread's settings.
#[derive(Debug)]
pub struct StoreLoop {
    /// The data folder (for the checkpoint).
    pub dir: PathBuf,
    /// The log folder (files before the checkpoint are removed).
    pub wal_dir: PathBuf,
    /// The writer.
    pub writer: StoreWriter,
    /// The last commit.
    pub committed: Checkpoint,
    /// How often to commit.
    pub every: Duration,
    /// Test setting: a slow disk.
    pub delay: Duration,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// How far the detectors have kept their alerts (the log is kept for
    /// them too).
    pub detected: Arc<std::sync::atomic::AtomicU64>,
    /// Watched files gone from disk.
    pub forget: Forget,
}

impl StoreLoop {
    fn commit(
        &mut self,
        seq: u64,
        tails: &mut std::collections::BTreeMap<String, crate::batch::TailPos>,
    ) -> Result<(), String> {
        self.writer.flush().map_err(|e| e.to_string())?;
        {
            let mut f = self.forget.lock().unwrap_or_else(|p| p.into_inner());
            f.retain(|(key, after)| {
                if *after <= seq {
                    tails.remove(key);
                    false
                } else {
                    true
                }
            });
        }
        let c = Checkpoint {
            epoch: self.committed.epoch + 1,
            seq,
            tails: tails.clone(),
        };
        c.write(&self.dir)
            .map_err(|e| format!("cannot write the checkpoint: {e}"))?;
        self.writer.set_epoch(c.epoch + 1);
        self.committed = c;
        wal::remove_through(&self.wal_dir, seq.min(self.detected.load(Relaxed)));
        self.metrics.checkpoints.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Runs until the log thread is gone, then commits what it holds.
    pub fn run(mut self, rx: Receiver<Arc<Work>>) {
        self.writer.set_epoch(self.committed.epoch + 1);
        let mut seq = self.committed.seq;
        let mut tails = self.committed.tails.clone();
        let mut last = Instant::now();
        let mut failed = false;
        loop {
            match rx.recv_timeout(self.every) {
                Ok(w) => {
                    self.metrics.store_queue.fetch_sub(1, Relaxed);
                    // Failed, or stored before the stop (replayed for the detectors).
                    if failed || w.seq <= self.committed.seq {
                        continue;
                    }
                    if !self.delay.is_zero() {
                        std::thread::sleep(self.delay);
                    }
                    let mut counts: FxHashMap<(&str, &str), u64> = FxHashMap::default();
                    for e in &w.events {
                        if let Err(err) = self.writer.append(e) {
                            // The log keeps the batch: it is stored on the next start.
                            tracing::error!(target: "vakt::serve", "the store failed, events are kept in the write-ahead log: {err}");
                            failed = true;
                            break;
                        }
                        *counts.entry((&e.tenant, e.source.as_str())).or_default() += 1;
                    }
                    if !failed {
                        seq = w.seq;
                        if let Some(t) = &w.tail {
                            tails.insert(t.key.clone(), t.pos.clone());
                        }
                        for ((t, s), n) in counts {
                            metrics::add(&self.metrics.stored, (t.to_owned(), s.to_owned()), n);
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if !failed && seq > self.committed.seq && last.elapsed() >= self.every {
                if let Err(e) = self.commit(seq, &mut tails) {
                    tracing::error!(target: "vakt::serve", "store commit failed: {e}");
                    failed = true;
                }
                last = Instant::now();
            }
        }
        if !failed
            && seq > self.committed.seq
            && let Err(e) = self.commit(seq, &mut tails)
        {
            tracing::error!(target: "vakt::serve", "store commit failed: {e}");
        }
    }
}

/// The detect thread's state.
pub struct DetectLoop {
    /// Every detector.
    pub detectors: Vec<Box<dyn Detector>>,
    /// Allow-lists over behaviour findings.
    pub allow: AllowLists,
    /// Alerts and incidents.
    pub db: Connection,
    /// Incidents, kept current.
    pub correlator: crate::incidents::TenantIncidents,
    /// Windowed detectors advance when stream time has moved this far (ns).
    pub step: i64,
    /// The counters.
    pub metrics: Arc<Metrics>,
    /// The last log record whose alerts are kept (in the database, and
    /// shared with the store thread, which keeps the log until then).
    pub detected: Arc<std::sync::atomic::AtomicU64>,
    /// The watched intel folder.
    pub intel: Option<crate::intel::IntelWatch>,
    /// Detectors made anew (a rules reload): each replaces the one of its name.
    pub reload: Receiver<Vec<Box<dyn Detector>>>,
    /// Cases, notifications (new incidents are told), exceptions.
    pub respond: Arc<crate::respond::Respond>,
    /// The exceptions in force, as last loaded.
    pub exceptions: LiveExceptions,
}

/// The exceptions the detect thread applies, reloaded when the API
/// changes them (and every minute, for expiries).
#[derive(Default)]
pub struct LiveExceptions {
    generation: u64,
    loaded: Option<Instant>,
    list: Vec<crate::respond::exceptions::Exception>,
    /// The incidents were made again and are not written yet.
    stale: bool,
}

impl DetectLoop {
    /// Keeps the alerts raised, with the log record they came from (`through`).
    fn settle(&mut self, raised: &mut Vec<Alert>, acked: Instant, through: u64) -> bool {
        let alerts: Vec<Alert> = raised.drain(..).filter(|a| self.allow.keeps(a)).collect();
        let silenced = self.silenced(&alerts);
        let moved = through > self.detected.load(Relaxed);
        if alerts.is_empty() && !moved {
            return false;
        }
        match crate::db::upsert_alerts(&mut self.db, &alerts, through) {
            Ok(_) => self.detected.fetch_max(through, Relaxed),
            Err(e) => {
                tracing::error!(target: "vakt::serve", "cannot keep alerts: {e}");
                0
            }
        };
        if alerts.is_empty() {
            return false;
        }
        // Alerts an exception covers are kept, marked, and join no incident.
        for (i, x) in &silenced {
            if let Err(e) =
                crate::respond::exceptions::suppress(&self.db, &alerts[*i].key.to_string(), x)
            {
                tracing::error!(target: "vakt::serve", "cannot mark a silenced alert: {e}");
            }
        }
        let mut alerts = alerts;
        if !silenced.is_empty() {
            let drop: std::collections::BTreeSet<usize> =
                silenced.iter().map(|(i, _)| *i).collect();
            let mut n = 0;
            alerts.retain(|_| {
                n += 1;
                !drop.contains(&(n - 1))
            });
        }
        if alerts.is_empty() {
            return false;
        }
        for a in alerts {
            metrics::add(&self.metrics.alerts, a.detector.clone(), 1);
            self.metrics
                .ingest_to_alert
                .observe(acked.elapsed().as_secs_f64());
            self.correlator.add(a);
        }
        true
    }

    /// New indicators replace the indicator detector; a retro-hunt's alerts
    /// are kept as any others.
    fn watch_intel(&mut self, raised: &mut Vec<Alert>, through: u64) -> bool {
        let Some(w) = self.intel.as_mut() else {
            return false;
        };
        if let Some(indicators) = w.check() {
            let fresh: Box<dyn Detector> =
                Box::new(vakt_detect::detectors::IntelDetector::new(indicators));
            match self.detectors.iter().position(|d| d.name() == "intel") {
                Some(i) => self.detectors[i] = fresh,
                None => self.detectors.push(fresh),
            }
        }
        let mut found = false;
        while let Ok(alerts) = w.retro.try_recv() {
            raised.extend(alerts);
            found = true;
        }
        found && self.settle(raised, Instant::now(), through)
    }

    /// Reloads the exceptions when the API changed them (and every
    /// minute, for expiries). When they changed, the incidents are made
    /// again from the stored alerts no exception silences (a silenced
    /// alert leaves the incidents it had joined; a revoked exception's
    /// alerts join again). Returns whether the incidents changed.
    fn refresh_exceptions(&mut self) -> bool {
        let generation = self
            .respond
            .exceptions_changed
            .load(std::sync::atomic::Ordering::Relaxed);
        let ex = &mut self.exceptions;
        let changed = ex.generation != 0 && ex.generation != generation;
        if ex.generation == generation
            && ex
                .loaded
                .is_some_and(|t| t.elapsed() < Duration::from_secs(60))
        {
            return false;
        }
        match crate::respond::exceptions::active(&self.db) {
            Ok(l) => {
                ex.list = l;
                ex.generation = generation;
                ex.loaded = Some(Instant::now());
            }
            Err(e) => {
                tracing::error!(target: "vakt::serve", "cannot read the exceptions: {e}");
                return false;
            }
        }
        if !changed {
            return false;
        }
        match crate::db::alerts_unsilenced(&self.db) {
            Ok(alerts) => {
                self.correlator.clear();
                for a in alerts {
                    self.correlator.add(a);
                }
                self.exceptions.stale = true;
                true
            }
            Err(e) => {
                tracing::error!(target: "vakt::serve", "cannot read the alerts: {e}");
                false
            }
        }
    }

    /// The alerts (by index) an exception in force covers.
    fn silenced(
        &mut self,
        alerts: &[Alert],
    ) -> Vec<(usize, crate::respond::exceptions::Exception)> {
        self.refresh_exceptions();
        let ex = &self.exceptions;
        if ex.list.is_empty() {
            return Vec::new();
        }
        let now = crate::now();
        alerts
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                ex.list
                    .iter()
                    .find(|x| x.active(now) && x.covers(a))
                    .map(|x| (i, x.clone()))
            })
            .collect()
    }

    fn write_incidents(&mut self) {
        let with_tenants = self.correlator.with_tenants();
        if let Err(e) = crate::db::put_incidents(&mut self.db, with_tenants.iter().map(|(_, i)| i))
        {
            tracing::error!(target: "vakt::serve", "cannot keep incidents: {e}");
            return;
        }
        // New and escalated incidents are told (once: what was told is kept).
        match crate::respond::notify::incident_notices(&self.db, &with_tenants) {
            Ok(notices) => {
                for n in notices {
                    self.respond.notice(&self.db, &n);
                }
            }
            Err(e) => tracing::error!(target: "vakt::serve", "cannot tell of incidents: {e}"),
        }
    }

    /// Runs until the log thread is gone.
    pub fn run(mut self, rx: Receiver<Arc<Work>>) {
        let mut raised = Vec::new();
        let mut now: Option<Timestamp> = None;
        let mut advanced: Option<Timestamp> = None;
        let mut incidents_due = false;
        let mut written = Instant::now();
        let mut last_seq = self.detected.load(Relaxed);
        let mut kept = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(w) => {
                    self.metrics.detect_queue.fetch_sub(1, Relaxed);
                    // Detected before the stop (replayed for the store).
                    if w.seq <= self.detected.load(Relaxed) {
                        continue;
                    }
                    last_seq = w.seq;
                    for e in &w.events {
                        for d in &mut self.detectors {
                            d.observe(e, &mut raised);
                        }
                        now = Some(now.map_or(e.time, |n: Timestamp| n.max(e.time)));
                    }
                    if let Some(t) = now
                        && advanced.is_none_or(|a| t.0.saturating_sub(a.0) >= self.step)
                    {
                        for d in &mut self.detectors {
                            d.advance(t, &(), &mut raised);
                        }
                        advanced = Some(t);
                    }
                    // Progress alone is kept a few times a second.
                    if !raised.is_empty() || kept.elapsed() >= Duration::from_millis(250) {
                        incidents_due |= self.settle(&mut raised, w.acked, w.seq);
                        kept = Instant::now();
                    }
                    self.metrics
                        .detect_lag_micros
                        .store(w.acked.elapsed().as_micros() as u64, Relaxed);
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.metrics.detect_lag_micros.store(0, Relaxed);
                    self.settle(&mut raised, Instant::now(), last_seq);
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(fresh) = self.reload.try_recv() {
                for d in fresh {
                    match self.detectors.iter().position(|o| o.name() == d.name()) {
                        Some(i) => self.detectors[i] = d,
                        None => self.detectors.push(d),
                    }
                }
                tracing::info!(target: "vakt::serve", "rules reloaded: the live detectors run the new set");
            }
            incidents_due |= self.watch_intel(&mut raised, last_seq);
            self.refresh_exceptions();
            incidents_due |= std::mem::take(&mut self.exceptions.stale);
            if incidents_due && written.elapsed() >= Duration::from_secs(1) {
                self.write_incidents();
                incidents_due = false;
                written = Instant::now();
            }
        }
        if let Some(t) = now {
            for d in &mut self.detectors {
                d.advance(t, &(), &mut raised);
            }
        }
        incidents_due |= self.settle(&mut raised, Instant::now(), last_seq);
        if incidents_due {
            self.write_incidents();
        }
    }
}
