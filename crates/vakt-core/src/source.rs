//! Source kinds: what an event is, as a type.
//!
//! Every event carries the name of its source kind as its reader gave it
//! (`evtx:Security`, `zeek:conn`, `suricata:eve`, `fhir:AuditEvent`, …) and,
//! worked out once when the kind is made, its [`SourceFamily`]: what
//! detectors dispatch on, so that no detector compares names.

use std::sync::Arc;

/// A Zeek log vakt's detectors know by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ZeekLog {
    /// `conn.log`: connections as they close.
    Conn,
    /// `open_conn.log`: connections still open at rotation.
    OpenConn,
    /// `dns.log`.
    Dns,
    /// `ssl.log` (TLS).
    Ssl,
    /// `http.log`.
    Http,
    /// Any other Zeek log (`smb_files`, `x509`, …).
    Other,
}

/// The family of a source kind: how detectors tell sources apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceFamily {
    /// A Windows event log channel (`evtx:<channel>`), read from EVTX or from
    /// Windows events as JSON.
    Windows,
    /// A Zeek log (`zeek:<log>`).
    Zeek(ZeekLog),
    /// Suricata's EVE JSON (`suricata:eve`).
    SuricataEve,
    /// An EHR access record (`fhir:AuditEvent`).
    FhirAuditEvent,
    /// Another FHIR resource type (`fhir:<type>`).
    Fhir,
    /// Anything else (JSON Lines, a configured kind).
    Other,
}

/// A source kind: its name and its family.
#[derive(Debug, Clone)]
pub struct SourceKind {
    name: Arc<str>,
    family: SourceFamily,
}

impl SourceKind {
    /// The kind named `name` (its family worked out from the name).
    pub fn new(name: &str) -> SourceKind {
        SourceKind::from_arc(Arc::from(name))
    }

    /// The kind named `name`, sharing the name's allocation.
    pub fn from_arc(name: Arc<str>) -> SourceKind {
        let family = family_of(&name);
        SourceKind { name, family }
    }

    /// FHIR AuditEvents (EHR access records).
    pub fn fhir_audit_event() -> SourceKind {
        SourceKind::new("fhir:AuditEvent")
    }

    /// Suricata EVE.
    pub fn suricata_eve() -> SourceKind {
        SourceKind::new("suricata:eve")
    }

    /// A Zeek log by its path name (`conn`, `dns`, …).
    pub fn zeek(log: &str) -> SourceKind {
        SourceKind::from_arc(Arc::from(format!("zeek:{log}")))
    }

    /// A Windows channel (`Security`, `Microsoft-Windows-Sysmon/Operational`).
    pub fn windows(channel: &str) -> SourceKind {
        SourceKind::from_arc(Arc::from(format!("evtx:{channel}")))
    }

    /// The name (`zeek:conn`).
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The name, shared.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.name
    }

    /// The family.
    pub fn family(&self) -> SourceFamily {
        self.family
    }

    /// Whether these are EHR access records.
    pub fn is_fhir_audit_event(&self) -> bool {
        self.family == SourceFamily::FhirAuditEvent
    }

    /// The Zeek log, if this is one.
    pub fn zeek_log(&self) -> Option<ZeekLog> {
        match self.family {
            SourceFamily::Zeek(l) => Some(l),
            _ => None,
        }
    }

    /// Whether these are Windows events.
    pub fn is_windows(&self) -> bool {
        self.family == SourceFamily::Windows
    }
}

fn family_of(name: &str) -> SourceFamily {
    match name.split_once(':') {
        None if name == "evtx" => SourceFamily::Windows,
        Some(("evtx", _)) => SourceFamily::Windows,
        Some(("zeek", log)) => SourceFamily::Zeek(match log {
            "conn" => ZeekLog::Conn,
            "open_conn" => ZeekLog::OpenConn,
            "dns" => ZeekLog::Dns,
            "ssl" => ZeekLog::Ssl,
            "http" => ZeekLog::Http,
            _ => ZeekLog::Other,
        }),
        Some(("suricata", "eve")) => SourceFamily::SuricataEve,
        Some(("fhir", "AuditEvent")) => SourceFamily::FhirAuditEvent,
        Some(("fhir", _)) => SourceFamily::Fhir,
        _ => SourceFamily::Other,
    }
}

impl PartialEq for SourceKind {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.name, &other.name) || self.name == other.name
    }
}

impl Eq for SourceKind {}

impl std::hash::Hash for SourceKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl PartialOrd for SourceKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SourceKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name.cmp(&other.name)
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

impl serde::Serialize for SourceKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> serde::Deserialize<'de> for SourceKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(SourceKind::new(&name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_come_from_the_name() {
        assert_eq!(
            SourceKind::new("zeek:conn").family(),
            SourceFamily::Zeek(ZeekLog::Conn)
        );
        assert_eq!(
            SourceKind::zeek("open_conn").zeek_log(),
            Some(ZeekLog::OpenConn)
        );
        assert!(SourceKind::new("fhir:AuditEvent").is_fhir_audit_event());
        assert!(!SourceKind::new("fhir:Patient").is_fhir_audit_event());
        assert!(SourceKind::windows("Microsoft-Windows-Sysmon/Operational").is_windows());
        // A Windows event whose channel is not known.
        assert!(SourceKind::new("evtx").is_windows());
        assert_eq!(SourceKind::new("jsonl").family(), SourceFamily::Other);
        assert_eq!(
            SourceKind::new("zeek:x509").zeek_log(),
            Some(ZeekLog::Other)
        );
        assert_eq!(SourceKind::new("zeek:conn"), SourceKind::zeek("conn"));
    }
}
