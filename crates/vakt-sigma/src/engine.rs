//! The rule set: every rule compiled once, registered under the event
//! sources and event ids its logsource maps to, matched event by event.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::FxHashMap;
use vakt_core::{Event, FieldId, Value};

use crate::RuleError;
use crate::compile::{self, Compiled, FieldCond, FieldNames, Placeholders};
use crate::correlation::CorrelationRule;
use crate::logsource::{Mapping, Target};
use crate::matcher::{eval, eval_field};
use crate::prefilter;
use crate::rule::{Rule, RuleBody, RuleMeta, read_rule_file};
use crate::view::{Tables, View};

/// What loading rules gave.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Rule files read.
    pub files: usize,
    /// Detection rules loaded (compiled), including those with no mapped events.
    pub loaded: usize,
    /// Loaded rules whose logsource maps to no events vakt reads (they never match).
    pub unmapped: Vec<Arc<RuleMeta>>,
    /// Correlation rules loaded.
    pub correlations: usize,
    /// Filters loaded.
    pub filters: usize,
    /// Rules that could not be loaded, with the reason.
    pub unsupported: Vec<RuleError>,
}

struct Variant {
    rule: u32,
    /// Needle ids one of which must be present (the prefilter), if known.
    needs: Option<Vec<u32>>,
    /// The logsource's own conditions (e.g. `EventType: CreateKey`).
    extra: Vec<FieldCond>,
    det: Compiled,
    /// Filters that exclude this rule's matches.
    filters: Vec<Compiled>,
}

#[derive(Default)]
struct Bucket {
    by_event_id: FxHashMap<i64, Vec<u32>>,
    any: Vec<u32>,
    /// Per field: the needle ids its rules need, then the automaton over them.
    needles: FxHashMap<FieldId, Vec<u32>>,
    scanners: Vec<Scanner>,
}

/// One field's automaton over the texts its rules need, built the first time
/// an event of the bucket has the field (most buckets never see an event).
struct Scanner {
    field: FieldId,
    texts: Vec<String>,
    ids: Vec<u32>,
    automaton: std::sync::OnceLock<Option<AhoCorasick>>,
}

impl Scanner {
    fn automaton(&self) -> Option<&AhoCorasick> {
        self.automaton
            .get_or_init(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&self.texts)
                    .ok()
            })
            .as_ref()
    }
}

/// Per-thread working memory for matching.
#[derive(Default)]
pub struct Scratch {
    tables: Tables,
    /// Needle id → the stamp of the last event it was found in.
    present: Vec<u32>,
    stamp: u32,
    /// Source kind → its buckets, remembered per input.
    sources: Vec<(Arc<str>, Vec<usize>)>,
    candidates: Vec<u32>,
}

/// All rules, compiled, ready to match events.
pub struct RuleSet {
    /// The detection rules, by rule number.
    pub rules: Vec<Arc<RuleMeta>>,
    /// Per rule: the event fields its detection reads (to show with a detection).
    pub rule_fields: Vec<Vec<FieldId>>,
    /// Correlation rules over them.
    pub correlations: Vec<CorrelationRule>,
    variants: Vec<Variant>,
    buckets: Vec<Bucket>,
    exact: FxHashMap<String, usize>,
    /// `evtx:*`-style sources: (prefix, bucket).
    prefixes: Vec<(String, usize)>,
    event_id: FieldId,
    /// (field, text) → needle id.
    needle_ids: FxHashMap<(FieldId, String), u32>,
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    if dir.is_file() {
        out.push(dir.to_owned());
        return;
    }
    for e in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        let p = e.path();
        if e.file_type().is_file() && p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p.to_owned());
        }
    }
}

impl RuleSet {
    /// Loads every rule file under `paths` (folders walked for `.yml`/`.yaml`).
    pub fn load(
        paths: &[PathBuf],
        mapping: &Mapping,
        placeholders: &Placeholders,
    ) -> (RuleSet, LoadReport) {
        RuleSet::load_with(paths, Vec::new(), mapping, placeholders)
    }

