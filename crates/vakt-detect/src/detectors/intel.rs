//! `intel`: every event matched against every indicator (forked per
//! worker). An indicator's matches from one actor are one alert — a beacon
//! to a listed address matches every few minutes — raised at the first
//! match and restated with its count, first and last when the input ends.
//! Indicators on a warninglist, or not meant for detection, match but do
//! not alert (unless the analyst forces them).

use std::sync::Arc;

use rustc_hash::FxHashMap;
use vakt_core::detector::{Detector, downcast};
use vakt_core::{
    Alert, AlertKey, Entity, Event, EventRef, Events, IndicatorRule, Rule, Severity, Timestamp,
};
use vakt_intel::{Hit, Indicator, Kind, Matcher};

use crate::entities::{self, tactics};

/// Indicators ready to match, and which of them may alert.
#[derive(Debug)]
pub struct Indicators {
    matcher: Matcher,
    alerting: Vec<bool>,
}

impl Indicators {
    /// The indicators; `alerting[i]` says whether indicator `i` may alert.
    pub fn new(matcher: Matcher, alerting: Vec<bool>) -> Indicators {
        Indicators { matcher, alerting }
    }

    /// The matcher.
    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }
}

/// An indicator as an alert names it.
fn indicator_rule(ind: &Indicator) -> Rule {
    Rule::Indicator(IndicatorRule {
        kind: ind.kind.name().into(),
        value: ind.value.clone(),
        feed: ind.source.to_string(),
        id: ind.id.clone(),
        name: ind.name.clone(),
        confidence: ind.confidence,
        tlp: ind.tlp.clone(),
        valid_from: ind.valid.0.map(Timestamp),
        valid_until: ind.valid.1.map(Timestamp),
        warninglist: ind.warning.clone(),
        kill_chain: ind.kill_chain.clone(),
    })
}

/// Severity from the source's confidence: under 40 low, under 75 medium,
/// else (or unstated) high.
fn severity(ind: &Indicator) -> Severity {
    match ind.confidence {
        Some(c) if c < 40 => Severity::Low,
        Some(c) if c < 75 => Severity::Medium,
        _ => Severity::High,
    }
}

/// A match's targets, a name under a listed domain named by the domain (one
/// node for a tunnel's thousand random subdomains).
fn targets(targets: &[Entity], ind: &Indicator) -> Vec<Entity> {
    targets
        .iter()
        .map(|t| match t {
            Entity::Domain(d)
                if ind.kind == Kind::Domain && d.to_ascii_lowercase().ends_with(&ind.value) =>
            {
                Entity::Domain(ind.value.clone())
            }
            other => other.clone(),
        })
        .collect()
}

/// The indicator detector.
pub struct IntelDetector {
    indicators: Arc<Indicators>,
    hits: Vec<Hit>,
    rules: FxHashMap<u32, Arc<Rule>>,
    /// One alert per indicator and actors, in the order first matched.
    found: Vec<Alert>,
    by_key: FxHashMap<AlertKey, usize>,
}

impl std::fmt::Debug for IntelDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntelDetector")
            .field("indicators", &self.indicators.matcher.len())
            .field("found", &self.found.len())
            .finish()
    }
}

impl IntelDetector {
    /// The detector over these indicators.
    pub fn new(indicators: Arc<Indicators>) -> IntelDetector {
        IntelDetector {
            indicators,
            hits: Vec::new(),
            rules: FxHashMap::default(),
            found: Vec::new(),
            by_key: FxHashMap::default(),
        }
    }

    /// Adds one match (or a fork's alert) to the alert of its key.
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
                for t in a.targets {
                    if !mine.targets.contains(&t) && mine.targets.len() < 20 {
                        mine.targets.push(t);
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

impl Detector for IntelDetector {
    fn name(&self) -> &'static str {
        "intel"
    }

    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        Some(vakt_core::detector::save_state(&self.found))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        (self.found, self.by_key) = super::load_found(state)?;
        Ok(())
    }

    fn observe(&mut self, e: &Event, out: &mut Vec<Alert>) {
        self.hits.clear();
        self.indicators.matcher.event(e, &mut self.hits);
        if self.hits.is_empty() {
            return;
        }
        let (actors, event_targets) = entities::of_event(e);
        let hits = std::mem::take(&mut self.hits);
        for h in &hits {
            if !self.indicators.alerting[h.indicator as usize] {
                continue;
            }
            let indicators = self.indicators.clone();
            let ind = &indicators.matcher.indicators()[h.indicator as usize];
            let rule = self
                .rules
                .entry(h.indicator)
                .or_insert_with(|| Arc::new(indicator_rule(ind)))
                .clone();
            let rule_id = rule.id();
            let mut key_parts: Vec<String> = vec![e.tenant.to_string(), "intel".into(), rule_id];
            key_parts.extend(actors.iter().map(Entity::key));
            let parts: Vec<&str> = key_parts.iter().map(String::as_str).collect();
            let a = Alert {
                key: AlertKey::of(&parts),
                tenant: e.tenant.clone(),
                detector: "intel".into(),
                title: rule.title(),
                severity: severity(ind),
                score: f64::from(ind.confidence.unwrap_or(100)) / 100.0,
                techniques: Vec::new(),
                tactics: tactics(
                    &ind.kill_chain
                        .iter()
                        .map(|k| format!("phase.{}", k.to_ascii_lowercase().replace(' ', "_")))
                        .collect::<Vec<_>>(),
                ),
                actors: actors.clone(),
                targets: targets(&event_targets, ind),
                first: e.time,
                last: e.time,
                count: 1,
                evidence: vec![
                    (h.field.name().to_owned(), h.value.clone()),
                    ("event_source".into(), e.source.to_string()),
                    ("indicator_source".into(), ind.source.to_string()),
                    ("indicator_id".into(), ind.id.clone()),
                ],
                origins: vec![EventRef::to(e)],
                rule,
            };
            // Raised at the first match; the count grows until the end.
            if self.absorb(a.clone()) {
                out.push(a);
            }
        }
        self.hits = hits;
    }

    fn flush(&mut self, _: &(), out: &mut Vec<Alert>) {
        for a in &self.found {
            let mut a = a.clone();
            a.evidence.push(("matches".into(), a.count.to_string()));
            out.push(a);
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector>> {
        Some(Box::new(IntelDetector::new(self.indicators.clone())))
    }

    fn merge(&mut self, other: Box<dyn Detector>) {
        if let Some(o) = downcast::<Events, IntelDetector>(other) {
            for a in o.found {
                self.absorb(a);
            }
        }
    }

    fn footprint(&self) -> Option<String> {
        Some(format!(
            "intel: {} indicators, {} indicator alerts",
            self.indicators.matcher.len(),
            self.found.len()
        ))
    }
}

/// The detector, when there are indicators.
pub fn from_setup(s: &super::Setup) -> Option<Box<dyn Detector>> {
    s.indicators
        .as_ref()
        .map(|i| Box::new(IntelDetector::new(i.clone())) as Box<dyn Detector>)
}
