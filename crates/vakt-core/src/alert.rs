//! The Alert: what every detector emits, in one shape.
//!
//! An alert says what was found (title, severity, score, ATT&CK), by which
//! detector under which rule (a Sigma rule, an indicator or an analytic, each
//! with its own metadata), about whom (actors: who acted; targets: what was
//! reached), when (first, last, how many evidence events), and where the
//! evidence is ([`EventRef`]s a person or the store can follow back).
//!
//! Its [`AlertKey`] is stable: a detector derives it from the rule, the
//! entities and the window a finding covers, so that a finding that grows as
//! evidence arrives updates the alert under the same key, and a replay or a
//! restart never duplicates one.

use std::sync::Arc;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Locator, Origin, SourceKind, Timestamp};

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Informational,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

impl Severity {
    /// The name as Sigma writes levels.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Informational => "informational",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// From a Sigma level name (`critical`, `high`, `medium`, `low`, else informational).
    pub fn from_level(level: &str) -> Severity {
        match level.to_ascii_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            _ => Severity::Informational,
        }
    }

    /// One step more serious (critical stays critical).
    pub fn raised(self) -> Severity {
        match self {
            Severity::Informational => Severity::Low,
            Severity::Low => Severity::Medium,
            Severity::Medium => Severity::High,
            Severity::High | Severity::Critical => Severity::Critical,
        }
    }
}

/// An entity an alert involves.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "lowercase")]
pub enum Entity {
    /// A host by name.
    Host(String),
    /// An IP address.
    Ip(std::net::IpAddr),
    /// An account.
    Account(String),
    /// A domain name.
    Domain(String),
    /// A patient (pseudonymised).
    Patient(String),
}

impl Entity {
    /// The entity as text (`host:ws-01`, `ip:10.0.0.1`), for keys.
    pub fn key(&self) -> String {
        match self {
            Entity::Host(h) => format!("host:{h}"),
            Entity::Ip(ip) => format!("ip:{ip}"),
            Entity::Account(a) => format!("account:{a}"),
            Entity::Domain(d) => format!("domain:{d}"),
            Entity::Patient(p) => format!("patient:{p}"),
        }
    }

    /// The name or address alone.
    pub fn value(&self) -> String {
        match self {
            Entity::Ip(ip) => ip.to_string(),
            Entity::Host(x) | Entity::Account(x) | Entity::Domain(x) | Entity::Patient(x) => {
                x.clone()
            }
        }
    }
}

/// Where one evidence event is: its input and place there (what
/// [`Origin`] says), the source's own id for it when it has one (the EVTX
/// `EventRecordID` that Event Viewer, Chainsaw and Hayabusa show, a Zeek
/// `uid`, a FHIR resource id), and, when known, its time and source kind —
/// with the tenant of its alert, enough to find it again in the event store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRef {
    /// The input's display path.
    pub path: Arc<str>,
    /// The place in that input.
    pub locator: Locator,
    /// The source's own id for the event.
    pub record_id: Option<CompactString>,
    /// The event's time.
    pub time: Option<Timestamp>,
    /// The event's source kind.
    pub source: Option<SourceKind>,
}

impl EventRef {
    /// A reference that knows only the place.
    pub fn at(origin: &Origin) -> EventRef {
        EventRef {
            path: origin.path.clone(),
            locator: origin.locator,
            record_id: None,
            time: None,
            source: None,
        }
    }

    /// A reference to an event, with its time, source kind and own id.
    pub fn to(e: &crate::Event) -> EventRef {
        let record_id = e.common(crate::field::METADATA_UID).and_then(|v| match v {
            crate::Value::Str(s) => Some(s.clone()),
            crate::Value::Int(i) => Some(CompactString::from(i.to_string())),
            _ => None,
        });
        EventRef {
            path: e.origin.path.clone(),
            locator: e.origin.locator,
            record_id,
            time: Some(e.time),
            source: Some(e.source.clone()),
        }
    }

    /// The place as [`Origin`] has it.
    pub fn origin(&self) -> Origin {
        Origin {
            path: self.path.clone(),
            locator: self.locator,
        }
    }

    /// What the source calls its own id: `EventRecordID` for Windows events.
    pub fn record_id_name(&self) -> &'static str {
        match &self.source {
            Some(s) if s.is_windows() => "EventRecordID",
            Some(s) if s.zeek_log().is_some() => "uid",
            _ => "id",
        }
    }
}

