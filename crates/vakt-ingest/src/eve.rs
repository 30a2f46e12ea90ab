//! Suricata EVE JSON, every `event_type` (alert, flow, dns, http, tls, fileinfo, anomaly, …).
//! Flows are timed by `flow.start`, and last until `flow.end` (`duration`).
//!
//! Native fields are the EVE JSON paths, flattened with `.` (`alert.signature`,
//! `dns.rrname`, `flow.bytes_toserver`); `src_ip` and `dest_ip` are IPs.

use std::io::BufRead;
use std::sync::Arc;

use serde_json::Value as Json;
use vakt_core::field::*;
use vakt_core::{Event, FieldId, Locator, SourceKind, Timestamp, Value};

use crate::ReadContext;
use crate::flatten::flatten_into;
use crate::json_events::{JsonEvents, RecordMapper};

/// Reads Suricata EVE JSON.
pub fn read<R: BufRead>(reader: R, ctx: ReadContext) -> JsonEvents<R, Eve> {
    let path = ctx.path.clone();
    JsonEvents::new(reader, path, Eve::new(ctx))
}

/// Maps EVE records.
pub struct Eve {
    ctx: ReadContext,
    source: SourceKind,
}

impl Eve {
    /// A mapper for one input.
    pub fn new(ctx: ReadContext) -> Self {
        Eve {
            ctx,
            source: SourceKind::suricata_eve(),
        }
    }
}

fn common_for(name: &str) -> Option<FieldId> {
    Some(match name {
        "src_ip" => SRC_IP,
        "src_port" => SRC_PORT,
        "dest_ip" => DST_IP,
        "dest_port" => DST_PORT,
        "proto" => PROTOCOL,
        "flow_id" => METADATA_UID,
        "host" => DEVICE_HOSTNAME,
        "alert.signature" => FINDING_TITLE,
        "alert.severity" => SEVERITY,
        "dns.rrname" | "dns.queries.rrname" => QUERY_HOSTNAME,
        "http.hostname" => URL_HOSTNAME,
        "http.url" => URL_PATH,
        "http.http_user_agent" => USER_AGENT,
        "tls.sni" => TLS_SNI,
        "fileinfo.md5" => FILE_MD5,
        "fileinfo.sha1" => FILE_SHA1,
        "fileinfo.sha256" => FILE_SHA256,
        "flow.bytes_toserver" => BYTES_OUT,
        "flow.bytes_toclient" => BYTES_IN,
        _ => return None,
    })
}

impl RecordMapper for Eve {
    fn source(&self) -> Arc<str> {
        self.source.as_arc().clone()
    }

    fn map(&mut self, value: &Json, locator: Locator, out: &mut Vec<Event>) -> Result<(), String> {
        let ts = value
            .get("timestamp")
            .and_then(Json::as_str)
            .ok_or("no `timestamp` field")?;
        let mut time = Timestamp::parse(ts).map_err(|e| format!("timestamp: {e}"))?;
        let Some(event_type) = value.get("event_type").and_then(Json::as_str) else {
            return Err("no `event_type` field".into());
        };
        // A flow record is written when the flow ends (or times out), its
        // `timestamp` is when it was written: the flow itself is timed by
        // `flow.start`, and lasts until `flow.end` (as Zeek's conn `ts` and
        // `duration`).
        let mut duration = None;
        if event_type == "flow"
            && let Some(flow) = value.get("flow")
        {
            let at = |k: &str| flow.get(k).and_then(Json::as_str).map(Timestamp::parse);
            match at("start") {
                Some(Ok(start)) => {
                    time = start;
                    if let Some(Ok(end)) = at("end")
                        && end.0 >= start.0
                    {
                        duration = Some(Value::Interval(end.0 - start.0));
                    }
                }
                Some(Err(e)) => return Err(format!("flow.start: {e}")),
                None => {}
            }
        }
        let mut fields = Vec::with_capacity(32);
        flatten_into(&mut String::new(), value, &mut fields).map_err(|e| e.to_string())?;
        let mut common = Vec::with_capacity(8);
        for (id, v) in fields.iter_mut() {
            let name = id.name();
            if matches!(name, "src_ip" | "dest_ip")
                && let Some(ip) = v.as_str().and_then(|s| s.parse().ok())
            {
                *v = Value::Ip(ip);
            }
            if let Some(c) = common_for(name) {
                let cv = match v {
                    Value::List(items) if c == QUERY_HOSTNAME => match items.first() {
                        Some(first) => first.clone(),
                        None => continue,
                    },
                    other => other.clone(),
                };
                common.push((c, cv));
            }
        }
        if let Some(d) = duration {
            common.push((DURATION, d));
        }
        out.push(
            self.ctx
                .event(time, self.source.clone(), fields, common, locator),
        );
        Ok(())
    }
}
