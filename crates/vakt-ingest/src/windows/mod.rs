//! Windows event records (EVTX and its JSON renderings) as Events: the
//! flattening Sigma rules expect, and the common fields.
//!
//! Two JSON shapes are understood:
//! - **nested**, as the `evtx` crate and `evtx_dump -o json[l]` render a record:
//!   `{"Event": {"System": {...}, "EventData": {...} | "UserData": {...}}}`;
//! - **flat**, as Logstash/NXLog-style exports share them (the OTRF
//!   Security-Datasets): every field at the top level, with `Hostname`,
//!   `SourceName`, `@timestamp`/`TimeCreated`/`EventTime`;
//! - **Winlogbeat** (Elastic Common Schema): `winlog.event_data.*` and
//!   `winlog.user_data.*` under their native names, `winlog.channel`,
//!   `winlog.event_id`, `winlog.computer_name`, `winlog.provider_name`,
//!   `winlog.record_id` under the System names, the rest of the document
//!   (`message`, `host.*`, `event.*`) flattened with `.`.

use std::sync::Arc;

use serde_json::{Map, Value as Json};
use vakt_core::field::*;
use vakt_core::{Event, FieldId, Locator, SourceKind, Timestamp, Value};

use crate::ReadContext;

mod stream;
use crate::flatten::{flatten_into, scalar};
pub(crate) use stream::event_from_rendered;

/// Caches the `evtx:<Channel>` source kinds of one input.
#[derive(Default)]
pub(crate) struct SourceKinds(Vec<SourceKind>);

impl SourceKinds {
    pub fn get(&mut self, channel: Option<&str>) -> SourceKind {
        let want = channel.unwrap_or("");
        if let Some(k) = self
            .0
            .iter()
            .find(|k| k.as_str().strip_prefix("evtx:").unwrap_or("") == want)
        {
            return k.clone();
        }
        let k = if want.is_empty() {
            SourceKind::new("evtx")
        } else {
            SourceKind::windows(want)
        };
        self.0.push(k.clone());
        k
    }
}

/// Whether a JSON object is a Windows event in either shape.
pub(crate) fn looks_like_windows(obj: &Map<String, Json>) -> bool {
    if let Some(Json::Object(ev)) = obj.get("Event") {
        return ev.contains_key("System");
    }
    if let Some(Json::Object(w)) = obj.get("winlog") {
        return w.contains_key("event_id") || w.contains_key("channel");
    }
    obj.contains_key("EventID")
        && ["Channel", "SourceName", "ProviderName", "Provider_Name"]
            .iter()
            .any(|k| obj.contains_key(*k))
}

/// Builds an Event from a Windows record in either JSON shape.
pub(crate) fn event_from_json(
    root: &Json,
    ctx: &ReadContext,
    kinds: &mut SourceKinds,
    locator: Locator,
    fallback_time: Option<Timestamp>,
) -> Result<Event, String> {
    let Json::Object(obj) = root else {
        return Err("not a JSON object".into());
    };
    let mut fields = Vec::with_capacity(32);
    let mut time = None;
    match (obj.get("Event"), obj.get("winlog")) {
        (Some(Json::Object(ev)), _) if ev.contains_key("System") => {
            nested(ev, &mut fields, &mut time).map_err(|e| e.to_string())?
        }
        (_, Some(Json::Object(w))) => {
            winlogbeat(obj, w, &mut fields, &mut time).map_err(|e| e.to_string())?
        }
        _ => flat(obj, &mut fields, &mut time).map_err(|e| e.to_string())?,
    }
    finish(fields, time, fallback_time, ctx, kinds, locator)
}

/// The Event from flattened fields: its time, its `evtx:<Channel>` source and common fields.
pub(crate) fn finish(
    fields: Vec<(FieldId, Value)>,
    time: TimeSlot,
    fallback_time: Option<Timestamp>,
    ctx: &ReadContext,
    kinds: &mut SourceKinds,
    locator: Locator,
) -> Result<Event, String> {
    let time = match (time, fallback_time) {
        (Some(Ok(t)), _) => t,
        (_, Some(t)) => t,
        (Some(Err(e)), None) => return Err(e),
        (None, None) => return Err("no event time (TimeCreated, @timestamp or EventTime)".into()),
    };
    let channel_id = channel_field();
    let channel = fields
        .iter()
        .find(|(id, _)| Some(*id) == channel_id)
        .and_then(|(_, v)| v.as_str());
    let source = kinds.get(channel);
    let mut event = ctx.event(time, source, fields, Vec::with_capacity(8), locator);
    fill_common(&mut event);
    Ok(event)
}

