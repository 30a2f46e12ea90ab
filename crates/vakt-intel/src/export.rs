//! Sightings shared out: a STIX 2.1 bundle of Sighting objects (with the
//! indicators they are of) or MISP sightings — what `vakt intel export` and
//! the API's sightings export write.

use vakt_core::Timestamp;

use crate::Indicator;

/// A sighting as recorded: when the hunt (or the live match) found it, and
/// what was seen where.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Recorded {
    /// When it was recorded (ns).
    pub hunted: i64,
    /// The indicator's kind (`ip`, `domain`, …).
    pub kind: String,
    /// The indicator's value.
    pub value: String,
    /// The feed it came from.
    pub source: String,
    /// The indicator's id in its feed.
    pub id: String,
    /// Events it was seen in.
    pub count: u64,
    /// First seen (ns).
    pub first: i64,
    /// Last seen (ns).
    pub last: i64,
    /// Hosts it was seen by.
    pub hosts: Vec<String>,
    /// Accounts.
    pub users: Vec<String>,
    /// Source kinds.
    pub sources: Vec<String>,
    /// Where (`file: line N`).
    pub origins: Vec<String>,
}

impl Recorded {
    /// A retro-hunt's sighting, recorded at `hunted`.
    pub fn of(hunted: i64, s: &crate::retro::Sighting) -> Recorded {
        Recorded {
            hunted,
            kind: s.kind.to_owned(),
            value: s.value.clone(),
            source: s.source.clone(),
            id: s.id.clone(),
            count: s.count,
            first: s.first,
            last: s.last,
            hosts: s.hosts.iter().cloned().collect(),
            users: s.users.iter().cloned().collect(),
            sources: s.sources.iter().cloned().collect(),
            origins: s.origins.clone(),
        }
    }
}

/// STIX times: milliseconds, always (the OASIS validator requires them
/// on `created` and `modified`).
fn t(n: i64) -> String {
    Timestamp(n).to_stix()
}

/// The STIX 2.1 pattern of an indicator.
fn pattern(kind: &str, value: &str) -> String {
    let v = value.replace('\\', "\\\\").replace('\'', "\\'");
    match kind {
        "ip" if value.contains(':') => format!("[ipv6-addr:value = '{v}']"),
        "ip" | "cidr" => format!("[ipv4-addr:value = '{v}']"),
        "domain" => format!("[domain-name:value = '{v}']"),
        "url" => format!("[url:value = '{v}']"),
        "md5" => format!("[file:hashes.MD5 = '{v}']"),
        "sha1" => format!("[file:hashes.'SHA-1' = '{v}']"),
        "sha256" => format!("[file:hashes.'SHA-256' = '{v}']"),
        _ => format!("[email-addr:value = '{v}']"),
    }
}

/// vakt's own STIX identity (the creator of what it shares).
pub const IDENTITY: &str = "identity--8b3c6f3e-7a1d-4f55-9a57-7a6b5b1c0de5";

/// vakt's identity object.
pub fn identity_object() -> serde_json::Value {
    serde_json::json!({
        "type": "identity", "spec_version": "2.1", "id": IDENTITY,
        "created": t(0), "modified": t(0), "name": "vakt", "identity_class": "system",
    })
}

/// The STIX 2.1 TLP 1.0 marking definitions (the spec's fixed ids) by name.
pub fn tlp_marking(tlp: &str) -> Option<&'static str> {
    Some(match tlp.to_ascii_lowercase().trim_start_matches("tlp:") {
        "white" | "clear" => "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
        "green" => "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
        "amber" | "amber+strict" => "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
        "red" => "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
        _ => return None,
    })
}

/// A STIX 2.1 indicator object for an indicator: its own id when it came
/// from STIX, else a stable one from kind and value; `created` is when it
/// became valid (else `now`).
pub fn indicator_object(i: &Indicator, now: i64) -> serde_json::Value {
    let id = if i.id.starts_with("indicator--") && i.id.len() == 47 {
        i.id.clone()
    } else {
        format!(
            "indicator--{}",
            uuid_like(&format!("{}|{}", i.kind.name(), i.value))
        )
    };
    let created = i.valid.0.unwrap_or(now);
    let mut o = serde_json::json!({
        "type": "indicator", "spec_version": "2.1", "id": id,
        "created": t(created), "modified": t(created), "created_by_ref": IDENTITY,
        "pattern": pattern(i.kind.name(), &i.value), "pattern_type": "stix",
        "valid_from": t(created),
        "name": if i.name.is_empty() { format!("{} ({})", i.value, i.kind.name()) } else { i.name.clone() },
        "indicator_types": ["malicious-activity"],
    });
    if let Some(u) = i.valid.1.filter(|u| *u > created) {
        o["valid_until"] = t(u).into();
    }
    if let Some(c) = i.confidence {
        o["confidence"] = c.min(100).into();
    }
    if !i.kill_chain.is_empty() {
        o["kill_chain_phases"] = i
            .kill_chain
            .iter()
            .map(|p| serde_json::json!({"kill_chain_name": "mitre-attack", "phase_name": p}))
            .collect::<Vec<_>>()
            .into();
    }
    if let Some(m) = i.tlp.as_deref().and_then(tlp_marking) {
        o["object_marking_refs"] = serde_json::json!([m]);
    }
    o
}

