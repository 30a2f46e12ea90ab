//! The output formats: every writer of the registry writes nothing and one
//! alert cleanly; JSON Lines round-trips the alert; the Timesketch timeline
//! has the fields Timesketch requires (`message`, `datetime` in ISO 8601,
//! `timestamp_desc`; `timestamp` in microseconds).

use std::io::Write;
use std::sync::{Arc, Mutex};

use vakt_core::{
    Alert, AlertKey, Entity, EventRef, Locator, Origin, Rule, Severity, SigmaRule, SourceKind,
    Timestamp,
};
use vakt_detect::sinks::{Output, WRITERS};

/// An output that keeps what is written.
#[derive(Clone, Default)]
struct Kept(Arc<Mutex<Vec<u8>>>);

impl Write for Kept {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Kept {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn alert(first: i64, last: i64) -> Alert {
    Alert {
        key: AlertKey::of(&["t", "sigma", "r1", "a.evtx", "record 3"]),
        tenant: Arc::from("ous"),
        detector: "sigma".into(),
        rule: Arc::new(Rule::Sigma(SigmaRule {
            title: "LSASS, \"dumped\"".into(),
            id: Some("r1".into()),
            level: Some("high".into()),
            ..SigmaRule::default()
        })),
        title: "LSASS, \"dumped\"".into(),
        severity: Severity::High,
        score: 1.0,
        techniques: vec!["T1003.001".into()],
        tactics: vec!["credential-access".into()],
        actors: vec![Entity::Host("ws-1".into()), Entity::Account("anna".into())],
        targets: vec![],
        first: Timestamp(first),
        last: Timestamp(last),
        count: 2,
        evidence: vec![("TargetImage".into(), "C:\\lsass.exe".into())],
        origins: vec![EventRef {
            record_id: Some("564589".into()),
            time: Some(Timestamp(first)),
            source: Some(SourceKind::windows("Security")),
            ..EventRef::at(&Origin {
                path: Arc::from("a.evtx"),
                locator: Locator::Record(3),
            })
        }],
    }
}

fn write(format: &str, alerts: &[Alert]) -> String {
    let kept = Kept::default();
    let out: Output = Box::new(kept.clone());
    let mut sink = vakt_detect::sinks::writer(format, out).unwrap();
    for a in alerts {
        sink.alert(a).unwrap();
    }
    sink.finish().unwrap();
    kept.text()
}

#[test]
fn every_writer_writes_none_and_one() {
    let a = alert(1_514_795_400_000_000_000, 1_514_795_400_000_000_000);
    for (name, _) in WRITERS {
        let none = write(name, &[]);
        let one = write(name, std::slice::from_ref(&a));
        assert!(one.contains("LSASS"), "{name}: {one}");
        assert!(one.len() > none.len(), "{name}");
    }
    let json: Vec<Alert> = serde_json::from_str(&write("json", std::slice::from_ref(&a))).unwrap();
    assert_eq!(json, vec![a.clone()]);
    let line: Alert =
        serde_json::from_str(write("jsonl", std::slice::from_ref(&a)).trim()).unwrap();
    assert_eq!(line, a);
    let csv = write("csv", std::slice::from_ref(&a));
    assert!(csv.contains("\"LSASS, \"\"dumped\"\"\""), "{csv}");
    assert!(csv.contains(",564589,2,"), "{csv}");
}

#[test]
fn a_timesketch_timeline_has_what_timesketch_requires() {
    let t0 = 1_514_795_400_123_456_789;
    let text = write(
        "timesketch",
        &[alert(t0, t0), alert(t0, t0 + 3_600_000_000_000)],
    );
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One line for a moment, two (first and last evidence) for a span.
    assert_eq!(lines.len(), 3);
    for l in &lines {
        for field in ["message", "datetime", "timestamp_desc"] {
            assert!(l[field].as_str().is_some_and(|s| !s.is_empty()), "{l}");
        }
        let dt = l["datetime"].as_str().unwrap();
        let parsed = Timestamp::parse(dt).unwrap();
        assert_eq!(l["timestamp"].as_i64().unwrap(), parsed.0 / 1_000, "{l}");
        assert_eq!(l["severity"], "high");
        assert!(l["tag"].as_array().is_some());
    }
    assert_eq!(lines[0]["datetime"], "2018-01-01T08:30:00.123456789Z");
    assert_eq!(lines[2]["timestamp_desc"], "vakt alert: last evidence");
}
