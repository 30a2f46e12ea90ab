//! Finding an input's format from its first bytes.

use serde_json::{Map, Value as Json};

use crate::jsonl::DEFAULT_TIME_FIELDS;
use crate::{Format, windows};

/// What the first bytes of an input say it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sniffed {
    /// An event format.
    Format(Format),
    /// Not an event format, with the reason (listed as skipped).
    Skip(String),
    /// A JSON document that must be read whole to be told apart.
    NeedWhole,
}

fn trim(b: &[u8]) -> &[u8] {
    let b = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// Classifies an input from `head`, its first bytes (`complete` when that is all of it).
/// `name` is the file name, a tie-breaker only; `timestamp_field` the configured JSON Lines field.
pub fn sniff(head: &[u8], complete: bool, name: &str, timestamp_field: Option<&str>) -> Sniffed {
    if head.starts_with(b"ElfFile\0") {
        return Sniffed::Format(Format::Evtx);
    }
    let body = trim(head);
    if body.is_empty() {
        return Sniffed::Skip("empty".into());
    }
    if body.starts_with(b"#separator") || body.starts_with(b"#fields") {
        return Sniffed::Format(Format::Zeek);
    }
    if crate::syslog::looks_like(body) {
        return Sniffed::Format(Format::Syslog);
    }
    if !matches!(body[0], b'{' | b'[') {
        let binary = body.iter().take(512).any(|b| *b == 0);
        return Sniffed::Skip(if binary {
            "binary, not an event format".into()
        } else {
            "text, not an event format".into()
        });
    }
    let first_line = body.split(|b| *b == b'\n').next().unwrap_or(body);
    if let Ok(Json::Object(obj)) = serde_json::from_slice::<Json>(first_line) {
        return classify(&obj, name, timestamp_field);
    }
    if !complete {
        return Sniffed::NeedWhole;
    }
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<Json>();
    match stream.next() {
        Some(Ok(Json::Object(obj))) => classify(&obj, name, timestamp_field),
        Some(Ok(Json::Array(items))) => match items.iter().find_map(Json::as_object) {
            Some(obj) => classify(obj, name, timestamp_field),
            None => Sniffed::Skip("JSON array without objects".into()),
        },
        Some(Ok(_)) => Sniffed::Skip("JSON scalar, not an event format".into()),
        None => Sniffed::Skip("empty".into()),
        // A damaged document: tell its kind from its words, so its reader reports the damage.
        Some(Err(_)) => by_keywords(body),
    }
}

fn by_keywords(body: &[u8]) -> Sniffed {
    let has = |s: &str| memchr::memmem::find(body, s.as_bytes()).is_some();
    if has("\"resourceType\"") && has("\"AuditEvent\"") {
        Sniffed::Format(Format::Fhir)
    } else if has("\"System\"") && has("\"EventID\"") {
        Sniffed::Format(Format::EvtxJson)
    } else if has("\"event_type\"") && has("\"timestamp\"") {
        Sniffed::Format(Format::Eve)
    } else {
        Sniffed::Skip("malformed JSON of no known event shape".into())
    }
}

pub(crate) fn classify(
    obj: &Map<String, Json>,
    name: &str,
    timestamp_field: Option<&str>,
) -> Sniffed {
    if let Some(rt) = obj.get("resourceType").and_then(Json::as_str) {
        return match rt {
            "AuditEvent" => Sniffed::Format(Format::Fhir),
            "Bundle" => {
                let has_audit = obj
                    .get("entry")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .any(|e| {
                        e.get("resource")
                            .and_then(|r| r.get("resourceType"))
                            .and_then(Json::as_str)
                            == Some("AuditEvent")
                    });
                if has_audit {
                    Sniffed::Format(Format::Fhir)
                } else {
                    Sniffed::Skip("FHIR Bundle without AuditEvent (context, not events)".into())
                }
            }
            other => Sniffed::Skip(format!("FHIR {other} resource (context, not an event)")),
        };
    }
    if windows::looks_like_windows(obj) {
        return Sniffed::Format(Format::EvtxJson);
    }
    if obj.get("event_type").is_some_and(Json::is_string) && obj.contains_key("timestamp") {
        return Sniffed::Format(Format::Eve);
    }
    if obj
        .get("ts")
        .is_some_and(|t| t.is_number() || t.is_string())
    {
        let zeekish = ["uid", "fuid", "_path", "@stream", "id.orig_h", "id_orig_h"]
            .iter()
            .any(|k| obj.contains_key(*k));
        let log_name = name.contains(".log");
        if zeekish || (log_name && obj.get("ts").is_some_and(Json::is_number)) {
            return Sniffed::Format(Format::Zeek);
        }
    }
    let has_time = match timestamp_field {
        Some(f) => obj.contains_key(f),
        None => DEFAULT_TIME_FIELDS.iter().any(|f| obj.contains_key(*f)),
    };
    if has_time {
        return Sniffed::Format(Format::Jsonl);
    }
    if obj.contains_key("@stream")
        || obj.contains_key("_path")
        || name.starts_with("loaded_scripts")
    {
        return Sniffed::Skip("Zeek log without a `ts` (no events: e.g. loaded_scripts)".into());
    }
    Sniffed::Skip("JSON without a timestamp field or a known event shape".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let s = |b: &str| sniff(b.as_bytes(), true, "x.json", None);
        assert_eq!(s("#separator \\x09\n"), Sniffed::Format(Format::Zeek));
        assert_eq!(s("\t#separator \\x09\n"), Sniffed::Format(Format::Zeek));
        assert_eq!(
            s("{\"timestamp\":\"2021-01-01T00:00:00Z\",\"event_type\":\"flow\"}\n"),
            Sniffed::Format(Format::Eve)
        );
        assert_eq!(
            s("{\"ts\":1.5,\"uid\":\"C1\"}\n"),
            Sniffed::Format(Format::Zeek)
        );
        assert_eq!(
            s("{\n \"resourceType\": \"AuditEvent\"\n}"),
            Sniffed::Format(Format::Fhir)
        );
        assert!(matches!(
            s("{\"resourceType\":\"Patient\"}"),
            Sniffed::Skip(_)
        ));
        assert!(matches!(
            s("{\"type\":\"bundle\",\"objects\":[]}"),
            Sniffed::Skip(_)
        ));
        assert!(matches!(s("title: a sigma rule\n"), Sniffed::Skip(_)));
        assert_eq!(s("<13>1 - - - - - -\n"), Sniffed::Format(Format::Syslog));
        assert_eq!(
            s("Dec  1 06:00:00 h cron[1]: x\n"),
            Sniffed::Format(Format::Syslog)
        );
        assert_eq!(s("17 <13>1 - - - - - -"), Sniffed::Format(Format::Syslog));
        assert!(matches!(s("<?xml version=\"1.0\"?>\n"), Sniffed::Skip(_)));
        assert_eq!(sniff(b"{\n \"a\": 1", false, "x", None), Sniffed::NeedWhole);
    }
}
