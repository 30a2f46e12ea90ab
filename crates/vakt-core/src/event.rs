//! The Event: one record from any source, in one shape.

use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::{FieldId, SourceKind, Timestamp, Value};

/// Where in its input a record sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Locator {
    /// A record's place in the file: for EVTX, the number in the record's header (as
    /// `evtx_dump` shows it), which in exported or filtered logs differs from the
    /// `EventRecordID` of the event itself (see [`crate::EventRef`]).
    Record(u64),
    /// A 1-based line number (line-oriented formats).
    Line(u64),
    /// A 1-based position within a JSON document (e.g. a Bundle entry).
    Index(u64),
    /// A whole EVTX chunk (0-based chunk number) — used by errors that lose a chunk.
    Chunk(u64),
}

impl std::str::FromStr for Locator {
    type Err = String;

    /// Reads what [`Locator`]'s `Display` writes (`record 3`, `line 12`, `item 2`, `chunk 0`).
    fn from_str(s: &str) -> Result<Locator, String> {
        let (kind, n) = s
            .trim()
            .split_once(' ')
            .ok_or_else(|| format!("`{s}` is not a place in an input (`line N`, `record N`)"))?;
        let n: u64 = n
            .trim()
            .parse()
            .map_err(|_| format!("`{s}`: `{n}` is not a number"))?;
        match kind {
            "record" => Ok(Locator::Record(n)),
            "line" => Ok(Locator::Line(n)),
            "item" => Ok(Locator::Index(n)),
            "chunk" => Ok(Locator::Chunk(n)),
            _ => Err(format!(
                "`{s}` is not a place in an input (`line N`, `record N`)"
            )),
        }
    }
}

impl std::fmt::Display for Locator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Locator::Record(n) => write!(f, "record {n}"),
            Locator::Line(n) => write!(f, "line {n}"),
            Locator::Index(n) => write!(f, "item {n}"),
            Locator::Chunk(n) => write!(f, "chunk {n}"),
        }
    }
}

/// Where an event came from: the input's path (`a.zip!inner.json` inside
/// archives) and its place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The input's display path.
    pub path: Arc<str>,
    /// The place in that input.
    pub locator: Locator,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.locator)
    }
}

/// One record from any source: what every reader produces and every detector consumes.
///
/// `fields` holds the native fields under the names the source uses (Sigma rules
/// are written against these); `common` holds the few OCSF-named fields the
/// reader fills (see [`crate::field`]), which intel, analytics and scoping read.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When it happened, UTC.
    pub time: Timestamp,
    /// The tenant (health trust) the input belongs to.
    pub tenant: Arc<str>,
    /// The source kind, such as `evtx:Security`, `zeek:conn`, `suricata:eve`, `fhir:AuditEvent`.
    pub source: SourceKind,
    /// Native fields, in the order the source gave them.
    pub fields: Vec<(FieldId, Value)>,
    /// Common fields.
    pub common: Vec<(FieldId, Value)>,
    /// Where it came from.
    pub origin: Origin,
}

impl Event {
    /// A native field's value, by id (the first if a name repeats).
    pub fn get(&self, id: FieldId) -> Option<&Value> {
        self.fields.iter().find(|(f, _)| *f == id).map(|(_, v)| v)
    }

    /// A native field's value, by name.
    pub fn get_named(&self, name: &str) -> Option<&Value> {
        FieldId::lookup(name).and_then(|id| self.get(id))
    }

    /// A common field's value.
    pub fn common(&self, id: FieldId) -> Option<&Value> {
        self.common.iter().find(|(f, _)| *f == id).map(|(_, v)| v)
    }

    /// Sets a common field, replacing an earlier value.
    pub fn set_common(&mut self, id: FieldId, value: Value) {
        match self.common.iter_mut().find(|(f, _)| *f == id) {
            Some(slot) => slot.1 = value,
            None => self.common.push((id, value)),
        }
    }
}

struct Fields<'a>(&'a [(FieldId, Value)]);

impl Serialize for Fields<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (id, v) in self.0 {
            map.serialize_entry(id.name(), v)?;
        }
        map.end()
    }
}

struct OriginOut<'a>(&'a Origin);

impl Serialize for OriginOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("path", &*self.0.path)?;
        let (key, n) = match self.0.locator {
            Locator::Record(n) => ("record", n),
            Locator::Line(n) => ("line", n),
            Locator::Index(n) => ("index", n),
            Locator::Chunk(n) => ("chunk", n),
        };
        map.serialize_entry(key, &n)?;
        map.end()
    }
}

/// Serialised as the normalised JSON Lines record `vakt ingest` writes:
/// `{"time","tenant","source","origin":{"path","line"|"record"|"index"},"common":{..},"fields":{..}}`.
impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(6))?;
        map.serialize_entry("time", &self.time.to_rfc3339())?;
        map.serialize_entry("tenant", &*self.tenant)?;
        map.serialize_entry("source", self.source.as_str())?;
        map.serialize_entry("origin", &OriginOut(&self.origin))?;
        map.serialize_entry("common", &Fields(&self.common))?;
        map.serialize_entry("fields", &Fields(&self.fields))?;
        map.end()
    }
}
