//! vakt-detect: the detection pipeline, as a library the batch commands,
//! the service and cluster workers share.
//!
//! - [`detectors`]: every detector of events behind the one
//!   [`vakt_core::Detector`] trait — Sigma rules with their correlations,
//!   indicators, and the network and EHR families of `vakt-analytics` —
//!   built from a run's [`Setup`], one file and one registry line each;
//! - [`sinks`]: where alerts go, one file and one registry line per output
//!   format ([`vakt_core::Sink`]; the event store and the incident
//!   correlator are sinks too);
//! - [`Pipeline`]: one pass over the input (files, or the event store) that
//!   feeds the event sinks and every detector, in parallel over inputs and
//!   in order where a detector needs it, then settles the alerts by key and
//!   hands them, selected ([`AlertFilter`], allow-lists), to the sinks;
//! - [`entities`]: who acted in an event and what it reached.
//!
//! Not here: reading formats (`vakt-ingest`), the detection logic itself
//! (`vakt-sigma`, `vakt-intel`, `vakt-analytics`), incidents
//! (`vakt-incident`), or a terminal (the binary).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod detectors;
pub mod entities;
pub mod filter;
mod ordered;
pub mod pipeline;
pub mod quarantine;
pub mod sinks;
pub mod summary;

pub use detectors::{Analytics, EhrSetup, Setup, detectors};
pub use filter::{AlertFilter, AllowLists};
pub use ordered::run_ordered;
pub use pipeline::{Outcome, Pipeline, PipelineError, Progress, Quiet, Source};
pub use summary::{SourceStats, Summary};
