//! `suricata`: the sensor's own detections. Each Suricata EVE `alert` is an
//! alert of vakt under its signature (rule type `sensor`): one alert per
//! signature, source and destination — a scanner trips the same signature
//! hundreds of times — raised at the first hit and restated with its count,
//! first and last when the input ends. Severity from Suricata's `severity`
//! (1 high, 2 medium, 3 low, else informational), ATT&CK from the rule's
//! `metadata` (`mitre_technique_id`, `mitre_tactic_name`) where present. An
//! attempt from outside the site that nothing answered (no packet back)
//! cannot have reached anything: it is low at most, whatever the signature
//! says. EVE `anomaly` events are kept in the store but raise nothing.

use std::sync::Arc;

use rustc_hash::FxHashMap;
use vakt_core::detector::{Detector, downcast};
use vakt_core::field::{DST_IP, SRC_IP};
use vakt_core::site::{Direction, Sites};
use vakt_core::{
    Alert, AlertKey, Entity, Event, EventRef, Events, FieldId, Rule, SensorRule, Severity,
    SourceFamily, Value,
};

use crate::entities::tactics;

/// Native EVE fields, interned once.
struct Ids {
    event_type: FieldId,
    signature: FieldId,
    sid: FieldId,
    gid: FieldId,
    rev: FieldId,
    category: FieldId,
    severity: FieldId,
    techniques: FieldId,
    tactic_names: FieldId,
    back: FieldId,
}

impl Ids {
    fn new() -> Option<Ids> {
        let i = |n: &str| FieldId::intern(n).ok();
        Some(Ids {
            event_type: i("event_type")?,
            signature: i("alert.signature")?,
            sid: i("alert.signature_id")?,
            gid: i("alert.gid")?,
            rev: i("alert.rev")?,
            category: i("alert.category")?,
            severity: i("alert.severity")?,
            techniques: i("alert.metadata.mitre_technique_id")?,
            tactic_names: i("alert.metadata.mitre_tactic_name")?,
            back: i("flow.pkts_toclient")?,
        })
    }
}

fn int(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Int(i) => Some(*i),
        Value::Float(f) => Some(*f as i64),
        Value::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Str(s)) => vec![s.to_string()],
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Suricata's severity: 1 high, 2 medium, 3 low, else informational.
fn severity(s: Option<i64>) -> Severity {
    match s {
        Some(1) => Severity::High,
        Some(2) => Severity::Medium,
        Some(3) => Severity::Low,
        _ => Severity::Informational,
    }
}

/// The detector.
pub struct SuricataDetector {
    ids: Option<Ids>,
    sites: Arc<Sites>,
    rules: FxHashMap<(u64, u64), Arc<Rule>>,
    found: Vec<Alert>,
    by_key: FxHashMap<AlertKey, usize>,
}

impl std::fmt::Debug for SuricataDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuricataDetector")
            .field("found", &self.found.len())
            .finish()
    }
}

impl SuricataDetector {
    /// The detector, reading directions from these sites.
    pub fn new(sites: Arc<Sites>) -> SuricataDetector {
        SuricataDetector {
            ids: Ids::new(),
            sites,
            rules: FxHashMap::default(),
            found: Vec::new(),
            by_key: FxHashMap::default(),
        }
    }

