//! The Alert: what every detector emits, in one shape.

use serde::{Deserialize, Serialize};

use crate::{Origin, Timestamp};

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

/// A finding of any detector.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The detector (`sigma`, `beacon`, `dns-tunnel`, …).
    pub detector: &'static str,
    /// What was found, for a person.
    pub title: String,
    /// When: the first evidence.
    pub first: Timestamp,
    /// When: the last evidence.
    pub last: Timestamp,
    /// How sure, 0..=1.
    pub score: f64,
    /// Severity.
    pub severity: Severity,
    /// ATT&CK technique ids.
    pub techniques: Vec<&'static str>,
    /// The entities involved.
    pub entities: Vec<Entity>,
    /// Evidence: named measurements (counts, period, bytes).
    pub evidence: Vec<(&'static str, String)>,
    /// Where some of the evidence events are (at most a few).
    pub origins: Vec<Origin>,
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

impl Severity {
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

impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("path", &*self.path)?;
        m.serialize_entry("where", &self.locator.to_string())?;
        m.end()
    }
}
