//! vakt-core: the vocabulary every other vakt crate speaks.
//!
//! This crate owns the [`Event`] (what every reader produces and every detector
//! consumes), the [`FieldId`] interner that lets compiled rules refer to fields
//! by number instead of by string, the typed [`Value`], the [`Timestamp`], and
//! the crate-wide [`Error`].
//!
//! It is not a place for parsing input formats (that is `vakt-ingest`) nor for
//! detection logic; it holds only types and the cheap operations on them.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod alert;
pub mod county;
mod error;
mod event;
pub mod field;
pub mod files;
pub mod nin;
pub mod pseudo;
mod time;
mod value;

pub use alert::{Alert, Entity, Severity};
pub use error::Error;
pub use event::{Event, Locator, Origin};
pub use field::FieldId;
pub use time::Timestamp;
pub use value::Value;