    fn absorb(&mut self, a: Alert) -> bool {
        match self.by_key.get(&a.key) {
            Some(&i) => {
                let mine = &mut self.found[i];
                mine.count += a.count;
                mine.first = mine.first.min(a.first);
                mine.last = mine.last.max(a.last);
                if a.severity > mine.severity {
                    mine.severity = a.severity;
                    mine.score = a.score;
                }
                // Answered if any hit was.
                let answered = |e: &[(String, String)]| {
                    e.iter().any(|(k, v)| k == "answered" && v == "yes")
                };
                if answered(&a.evidence) && !answered(&mine.evidence) {
                    for (k, v) in &mut mine.evidence {
                        if k == "answered" {
                            *v = "yes".into();
                        }
                    }
                }
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

impl Detector for SuricataDetector {
    fn name(&self) -> &'static str {
        "suricata"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.found))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        (self.found, self.by_key) = super::load_found(state)?;
        Ok(())
    }

    fn observe(&mut self, e: &Event, out: &mut Vec<Alert>) {
        if e.source.family() != SourceFamily::SuricataEve {
            return;
        }
        let Some(ids) = &self.ids else { return };
        if e.get(ids.event_type).and_then(Value::as_str) != Some("alert") {
            return;
        }
        let sid = int(e.get(ids.sid)).unwrap_or(0).max(0) as u64;
        let gid = int(e.get(ids.gid)).unwrap_or(1).max(0) as u64;
        let rule = self
            .rules
            .entry((gid, sid))
            .or_insert_with(|| {
                Arc::new(Rule::Sensor(SensorRule {
                    engine: "suricata".into(),
                    signature: e
                        .get(ids.signature)
                        .and_then(Value::as_str)
                        .unwrap_or("(no signature)")
                        .to_owned(),
                    signature_id: sid,
                    gid,
                    rev: int(e.get(ids.rev)).unwrap_or(0).max(0) as u64,
                    category: e
                        .get(ids.category)
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                }))
            })
            .clone();
        let src = e.common(SRC_IP).and_then(Value::as_ip);
        let dst = e.common(DST_IP).and_then(Value::as_ip);
        let mut sev = severity(int(e.get(ids.severity)));
        let site = self.sites.of(&e.tenant);
        let dir = src.zip(dst).map(|(s, d)| site.direction(s, d));
        // An unanswered attempt from outside reached nothing.
        let unanswered = int(e.get(ids.back)) == Some(0);
        if dir == Some(Direction::Inbound) && unanswered {
            sev = sev.min(Severity::Low);
        }
        let techniques: Vec<String> = strings(e.get(ids.techniques))
            .into_iter()
            .filter(|t| t.starts_with('T'))
            .collect();
        let tactic_tags: Vec<String> = strings(e.get(ids.tactic_names))
            .iter()
            .map(|t| format!("attack.{}", t.to_ascii_lowercase().replace(' ', "_")))
            .collect();
        let actors: Vec<Entity> = src.map(Entity::Ip).into_iter().collect();
        let targets: Vec<Entity> = dst.map(Entity::Ip).into_iter().collect();
        let rule_id = rule.id();
        let mut parts: Vec<String> = vec![e.tenant.to_string(), "suricata".into(), rule_id];
        parts.extend(actors.iter().chain(&targets).map(Entity::key));
        let p: Vec<&str> = parts.iter().map(String::as_str).collect();
        let mut evidence = vec![
            ("signature_id".to_owned(), sid.to_string()),
            (
                "category".to_owned(),
                match &*rule {
                    Rule::Sensor(r) => r.category.clone(),
                    _ => String::new(),
                },
            ),
        ];
        if let Some(d) = dir {
            evidence.push(("direction".into(), d.name().into()));
        }
        evidence.push((
            "answered".into(),
            match int(e.get(ids.back)) {
                Some(0) => "no",
                Some(_) => "yes",
                None => "unknown",
            }
            .into(),
        ));
        let a = Alert {
            key: AlertKey::of(&p),
            tenant: e.tenant.clone(),
            detector: "suricata".into(),
            title: rule.title(),
            severity: sev,
            score: match sev {
                Severity::Critical | Severity::High => 0.9,
                Severity::Medium => 0.7,
                Severity::Low => 0.4,
                Severity::Informational => 0.1,
            },
            techniques,
            tactics: tactics(&tactic_tags),
            actors,
            targets,
            first: e.time,
            last: e.time,
            count: 1,
            evidence,
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
            a.evidence.push(("hits".into(), a.count.to_string()));
            out.push(a);
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector>> {
        Some(Box::new(SuricataDetector::new(self.sites.clone())))
    }

    fn merge(&mut self, other: Box<dyn Detector>) {
        if let Some(o) = downcast::<Events, SuricataDetector>(other) {
            for a in o.found {
                self.absorb(a);
            }
        }
    }

    fn footprint(&self) -> Option<String> {
        Some(format!("suricata: {} sensor alerts", self.found.len()))
    }
}

/// The detector, with the behaviour analytics (all of them, or `suricata`
/// among those named); it reads only EVE alerts.
pub fn from_setup(s: &super::Setup) -> Option<Box<dyn Detector>> {
    let on = match &s.analytics {
        super::Analytics::None => false,
        super::Analytics::All => true,
        super::Analytics::Only(w) => w.iter().any(|d| d == "suricata"),
    };
    on.then(|| Box::new(SuricataDetector::new(s.sites.clone())) as Box<dyn Detector>)
}