fn channel_field() -> Option<FieldId> {
    static CHANNEL: std::sync::OnceLock<Option<FieldId>> = std::sync::OnceLock::new();
    *CHANNEL.get_or_init(|| FieldId::intern("Channel").ok())
}

pub(crate) type TimeSlot = Option<Result<Timestamp, String>>;

pub(crate) fn push(
    out: &mut Vec<(FieldId, Value)>,
    name: &str,
    v: Value,
) -> Result<(), vakt_core::Error> {
    out.push((FieldId::intern(name)?, v));
    Ok(())
}

/// `{"#attributes": {...}, "#text": x}` → x; plain scalars as they are.
fn text_of(v: &Json) -> Option<Value> {
    match v {
        Json::Object(m) => m.get("#text").and_then(scalar),
        other => scalar(other),
    }
}

fn attrs(v: &Json) -> Option<&Map<String, Json>> {
    v.get("#attributes").and_then(Json::as_object)
}

fn nested(
    ev: &Map<String, Json>,
    out: &mut Vec<(FieldId, Value)>,
    time: &mut TimeSlot,
) -> Result<(), vakt_core::Error> {
    if let Some(Json::Object(system)) = ev.get("System") {
        for (k, v) in system {
            system_child(k, v, out, time)?;
        }
    }
    for (k, v) in ev {
        event_child(k, v, out)?;
    }
    Ok(())
}

/// One child of `Event` other than `System`.
pub(crate) fn event_child(
    k: &str,
    v: &Json,
    out: &mut Vec<(FieldId, Value)>,
) -> Result<(), vakt_core::Error> {
    match k {
        "System" | "#attributes" => Ok(()),
        "EventData" => event_data(v, out),
        "UserData" => user_data(v, out),
        other => flatten_named(other, v, out),
    }
}

/// The attributes of a System element go under `<prefix><attribute>`.
fn system_attrs(
    element: &str,
    attributes: &Map<String, Json>,
    out: &mut Vec<(FieldId, Value)>,
    time: &mut TimeSlot,
) -> Result<(), vakt_core::Error> {
    for (a, av) in attributes {
        let Some(s) = scalar(av) else { continue };
        match (element, a.as_str()) {
            ("TimeCreated", "SystemTime") => {
                if let Value::Str(st) = &s {
                    *time = Some(Timestamp::parse(st).map_err(|e| e.to_string()));
                }
                push(out, "TimeCreated", s)?;
            }
            ("TimeCreated", _) => {}
            ("EventID", "Qualifiers") => push(out, "Qualifiers", s)?,
            ("Correlation", _) => push(out, a, s)?,
            (el, _) => push(out, &format!("{el}_{a}"), s)?,
        }
    }
    Ok(())
}

/// One child of `System`, under the names Sigma rules use (`Provider_Name`, `EventID`, …).
pub(crate) fn system_child(
    k: &str,
    v: &Json,
    out: &mut Vec<(FieldId, Value)>,
    time: &mut TimeSlot,
) -> Result<(), vakt_core::Error> {
    // `evtx_dump --separate-json-attributes` writes `Provider_attributes: {...}`.
    if let Some(element) = k.strip_suffix("_attributes") {
        if let Json::Object(a) = v {
            system_attrs(element, a, out, time)?;
        }
        return Ok(());
    }
    if let Some(a) = attrs(v) {
        system_attrs(k, a, out, time)?;
    }
    match k {
        "Provider" | "TimeCreated" | "Correlation" | "Execution" | "Security" => Ok(()),
        "EventID" => match text_of(v) {
            Some(s) => push(out, "EventID", numeric(s)),
            None => Ok(()),
        },
        _ => match text_of(v) {
            Some(s) => push(out, k, s),
            None => Ok(()),
        },
    }
}

fn user_data(v: &Json, out: &mut Vec<(FieldId, Value)>) -> Result<(), vakt_core::Error> {
    if let Json::Object(m) = v {
        for (child, cv) in m {
            if child == "#attributes" {
                continue;
            }
            match cv {
                Json::Object(inner) => {
                    for (ik, iv) in inner {
                        if ik != "#attributes" {
                            flatten_named(ik, iv, out)?;
                        }
                    }
                }
                other => flatten_named(child, other, out)?,
            }
        }
    }
    Ok(())
}

