//! `sigma`: every Sigma rule of a compiled [`RuleSet`] over every event
//! (forked per worker: matching is stateless), and the correlation rules
//! over the matches of the rules they name, in time order, when the input
//! ends. Rules that only feed a correlation do not alert on their own.

use std::sync::Arc;

use vakt_core::detector::{Detector, downcast};
use vakt_core::{Alert, AlertKey, Event, EventRef, Events, Rule, Severity, SigmaRule, Timestamp};
use vakt_sigma::correlation::Correlator;
use vakt_sigma::{RuleMeta, RuleSet, Scratch};

use crate::entities::{self, tactics};

/// A compiled rule set, with each rule's metadata as alerts name it.
pub struct SigmaRules {
    set: RuleSet,
    rules: Vec<Arc<Rule>>,
    correlations: Vec<Arc<Rule>>,
    /// Per rule: a correlation reads its matches.
    correlated: Vec<bool>,
    /// Per rule: it only feeds a correlation (no alert of its own).
    silent: Vec<bool>,
}

fn sigma_rule(m: &RuleMeta, correlation: Option<&str>) -> Rule {
    Rule::Sigma(SigmaRule {
        title: m.title.clone(),
        id: m.id.clone(),
        level: m.level.clone(),
        status: m.status.clone(),
        tags: m.tags.clone(),
        author: m.author.clone(),
        file: m.path.to_string(),
        correlation: correlation.map(str::to_owned),
    })
}

impl std::fmt::Debug for SigmaRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigmaRules")
            .field("rules", &self.rules.len())
            .field("correlations", &self.correlations.len())
            .finish()
    }
}

impl SigmaRules {
    /// The rule set, ready to match.
    pub fn new(set: RuleSet) -> SigmaRules {
        let correlator = Correlator::new(&set.correlations);
        let correlated = (0..set.rules.len() as u32)
            .map(|r| correlator.wants(r))
            .collect();
        let mut silent = vec![false; set.rules.len()];
        for cr in &set.correlations {
            if !cr.generate {
                for r in &cr.rules {
                    silent[*r as usize] = true;
                }
            }
        }
        SigmaRules {
            rules: set.rules.iter().map(|m| Arc::new(sigma_rule(m, None))).collect(),
            correlations: set
                .correlations
                .iter()
                .map(|c| {
                    let kind = match c.kind {
                        vakt_sigma::correlation::Kind::EventCount => "event_count",
                        vakt_sigma::correlation::Kind::ValueCount => "value_count",
                        vakt_sigma::correlation::Kind::Temporal => "temporal",
                        vakt_sigma::correlation::Kind::TemporalOrdered => "temporal_ordered",
                    };
                    Arc::new(sigma_rule(&c.meta, Some(kind)))
                })
                .collect(),
            correlated,
            silent,
            set,
        }
    }

    /// The compiled rules.
    pub fn set(&self) -> &RuleSet {
        &self.set
    }

    /// Which rules, in which order: saved detector state keeps rule
    /// numbers, valid only with the same set.
    pub fn fingerprint(&self) -> String {
        let mut parts: Vec<String> = Vec::with_capacity(self.rules.len() + self.correlations.len());
        for r in self.rules.iter().chain(&self.correlations) {
            parts.push(format!("{}\u{1f}{}", r.id(), r.title()));
        }
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        vakt_core::AlertKey::of(&refs).to_string()
    }
}

/// A match a correlation reads.
#[derive(Debug)]
struct Match {
    time: Timestamp,
    rule: u32,
    event: Arc<Event>,
}

/// The Sigma detector.
pub struct SigmaDetector {
    rules: Arc<SigmaRules>,
    scratch: Scratch,
    matched: Vec<u32>,
    /// Matches of correlated rules, for the correlations at the end.
    for_correlation: Vec<Match>,
}

impl std::fmt::Debug for SigmaDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigmaDetector")
            .field("rules", &self.rules.rules.len())
            .field("for_correlation", &self.for_correlation.len())
            .finish()
    }
}

impl SigmaDetector {
    /// The detector over these rules.
    pub fn new(rules: Arc<SigmaRules>) -> SigmaDetector {
        SigmaDetector {
            rules,
            scratch: Scratch::default(),
            matched: Vec::new(),
            for_correlation: Vec::new(),
        }
    }

    fn alert(&self, r: u32, e: &Event, actors_targets: &(Vec<vakt_core::Entity>, Vec<vakt_core::Entity>)) -> Alert {
        let rules = &self.rules;
        let meta = &rules.set.rules[r as usize];
        let rule = rules.rules[r as usize].clone();
        let evidence = rules.set.rule_fields[r as usize]
            .iter()
            .filter_map(|f| {
                e.get(*f)
                    .or_else(|| e.common(*f))
                    .map(|v| (f.name().to_owned(), entities::text(v)))
            })
            .collect();
        let rule_id = meta.id.clone().unwrap_or_else(|| meta.title.clone());
        let place = e.origin.locator.to_string();
        Alert {
            key: AlertKey::of(&[&e.tenant, "sigma", &rule_id, &e.origin.path, &place]),
            tenant: e.tenant.clone(),
            detector: "sigma".into(),
            rule,
            title: meta.title.clone(),
            severity: Severity::from_level(meta.level.as_deref().unwrap_or("")),
            score: 1.0,
            techniques: meta.techniques(),
            tactics: tactics(&meta.tags),
            actors: actors_targets.0.clone(),
            targets: actors_targets.1.clone(),
            first: e.time,
            last: e.time,
            count: 1,
            evidence,
            origins: vec![EventRef::to(e)],
        }
    }
}

