//! What the service counts, in Prometheus' text format (`GET /metrics`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

/// A histogram of seconds with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, secs: f64) {
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            if secs <= *b {
                c.fetch_add(1, Relaxed);
            }
        }
        self.sum_micros.fetch_add((secs * 1e6) as u64, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// The smallest bucket bound holding at least `q` of the observations
    /// (`None` without any).
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count.load(Relaxed);
        if n == 0 {
            return None;
        }
        let want = (q * n as f64).ceil() as u64;
        self.bounds
            .iter()
            .zip(&self.counts)
            .find(|(_, c)| c.load(Relaxed) >= want)
            .map(|(b, _)| *b)
            .or(Some(f64::INFINITY))
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {}", c.load(Relaxed));
        }
        let n = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {n}",
            self.sum_micros.load(Relaxed) as f64 / 1e6
        );
    }
}

const LATENCY: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The service's counters and gauges.
#[derive(Debug)]
pub struct Metrics {
    /// Events stored, per (tenant, source kind).
    pub stored: Mutex<BTreeMap<(String, String), u64>>,
    /// Events accepted (acknowledged), per tenant.
    pub accepted: Mutex<BTreeMap<String, u64>>,
    /// Records rejected, per tenant.
    pub rejected: Mutex<BTreeMap<String, u64>>,
    /// Requests refused for want of room (429/503).
    pub throttled: AtomicU64,
    /// Requests refused for their credentials or tenant.
    pub refused: AtomicU64,
    /// Bytes written to the write-ahead log.
    pub wal_bytes: AtomicU64,
    /// Write-ahead log fsync time.
    pub fsync: Histogram,
    /// Input bytes accepted but not yet through the store and detectors.
    pub inflight_bytes: AtomicI64,
    /// Batches waiting for the store, and for the detectors.
    pub store_queue: AtomicI64,
    /// See [`Metrics::store_queue`].
    pub detect_queue: AtomicI64,
    /// Seconds the detectors are behind what was acknowledged.
    pub detect_lag_micros: AtomicU64,
    /// Alerts raised (statements), per detector.
    pub alerts: Mutex<BTreeMap<String, u64>>,
    /// From a batch's acknowledgement to an alert it raised.
    pub ingest_to_alert: Histogram,
    /// Store commits.
    pub checkpoints: AtomicU64,
    /// Write-ahead log records replayed at start.
    pub replayed: AtomicU64,
    /// Syslog messages received, per listener.
    pub syslog_received: Mutex<BTreeMap<String, u64>>,
    /// Syslog messages dropped, per listener (UDP only: no room, or the log
    /// queue full — TCP, TLS and RELP stop reading instead).
    pub syslog_dropped: Mutex<BTreeMap<String, u64>>,
    /// Open syslog connections.
    pub syslog_connections: AtomicI64,
    /// Lines read from watched folders, per watch.
    pub tail_lines: Mutex<BTreeMap<String, u64>>,
    /// Files followed in watched folders.
    pub tail_files: AtomicI64,
    /// Events accepted per tenant over the last hour, minute by minute,
    /// and when the last arrived: a trust that went quiet shows.
    pub flow: Mutex<BTreeMap<String, Flow>>,
}

/// A tenant's events per minute over the last hour.
#[derive(Debug, Clone)]
pub struct Flow {
    /// Counts by minute (unix minute modulo 60).
    minutes: [u64; 60],
    /// The unix minute each slot holds.
    stamps: [i64; 60],
    /// When the last events came (unix seconds).
    pub last: i64,
}

impl Default for Flow {
    fn default() -> Flow {
        Flow {
            minutes: [0; 60],
            stamps: [i64::MIN; 60],
            last: 0,
        }
    }
}

impl Flow {
    /// Counts `n` events now (`now`: unix seconds).
    pub fn add(&mut self, now: i64, n: u64) {
        let m = now.div_euclid(60);
        let i = m.rem_euclid(60) as usize;
        if self.stamps[i] != m {
            self.stamps[i] = m;
            self.minutes[i] = 0;
        }
        self.minutes[i] += n;
        self.last = now;
    }

    /// The last 60 minutes' counts, oldest first, ending with the minute of `now`.
    pub fn per_minute(&self, now: i64) -> Vec<u64> {
        let m = now.div_euclid(60);
        (0..60)
            .rev()
            .map(|back| {
                let want = m - back;
                let i = want.rem_euclid(60) as usize;
                if self.stamps[i] == want {
                    self.minutes[i]
                } else {
                    0
                }
            })
            .collect()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            stored: Mutex::default(),
            accepted: Mutex::default(),
            rejected: Mutex::default(),
            throttled: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            wal_bytes: AtomicU64::new(0),
            fsync: Histogram::new(LATENCY),
            inflight_bytes: AtomicI64::new(0),
            store_queue: AtomicI64::new(0),
            detect_queue: AtomicI64::new(0),
            detect_lag_micros: AtomicU64::new(0),
            alerts: Mutex::default(),
            ingest_to_alert: Histogram::new(LATENCY),
            checkpoints: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            syslog_received: Mutex::default(),
            syslog_dropped: Mutex::default(),
            syslog_connections: AtomicI64::new(0),
            tail_lines: Mutex::default(),
            tail_files: AtomicI64::new(0),
            flow: Mutex::default(),
        }
    }
}

