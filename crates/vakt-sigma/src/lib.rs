//! vakt-sigma: Sigma rules, compiled once into one matcher.
//!
//! Rules are read from YAML ([`rule`]), their logsources mapped to the events
//! that carry them ([`logsource`], `logsources.yml`), their detections
//! compiled to patterns over interned field ids ([`compile`]), and all of
//! them registered in a [`RuleSet`] that dispatches each event by source kind
//! and event id to only the rules that can apply. Filters exclude matches of
//! named rules; correlation rules ([`correlation`]) count and order the
//! matches of other rules over time.
//!
//! Not here: reading logs (that is `vakt-ingest`), or turning matches into
//! alerts and running them with the other detectors (`vakt-detect`'s Sigma
//! detector and pipeline).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod compile;
pub mod condition;
pub mod correlation;
mod engine;
pub mod logsource;
mod matcher;
pub mod pack;
pub mod pattern;
mod prefilter;
pub mod rule;
mod view;

use std::sync::Arc;

pub use compile::Placeholders;
pub use engine::Scratch;
pub use engine::{LoadReport, RuleSet};
pub use logsource::Mapping;
pub use rule::{Rule, RuleMeta};
pub use view::View;

/// A rule that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}{}: {reason}", title.as_ref().map(|t| format!(" ({t})")).unwrap_or_default())]
pub struct RuleError {
    /// The rule file.
    pub path: Arc<str>,
    /// The rule's title, when it could be read.
    pub title: Option<String>,
    /// Why it is not supported.
    pub reason: String,
}
