//! Errors of the readers: one bad record ([`RecordError`]) or an input that
//! cannot be read at all ([`InputError`]).

use std::sync::Arc;

use vakt_core::Locator;

/// A record that could not be read. The rest of the input is still read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordError {
    /// The input's display path.
    pub path: Arc<str>,
    /// Where in the input.
    pub locator: Locator,
    /// The source kind it would have had, as far as known (`zeek:conn`, `evtx`, …).
    pub source: Arc<str>,
    /// What was wrong, for a person.
    pub reason: String,
    /// The record's raw bytes, for quarantine.
    pub raw: Vec<u8>,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}: {}", self.path, self.locator, self.reason)
    }
}

impl std::error::Error for RecordError {}

/// An input that could not be read at all (missing, unreadable, not an archive it claims to be).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct InputError {
    /// The path.
    pub path: Arc<str>,
    /// What was wrong.
    pub reason: String,
}

impl InputError {
    pub(crate) fn new(path: &Arc<str>, reason: impl Into<String>) -> Self {
        InputError {
            path: path.clone(),
            reason: reason.into(),
        }
    }
}
