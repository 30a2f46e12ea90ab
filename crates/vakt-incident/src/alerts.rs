//! Alerts as a case folder keeps them: [`vakt_core::Alert`]s, one JSON line
//! each (`vakt hunt --alerts FILE` writes them, `vakt incidents` reads them).

use std::io::{BufRead, Write};
use std::path::Path;

use vakt_core::Alert;

pub use vakt_context::site::{account_key, host_key};

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
pub fn read_alerts(path: &Path) -> std::io::Result<(Vec<Alert>, Vec<BadLine>)> {
    let file = std::fs::File::open(path)?;
    let mut alerts = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Alert>(&line) {
            Ok(a) => alerts.push(a),
            Err(e) => bad.push(BadLine {
                line: i + 1,
                reason: e.to_string(),
            }),
        }
    }
    Ok((alerts, bad))
}

/// Writes alerts as JSON lines.
pub fn write_alerts(path: &Path, alerts: &[Alert]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for a in alerts {
        serde_json::to_writer(&mut out, a)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use vakt_core::{AlertKey, Entity, Rule, Severity, SigmaRule, Timestamp};

    #[test]
    fn bad_lines_are_reported_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("alerts.jsonl");
        let good = Alert {
            key: AlertKey::of(&["a1"]),
            tenant: std::sync::Arc::from("t"),
            detector: "sigma".into(),
            rule: std::sync::Arc::new(Rule::Sigma(SigmaRule {
                title: "t".into(),
                ..SigmaRule::default()
            })),
            title: "t".into(),
            severity: Severity::High,
            score: 1.0,
            techniques: vec![],
            tactics: vec![],
            actors: vec![Entity::Host("ws".into())],
            targets: vec![],
            first: Timestamp(1),
            last: Timestamp(2),
            count: 1,
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
