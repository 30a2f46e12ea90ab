//! Which alerts go on: the analyst's selection (least level, rule status,
//! rule ids, tags) and allow-lists that set behaviour findings aside when
//! they involve a listed address or name (counted per list, never silently).

use std::collections::BTreeMap;

use vakt_core::{Alert, Rule, Severity};
use vakt_intel::Warninglists;

/// The analyst's selection of alerts.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// Only alerts of this severity or above.
    pub min_severity: Option<Severity>,
    /// Only rules with one of these statuses (`stable`, `test`; vakt's own
    /// analytics are `vakt-analytics`, indicators `vakt-intel`).
    pub status: Vec<String>,
    /// Only these rule ids.
    pub rule_ids: Vec<String>,
    /// Only rules with one of these tags (`attack.t1003`, lower case).
    pub tags: Vec<String>,
}

/// A rule's status as the selection reads it.
fn status(r: &Rule) -> Option<&str> {
    match r {
        Rule::Sigma(s) => s.status.as_deref(),
        Rule::Indicator(_) => Some("vakt-intel"),
        Rule::Analytic(_) => Some("vakt-analytics"),
        Rule::Sensor(_) => Some("sensor"),
    }
}

/// A rule's tags as the selection reads them (analytics: their ATT&CK
/// techniques as `attack.tNNNN`; indicators: their kill-chain phases).
fn tags(a: &Alert) -> Vec<String> {
    match &*a.rule {
        Rule::Sigma(s) => s.tags.clone(),
        Rule::Indicator(i) => i
            .kill_chain
            .iter()
            .map(|k| format!("phase.{}", k.to_ascii_lowercase().replace(' ', "_")))
            .collect(),
        Rule::Analytic(_) | Rule::Sensor(_) => a
            .techniques
            .iter()
            .map(|t| format!("attack.{}", t.to_ascii_lowercase()))
            .collect(),
    }
}

impl AlertFilter {
    /// Whether the alert is selected.
    pub fn keeps(&self, a: &Alert) -> bool {
        self.min_severity.is_none_or(|m| a.severity >= m)
            && (self.status.is_empty()
                || status(&a.rule)
                    .is_some_and(|s| self.status.iter().any(|w| w.eq_ignore_ascii_case(s))))
            && (self.rule_ids.is_empty() || self.rule_ids.contains(&a.rule.id()))
            && (self.tags.is_empty() || {
                let have = tags(a);
                self.tags
                    .iter()
                    .any(|t| have.contains(&t.to_ascii_lowercase()))
            })
    }
}

/// Allow-lists over behaviour findings, with what they set aside.
#[derive(Debug, Default)]
pub struct AllowLists {
    lists: Option<Warninglists>,
    /// Findings set aside, per list.
    pub set_aside: BTreeMap<String, usize>,
}

impl AllowLists {
    /// These lists (MISP warninglist format).
    pub fn new(lists: Warninglists) -> AllowLists {
        AllowLists {
            lists: (!lists.is_empty()).then_some(lists),
            set_aside: BTreeMap::new(),
        }
    }

    /// Whether a finding goes on: Sigma, indicator and sensor alerts always
    /// do, and probing of the site from outside; a behaviour finding not if
    /// it involves a listed address or name.
    pub fn keeps(&mut self, a: &Alert) -> bool {
        let (Some(lists), Rule::Analytic(_)) = (&self.lists, &*a.rule) else {
            return true;
        };
        // Allow-lists name services the site's hosts may use; an outside
        // source probing the site is not made harmless by its hosting.
        if a.detector == "inbound-scan" {
            return true;
        }
        match lists.matches(a) {
            Some(list) => {
                *self.set_aside.entry(list.to_owned()).or_default() += 1;
                false
            }
            None => true,
        }
    }
}
