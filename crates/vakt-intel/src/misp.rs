//! MISP events: `{"Event": {...}}`, a bare event, a list of them, or `{"response": [...]}`
//! (what a feed's `<uuid>.json` or `/events/restSearch` returns). Attributes
//! of the event and of its objects; types `ip-src`, `ip-dst` (and `|port`),
//! `domain`, `hostname`, `domain|ip`, `url`, `uri` with a host, `md5`,
//! `sha1`, `sha256`, `filename|md5|sha1|sha256`, `email-src`, `email-dst`,
//! `email`; `to_ids` kept (an attribute not meant for detection is loaded
//! but marked), TLP from event or attribute tags, the attribute's
//! `Sighting` entries counted. Other
//! types (text, links, filenames, sizes…) are counted as unsupported.

use std::path::Path;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::{Indicator, Kind, Loaded, normalise};

/// A bare event (as PyMISP writes them): no wrapper, but attributes or objects.
fn bare_event(o: &serde_json::Map<String, Json>) -> bool {
    !o.contains_key("type")
        && (o.get("Attribute").is_some_and(Json::is_array)
            || o.get("Object").is_some_and(Json::is_array))
}

pub fn is_misp(doc: &Json) -> bool {
    match doc {
        Json::Object(o) => {
            o.contains_key("Event")
                || bare_event(o)
                || o.get("response")
                    .and_then(Json::as_array)
                    .is_some_and(|r| r.iter().any(|e| e.get("Event").is_some()))
        }
        Json::Array(a) => a.first().is_some_and(|e| e.get("Event").is_some()),
        _ => false,
    }
}

fn tlp_of(tags: Option<&Json>) -> Option<String> {
    tags?.as_array()?.iter().find_map(|t| {
        let n = t.get("name")?.as_str()?.to_ascii_lowercase();
        n.strip_prefix("tlp:").map(str::to_owned)
    })
}

/// The kinds and values an attribute of a type carries.
fn split(kind: &str, value: &str) -> Option<Vec<(Kind, String)>> {
    let one = |k: Kind, v: &str| Some(vec![(k, v.to_owned())]);
    let second = |v: &str| v.split_once('|').map(|(_, b)| b.to_owned());
    match kind {
        "ip-src" | "ip-dst" => {
            let k = if value.contains('/') {
                Kind::Cidr
            } else {
                Kind::Ip
            };
            one(k, value)
        }
        "ip-src|port" | "ip-dst|port" => {
            let ip = value.split('|').next()?;
            one(Kind::Ip, ip)
        }
        "domain" | "hostname" => one(Kind::Domain, value),
        "domain|ip" => {
            let (d, ip) = value.split_once('|')?;
            Some(vec![
                (Kind::Domain, d.to_owned()),
                (Kind::Ip, ip.to_owned()),
            ])
        }
        "hostname|port" => one(Kind::Domain, value.split('|').next()?),
        "url" => one(Kind::Url, value),
        "uri" if value.contains("://") => one(Kind::Url, value),
        "md5" => one(Kind::Md5, value),
        "sha1" => one(Kind::Sha1, value),
        "sha256" => one(Kind::Sha256, value),
        "filename|md5" => Some(vec![(Kind::Md5, second(value)?)]),
        "filename|sha1" => Some(vec![(Kind::Sha1, second(value)?)]),
        "filename|sha256" => Some(vec![(Kind::Sha256, second(value)?)]),
        "email-src" | "email-dst" | "email" => one(Kind::Email, value),
        _ => None,
    }
}

pub fn load(doc: &Json, path: &Path, source: &Arc<str>, out: &mut Loaded) {
    let events: Vec<&Json> = match doc {
        Json::Array(a) => a.iter().filter_map(|e| e.get("Event")).collect(),
        Json::Object(o) => match o.get("response").and_then(Json::as_array) {
            Some(r) => r.iter().filter_map(|e| e.get("Event")).collect(),
            None if bare_event(o) => vec![doc],
            None => o.get("Event").into_iter().collect(),
        },
        _ => Vec::new(),
    };
    for ev in events {
        let info = ev
            .get("info")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_owned();
        let event_tlp = tlp_of(ev.get("Tag"));
        let mut attrs: Vec<&Json> = ev
            .get("Attribute")
            .and_then(Json::as_array)
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        for obj in ev
            .get("Object")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            attrs.extend(
                obj.get("Attribute")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten(),
            );
        }
        for a in attrs {
            let id = a
                .get("uuid")
                .or_else(|| a.get("id"))
                .and_then(Json::as_str)
                .unwrap_or("attribute without uuid")
                .to_owned();
            let (Some(kind), Some(value)) = (
                a.get("type").and_then(Json::as_str),
                a.get("value").and_then(Json::as_str),
            ) else {
                out.problem(path, id, "attribute without type or value");
                continue;
            };
            let Some(values) = split(kind, value) else {
                if [
                    "ip-src",
                    "ip-dst",
                    "domain|ip",
                    "filename|md5",
                    "filename|sha1",
                    "filename|sha256",
                ]
                .contains(&kind)
                {
                    out.problem(path, id, format!("{kind} `{value}` is malformed"));
                } else {
                    out.unsupported(format!("MISP type {kind}"));
                }
                continue;
            };
            let to_ids = match a.get("to_ids") {
                Some(Json::Bool(b)) => *b,
                Some(Json::String(s)) => s == "1" || s.eq_ignore_ascii_case("true"),
                Some(Json::Number(n)) => n.as_u64() == Some(1),
                _ => false,
            };
            let tlp = tlp_of(a.get("Tag")).or_else(|| event_tlp.clone());
            let first = a
                .get("first_seen")
                .and_then(Json::as_str)
                .and_then(|t| vakt_core::Timestamp::parse(t).ok())
                .map(|t| t.0);
            let last = a
                .get("last_seen")
                .and_then(Json::as_str)
                .and_then(|t| vakt_core::Timestamp::parse(t).ok())
                .map(|t| t.0);
            for (k, raw) in values {
                match normalise(k, &raw) {
                    Ok(v) => out.indicators.push(Indicator {
                        kind: k,
                        value: v,
                        source: source.clone(),
                        id: id.clone(),
                        name: info.clone(),
                        confidence: None,
                        valid: (first, last),
                        tlp: tlp.clone(),
                        kill_chain: a
                            .get("category")
                            .and_then(Json::as_str)
                            .map(|c| vec![c.to_owned()])
                            .unwrap_or_default(),
                        to_ids,
                        warning: None,
                        sightings: a
                            .get("Sighting")
                            .and_then(Json::as_array)
                            .map_or(0, |s| s.len() as u32),
                    }),
                    Err(why) => out.problem(path, id.clone(), format!("{kind}: {why}")),
                }
            }
        }
    }
}