/// One attribute of a MISP event export.
#[derive(Debug, Clone)]
pub struct MispAttribute {
    /// The observable's kind: `ip`, `domain`, `host`, `url`, `md5`, `sha1`,
    /// `sha256`, `email`, `account`.
    pub kind: String,
    /// The value.
    pub value: String,
    /// Meant for detection.
    pub to_ids: bool,
    /// A comment.
    pub comment: String,
}

/// A MISP event (the `{"Event": …}` form MISP imports): `info`, the date
/// (`YYYY-MM-DD`), a TLP tag, and one attribute per observable.
pub fn misp_event(
    info: &str,
    uuid_seed: &str,
    date: &str,
    timestamp: i64,
    tlp: &str,
    attributes: &[MispAttribute],
) -> serde_json::Value {
    let attrs: Vec<serde_json::Value> = attributes
        .iter()
        .map(|a| {
            let (ty, category) = match a.kind.as_str() {
                "ip" => ("ip-dst", "Network activity"),
                "domain" => ("domain", "Network activity"),
                "host" => ("hostname", "Network activity"),
                "url" => ("url", "Network activity"),
                "md5" => ("md5", "Payload delivery"),
                "sha1" => ("sha1", "Payload delivery"),
                "sha256" => ("sha256", "Payload delivery"),
                "email" => ("email-src", "Payload delivery"),
                _ => ("target-user", "Targeting data"),
            };
            serde_json::json!({
                "uuid": uuid_like(&format!("{uuid_seed}|{}|{}", a.kind, a.value)),
                "type": ty, "category": category, "value": a.value,
                "to_ids": a.to_ids && ty != "target-user", "comment": a.comment,
                "distribution": "5", "timestamp": timestamp.to_string(),
            })
        })
        .collect();
    let tlp = tlp.to_ascii_lowercase();
    let tlp = tlp.trim_start_matches("tlp:");
    serde_json::json!({"Event": {
        "uuid": uuid_like(uuid_seed), "info": info, "date": date,
        "threat_level_id": "1", "analysis": "1", "distribution": "0",
        "published": false, "timestamp": timestamp.to_string(),
        "Orgc": {"name": "vakt"},
        "Tag": [{"name": format!("tlp:{tlp}")}],
        "Attribute": attrs,
    }})
}

/// A STIX 2.1 bundle: vakt's identity, an indicator for each sighting not
/// of a STIX indicator, and a Sighting object each.
pub fn stix_bundle(sightings: &[Recorded], now: i64) -> serde_json::Value {
    let mut objects = vec![identity_object()];
    let identity = IDENTITY;
    let mut made = std::collections::BTreeSet::new();
    for (n, s) in sightings.iter().enumerate() {
        // The indicator: its STIX id when it came from STIX, else one made here.
        let ind_id = if s.id.starts_with("indicator--") {
            s.id.clone()
        } else {
            let id = format!(
                "indicator--{}",
                uuid_like(&format!("{}|{}", s.kind, s.value))
            );
            if made.insert(id.clone()) {
                objects.push(serde_json::json!({
                    "type": "indicator", "spec_version": "2.1", "id": id,
                    "created": t(s.hunted), "modified": t(s.hunted),
                    "pattern": pattern(&s.kind, &s.value), "pattern_type": "stix",
                    "valid_from": t(s.first),
                    "name": format!("{} from {}", s.value, s.source),
                }));
            }
            id
        };
        objects.push(serde_json::json!({
            "type": "sighting", "spec_version": "2.1",
            "id": format!("sighting--{}", uuid_like(&format!("{n}|{}|{}|{}", s.value, s.hunted, s.first))),
            "created": t(s.hunted), "modified": t(s.hunted), "created_by_ref": identity,
            "sighting_of_ref": ind_id, "count": s.count.min(999_999_999),
            "first_seen": t(s.first), "last_seen": t(s.last),
            "description": format!("seen by hosts {} in {}", s.hosts.join(", "), s.sources.join(", ")),
        }));
    }
    serde_json::json!({
        "type": "bundle", "id": format!("bundle--{}", uuid_like(&now.to_string())), "objects": objects,
    })
}

/// MISP sightings (the `/sightings/add` shape), with the attribute's UUID
/// where the indicator came from MISP.
pub fn misp_sightings(sightings: &[Recorded], indicators: &[Indicator]) -> serde_json::Value {
    let uuid_of = |value: &str| {
        indicators
            .iter()
            .find(|i| i.value == value)
            .map(|i| i.id.clone())
    };
    sightings
        .iter()
        .map(|s| {
            serde_json::json!({
                "value": s.value,
                "attribute_uuid": uuid_of(&s.value).filter(|u| u.len() == 36),
                "type": "0",
                "source": "vakt",
                "timestamp": (s.last / 1_000_000_000).to_string(),
                "count": s.count,
                "first_seen": t(s.first),
            })
        })
        .collect::<Vec<_>>()
        .into()
}

/// A UUID-shaped identifier derived from a text (version 5 style layout,
/// from two 64-bit hashes): stable for the same text.
pub fn uuid_like(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut a = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    (text, 0x5eed_u32).hash(&mut b);
    let (x, y) = (a.finish(), b.finish());
    format!(
        "{:08x}-{:04x}-5{:03x}-{:04x}-{:012x}",
        (x >> 32) as u32,
        (x >> 16) as u16,
        (x & 0xfff) as u16,
        ((y >> 48) as u16 & 0x3fff) | 0x8000,
        y & 0xffff_ffff_ffff
    )
}