/// Adds `n` under `key` in a counter map.
pub fn add<K: Ord>(m: &Mutex<BTreeMap<K, u64>>, key: K, n: u64) {
    *m.lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key)
        .or_default() += n;
}

impl Metrics {
    /// Counts events accepted for a tenant (the counter and its flow).
    pub fn accept(&self, tenant: &str, n: u64) {
        add(&self.accepted, tenant.to_owned(), n);
        let now = crate::now().0.div_euclid(1_000_000_000);
        self.flow
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(tenant.to_owned())
            .or_default()
            .add(now, n);
    }
}

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// The text exposition.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let counter = |o: &mut String, name: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        counter(&mut o, "vakt_events_stored_total", "Events stored.");
        for ((t, s), n) in self.stored.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(
                o,
                "vakt_events_stored_total{{tenant=\"{}\",source=\"{}\"}} {n}",
                label(t),
                label(s)
            );
        }
        for (name, map, help) in [
            (
                "vakt_events_accepted_total",
                &self.accepted,
                "Events acknowledged.",
            ),
            (
                "vakt_records_rejected_total",
                &self.rejected,
                "Records rejected and quarantined.",
            ),
        ] {
            counter(&mut o, name, help);
            for (t, n) in map.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = writeln!(o, "{name}{{tenant=\"{}\"}} {n}", label(t));
            }
        }
        for (name, map, help, key) in [
            (
                "vakt_syslog_received_total",
                &self.syslog_received,
                "Syslog messages received.",
                "listener",
            ),
            (
                "vakt_syslog_dropped_total",
                &self.syslog_dropped,
                "Syslog messages dropped (UDP: no room or the log queue full).",
                "listener",
            ),
            (
                "vakt_tail_lines_total",
                &self.tail_lines,
                "Lines read from watched folders.",
                "watch",
            ),
        ] {
            counter(&mut o, name, help);
            for (t, n) in map.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = writeln!(o, "{name}{{{key}=\"{}\"}} {n}", label(t));
            }
        }
        counter(&mut o, "vakt_alerts_total", "Alert statements raised.");
        for (d, n) in self.alerts.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(o, "vakt_alerts_total{{detector=\"{}\"}} {n}", label(d));
        }
        for (name, v, help, kind) in [
            (
                "vakt_requests_throttled_total",
                self.throttled.load(Relaxed) as i64,
                "Requests answered 429/503.",
                "counter",
            ),
            (
                "vakt_requests_refused_total",
                self.refused.load(Relaxed) as i64,
                "Requests refused (credentials, tenant).",
                "counter",
            ),
            (
                "vakt_wal_bytes_total",
                self.wal_bytes.load(Relaxed) as i64,
                "Bytes written to the write-ahead log.",
                "counter",
            ),
            (
                "vakt_inflight_bytes",
                self.inflight_bytes.load(Relaxed),
                "Input accepted, not yet stored and detected.",
                "gauge",
            ),
            (
                "vakt_store_queue_batches",
                self.store_queue.load(Relaxed),
                "Batches waiting for the store.",
                "gauge",
            ),
            (
                "vakt_detect_queue_batches",
                self.detect_queue.load(Relaxed),
                "Batches waiting for the detectors.",
                "gauge",
            ),
            (
                "vakt_checkpoints_total",
                self.checkpoints.load(Relaxed) as i64,
                "Store commits.",
                "counter",
            ),
            (
                "vakt_syslog_connections",
                self.syslog_connections.load(Relaxed),
                "Open syslog connections (TCP, TLS, RELP).",
                "gauge",
            ),
            (
                "vakt_tail_files",
                self.tail_files.load(Relaxed),
                "Files followed in watched folders.",
                "gauge",
            ),
            (
                "vakt_wal_replayed_total",
                self.replayed.load(Relaxed) as i64,
                "Log records replayed at start.",
                "counter",
            ),
        ] {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        }
        let _ = writeln!(
            o,
            "# HELP vakt_detect_lag_seconds How far the detectors are behind acknowledged input.\n# TYPE vakt_detect_lag_seconds gauge\nvakt_detect_lag_seconds {}",
            self.detect_lag_micros.load(Relaxed) as f64 / 1e6
        );
        self.fsync.render(
            &mut o,
            "vakt_wal_fsync_seconds",
            "Write-ahead log fsync time.",
        );
        self.ingest_to_alert.render(
            &mut o,
            "vakt_ingest_to_alert_seconds",
            "From acknowledgement to the alert raised.",
        );
        o
    }
}
