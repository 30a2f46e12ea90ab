//! Streaming: the network detectors over an unbounded stream of events, with
//! state kept to a sliding window and findings raised as the stream passes
//! each evaluation step.
//!
//! Events should arrive roughly in time order (as live sensors and hourly
//! rotated logs deliver them); a connection counts by its end (start plus
//! duration), since that is when it is logged, and Zeek's `open_conn`
//! records (connections still open, stamped with their start) are never late. An evaluation at stream time `T` happens once
//! an event later than `T + lateness` has been seen, so events up to
//! `lateness` late still count; later ones are counted as late and still
//! observed while they fall inside the window (older ones are dropped and
//! counted). Each evaluation forgets what lies before `T - window`
//! ([`NetworkAnalytics::expire`]) and raises the findings not raised before,
//! or raised before at a lower severity. Beacons are scored over the whole
//! window (RITA's histogram and duration parts measure a day's coverage: a
//! pair seen for the first minutes of a stream must not earn them). A
//! finding not seen for a whole
//! window is forgotten, so it is raised again if it comes back.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use vakt_core::field::DURATION;
use vakt_core::{Alert, AlertKey, Event, Severity, Timestamp, Value};

use crate::network::{Flow, FlowKind, NetworkAnalytics, flow};

const NS: i64 = 1_000_000_000;

/// A finding raised: its severity, the last evaluation that saw it, and
/// when it was raised at each severity (seconds).
type RaisedSoFar = (Severity, i64, Vec<(Severity, i64)>);

/// How the stream is cut.
#[derive(Debug, Clone, Copy)]
pub struct StreamConfig {
    /// State covers this many seconds back from each evaluation.
    pub window: i64,
    /// Seconds between evaluations.
    pub step: i64,
    /// Seconds an event may arrive late and still be in time.
    pub lateness: i64,
}

impl Default for StreamConfig {
    /// A day's window, evaluated every hour, five minutes' lateness.
    fn default() -> Self {
        StreamConfig {
            window: 86_400,
            step: 3_600,
            lateness: 300,
        }
    }
}

/// A finding raised by the stream (its evidence says when it was raised
/// at each severity so far: `raised_low`, `raised_medium`, `raised_high`).
#[derive(Debug, Clone)]
pub struct Raised {
    /// The stream time of the evaluation that raised it.
    pub at: Timestamp,
    /// The finding.
    pub alert: Alert,
}

impl Raised {
    /// The alert, saying when it was raised (evidence `raised`).
    pub fn into_alert(self) -> Alert {
        let mut a = self.alert;
        a.evidence.push(("raised".into(), self.at.to_rfc3339()));
        a
    }
}

/// The network detectors over a stream.
#[derive(Debug)]
pub struct NetworkStream {
    cfg: StreamConfig,
    na: NetworkAnalytics,
    /// Next evaluation, seconds.
    next: Option<i64>,
    /// The latest event time seen, seconds.
    watermark: i64,
    /// Findings raised: key → (severity, last evaluation that saw it, when
    /// it was raised at each severity).
    raised: FxHashMap<AlertKey, RaisedSoFar>,
    late: u64,
    dropped: u64,
    evaluations: u64,
}

impl NetworkStream {
    /// A stream with this configuration.
    pub fn new(cfg: StreamConfig) -> Self {
        Self::for_tenant(cfg, Arc::from("default"))
    }

    /// A stream of one tenant's events (its findings name it).
    pub fn for_tenant(cfg: StreamConfig, tenant: Arc<str>) -> Self {
        Self::for_site(cfg, tenant, Arc::new(vakt_core::site::Site::assumed()))
    }

    /// The same, with the tenant's site model.
    pub fn for_site(cfg: StreamConfig, tenant: Arc<str>, site: Arc<vakt_core::site::Site>) -> Self {
        NetworkStream {
            cfg: StreamConfig {
                window: cfg.window.max(1),
                step: cfg.step.max(1),
                lateness: cfg.lateness.max(0),
            },
            na: NetworkAnalytics::for_site(tenant, site),
            next: None,
            watermark: i64::MIN,
            raised: FxHashMap::default(),
            late: 0,
            dropped: 0,
            evaluations: 0,
        }
    }

    /// Takes one event; returns the findings raised by the evaluations it
    /// triggered (none, usually).
    pub fn push(&mut self, e: &Event) -> Vec<Raised> {
        match flow(e) {
            Some(f) => self.push_flow_raised(&f),
            None => Vec::new(),
        }
    }

    /// Takes one flow; returns the findings raised, each saying when in its
    /// evidence (`raised`).
    pub fn push_flow(&mut self, f: &Flow<'_>) -> Vec<Alert> {
        self.push_flow_raised(f)
            .into_iter()
            .map(Raised::into_alert)
            .collect()
    }