pub(crate) fn event_data(
    v: &Json,
    out: &mut Vec<(FieldId, Value)>,
) -> Result<(), vakt_core::Error> {
    match v {
        Json::Object(m) => {
            for (k, dv) in m {
                if k == "#attributes" {
                    continue;
                }
                flatten_named(k, dv, out)?;
            }
        }
        Json::Null => {}
        other => {
            if let Some(s) = scalar(other) {
                push(out, "EventData", s)?;
            }
        }
    }
    Ok(())
}

pub(crate) fn flatten_named(
    name: &str,
    v: &Json,
    out: &mut Vec<(FieldId, Value)>,
) -> Result<(), vakt_core::Error> {
    match v {
        Json::Object(m) if m.contains_key("#text") => {
            if let Some(s) = text_of(v) {
                push(out, name, s)?;
            }
            Ok(())
        }
        Json::Object(m) if m.len() == 1 && m.contains_key("#attributes") => {
            for (a, av) in attrs(v).into_iter().flatten() {
                if let Some(s) = scalar(av) {
                    push(out, &format!("{name}_{a}"), s)?;
                }
            }
            Ok(())
        }
        other => flatten_into(&mut name.to_owned(), other, out),
    }
}

/// EventIDs and record ids arrive as numbers or as numeric strings; keep them numbers.
fn numeric(v: Value) -> Value {
    match &v {
        Value::Str(s) => s.trim().parse::<i64>().map(Value::Int).unwrap_or(v),
        _ => v,
    }
}

fn flat(
    obj: &Map<String, Json>,
    out: &mut Vec<(FieldId, Value)>,
    time: &mut TimeSlot,
) -> Result<(), vakt_core::Error> {
    for (k, v) in obj {
        let mut value_done = false;
        if matches!(k.as_str(), "EventID" | "RecordNumber" | "EventRecordID")
            && let Some(s) = scalar(v)
        {
            push(out, k, numeric(s))?;
            value_done = true;
        }
        if !value_done {
            flatten_into(&mut k.clone(), v, out)?;
        }
    }
    for key in ["@timestamp", "TimeCreated", "EventTime", "UtcTime"] {
        if let Some(t) = obj.get(key) {
            *time = Some(match t {
                Json::String(s) => Timestamp::parse(s).map_err(|e| format!("{key}: {e}")),
                Json::Number(n) => n
                    .as_f64()
                    .and_then(Timestamp::from_epoch_number)
                    .ok_or_else(|| format!("{key}: not a time")),
                _ => Err(format!("{key}: not a time")),
            });
            break;
        }
    }
    // The System names Sigma rules use, where the export renamed them.
    for (canonical, sources) in [
        ("Computer", &["Hostname", "host", "computer_name"][..]),
        ("Provider_Name", &["SourceName", "ProviderName"][..]),
        ("EventRecordID", &["RecordNumber"][..]),
    ] {
        if obj.contains_key(canonical) {
            continue;
        }
        if let Some((_, v)) = sources.iter().find_map(|s| obj.get(*s).map(|v| (s, v)))
            && let Some(s) = scalar(v).filter(|s| !matches!(s, Value::List(_)))
        {
            push(out, canonical, numeric(s))?;
        }
    }
    Ok(())
}