impl Detector for SigmaDetector {
    fn name(&self) -> &'static str {
        "sigma"
    }

    /// The matches kept for correlations (with their events), under the
    /// rule set's fingerprint: a rule set that changed does not load them.
    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        let mut kept = Vec::with_capacity(self.for_correlation.len());
        for m in &self.for_correlation {
            let mut body = Vec::new();
            vakt_store::wire::put(&mut body, &m.event);
            kept.push((
                m.time.0,
                m.rule,
                m.event.tenant.to_string(),
                vakt_core::detector::Blob(vakt_store::wire::message(1, &body)),
            ));
        }
        Some(vakt_core::detector::save_state(&(self.rules.fingerprint(), kept)))
    }

    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        type Saved = (String, Vec<(i64, u32, String, vakt_core::detector::Blob)>);
        let (fingerprint, kept): Saved = vakt_core::detector::load_state(state)?;
        if fingerprint != self.rules.fingerprint() {
            return Err("the Sigma rules are not the ones the state was saved with".into());
        }
        let mut matches = Vec::with_capacity(kept.len());
        for (time, rule, tenant, b) in kept {
            if rule as usize >= self.rules.correlated.len() {
                return Err(format!("rule {rule} is not in the set"));
            }
            let mut ev = vakt_store::wire::events(&b.0, &Arc::from(tenant))?;
            let Some(event) = ev.pop() else {
                return Err("a kept match without its event".into());
            };
            matches.push(Match {
                time: Timestamp(time),
                rule,
                event: Arc::new(event),
            });
        }
        self.for_correlation = matches;
        Ok(())
    }

    fn observe(&mut self, e: &Event, out: &mut Vec<Alert>) {
        self.matched.clear();
        self.rules.set.matches(e, &mut self.scratch, &mut self.matched);
        if self.matched.is_empty() {
            return;
        }
        let who = entities::of_event(e);
        let mut shared: Option<Arc<Event>> = None;
        for i in 0..self.matched.len() {
            let r = self.matched[i];
            if self.rules.correlated[r as usize] {
                let ev = shared.get_or_insert_with(|| Arc::new(e.clone())).clone();
                self.for_correlation.push(Match {
                    time: e.time,
                    rule: r,
                    event: ev,
                });
            }
            if !self.rules.silent[r as usize] {
                out.push(self.alert(r, e, &who));
            }
        }
    }

    fn flush(&mut self, _: &(), out: &mut Vec<Alert>) {
        if self.for_correlation.is_empty() {
            return;
        }
        // Correlations see every match of their rules, across files and
        // sources, in time order.
        let mut matches = std::mem::take(&mut self.for_correlation);
        matches.sort_by_key(|m| m.time);
        let rules = self.rules.clone();
        let mut correlator = Correlator::new(&rules.set.correlations);
        for (i, m) in matches.iter().enumerate() {
            for c in correlator.observe(m.rule, &m.event, i) {
                let cr = &rules.set.correlations[c.correlation];
                let mut evidence: Vec<(String, String)> = cr
                    .group_by
                    .iter()
                    .cloned()
                    .zip(c.key.iter().cloned())
                    .collect();
                evidence.push(("events".into(), c.events.len().to_string()));
                evidence.push(("first".into(), c.first.to_rfc3339()));
                let e = &m.event;
                let (actors, targets) = entities::of_event(e);
                let rule_id = cr.meta.id.clone().unwrap_or_else(|| cr.meta.title.clone());
                let group = c.key.join("\u{1f}");
                let first = c.first.to_rfc3339();
                let mut origins: Vec<EventRef> = c
                    .events
                    .iter()
                    .take(2)
                    .map(|j| EventRef::to(&matches[*j].event))
                    .collect();
                origins.push(EventRef::to(e));
                origins.dedup();
                out.push(Alert {
                    key: AlertKey::of(&[&e.tenant, "sigma", &rule_id, &group, &first]),
                    tenant: e.tenant.clone(),
                    detector: "sigma".into(),
                    rule: rules.correlations[c.correlation].clone(),
                    title: cr.meta.title.clone(),
                    severity: Severity::from_level(cr.meta.level.as_deref().unwrap_or("")),
                    score: 1.0,
                    techniques: cr.meta.techniques(),
                    tactics: tactics(&cr.meta.tags),
                    actors,
                    targets,
                    first: c.first,
                    last: c.last,
                    count: c.events.len() as u64,
                    evidence,
                    origins,
                });
            }
        }
    }

    fn fork(&self) -> Option<Box<dyn Detector>> {
        Some(Box::new(SigmaDetector::new(self.rules.clone())))
    }

    fn merge(&mut self, other: Box<dyn Detector>) {
        if let Some(o) = downcast::<Events, SigmaDetector>(other) {
            self.for_correlation.extend(o.for_correlation);
        }
    }

    fn footprint(&self) -> Option<String> {
        Some(format!(
            "sigma: {} rules, {} correlations, {} matches kept for correlations",
            self.rules.rules.len(),
            self.rules.correlations.len(),
            self.for_correlation.len()
        ))
    }
}

/// The detector, when there are rules.
pub fn from_setup(s: &super::Setup) -> Option<Box<dyn Detector>> {
    s.rules
        .as_ref()
        .map(|r| Box::new(SigmaDetector::new(r.clone())) as Box<dyn Detector>)
}