impl std::fmt::Display for EventRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.locator)?;
        if let Some(id) = &self.record_id {
            write!(f, " ({} {id})", self.record_id_name())?;
        }
        Ok(())
    }
}

impl Serialize for EventRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("path", &*self.path)?;
        m.serialize_entry("where", &self.locator.to_string())?;
        if let Some(id) = &self.record_id {
            m.serialize_entry("record_id", id.as_str())?;
        }
        if let Some(t) = &self.time {
            m.serialize_entry("time", t)?;
        }
        if let Some(k) = &self.source {
            m.serialize_entry("source", k)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for EventRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            path: String,
            #[serde(rename = "where")]
            at: String,
            #[serde(default)]
            record_id: Option<String>,
            #[serde(default)]
            time: Option<Timestamp>,
            #[serde(default)]
            source: Option<SourceKind>,
        }
        let r = Raw::deserialize(d)?;
        Ok(EventRef {
            path: Arc::from(r.path),
            locator: r.at.parse().map_err(serde::de::Error::custom)?,
            record_id: r.record_id.map(CompactString::from),
            time: r.time,
            source: r.source,
        })
    }
}

/// A Sigma rule, as an alert names it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SigmaRule {
    /// `title`.
    pub title: String,
    /// `id`.
    #[serde(default)]
    pub id: Option<String>,
    /// `level`.
    #[serde(default)]
    pub level: Option<String>,
    /// `status`.
    #[serde(default)]
    pub status: Option<String>,
    /// `tags`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `author`.
    #[serde(default)]
    pub author: Option<String>,
    /// The rule file.
    #[serde(default)]
    pub file: String,
    /// For a correlation rule, its kind (`event_count`, `temporal`, …).
    #[serde(default)]
    pub correlation: Option<String>,
}

/// An indicator, as an alert names it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct IndicatorRule {
    /// What the value is (`ip`, `domain`, `sha256`, …).
    pub kind: String,
    /// The value.
    pub value: String,
    /// The feed or file it came from.
    pub feed: String,
    /// Its id there.
    pub id: String,
    /// Its name or description there.
    #[serde(default)]
    pub name: String,
    /// Confidence 0-100.
    #[serde(default)]
    pub confidence: Option<u8>,
    /// TLP marking.
    #[serde(default)]
    pub tlp: Option<String>,
    /// Valid from.
    #[serde(default)]
    pub valid_from: Option<Timestamp>,
    /// Valid until.
    #[serde(default)]
    pub valid_until: Option<Timestamp>,
    /// The warninglist it is on (alerting only when forced).
    #[serde(default)]
    pub warninglist: Option<String>,
    /// Kill-chain phases.
    #[serde(default)]
    pub kill_chain: Vec<String>,
}

/// One of vakt's own behaviour analytics, as an alert names it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnalyticRule {
    /// The detector (`beacon`, `ehr-bulk`, …).
    pub detector: String,
    /// Its family (`network`, `ehr`).
    pub family: String,
    /// What it looks for, in a line.
    #[serde(default)]
    pub about: String,
}

/// A sensor's own detection passed through (a Suricata signature).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SensorRule {
    /// The sensor (`suricata`).
    pub engine: String,
    /// The signature's message.
    pub signature: String,
    /// Its id (Suricata's `signature_id`).
    pub signature_id: u64,
    /// Its generator (`gid`).
    #[serde(default)]
    pub gid: u64,
    /// Its revision.
    #[serde(default)]
    pub rev: u64,
    /// Its category (`Misc Attack`, `A Network Trojan was detected`, …).
    #[serde(default)]
    pub category: String,
}

/// The rule an alert fired under, with that kind of rule's own metadata
/// (`{"type": "sigma" | "indicator" | "analytic" | "sensor", …}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Rule {
    /// A Sigma detection or correlation rule.
    Sigma(SigmaRule),
    /// A threat-intelligence indicator.
    Indicator(IndicatorRule),
    /// A behaviour analytic.
    Analytic(AnalyticRule),
    /// A sensor's own detection.
    Sensor(SensorRule),
}