    fn push_flow_raised(&mut self, f: &Flow<'_>) -> Vec<Raised> {
        // A connection is logged when it ends, stamped with its start: its
        // end is what arrives in order. Zeek's open_conn records report
        // connections still open, stamped with their (old) start: never late.
        let duration = match f.event.common(DURATION) {
            Some(Value::Float(d)) if d.is_finite() && *d > 0.0 => *d as i64,
            Some(Value::Int(d)) if *d > 0 => *d,
            _ => 0,
        };
        let t = f.time.div_euclid(NS).saturating_add(duration);
        let ongoing = f.kind == FlowKind::Open;
        if !ongoing && self.watermark != i64::MIN && t < self.watermark - self.cfg.lateness {
            self.late += 1;
            let window_start = self
                .next
                .map_or(i64::MIN, |n| n - self.cfg.step - self.cfg.window);
            if t < window_start {
                self.dropped += 1;
                return Vec::new();
            }
        }
        self.na.observe_flow(f);
        if !ongoing {
            self.watermark = self.watermark.max(t);
        }
        let next = *self
            .next
            .get_or_insert_with(|| t.div_euclid(self.cfg.step) * self.cfg.step + self.cfg.step);
        let mut out = Vec::new();
        let mut at = next;
        while self.watermark >= at + self.cfg.lateness {
            out.extend(self.evaluate(at));
            at += self.cfg.step;
        }
        self.next = Some(at);
        out
    }

    /// The stream ends (or the caller wants the findings so far): evaluates
    /// at the latest event time; each finding says when it was raised.
    pub fn flush(&mut self) -> Vec<Alert> {
        self.flush_raised()
            .into_iter()
            .map(Raised::into_alert)
            .collect()
    }

    /// [`NetworkStream::flush`], the findings apart from when they were raised.
    pub fn flush_raised(&mut self) -> Vec<Raised> {
        if self.watermark == i64::MIN {
            return Vec::new();
        }
        self.evaluate(self.watermark + 1)
    }

    fn evaluate(&mut self, at: i64) -> Vec<Raised> {
        self.evaluations += 1;
        self.na.expire(Timestamp((at - self.cfg.window) * NS));
        // Beacons are scored over the whole window, not the part seen so far.
        self.na
            .set_scoring_range(Timestamp((at - self.cfg.window) * NS), Timestamp(at * NS));
        let mut out = Vec::new();
        for a in self.na.alerts() {
            if a.first.0 >= at * NS {
                // Seen only after this evaluation's time (late evaluation of
                // an early step): the next step raises it.
                continue;
            }
            let k = a.key.clone();
            let history = match self.raised.get_mut(&k) {
                Some((sev, seen, history)) => {
                    *seen = at;
                    if a.severity > *sev {
                        *sev = a.severity;
                        history.push((a.severity, at));
                        Some(history.clone())
                    } else {
                        None
                    }
                }
                None => {
                    let history = vec![(a.severity, at)];
                    self.raised.insert(k, (a.severity, at, history.clone()));
                    Some(history)
                }
            };
            // A finding raised again, more severe, restates its story: when
            // it was raised at each severity.
            if let Some(history) = history {
                let mut a = a;
                for (sev, t) in history {
                    a.evidence.push((
                        format!("raised_{}", sev.name()),
                        Timestamp(t * NS).to_rfc3339(),
                    ));
                }
                out.push(Raised {
                    at: Timestamp(at * NS),
                    alert: a,
                });
            }
        }
        let forget = at - self.cfg.window;
        self.raised.retain(|_, (_, seen, _)| *seen >= forget);
        out
    }

    /// Connections with neither end inside the site, of all connections.
    pub fn transit(&self) -> (u64, u64) {
        self.na.transit()
    }

    /// The stream's state: where it stands, the findings raised, and the
    /// detectors' state (see [`vakt_core::Detector::save`]).
    pub fn save(&self) -> Result<Vec<u8>, String> {
        let na = vakt_core::detector::Blob(self.na.save()?);
        let raised: Vec<(&AlertKey, &RaisedSoFar)> = self.raised.iter().collect();
        vakt_core::detector::save_state(&(
            self.next,
            self.watermark,
            raised,
            self.late,
            self.dropped,
            self.evaluations,
            na,
        ))
    }

    /// Takes state [`NetworkStream::save`] gave (this instance's
    /// configuration, tenant and site are kept).
    pub fn load(&mut self, b: &[u8]) -> Result<(), String> {
        type Saved = (
            Option<i64>,
            i64,
            Vec<(AlertKey, RaisedSoFar)>,
            u64,
            u64,
            u64,
            vakt_core::detector::Blob,
        );
        let (next, watermark, raised, late, dropped, evaluations, na): Saved =
            vakt_core::detector::load_state(b)?;
        self.na.load(&na.0)?;
        self.next = next;
        self.watermark = watermark;
        self.raised = raised.into_iter().collect();
        self.late = late;
        self.dropped = dropped;
        self.evaluations = evaluations;
        Ok(())
    }

    /// Destinations outside the networks and how many internal hosts used
    /// each (see [`NetworkAnalytics::public_prevalence`]).
    pub fn public_prevalence(&self, out: &mut Vec<(String, u64)>) {
        self.na.public_prevalence(out);
    }

    /// Events that arrived more than the lateness behind the latest one
    /// (observed while still inside the window).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// Late events dropped because they fell before the window.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Evaluations run.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// The detectors' state (see [`NetworkAnalytics::footprint`]) and the
    /// findings remembered.
    pub fn footprint(&self) -> String {
        format!(
            "{}; findings remembered {}",
            self.na.footprint(),
            self.raised.len()
        )
    }
}