/// Winlogbeat's ECS document: the Windows names from `winlog`, the rest flattened.
fn winlogbeat(
    obj: &Map<String, Json>,
    winlog: &Map<String, Json>,
    out: &mut Vec<(FieldId, Value)>,
    time: &mut TimeSlot,
) -> Result<(), vakt_core::Error> {
    const SYSTEM: &[(&str, &str)] = &[
        ("channel", "Channel"),
        ("event_id", "EventID"),
        ("computer_name", "Computer"),
        ("provider_name", "Provider_Name"),
        ("provider_guid", "Provider_Guid"),
        ("record_id", "EventRecordID"),
        ("task", "Task"),
        ("opcode", "Opcode"),
        ("keywords", "Keywords"),
        ("version", "Version"),
    ];
    for (from, to) in SYSTEM {
        if let Some(v) = winlog.get(*from).and_then(scalar) {
            let v = if matches!(*to, "EventID" | "EventRecordID") {
                numeric(v)
            } else {
                v
            };
            push(out, to, v)?;
        }
    }
    let pid = winlog
        .get("process")
        .and_then(|p| p.get("pid"))
        .and_then(scalar);
    if let Some(v) = pid {
        push(out, "Execution_ProcessID", v)?;
    }
    let tid = winlog
        .get("process")
        .and_then(|p| p.get("thread"))
        .and_then(|t| t.get("id"))
        .and_then(scalar);
    if let Some(v) = tid {
        push(out, "Execution_ThreadID", v)?;
    }
    if let Some(v) = winlog
        .get("user")
        .and_then(|u| u.get("identifier"))
        .and_then(scalar)
    {
        push(out, "Security_UserID", v)?;
    }
    for data in ["event_data", "user_data"] {
        if let Some(Json::Object(m)) = winlog.get(data) {
            for (k, v) in m {
                flatten_named(k, v, out)?;
            }
        }
    }
    for (k, v) in obj {
        if k != "winlog" {
            flatten_into(&mut k.clone(), v, out)?;
        }
    }
    if let Some(t) = obj.get("@timestamp").and_then(Json::as_str) {
        *time = Some(Timestamp::parse(t).map_err(|e| format!("@timestamp: {e}")));
    }
    Ok(())
}

/// How a native Windows field feeds a common one.
#[derive(Clone, Copy)]
enum Conv {
    Text,
    Ip,
    Int,
    Hashes,
}

fn common_for(name: &str) -> Option<(FieldId, Conv)> {
    Some(match name {
        "Computer" => (DEVICE_HOSTNAME, Conv::Text),
        "EventRecordID" => (METADATA_UID, Conv::Int),
        "EventID" => (EVENT_CODE, Conv::Int),
        "SubjectUserName" | "User" => (ACTOR_USER_NAME, Conv::Text),
        "SubjectDomainName" => (ACTOR_USER_DOMAIN, Conv::Text),
        "SubjectUserSid" => (ACTOR_USER_UID, Conv::Text),
        "TargetUserName" => (USER_NAME, Conv::Text),
        "IpAddress" | "SourceIp" | "SourceAddress" => (SRC_IP, Conv::Ip),
        "IpPort" | "SourcePort" => (SRC_PORT, Conv::Int),
        "DestinationIp" | "DestAddress" => (DST_IP, Conv::Ip),
        "DestinationPort" | "DestPort" => (DST_PORT, Conv::Int),
        "DestinationHostname" => (DST_HOSTNAME, Conv::Text),
        "Image" | "NewProcessName" => (PROCESS_PATH, Conv::Text),
        "ParentImage" | "ParentProcessName" => (ACTOR_PROCESS_PATH, Conv::Text),
        "CommandLine" => (PROCESS_CMD_LINE, Conv::Text),
        "ProcessId" | "NewProcessId" => (PROCESS_PID, Conv::Int),
        "TargetFilename" => (FILE_PATH, Conv::Text),
        "QueryName" => (QUERY_HOSTNAME, Conv::Text),
        "Protocol" => (PROTOCOL, Conv::Text),
        "Hashes" | "Hash" => (FILE_SHA256, Conv::Hashes),
        _ => return None,
    })
}

/// Integer from a number or a decimal/hex string (`0x12d8`).
pub(crate) fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Str(s) => {
            let s = s.trim();
            match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            }
        }
        _ => None,
    }
}

fn fill_common(event: &mut Event) {
    let mut common = std::mem::take(&mut event.common);
    for (id, v) in &event.fields {
        let Some((target, conv)) = common_for(id.name()) else {
            continue;
        };
        let set = |c: &mut Vec<(FieldId, Value)>, id: FieldId, v: Value| {
            if !c.iter().any(|(f, _)| *f == id) {
                c.push((id, v));
            }
        };
        match conv {
            Conv::Text => {
                if let Some(s) = v.as_str().filter(|s| !s.is_empty() && *s != "-") {
                    set(&mut common, target, Value::str(s));
                }
            }
            Conv::Ip => {
                if let Some(ip) = v.as_str().and_then(|s| s.trim().parse().ok()) {
                    set(&mut common, target, Value::Ip(ip));
                }
            }
            Conv::Int => {
                if let Some(i) = as_int(v) {
                    set(&mut common, target, Value::Int(i));
                }
            }
            Conv::Hashes => {
                for part in v.as_str().unwrap_or("").split(',') {
                    let Some((algo, hash)) = part.split_once('=') else {
                        continue;
                    };
                    let id = match algo.trim().to_ascii_uppercase().as_str() {
                        "MD5" => FILE_MD5,
                        "SHA1" => FILE_SHA1,
                        "SHA256" => FILE_SHA256,
                        _ => continue,
                    };
                    set(
                        &mut common,
                        id,
                        Value::str(&hash.trim().to_ascii_lowercase()),
                    );
                }
            }
        }
    }
    event.common = common;
}