impl Rule {
    /// A stable id for the rule: the Sigma id (else title),
    /// `vakt-intel-<kind>-<value>`, `vakt-analytics-<detector>`.
    pub fn id(&self) -> String {
        match self {
            Rule::Sigma(r) => r.id.clone().unwrap_or_else(|| r.title.clone()),
            Rule::Indicator(r) => format!("vakt-intel-{}-{}", r.kind, r.value),
            Rule::Analytic(r) => format!("vakt-analytics-{}", r.detector),
            Rule::Sensor(r) if r.signature_id == 0 => format!("{}-{}", r.engine, r.signature),
            Rule::Sensor(r) => format!("{}-{}-{}", r.engine, r.gid, r.signature_id),
        }
    }

    /// The rule's own title (a Sigma title, the indicator, the analytic).
    pub fn title(&self) -> String {
        match self {
            Rule::Sigma(r) => r.title.clone(),
            Rule::Indicator(r) => {
                if r.name.is_empty() {
                    format!("Indicator {} {}", r.kind, r.value)
                } else {
                    format!("Indicator {} {} ({})", r.kind, r.value, r.name)
                }
            }
            Rule::Analytic(r) => format!("behaviour analytics: {}", r.detector),
            Rule::Sensor(r) => format!("{}: {}", r.engine, r.signature),
        }
    }

    /// The kind of rule: `sigma`, `correlation`, `intel`, `analytics` or `sensor`.
    pub fn engine(&self) -> &'static str {
        match self {
            Rule::Sigma(r) if r.correlation.is_some() => "correlation",
            Rule::Sigma(_) => "sigma",
            Rule::Indicator(_) => "intel",
            Rule::Analytic(_) => "analytics",
            Rule::Sensor(_) => "sensor",
        }
    }
}

/// An alert's stable identity: 128 bits of SHA-256 over what makes the
/// finding the same finding (tenant, detector, rule, entities, window), as
/// 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AlertKey(pub String);

impl AlertKey {
    /// The key of these parts (order matters; parts are separated, so
    /// `["ab", "c"]` and `["a", "bc"]` differ).
    pub fn of(parts: &[&str]) -> AlertKey {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        let digest = h.finalize();
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(32);
        for b in &digest[..16] {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 15) as usize] as char);
        }
        AlertKey(s)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AlertKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A finding of any detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Stable identity (see [`AlertKey`]).
    pub key: AlertKey,
    /// The tenant (health trust) whose data it is about.
    pub tenant: Arc<str>,
    /// The detector that raised it (`sigma`, `intel`, `beacon`, `ehr-bulk`, …).
    pub detector: String,
    /// The rule it fired under.
    pub rule: Arc<Rule>,
    /// What was found, for a person.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// How sure, 0..=1.
    pub score: f64,
    /// ATT&CK technique ids (`T1059.001`).
    #[serde(default)]
    pub techniques: Vec<String>,
    /// ATT&CK tactics the rule names (`execution`, `lateral-movement`).
    #[serde(default)]
    pub tactics: Vec<String>,
    /// Who acted: the host the activity ran on or came from, the accounts used.
    #[serde(default)]
    pub actors: Vec<Entity>,
    /// What was reached: destination hosts and addresses, names, patients.
    #[serde(default)]
    pub targets: Vec<Entity>,
    /// The first evidence.
    pub first: Timestamp,
    /// The last evidence.
    pub last: Timestamp,
    /// Evidence events (matches, records) behind it.
    #[serde(default = "one")]
    pub count: u64,
    /// Named measurements and the event fields a rule read.
    #[serde(default)]
    pub evidence: Vec<(String, String)>,
    /// Where some of the evidence events are (at most a few).
    #[serde(default)]
    pub origins: Vec<EventRef>,
}

fn one() -> u64 {
    1
}

/// An empty alert (no key, no rule metadata, no entities), to build on with
/// struct update syntax: `Alert { key, title, ..Alert::default() }`.
impl Default for Alert {
    fn default() -> Self {
        Alert {
            key: AlertKey(String::new()),
            tenant: Arc::from("default"),
            detector: String::new(),
            rule: Arc::new(Rule::Analytic(AnalyticRule::default())),
            title: String::new(),
            severity: Severity::Informational,
            score: 0.0,
            techniques: Vec::new(),
            tactics: Vec::new(),
            actors: Vec::new(),
            targets: Vec::new(),
            first: Timestamp(0),
            last: Timestamp(0),
            count: 1,
            evidence: Vec::new(),
            origins: Vec::new(),
        }
    }
}

