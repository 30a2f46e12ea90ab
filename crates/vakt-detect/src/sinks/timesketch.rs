//! `timesketch`: a timeline Timesketch imports as it is (JSON Lines with
//! its required `message`, `datetime` and `timestamp_desc`, and
//! `timestamp` in microseconds), one line when an alert's evidence begins
//! and one when it ends if later; the alert's rule, severity, ATT&CK
//! techniques, host and evidence ride along as attributes, so an analyst
//! can filter and tag in Timesketch.

use vakt_core::{Alert, Error, Sink, Timestamp};

use super::{Output, Writer, details, io};

/// The format.
pub const WRITER: Writer = ("timesketch", TimesketchWriter::boxed);

/// Alerts as a Timesketch timeline.
pub struct TimesketchWriter {
    out: Output,
}

impl TimesketchWriter {
    /// A Timesketch writer, boxed for the registry.
    pub fn boxed(out: Output) -> Box<dyn Sink> {
        Box::new(TimesketchWriter { out })
    }

    fn line(&mut self, a: &Alert, t: Timestamp, desc: &str) -> Result<(), Error> {
        let line = serde_json::json!({
            "message": format!("[{}] {}", a.severity.name(), a.title),
            "datetime": t.to_rfc3339(),
            "timestamp": t.0.div_euclid(1_000),
            "timestamp_desc": desc,
            "alert_key": a.key,
            "tenant": &*a.tenant,
            "detector": a.detector,
            "rule": a.rule.title(),
            "rule_id": a.rule.id(),
            "severity": a.severity.name(),
            "score": a.score,
            "attack": a.techniques.join(" "),
            "tactics": a.tactics.join(" "),
            "host": a.subject(),
            "actors": a.actors.iter().map(vakt_core::Entity::key).collect::<Vec<_>>(),
            "targets": a.targets.iter().map(vakt_core::Entity::key).collect::<Vec<_>>(),
            "count": a.count,
            "details": details(a),
            "origin": a.origins.first().map(ToString::to_string),
            "tag": [format!("vakt-{}", a.severity.name())],
        });
        serde_json::to_writer(&mut self.out, &line).map_err(|e| io("timesketch", e.into()))?;
        self.out.write_all(b"\n").map_err(|e| io("timesketch", e))
    }
}

impl Sink for TimesketchWriter {
    fn name(&self) -> &'static str {
        "timesketch"
    }

    fn alert(&mut self, a: &Alert) -> Result<(), Error> {
        self.line(a, a.first, "vakt alert: first evidence")?;
        if a.last > a.first {
            self.line(a, a.last, "vakt alert: last evidence")?;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(|e| io("timesketch", e))
    }
}
