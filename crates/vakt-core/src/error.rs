//! The error type shared by the library crates.

/// An error from a vakt library crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The interner refused a new field name because it already holds its maximum.
    #[error(
        "too many distinct field names (more than {limit}); the input invents field names without bound"
    )]
    TooManyFields {
        /// The maximum number of distinct names.
        limit: usize,
    },
    /// A timestamp could not be understood.
    #[error("cannot read `{text}` as a time: {reason}")]
    BadTime {
        /// The text that was read.
        text: String,
        /// Why it was not a time.
        reason: &'static str,
    },
    /// An I/O error with the path it happened on.
    #[error("{path}: {source}")]
    Io {
        /// The path being read or written.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A sink could not take what it was given.
    #[error("{sink}: {reason}")]
    Sink {
        /// The sink (`jsonl`, `store`, …).
        sink: String,
        /// Why.
        reason: String,
    },
}
