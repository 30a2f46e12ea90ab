//! What a run read: events and rejected records per source kind, time
//! range, inputs passed over or unreadable — and what that means for the
//! exit code (0 all read, 2 some records rejected, 1 an input unreadable).

use std::collections::BTreeMap;
use std::sync::Arc;

use vakt_core::Timestamp;
use vakt_ingest::{InputError, RecordError};

/// How many rejected records are said one by one before only counting.
pub const REPORT_LIMIT: u64 = 50;

/// Counts for one source kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SourceStats {
    /// Events read.
    pub events: u64,
    /// Records rejected.
    pub rejected: u64,
    /// The first event.
    pub first: Option<Timestamp>,
    /// The last event.
    pub last: Option<Timestamp>,
}

impl SourceStats {
    /// Counts an event.
    pub fn see(&mut self, t: Timestamp) {
        self.events += 1;
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    /// Adds another's counts.
    pub fn merge(&mut self, o: &SourceStats) {
        self.events += o.events;
        self.rejected += o.rejected;
        self.first = match (self.first, o.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, o.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// What reading one input produced.
#[derive(Debug, Default)]
pub struct InputResult {
    /// Counts per source kind.
    pub by_source: BTreeMap<Arc<str>, SourceStats>,
    /// Inputs in no event format, and why.
    pub skipped: Vec<(Arc<str>, String)>,
    /// Inputs that could not be read.
    pub unreadable: Vec<InputError>,
}

/// Totals over all inputs.
#[derive(Debug, Default)]
pub struct Summary {
    /// Counts per source kind.
    pub by_source: BTreeMap<Arc<str>, SourceStats>,
    /// Records rejected.
    pub rejected: u64,
    /// Rejected records said one by one (the rest only counted).
    pub reported: u64,
    /// Inputs in no event format, and why.
    pub skipped: Vec<(Arc<str>, String)>,
    /// Inputs that could not be read.
    pub unreadable: Vec<InputError>,
    /// Inputs read (files, or store segments).
    pub inputs: u64,
}

impl Summary {
    /// Adds an input's result, saying what could not be read.
    pub fn add(&mut self, r: InputResult) {
        self.inputs += 1;
        for (k, s) in &r.by_source {
            self.by_source.entry(k.clone()).or_default().merge(s);
        }
        for e in &r.unreadable {
            tracing::error!(target: "vakt::input", "cannot read: {e}");
        }
        self.skipped.extend(r.skipped);
        self.unreadable.extend(r.unreadable);
    }

    /// Counts a rejected record, saying it (the first [`REPORT_LIMIT`]).
    pub fn reject(&mut self, e: &RecordError) {
        self.rejected += 1;
        if self.reported < REPORT_LIMIT {
            tracing::warn!(target: "vakt::input", "rejected: {e}");
            self.reported += 1;
        }
    }

    /// The totals over every source kind.
    pub fn total(&self) -> SourceStats {
        let mut t = SourceStats::default();
        for s in self.by_source.values() {
            t.merge(s);
        }
        t
    }

    /// 1 if an input could not be read, 2 if records were rejected, else 0.
    pub fn exit_code(&self) -> u8 {
        if !self.unreadable.is_empty() {
            1
        } else if self.rejected > 0 {
            2
        } else {
            0
        }
    }
}
