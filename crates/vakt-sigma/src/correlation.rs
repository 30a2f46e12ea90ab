//! Correlation rules: `event_count`, `value_count`, `temporal` and
//! `temporal_ordered` over the matches of other rules, grouped by fields
//! (with aliases when the rules name the same thing differently), within a
//! timespan. Matches must be fed in time order (`vakt hunt` sorts the
//! matches of all files and sources first).

use std::collections::VecDeque;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::Value as Json;
use vakt_core::{Event, FieldId, Timestamp, Value};

use crate::rule::{CorrelationDef, RuleMeta};
use crate::view::render;

/// The kinds of correlation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// At least/most N matches.
    EventCount,
    /// N distinct values of a field among the matches.
    ValueCount,
    /// All the rules matched, in any order.
    Temporal,
    /// All the rules matched, in the order listed.
    TemporalOrdered,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Gt,
    Gte,
    Eq,
    Lt,
    Lte,
}

/// A compiled correlation rule.
#[derive(Debug, Clone)]
pub struct CorrelationRule {
    /// Its metadata.
    pub meta: Arc<RuleMeta>,
    /// Its kind.
    pub kind: Kind,
    /// The base rules, by rule number.
    pub rules: Vec<u32>,
    /// Whether the base rules also report on their own.
    pub generate: bool,
    timespan_ns: i64,
    /// Per base rule: the fields that form the group key.
    group_fields: Vec<Vec<FieldId>>,
    /// The group-by names, for the report.
    pub group_by: Vec<String>,
    /// Per base rule: the field counted by `value_count`.
    value_field: Vec<Option<FieldId>>,
    cond: Vec<(Op, f64)>,
}

/// A correlation that fired.
#[derive(Debug, Clone)]
pub struct CorrelationHit {
    /// Which correlation rule (index into `RuleSet::correlations`).
    pub correlation: usize,
    /// The first and last contributing matches.
    pub first: Timestamp,
    /// The last contributing match.
    pub last: Timestamp,
    /// The group-by values.
    pub key: Vec<String>,
    /// The caller's references of the contributing matches.
    pub events: Vec<usize>,
}

fn field_for(
    name: &str,
    rule: &RuleMeta,
    aliases: &serde_json::Map<String, Json>,
) -> Result<FieldId, String> {
    let real = match aliases.get(name).and_then(Json::as_object) {
        Some(per_rule) => [
            rule.name.as_deref(),
            rule.id.as_deref(),
            Some(rule.title.as_str()),
        ]
        .into_iter()
        .flatten()
        .find_map(|k| per_rule.get(k).and_then(Json::as_str))
        .ok_or_else(|| format!("alias `{name}` has no field for rule `{}`", rule.title))?,
        None => name,
    };
    FieldId::intern(real).map_err(|e| e.to_string())
}

impl CorrelationRule {
    /// Compiles a correlation against the loaded rules (`index`: id/name/title → number).
    pub fn new(
        meta: Arc<RuleMeta>,
        def: &CorrelationDef,
        index: &FxHashMap<String, u32>,
        rules: &[Arc<RuleMeta>],
    ) -> Result<Self, String> {
        let kind = match def.kind.as_str() {
            "event_count" => Kind::EventCount,
            "value_count" => Kind::ValueCount,
            "temporal" => Kind::Temporal,
            _ => Kind::TemporalOrdered,
        };
        let mut base = Vec::new();
        for r in &def.rules {
            base.push(
                *index
                    .get(r.as_str())
                    .ok_or_else(|| format!("correlates `{r}`, which is not a loaded rule"))?,
            );
        }
        if base.is_empty() {
            return Err("correlation without `rules`".into());
        }
        let mut group_fields = Vec::new();
        let mut value_field = Vec::new();
        let value_name = def.condition.get("field").and_then(Json::as_str);
        if kind == Kind::ValueCount && value_name.is_none() {
            return Err("value_count needs `condition.field`".into());
        }
        for &b in &base {
            let rm = &rules[b as usize];
            group_fields.push(
                def.group_by
                    .iter()
                    .map(|g| field_for(g, rm, &def.aliases))
                    .collect::<Result<Vec<_>, _>>()?,
            );
            value_field.push(match value_name {
                Some(f) => Some(field_for(f, rm, &def.aliases)?),
                None => None,
            });
        }
        let mut cond = Vec::new();
        for (k, v) in &def.condition {
            let op = match k.as_str() {
                "gt" => Op::Gt,
                "gte" => Op::Gte,
                "eq" => Op::Eq,
                "lt" => Op::Lt,
                "lte" => Op::Lte,
                "field" => continue,
                other => return Err(format!("unknown correlation condition `{other}`")),
            };
            let n = v
                .as_f64()
                .ok_or_else(|| format!("condition `{k}` is not a number"))?;
            cond.push((op, n));
        }
        if matches!(kind, Kind::EventCount | Kind::ValueCount) {
            if cond.is_empty() {
                return Err("correlation without a condition".into());
            }
            if !cond
                .iter()
                .any(|(op, _)| matches!(op, Op::Gt | Op::Gte | Op::Eq))
            {
                return Err("only upper bounds (`lt`/`lte`) are not supported: they need the window to close".into());
            }
        }
        Ok(CorrelationRule {
            meta,
            kind,
            rules: base,
            generate: def.generate,
            timespan_ns: def.timespan_secs.saturating_mul(1_000_000_000),
            group_fields,
            group_by: def.group_by.clone(),
            value_field,
            cond,
        })
    }

