//! Generic JSON Lines: any object per line with a timestamp field.
//!
//! The timestamp field is configurable (`--timestamp-field`); by default the
//! first of `@timestamp`, `timestamp`, `time`, `ts` that a record has is used.
//! It may be RFC 3339 text or an epoch number (s, ms, µs or ns, told apart by
//! magnitude). Nested objects are flattened with `.`.

use std::io::BufRead;
use std::sync::Arc;

use serde_json::Value as Json;
use vakt_core::{Event, Locator, SourceKind, Timestamp};

use crate::ReadContext;
use crate::flatten::flatten;
use crate::json_events::{JsonEvents, RecordMapper};

/// The timestamp fields tried when none is configured.
pub const DEFAULT_TIME_FIELDS: &[&str] = &["@timestamp", "timestamp", "time", "ts"];

/// Reads JSON Lines.
pub fn read<R: BufRead>(reader: R, ctx: ReadContext) -> JsonEvents<R, Jsonl> {
    let path = ctx.path.clone();
    JsonEvents::new(reader, path, Jsonl::new(ctx))
}

/// Maps JSON Lines records.
pub struct Jsonl {
    ctx: ReadContext,
    source: SourceKind,
}

impl Jsonl {
    /// A mapper for one input.
    pub fn new(ctx: ReadContext) -> Self {
        Jsonl {
            ctx,
            source: SourceKind::new("jsonl"),
        }
    }
}

/// The record's time from the configured field, or the first default one present.
pub(crate) fn record_time(value: &Json, configured: Option<&str>) -> Result<Timestamp, String> {
    let (name, v) = match configured {
        Some(f) => (
            f,
            lookup(value, f).ok_or_else(|| format!("no `{f}` timestamp field"))?,
        ),
        None => DEFAULT_TIME_FIELDS
            .iter()
            .find_map(|f| lookup(value, f).map(|v| (*f, v)))
            .ok_or_else(|| {
                format!(
                    "no timestamp field (looked for {})",
                    DEFAULT_TIME_FIELDS.join(", ")
                )
            })?,
    };
    match v {
        Json::String(s) => Timestamp::parse(s).map_err(|e| format!("{name}: {e}")),
        Json::Number(n) => n
            .as_f64()
            .and_then(Timestamp::from_epoch_number)
            .ok_or_else(|| format!("{name}: `{n}` is not a time")),
        _ => Err(format!("{name}: not a time")),
    }
}

/// A field by name, or by dotted path into nested objects.
fn lookup<'a>(value: &'a Json, name: &str) -> Option<&'a Json> {
    value
        .get(name)
        .or_else(|| name.split('.').try_fold(value, |v, part| v.get(part)))
}

impl RecordMapper for Jsonl {
    fn source(&self) -> Arc<str> {
        self.source.as_arc().clone()
    }

    fn map(&mut self, value: &Json, locator: Locator, out: &mut Vec<Event>) -> Result<(), String> {
        let time = record_time(value, self.ctx.timestamp_field.as_deref())?;
        let fields = flatten(value).map_err(|e| e.to_string())?;
        out.push(
            self.ctx
                .event(time, self.source.clone(), fields, Vec::new(), locator),
        );
        Ok(())
    }
}
