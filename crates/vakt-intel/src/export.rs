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

fn t(n: i64) -> String {
    Timestamp(n).to_rfc3339()
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

/// A STIX 2.1 bundle: vakt's identity, an indicator for each sighting not
/// of a STIX indicator, and a Sighting object each.
pub fn stix_bundle(sightings: &[Recorded], now: i64) -> serde_json::Value {
    let mut objects = Vec::new();
    let identity = "identity--8b3c6f3e-7a1d-4f55-9a57-7a6b5b1c0de5";
    objects.push(serde_json::json!({
        "type": "identity", "spec_version": "2.1", "id": identity,
        "created": t(0), "modified": t(0), "name": "vakt", "identity_class": "system",
    }));
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