impl Alert {
    /// A piece of evidence by name.
    pub fn evidence(&self, name: &str) -> Option<&str> {
        self.evidence
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every entity: the actors, then the targets.
    pub fn entities(&self) -> Vec<Entity> {
        self.actors.iter().chain(&self.targets).cloned().collect()
    }

    /// The host, address or account the alert is first about (for a table).
    pub fn subject(&self) -> String {
        self.actors
            .iter()
            .chain(&self.targets)
            .find(|e| matches!(e, Entity::Host(_)))
            .or_else(|| self.actors.first())
            .map(Entity::value)
            .unwrap_or_default()
    }

    /// Takes a later statement of the same finding (same key): the newer
    /// wins, but the first evidence stays the earliest seen and the severity
    /// never falls.
    pub fn update(&mut self, newer: Alert) {
        let first = self.first.min(newer.first);
        let severity = self.severity.max(newer.severity);
        *self = newer;
        self.first = first;
        self.severity = severity;
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("path", &*self.path)?;
        m.serialize_entry("where", &self.locator.to_string())?;
        m.end()
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct O {
            path: String,
            #[serde(rename = "where")]
            at: String,
        }
        let o = O::deserialize(d)?;
        Ok(Origin {
            path: Arc::from(o.path),
            locator: o.at.parse().map_err(serde::de::Error::custom)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_parts_are_separated() {
        let a = AlertKey::of(&["t", "sigma", "rule", "f.evtx", "record 1"]);
        assert_eq!(
            a,
            AlertKey::of(&["t", "sigma", "rule", "f.evtx", "record 1"])
        );
        assert_eq!(a.as_str().len(), 32);
        assert_ne!(AlertKey::of(&["ab", "c"]), AlertKey::of(&["a", "bc"]));
    }

    #[test]
    fn an_alert_round_trips_through_json() {
        let a = Alert {
            key: AlertKey::of(&["x"]),
            tenant: Arc::from("ous"),
            detector: "sigma".into(),
            rule: Arc::new(Rule::Sigma(SigmaRule {
                title: "Mimikatz".into(),
                id: Some("abc".into()),
                level: Some("high".into()),
                ..Default::default()
            })),
            title: "Mimikatz".into(),
            severity: Severity::High,
            score: 1.0,
            techniques: vec!["T1003".into()],
            tactics: vec!["credential-access".into()],
            actors: vec![Entity::Host("ws-1".into())],
            targets: vec![Entity::Ip("10.0.0.1".parse().unwrap())],
            first: Timestamp(1),
            last: Timestamp(2),
            count: 1,
            evidence: vec![("EventID".into(), "10".into())],
            origins: vec![EventRef {
                path: Arc::from("a.evtx"),
                locator: Locator::Record(3),
                record_id: Some("564589".into()),
                time: Some(Timestamp(1)),
                source: Some(SourceKind::windows("Security")),
            }],
        };
        let j = serde_json::to_string(&a).unwrap();
        assert!(j.contains("\"record_id\":\"564589\""), "{j}");
        let b: Alert = serde_json::from_str(&j).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            a.origins[0].to_string(),
            "a.evtx: record 3 (EventRecordID 564589)"
        );
        assert_eq!(a.rule.id(), "abc");
    }

    #[test]
    fn an_update_keeps_the_first_evidence_and_the_worst_severity() {
        let mut a = Alert {
            key: AlertKey::of(&["k"]),
            tenant: Arc::from("t"),
            detector: "beacon".into(),
            rule: Arc::new(Rule::Analytic(AnalyticRule::default())),
            title: "high".into(),
            severity: Severity::High,
            score: 0.9,
            techniques: vec![],
            tactics: vec![],
            actors: vec![],
            targets: vec![],
            first: Timestamp(10),
            last: Timestamp(20),
            count: 5,
            evidence: vec![],
            origins: vec![],
        };
        let mut b = a.clone();
        b.title = "later".into();
        b.severity = Severity::Medium;
        b.first = Timestamp(15);
        b.last = Timestamp(30);
        b.count = 9;
        a.update(b);
        assert_eq!(
            (a.title.as_str(), a.severity, a.first, a.last, a.count),
            ("later", Severity::High, Timestamp(10), Timestamp(30), 9)
        );
    }
}
