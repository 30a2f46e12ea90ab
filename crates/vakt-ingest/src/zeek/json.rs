//! Zeek JSON logs (one object per line), typed by field name.

use std::io::BufRead;
use std::sync::Arc;

use serde_json::Value as Json;
use vakt_core::{Event, FieldId, Locator, SourceKind, Timestamp, Value};

use super::{common_for, parse_ip, path_stem};
use crate::ReadContext;
use crate::flatten::{flatten_into, scalar};
use crate::json_events::{JsonEvents, RecordMapper};

/// Reads a Zeek JSON log.
pub fn read_json<R: BufRead>(reader: R, ctx: ReadContext) -> JsonEvents<R, ZeekJson> {
    let path = ctx.path.clone();
    JsonEvents::new(reader, path, ZeekJson::new(ctx))
}

/// Maps Zeek JSON records.
pub struct ZeekJson {
    ctx: ReadContext,
    stem: String,
    default_source: SourceKind,
    kinds: Vec<(String, SourceKind)>,
}

impl ZeekJson {
    /// A mapper for one input (records without `_path` take the file name's log).
    pub fn new(ctx: ReadContext) -> Self {
        let stem = path_stem(&ctx.path);
        ZeekJson {
            default_source: SourceKind::zeek(&stem),
            stem,
            kinds: Vec::new(),
            ctx,
        }
    }
}

fn is_addr_field(name: &str) -> bool {
    name.ends_with("_h")
        || name.ends_with(".h")
        || matches!(
            name,
            "src"
                | "dst"
                | "tx_hosts"
                | "rx_hosts"
                | "assigned_addr"
                | "requested_addr"
                | "client_addr"
                | "server_addr"
                | "host_ip"
        )
}

fn typed_json(name: &str, v: &Json) -> Option<Value> {
    match (name, v) {
        ("duration" | "rtt", Json::Number(n)) => n
            .as_f64()
            .map(|s| Value::Interval((s * 1e9).round() as i64)),
        (_, Json::String(s)) if is_addr_field(name) => {
            Some(parse_ip(s).map(Value::Ip).unwrap_or_else(|| Value::str(s)))
        }
        (_, Json::Array(items)) if is_addr_field(name) => Some(Value::List(
            items.iter().filter_map(|i| typed_json(name, i)).collect(),
        )),
        _ => scalar(v),
    }
}

fn json_time(v: &Json) -> Result<Timestamp, String> {
    match v {
        // Zeek writes microseconds; rounding there undoes the float's error.
        Json::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite() && f.abs() < 9e9)
            .map(|f| Timestamp(((f * 1e6).round() as i64) * 1000))
            .ok_or_else(|| format!("ts `{n}` is not a time")),
        Json::String(s) => Timestamp::parse(s).map_err(|e| format!("ts: {e}")),
        _ => Err("ts is not a time".into()),
    }
}

impl RecordMapper for ZeekJson {
    fn source(&self) -> Arc<str> {
        self.default_source.as_arc().clone()
    }

    fn map(&mut self, value: &Json, locator: Locator, out: &mut Vec<Event>) -> Result<(), String> {
        let Json::Object(obj) = value else {
            return Err("not a JSON object".into());
        };
        let log_path = obj
            .get("_path")
            .or_else(|| obj.get("@stream"))
            .and_then(Json::as_str)
            .unwrap_or(&self.stem)
            .to_owned();
        let source = match self.kinds.iter().find(|(p, _)| *p == log_path) {
            Some((_, k)) => k.clone(),
            None => {
                let k = SourceKind::zeek(&log_path);
                self.kinds.push((log_path.clone(), k.clone()));
                k
            }
        };
        let time = json_time(obj.get("ts").ok_or("no `ts` field")?)?;
        let mut fields = Vec::with_capacity(obj.len());
        let mut common = Vec::with_capacity(8);
        for (k, v) in obj {
            let before = fields.len();
            if k == "ts" {
                fields.push((
                    FieldId::intern(k).map_err(|e| e.to_string())?,
                    Value::Time(time),
                ));
            } else if v.is_object() {
                flatten_into(&mut k.clone(), v, &mut fields).map_err(|e| e.to_string())?;
            } else if let Some(tv) = typed_json(k, v) {
                fields.push((FieldId::intern(k).map_err(|e| e.to_string())?, tv));
            }
            for (id, fv) in &fields[before..] {
                if let Some(c) = common_for(&log_path, id.name()) {
                    common.push((c, fv.clone()));
                }
            }
        }
        out.push(self.ctx.event(time, source, fields, common, locator));
        Ok(())
    }
}
