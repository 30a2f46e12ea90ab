//! The alert as incidents take it: one shape for every engine, written as a
//! JSON line by `vakt hunt --alerts FILE` and read back here.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};
use vakt_core::{Entity, Severity, Timestamp};

/// One alert of any engine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertRecord {
    /// Unique within a hunt (`A000001`).
    pub id: String,
    /// `sigma`, `correlation`, `analytics` or `intel`.
    pub engine: String,
    /// The rule id, detector or indicator.
    pub rule: String,
    /// What was found.
    pub title: String,
    /// Severity.
    pub severity: Severity,
    /// First evidence.
    pub first: Timestamp,
    /// Last evidence.
    pub last: Timestamp,
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
    /// Named measurements.
    #[serde(default)]
    pub evidence: Vec<(String, String)>,
    /// Where the evidence is (`file: line N`).
    #[serde(default)]
    pub origins: Vec<String>,
}

/// A line of an alerts file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine {
    /// Line number (1-based).
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// Reads an alerts file (JSON lines). Lines that are not alerts are reported
/// with their number and left out; the rest are read.
pub fn read_alerts(path: &Path) -> std::io::Result<(Vec<AlertRecord>, Vec<BadLine>)> {
    let file = std::fs::File::open(path)?;
    let mut alerts = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<AlertRecord>(&line) {
            Ok(a) => alerts.push(a),
            Err(e) => bad.push(BadLine {
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
    Ok((alerts, bad))
}

/// An account name as incidents compare them: lower case, without a
/// `DOMAIN\` prefix or `@realm` suffix; `None` for machine and built-in
/// accounts, which say nothing about who acted.
pub fn account_key(name: &str) -> Option<String> {
    let n = name.trim();
    let n = n.rsplit('\\').next().unwrap_or(n);
    let n = n.split('@').next().unwrap_or(n).to_lowercase();
    let builtin = matches!(
        n.as_str(),
        "" | "-"
            | "system"
            | "local service"
            | "network service"
            | "anonymous logon"
            | "localsystem"
            | "nt authority\\system"
            | "dwm-1"
            | "umfd-0"
    );
    (!builtin && !n.ends_with('$')).then_some(n)
}

/// A host name as incidents compare them: lower case, without the DNS domain.
pub fn host_key(name: &str) -> String {
    let n = name.trim().to_lowercase();
    n.split('.').next().unwrap_or(&n).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_compare_without_domain_and_builtins_are_left_out() {
        assert_eq!(account_key("HELSE\\JaPed103").as_deref(), Some("japed103"));
        assert_eq!(
            account_key("japed103@helse.local").as_deref(),
            Some("japed103")
        );
        assert_eq!(account_key("NT AUTHORITY\\SYSTEM"), None);
        assert_eq!(account_key("WS-0012$"), None);
        assert_eq!(account_key("-"), None);
        assert_eq!(host_key("WS-AHUS-0012.helse.local"), "ws-ahus-0012");
    }

    #[test]
    fn bad_lines_are_reported_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("alerts.jsonl");
        let good = AlertRecord {
            id: "A1".into(),
            engine: "sigma".into(),
            rule: "r".into(),
            title: "t".into(),
            severity: Severity::High,
            first: Timestamp(1),
            last: Timestamp(2),
            techniques: vec![],
            tactics: vec![],
            actors: vec![Entity::Host("ws".into())],
            targets: vec![],
            evidence: vec![],
            origins: vec![],
        };
        let line = serde_json::to_string(&good).unwrap();
        std::fs::write(&p, format!("{line}\n{{\"id\": 3}}\nnot json\n{line}\n")).unwrap();
        let (alerts, bad) = read_alerts(&p).unwrap();
        assert_eq!(alerts, vec![good.clone(), good]);
        assert_eq!(bad.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2, 3]);
    }
}
