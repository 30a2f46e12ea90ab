//! vakt-core: the vocabulary every other vakt crate speaks.
//!
//! This crate owns the [`Event`] (what every reader produces and every detector
//! consumes) with its [`SourceKind`], the [`FieldId`] interner that lets compiled
//! rules refer to fields by number instead of by string, the typed [`Value`], the
//! [`Timestamp`], the one [`Alert`] every detector emits (with its stable
//! [`AlertKey`] and the [`EventRef`]s of its evidence), the [`Detector`] trait
//! every detector implements and the [`Sink`] trait every output implements,
//! pseudonymisation of patient identifiers, and the
//! crate-wide [`Error`].
//!
//! It is not a place for parsing input formats (that is `vakt-ingest`) nor for
//! detection logic (the detectors live in `vakt-sigma`, `vakt-intel`,
//! `vakt-analytics`; the pipeline that runs them in `vakt-detect`); it holds
//! only types and the cheap operations on them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alert;
pub mod county;
pub mod detector;
mod error;
mod event;
pub mod field;
pub mod files;
pub mod net;
pub mod nin;
pub mod pseudo;
mod sink;
pub mod site;
mod source;
mod time;
mod value;

pub use alert::{
    Alert, AlertKey, AnalyticRule, Entity, EventRef, IndicatorRule, Rule, SensorRule, Severity,
    SigmaRule,
};
pub use detector::{Detector, Events, Family};
pub use error::Error;
pub use event::{Event, Locator, Origin};
pub use field::FieldId;
pub use sink::Sink;
pub use source::{SourceFamily, SourceKind, ZeekLog};
pub use time::Timestamp;
pub use value::Value;