    /// Loads every rule file under `paths` and the rules given already
    /// parsed (vakt's own pack: [`crate::pack::parse`]).
    pub fn load_with(
        paths: &[PathBuf],
        extra: Vec<Result<Rule, RuleError>>,
        mapping: &Mapping,
        placeholders: &Placeholders,
    ) -> (RuleSet, LoadReport) {
        let mut files = Vec::new();
        for p in paths {
            yaml_files(p, &mut files);
        }
        // YAML parsing is most of the load time: spread it over the cores.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(8);
        let per = files.len().div_ceil(threads.max(1)).max(1);
        let parsed: Vec<Vec<Result<Rule, RuleError>>> = std::thread::scope(|s| {
            let handles: Vec<_> = files
                .chunks(per)
                .map(|chunk| {
                    s.spawn(move || {
                        chunk
                            .iter()
                            .flat_map(|f| read_rule_file(f))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        let (set, mut report) = RuleSet::build(
            parsed.into_iter().flatten().chain(extra).collect(),
            mapping,
            placeholders,
        );
        report.files = files.len();
        (set, report)
    }

    /// Compiles parsed rules (and the parse errors that came with them).
    pub fn build(
        rules: Vec<Result<Rule, RuleError>>,
        mapping: &Mapping,
        placeholders: &Placeholders,
    ) -> (RuleSet, LoadReport) {
        let prepared = rules
            .into_iter()
            .map(|r| prepare(r, mapping, placeholders))
            .collect();
        Self::assemble(prepared, placeholders)
    }

    /// Registers compiled rules, attaches filters, compiles correlations and the prefilter.
    fn assemble(rules: Vec<Prepared>, placeholders: &Placeholders) -> (RuleSet, LoadReport) {
        let mut report = LoadReport::default();
        let mut set = RuleSet {
            rules: Vec::new(),
            rule_fields: Vec::new(),
            correlations: Vec::new(),
            variants: Vec::new(),
            buckets: Vec::new(),
            exact: FxHashMap::default(),
            prefixes: Vec::new(),
            event_id: FieldId::intern("EventID").unwrap_or(FieldId(0)),
            needle_ids: FxHashMap::default(),
        };
        let mut filters = Vec::new();
        let mut correlations = Vec::new();
        for p in rules {
            match p {
                Prepared::Failed(e) => report.unsupported.push(e),
                Prepared::Filter(meta, f) => filters.push((meta, f)),
                Prepared::Correlation(meta, c) => correlations.push((meta, c)),
                Prepared::Detection {
                    meta,
                    variants,
                    unmapped,
                } => {
                    if unmapped {
                        report.unmapped.push(meta.clone());
                    }
                    let number = set.rules.len() as u32;
                    set.rules.push(meta);
                    let mut fields = Vec::new();
                    for (_, v) in &variants {
                        for f in compile::fields(&v.det) {
                            if !fields.contains(&f) {
                                fields.push(f);
                            }
                        }
                    }
                    set.rule_fields.push(fields);
                    for (t, mut v) in variants {
                        v.rule = number;
                        set.register(&t, v);
                    }
                    report.loaded += 1;
                }
            }
        }
        // Filters attach to every variant of the rules they name, with that variant's field names.
        let index = set.rule_index();
        for (meta, f) in filters {
            let mut attached = 0;
            for name in &f.rules {
                let Some(&r) = index.get(name.as_str()) else {
                    continue;
                };
                for v in set.variants.iter_mut().filter(|v| v.rule == r) {
                    let none = FxHashMap::default();
                    match compile::compile(
                        &f.detection,
                        &FieldNames { renames: &none },
                        placeholders,
                    ) {
                        Ok(c) => {
                            v.filters.push(c);
                            attached += 1;
                        }
                        Err(reason) => {
                            report.unsupported.push(RuleError {
                                path: meta.path.clone(),
                                title: Some(meta.title.clone()),
                                reason,
                            });
                        }
                    }
                }
            }
            if attached > 0 {
                report.filters += 1;
            } else {
                report.unsupported.push(RuleError {
                    path: meta.path.clone(),
                    title: Some(meta.title.clone()),
                    reason: format!("the filter names no loaded rule ({})", f.rules.join(", ")),
                });
            }
        }
        for (meta, c) in correlations {
            match CorrelationRule::new(meta.clone(), &c, &index, &set.rules) {
                Ok(cr) => {
                    set.correlations.push(cr);
                    report.correlations += 1;
                }
                Err(reason) => report.unsupported.push(RuleError {
                    path: meta.path.clone(),
                    title: Some(meta.title.clone()),
                    reason,
                }),
            }
        }
        set.build_scanners();
        (set, report)
    }

    fn build_scanners(&mut self) {
        let mut texts: Vec<&str> = vec![""; self.needle_ids.len()];
        for ((_, t), id) in &self.needle_ids {
            texts[*id as usize] = t.as_str();
        }
        for b in &mut self.buckets {
            for (field, ids) in std::mem::take(&mut b.needles) {
                b.scanners.push(Scanner {
                    field,
                    texts: ids.iter().map(|i| texts[*i as usize].to_owned()).collect(),
                    ids,
                    automaton: std::sync::OnceLock::new(),
                });
            }
            b.scanners.sort_by_key(|s| s.field);
        }
    }

    /// Rule id, name and title → rule number.
    fn rule_index(&self) -> FxHashMap<String, u32> {
        let mut m = FxHashMap::default();
        for (i, r) in self.rules.iter().enumerate() {
            let i = i as u32;
            for key in [r.id.as_deref(), r.name.as_deref(), Some(r.title.as_str())]
                .into_iter()
                .flatten()
            {
                m.entry(key.to_owned()).or_insert(i);
            }
        }
        m
    }

    fn register(&mut self, target: &Target, mut variant: Variant) {
        let v = self.variants.len() as u32;
        let need = prefilter::requirement(&variant.det);
        variant.needs = need.as_ref().map(|r| {
            r.iter()
                .map(|key| {
                    let next = self.needle_ids.len() as u32;
                    *self.needle_ids.entry(key.clone()).or_insert(next)
                })
                .collect()
        });
        let needs = variant.needs.clone();
        self.variants.push(variant);
        for source in &target.sources {
            let b = match source.strip_suffix('*') {
                Some(prefix) => match self.prefixes.iter().find(|(p, _)| p == prefix) {
                    Some((_, b)) => *b,
                    None => {
                        self.buckets.push(Bucket::default());
                        self.prefixes
                            .push((prefix.to_owned(), self.buckets.len() - 1));
                        self.buckets.len() - 1
                    }
                },
                None => match self.exact.get(source) {
                    Some(b) => *b,
                    None => {
                        self.buckets.push(Bucket::default());
                        self.exact.insert(source.clone(), self.buckets.len() - 1);
                        self.buckets.len() - 1
                    }
                },
            };
            let bucket = &mut self.buckets[b];
            if let (Some(ids), Some(req)) = (&needs, &need) {
                for (id, (field, _)) in ids.iter().zip(req) {
                    let list = bucket.needles.entry(*field).or_default();
                    if !list.contains(id) {
                        list.push(*id);
                    }
                }
            }
            if target.event_ids.is_empty() {
                bucket.any.push(v);
            } else {
                for id in &target.event_ids {
                    bucket.by_event_id.entry(*id).or_default().push(v);
                }
            }
        }
    }

    fn buckets_for(&self, source: &Arc<str>, scratch: &mut Scratch) -> usize {
        if let Some(i) = scratch
            .sources
            .iter()
            .position(|(s, _)| Arc::ptr_eq(s, source) || **s == **source)
        {
            return i;
        }
        let lower = source.to_lowercase();
        let mut found: Vec<usize> = self.exact.get(&lower).copied().into_iter().collect();
        found.extend(
            self.prefixes
                .iter()
                .filter(|(p, _)| lower.starts_with(p.as_str()))
                .map(|(_, b)| *b),
        );
        if scratch.sources.len() > 256 {
            scratch.sources.clear();
        }
        scratch.sources.push((source.clone(), found));
        scratch.sources.len() - 1
    }

    /// The numbers of the rules that match `event`, appended to `out` (each once).
    pub fn matches(&self, event: &Event, scratch: &mut Scratch, out: &mut Vec<u32>) {
        let at = self.buckets_for(event.source.as_arc(), scratch);
        if scratch.sources[at].1.is_empty() {
            return;
        }
        let event_id = event.get(self.event_id).and_then(|v| match v {
            Value::Int(i) => Some(*i),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        });
        let mut candidates = std::mem::take(&mut scratch.candidates);
        candidates.clear();
        for &b in &scratch.sources[at].1 {
            let bucket = &self.buckets[b];
            if let Some(id) = event_id
                && let Some(vs) = bucket.by_event_id.get(&id)
            {
                candidates.extend_from_slice(vs);
            }
            candidates.extend_from_slice(&bucket.any);
        }
        if !candidates.is_empty() {
            let mut view = View::new(event, &mut scratch.tables);
            // One pass per field over the texts the candidates need.
            scratch.stamp = scratch.stamp.wrapping_add(1).max(1);
            let stamp = scratch.stamp;
            if scratch.present.len() < self.needle_ids.len() {
                scratch.present.resize(self.needle_ids.len(), 0);
            }
            for &b in &scratch.sources[at].1 {
                for scanner in &self.buckets[b].scanners {
                    if scanner.field == crate::prefilter::ANY_FIELD {
                        // Keywords' literals: every text field of the event.
                        let Some(ac) = scanner.automaton() else {
                            continue;
                        };
                        let ids = &scanner.ids;
                        for slot in view.positions() {
                            match view.value(slot) {
                                Value::Str(_) => {
                                    if let Some(t) = view.lower(slot) {
                                        for m in ac.find_overlapping_iter(t) {
                                            scratch.present[ids[m.pattern().as_usize()] as usize] =
                                                stamp;
                                        }
                                    }
                                }
                                Value::List(items) => {
                                    for i in items {
                                        if let Value::Str(s) = i {
                                            for m in ac.find_overlapping_iter(&s.to_lowercase()) {
                                                scratch.present
                                                    [ids[m.pattern().as_usize()] as usize] = stamp;
                                            }
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                        continue;
                    }
                    let Some(slot) = view.slot(scanner.field) else {
                        continue;
                    };
                    let Some(ac) = scanner.automaton() else {
                        continue;
                    };
                    let ids = &scanner.ids;
                    let mut mark = |text: &str| {
                        for m in ac.find_overlapping_iter(text) {
                            scratch.present[ids[m.pattern().as_usize()] as usize] = stamp;
                        }
                    };
                    match view.value(slot) {
                        Value::List(items) => {
                            for i in items {
                                if let Some(t) = crate::view::render(i) {
                                    mark(&t.to_lowercase());
                                }
                            }
                        }
                        _ => {
                            if let Some(t) = view.lower(slot) {
                                mark(t);
                            }
                        }
                    }
                }
            }
            let first = out.len();
            for &v in &candidates {
                let variant = &self.variants[v as usize];
                if out[first..].contains(&variant.rule) {
                    continue;
                }
                if let Some(ids) = &variant.needs
                    && !ids.iter().any(|i| scratch.present[*i as usize] == stamp)
                {
                    continue;
                }
                if variant.extra.iter().all(|fc| eval_field(fc, &mut view))
                    && eval(&variant.det, &mut view)
                    && !variant.filters.iter().any(|f| eval(f, &mut view))
                {
                    out.push(variant.rule);
                }
            }
        }
        scratch.candidates = candidates;
    }

    /// How many compiled variants (rule × logsource target) there are.
    pub fn variant_count(&self) -> usize {
        self.variants.len()
    }
}

/// A rule compiled on its own, before it joins the set.
enum Prepared {
    Detection {
        meta: Arc<RuleMeta>,
        variants: Vec<(Target, Variant)>,
        unmapped: bool,
    },
    Filter(Arc<RuleMeta>, crate::rule::FilterDef),
    Correlation(Arc<RuleMeta>, crate::rule::CorrelationDef),
    Failed(RuleError),
}

/// Compiles one rule for every logsource target it maps to (thread-safe, so rules compile in parallel).
fn prepare(r: Result<Rule, RuleError>, mapping: &Mapping, placeholders: &Placeholders) -> Prepared {
    let rule = match r {
        Ok(rule) => rule,
        Err(e) => return Prepared::Failed(e),
    };
    match rule.body {
        RuleBody::Filter(f) => Prepared::Filter(rule.meta, f),
        RuleBody::Correlation(c) => Prepared::Correlation(rule.meta, c),
        RuleBody::Detection(det) => {
            let targets = mapping.targets(&rule.meta.logsource);
            let compiled: Result<Vec<(Target, Variant)>, String> = (|| {
                if targets.is_empty() {
                    // Still compiled, so that a broken rule is reported as such.
                    let none = FxHashMap::default();
                    compile::compile(&det, &FieldNames { renames: &none }, placeholders)?;
                }
                targets
                    .iter()
                    .map(|t| Ok((t.clone(), compile_variant(&det, t, placeholders, 0)?)))
                    .collect()
            })();
            match compiled {
                Ok(variants) => Prepared::Detection {
                    unmapped: targets.is_empty(),
                    meta: rule.meta,
                    variants,
                },
                Err(reason) => Prepared::Failed(RuleError {
                    path: rule.meta.path.clone(),
                    title: Some(rule.meta.title.clone()),
                    reason,
                }),
            }
        }
    }
}

fn compile_variant(
    det: &crate::rule::Detection,
    t: &Target,
    placeholders: &Placeholders,
    rule: u32,
) -> Result<Variant, String> {
    let names = FieldNames { renames: &t.fields };
    let det = compile::compile(det, &names, placeholders)?;
    let none = FxHashMap::default();
    let mut extra = Vec::new();
    for (field, value) in &t.conditions {
        let d = crate::rule::Detection {
            selections: vec![(
                "logsource".into(),
                serde_json::json!({ field.as_str(): value }),
            )],
            conditions: vec!["logsource".into()],
        };
        let c = compile::compile(&d, &FieldNames { renames: &none }, placeholders)?;
        if let Some(compile::Selection::All(fcs)) = c.selections.into_iter().next() {
            extra.extend(fcs);
        }
    }
    Ok(Variant {
        rule,
        needs: None,
        extra,
        det,
        filters: Vec::new(),
    })
}
