//! Where alerts are written: one file per output format, one line in
//! [`WRITERS`] each. Every writer is a [`Sink`] over a byte stream (a file,
//! standard output). Events go to sinks too: the event store ([`StoreSink`]),
//! normalised JSON Lines ([`EventLines`]); and the incident correlator takes
//! alerts (`vakt_incident::Correlator`).

use std::io::Write;

use vakt_core::{Alert, Error, Sink};

mod event_lines;
mod store;

pub use event_lines::EventLines;
pub use store::{OnSegment, StoreSink};

/// A writer's output.
pub type Output = Box<dyn Write + Send>;

/// A format: its name, and its writer over an output.
pub type Writer = (&'static str, fn(Output) -> Box<dyn Sink>);

vakt_core::registry! {
    /// The output formats, one file and one line each.
    pub const WRITERS: &[Writer] = [
        table::WRITER,
        csv::WRITER,
        json::WRITER,
        jsonl::WRITER,
        timesketch::WRITER,
    ];
}

/// The writer for a format name, if there is one.
pub fn writer(format: &str, out: Output) -> Option<Box<dyn Sink>> {
    WRITERS
        .iter()
        .find(|(name, _)| *name == format)
        .map(|(_, make)| make(out))
}

/// An I/O error as a sink's error (kept as I/O, so a closed pipe is known as one).
pub(crate) fn io(sink: &str, e: std::io::Error) -> Error {
    Error::Io {
        path: format!("{sink} output"),
        source: e,
    }
}

/// An alert's evidence as `name=value ¦ name=value`.
pub fn details(a: &Alert) -> String {
    a.evidence
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ¦ ")
}

/// The rule's level as Sigma names it (the alert's severity for others).
pub fn level(a: &Alert) -> &str {
    match &*a.rule {
        vakt_core::Rule::Sigma(s) => s.level.as_deref().unwrap_or(a.severity.name()),
        _ => a.severity.name(),
    }
}