/// Maps Windows events rendered as JSON (either shape).
pub struct WindowsJson {
    ctx: ReadContext,
    kinds: SourceKinds,
}

impl WindowsJson {
    /// A mapper for one input.
    pub fn new(ctx: ReadContext) -> Self {
        WindowsJson {
            ctx,
            kinds: SourceKinds::default(),
        }
    }
}

impl crate::json_events::RecordMapper for WindowsJson {
    fn source(&self) -> Arc<str> {
        Arc::from("evtx")
    }

    fn map(&mut self, value: &Json, locator: Locator, out: &mut Vec<Event>) -> Result<(), String> {
        out.push(event_from_json(
            value,
            &self.ctx,
            &mut self.kinds,
            locator,
            None,
        )?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn winlogbeat_documents_get_windows_names() {
        let doc = serde_json::json!({
            "@timestamp": "2024-03-01T10:00:00.123Z",
            "message": "An account was successfully logged on.",
            "host": {"name": "dc01.hf.local"},
            "winlog": {
                "channel": "Security", "event_id": "4624", "computer_name": "DC01.hf.local",
                "provider_name": "Microsoft-Windows-Security-Auditing", "record_id": 991,
                "process": {"pid": 788, "thread": {"id": 1200}},
                "event_data": {"TargetUserName": "lege01", "IpAddress": "10.20.1.5", "LogonType": "3"}
            }
        });
        let Json::Object(obj) = &doc else {
            unreachable!()
        };
        assert!(looks_like_windows(obj));
        let ctx = ReadContext::new("wlb.json", "t");
        let e = event_from_json(
            &doc,
            &ctx,
            &mut SourceKinds::default(),
            Locator::Line(1),
            None,
        )
        .unwrap();
        assert_eq!(e.source.as_str(), "evtx:Security");
        assert_eq!(e.get_named("EventID"), Some(&Value::Int(4624)));
        assert_eq!(e.get_named("TargetUserName"), Some(&Value::str("lege01")));
        assert_eq!(e.get_named("host.name"), Some(&Value::str("dc01.hf.local")));
        assert_eq!(
            e.common(vakt_core::field::SRC_IP),
            Some(&Value::Ip("10.20.1.5".parse().unwrap()))
        );
        assert_eq!(
            e.common(vakt_core::field::DEVICE_HOSTNAME),
            Some(&Value::str("DC01.hf.local"))
        );
        assert_eq!(e.time.to_rfc3339(), "2024-03-01T10:00:00.123Z");
    }

    #[test]
    fn evtx_dump_separate_attributes() {
        let doc = serde_json::json!({"Event": {"System": {
            "Provider_attributes": {"Name": "Microsoft-Windows-Sysmon"},
            "EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
            "TimeCreated_attributes": {"SystemTime": "2019-03-19T23:34:25.894341Z"},
            "Computer": "ws1"
        }, "EventData": {"Image": "C:\\Windows\\cmd.exe"}}});
        let ctx = ReadContext::new("x.json", "t");
        let e = event_from_json(
            &doc,
            &ctx,
            &mut SourceKinds::default(),
            Locator::Line(1),
            None,
        )
        .unwrap();
        assert_eq!(
            e.get_named("Provider_Name"),
            Some(&Value::str("Microsoft-Windows-Sysmon"))
        );
        assert_eq!(e.time.to_rfc3339(), "2019-03-19T23:34:25.894341Z");
        assert_eq!(
            e.common(vakt_core::field::PROCESS_PATH),
            Some(&Value::str("C:\\Windows\\cmd.exe"))
        );
    }
}
