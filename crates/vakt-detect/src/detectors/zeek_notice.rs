//! `zeek-notice`: Zeek's own detections (`notice.log`) that are about an
//! attack, passed through as alerts (rule type `sensor`, engine `zeek`, the
//! notice type as signature): scans and password guessing (low: probing),
//! signature, intelligence and malware-hash matches and SQL injection
//! (medium or high). Notices about the sensor itself or the traffic's
//! quality (capture loss, weird, certificates, software seen) are stored
//! events and raise nothing. One alert per notice type, source and
//! destination, raised at the first and restated with its count.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use vakt_core::detector::{Detector, downcast};
use vakt_core::field::{DST_IP, FINDING_TITLE, SRC_IP};
use vakt_core::{
    Alert, AlertKey, Entity, Event, EventRef, Events, FieldId, Rule, SensorRule, Severity,
    SourceFamily, Value, ZeekLog,
};

/// The notices that are about an attack: their severity and ATT&CK technique.
fn judged(note: &str) -> Option<(Severity, &'static str)> {
    let (family, kind) = note.split_once("::").unwrap_or(("", note));
    Some(match (family, kind) {
        ("Scan", _) => (Severity::Low, "T1046"),
        ("SSH", "Password_Guessing") | ("FTP", "Bruteforcing") => (Severity::Low, "T1110"),
        ("HTTP", k) if k.starts_with("SQL_Injection") => (Severity::Medium, "T1190"),
        ("Signatures", k) if k.contains("Signature") => (Severity::Medium, ""),
        ("Intel", "Notice") => (Severity::Medium, ""),
        ("TeamCymruMalwareHashRegistry", "Match") => (Severity::High, "T1105"),
        _ => return None,
    })
}

/// The detector.
pub struct ZeekNoticeDetector {
    msg: Option<FieldId>,
    rules: FxHashMap<Box<str>, Arc<Rule>>,
    found: Vec<Alert>,
    by_key: FxHashMap<AlertKey, usize>,
}

impl std::fmt::Debug for ZeekNoticeDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZeekNoticeDetector")
            .field("found", &self.found.len())
            .finish()
    }
}

impl Default for ZeekNoticeDetector {
    fn default() -> Self {
        ZeekNoticeDetector {
            msg: FieldId::intern("msg").ok(),
            rules: FxHashMap::default(),
            found: Vec::new(),
            by_key: FxHashMap::default(),
        }
    }
}

impl ZeekNoticeDetector {
    fn absorb(&mut self, a: Alert) -> bool {
        match self.by_key.get(&a.key) {
            Some(&i) => {
                let mine = &mut self.found[i];
                mine.count += a.count;
                mine.first = mine.first.min(a.first);
                mine.last = mine.last.max(a.last);
                for o in a.origins {
                    if mine.origins.len() < 3 && !mine.origins.contains(&o) {
                        mine.origins.push(o);
                    }
                }
                false
            }
            None => {
                self.by_key.insert(a.key.clone(), self.found.len());
                self.found.push(a);
                true
            }
        }
    }
}

impl Detector for ZeekNoticeDetector {
    fn name(&self) -> &'static str {
        "zeek-notice"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.found))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        (self.found, self.by_key) = super::load_found(state)?;
        Ok(())
    }

    fn observe(&mut self, e: &Event, out: &mut Vec<Alert>) {
        if e.source.family() != SourceFamily::Zeek(ZeekLog::Other)
            || e.source.as_str() != "zeek:notice"
        {
            return;
        }
        let Some(note) = e.common(FINDING_TITLE).and_then(Value::as_str) else {
            return;
        };
        let Some((severity, technique)) = judged(note) else {
            return;
        };
        let rule = self
            .rules
            .entry(note.into())
            .or_insert_with(|| {
                Arc::new(Rule::Sensor(SensorRule {
                    engine: "zeek".into(),
                    signature: note.to_owned(),
                    category: note.split("::").next().unwrap_or("").to_owned(),
                    ..SensorRule::default()
                }))
            })
            .clone();
        let src = e.common(SRC_IP).and_then(Value::as_ip);
        let dst = e.common(DST_IP).and_then(Value::as_ip);
        let actors: Vec<Entity> = src.map(Entity::Ip).into_iter().collect();
        let targets: Vec<Entity> = dst.map(Entity::Ip).into_iter().collect();
        let mut parts: Vec<String> = vec![e.tenant.to_string(), "zeek-notice".into(), rule.id()];
        parts.extend(actors.iter().chain(&targets).map(Entity::key));
        let p: Vec<&str> = parts.iter().map(String::as_str).collect();
        let msg = self
            .msg
            .and_then(|i| e.get(i))
            .and_then(Value::as_str)
            .unwrap_or(note);
        let a = Alert {
            key: AlertKey::of(&p),
            tenant: e.tenant.clone(),
            detector: "zeek-notice".into(),
            title: format!("Zeek {note}: {msg}"),
            severity,
            score: match severity {
                Severity::High | Severity::Critical => 0.9,
                Severity::Medium => 0.7,
                _ => 0.4,
            },
            techniques: if technique.is_empty() {
                Vec::new()
            } else {
                vec![technique.to_owned()]
            },
            tactics: Vec::new(),
            actors,
            targets,
            first: e.time,
            last: e.time,
            count: 1,
            evidence: vec![("note".into(), note.to_owned()), ("msg".into(), msg.to_owned())],
            origins: vec![EventRef::to(e)],
            rule,
        };
        if self.absorb(a.clone()) {
            out.push(a);
        }
    }

    fn flush(&mut self, _: &(), out: &mut Vec<Alert>) {
        for a in &self.found {
            let mut a = a.clone();
            a.evidence.push(("notices".into(), a.count.to_string()));
            out.push(a);
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector>> {
        Some(Box::new(ZeekNoticeDetector::default()))
    }

    fn merge(&mut self, other: Box<dyn Detector>) {
        if let Some(o) = downcast::<Events, ZeekNoticeDetector>(other) {
            for a in o.found {
                self.absorb(a);
            }
        }
    }

    fn footprint(&self) -> Option<String> {
        Some(format!("zeek notices: {} alerts", self.found.len()))
    }
}

/// The detector, with the behaviour analytics (all of them, or
/// `zeek-notice` among those named).
pub fn from_setup(s: &super::Setup) -> Option<Box<dyn Detector>> {
    let on = match &s.analytics {
        super::Analytics::None => false,
        super::Analytics::All => true,
        super::Analytics::Only(w) => w.iter().any(|d| d == "zeek-notice"),
    };
    on.then(|| Box::new(ZeekNoticeDetector::default()) as Box<dyn Detector>)
}