    fn holds(&self, n: f64) -> bool {
        self.cond.iter().all(|(op, v)| match op {
            Op::Gt => n > *v,
            Op::Gte => n >= *v,
            Op::Eq => n == *v,
            Op::Lt => n < *v,
            Op::Lte => n <= *v,
        })
    }
}

fn text(event: &Event, f: FieldId) -> String {
    event
        .get(f)
        .or_else(|| event.common(f))
        .and_then(|v| match v {
            Value::List(items) => items.first().and_then(render),
            other => render(other),
        })
        .unwrap_or_default()
}

enum State {
    Count(VecDeque<(Timestamp, usize)>),
    Values(VecDeque<(Timestamp, String, usize)>),
    Seen(Vec<Option<(Timestamp, usize)>>),
    Ordered(Vec<(Timestamp, usize)>),
}

/// Runs correlation rules over matches fed in time order.
pub struct Correlator<'a> {
    rules: &'a [CorrelationRule],
    state: FxHashMap<(usize, Vec<String>), State>,
    /// Base rule number → (correlation, position of the rule in it).
    by_rule: FxHashMap<u32, Vec<(usize, usize)>>,
}

impl<'a> Correlator<'a> {
    /// A correlator for these correlation rules.
    pub fn new(rules: &'a [CorrelationRule]) -> Self {
        let mut by_rule: FxHashMap<u32, Vec<(usize, usize)>> = FxHashMap::default();
        for (c, cr) in rules.iter().enumerate() {
            for (pos, r) in cr.rules.iter().enumerate() {
                by_rule.entry(*r).or_default().push((c, pos));
            }
        }
        Correlator {
            rules,
            state: FxHashMap::default(),
            by_rule,
        }
    }

    /// Whether any correlation uses this rule's matches.
    pub fn wants(&self, rule: u32) -> bool {
        self.by_rule.contains_key(&rule)
    }

    /// Takes one match (rule `rule` on `event`, known to the caller as `r`);
    /// returns the correlations it completes.
    pub fn observe(&mut self, rule: u32, event: &Event, r: usize) -> Vec<CorrelationHit> {
        let mut hits = Vec::new();
        let Some(uses) = self.by_rule.get(&rule) else {
            return hits;
        };
        let t = event.time;
        for &(c, pos) in uses {
            let cr = &self.rules[c];
            let key: Vec<String> = cr.group_fields[pos]
                .iter()
                .map(|f| text(event, *f))
                .collect();
            let since = Timestamp(t.0.saturating_sub(cr.timespan_ns));
            let n = cr.rules.len();
            let state = self
                .state
                .entry((c, key.clone()))
                .or_insert_with(|| match cr.kind {
                    Kind::EventCount => State::Count(VecDeque::new()),
                    Kind::ValueCount => State::Values(VecDeque::new()),
                    Kind::Temporal => State::Seen(vec![None; n]),
                    Kind::TemporalOrdered => State::Ordered(Vec::new()),
                });
            let fired: Option<(Timestamp, Vec<usize>)> = match state {
                State::Count(q) => {
                    q.push_back((t, r));
                    while q.front().is_some_and(|(ft, _)| *ft < since) {
                        q.pop_front();
                    }
                    if cr.holds(q.len() as f64) {
                        let first = q.front().map_or(t, |f| f.0);
                        let refs = q.drain(..).map(|(_, r)| r).collect();
                        Some((first, refs))
                    } else {
                        None
                    }
                }
                State::Values(q) => {
                    let v = cr.value_field[pos]
                        .map(|f| text(event, f))
                        .unwrap_or_default();
                    q.push_back((t, v, r));
                    while q.front().is_some_and(|(ft, _, _)| *ft < since) {
                        q.pop_front();
                    }
                    let mut distinct: Vec<&str> = q
                        .iter()
                        .map(|(_, v, _)| v.as_str())
                        .filter(|v| !v.is_empty())
                        .collect();
                    distinct.sort_unstable();
                    distinct.dedup();
                    if cr.holds(distinct.len() as f64) {
                        let first = q.front().map_or(t, |f| f.0);
                        let refs = q.drain(..).map(|(_, _, r)| r).collect();
                        Some((first, refs))
                    } else {
                        None
                    }
                }
                State::Seen(seen) => {
                    seen[pos] = Some((t, r));
                    for s in seen.iter_mut() {
                        if s.is_some_and(|(st, _)| st < since) {
                            *s = None;
                        }
                    }
                    if seen.iter().all(Option::is_some) {
                        let first = seen.iter().flatten().map(|(st, _)| *st).min().unwrap_or(t);
                        let refs = seen
                            .iter_mut()
                            .filter_map(|s| s.take().map(|(_, r)| r))
                            .collect();
                        Some((first, refs))
                    } else {
                        None
                    }
                }
                State::Ordered(progress) => {
                    if progress.first().is_some_and(|(st, _)| *st < since) {
                        progress.clear();
                    }
                    if pos == progress.len() {
                        progress.push((t, r));
                    } else if pos == 0 {
                        // A new first step starts the sequence again.
                        progress.clear();
                        progress.push((t, r));
                    }
                    if progress.len() == n {
                        let first = progress[0].0;
                        let refs = progress.drain(..).map(|(_, r)| r).collect();
                        Some((first, refs))
                    } else {
                        None
                    }
                }
            };
            if let Some((first, events)) = fired {
                hits.push(CorrelationHit {
                    correlation: c,
                    first,
                    last: t,
                    key,
                    events,
                });
            }
        }
        hits
    }
}
