//! Sigma rule documents: metadata, logsource, and the detection, correlation
//! or filter they carry, read from YAML.

use std::path::Path;
use std::sync::Arc;

use serde_json::{Map, Value as Json};

use crate::RuleError;

/// A rule's logsource.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct LogSource {
    /// `product`, lowercased.
    pub product: Option<String>,
    /// `category`, lowercased.
    pub category: Option<String>,
    /// `service`, lowercased.
    pub service: Option<String>,
}

/// What a rule says about itself.
#[derive(Debug, Clone, Default)]
pub struct RuleMeta {
    /// `title`.
    pub title: String,
    /// `id`.
    pub id: Option<String>,
    /// `name` (what correlations and filters may refer to).
    pub name: Option<String>,
    /// `status`.
    pub status: Option<String>,
    /// `level`.
    pub level: Option<String>,
    /// `tags`.
    pub tags: Vec<String>,
    /// `references`.
    pub references: Vec<String>,
    /// `falsepositives`.
    pub falsepositives: Vec<String>,
    /// `author`.
    pub author: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `logsource`.
    pub logsource: LogSource,
    /// The file it came from.
    pub path: Arc<str>,
}

impl RuleMeta {
    /// The ATT&CK technique tags (`attack.t1059.001`), as `T1059.001`.
    pub fn techniques(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| {
                t.strip_prefix("attack.t")
                    .map(|n| format!("T{}", n.to_ascii_uppercase()))
            })
            .collect()
    }
}

/// A `detection` block, not yet compiled.
#[derive(Debug, Clone)]
pub struct Detection {
    /// Named selections in the order written.
    pub selections: Vec<(String, Json)>,
    /// The condition(s); several are alternatives.
    pub conditions: Vec<String>,
}

/// A `correlation` block.
#[derive(Debug, Clone)]
pub struct CorrelationDef {
    /// `type`: event_count, value_count, temporal, temporal_ordered.
    pub kind: String,
    /// `rules`: ids or names of the rules correlated.
    pub rules: Vec<String>,
    /// `group-by` fields.
    pub group_by: Vec<String>,
    /// `timespan`, in seconds.
    pub timespan_secs: i64,
    /// `condition`: operator → threshold, and for value_count the `field`.
    pub condition: Map<String, Json>,
    /// `aliases`: alias → (rule → field).
    pub aliases: Map<String, Json>,
    /// `generate`: whether the correlated rules also report on their own.
    pub generate: bool,
}

/// A `filter` block (a meta-rule excluding matches of other rules).
#[derive(Debug, Clone)]
pub struct FilterDef {
    /// `rules`: ids or names of the rules filtered.
    pub rules: Vec<String>,
    /// The selections and condition that exclude.
    pub detection: Detection,
}

/// What a rule document is.
#[derive(Debug, Clone)]
pub enum RuleBody {
    /// A detection rule.
    Detection(Detection),
    /// A correlation rule.
    Correlation(CorrelationDef),
    /// A filter.
    Filter(FilterDef),
}

/// One Sigma rule document.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Metadata.
    pub meta: Arc<RuleMeta>,
    /// The body.
    pub body: RuleBody,
}

fn string(v: Option<&Json>) -> Option<String> {
    match v? {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::Array(items)) => items.iter().filter_map(|i| string(Some(i))).collect(),
        Some(other) => string(Some(other)).into_iter().collect(),
        None => Vec::new(),
    }
}

/// `5m`, `1h`, `30s`, `2d` → seconds.
pub fn parse_timespan(text: &str) -> Option<i64> {
    let t = text.trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn detection(det: &Json) -> Result<Detection, String> {
    let Json::Object(map) = det else {
        return Err("`detection` is not a map".into());
    };
    let mut selections = Vec::new();
    let mut conditions = Vec::new();
    for (k, v) in map {
        match k.as_str() {
            "condition" => conditions = strings(Some(v)),
            "timeframe" => {}
            _ => selections.push((k.clone(), v.clone())),
        }
    }
    if conditions.is_empty() {
        return Err("`detection` has no `condition`".into());
    }
    Ok(Detection {
        selections,
        conditions,
    })
}

/// Deep-merges `over` into `base` (for `action: global` rule collections).
fn merge(base: &mut Json, over: &Json) {
    match (base, over) {
        (Json::Object(b), Json::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// Reads one rule document.
pub fn rule_from_json(doc: &Json, path: &Arc<str>) -> Result<Rule, String> {
    let Json::Object(obj) = doc else {
        return Err("not a YAML map".into());
    };
    let title = string(obj.get("title")).ok_or("no `title`")?;
    let lower = |k: &str| {
        obj.get("logsource")
            .and_then(|l| l.get(k))
            .and_then(|v| string(Some(v)))
            .map(|s| s.to_ascii_lowercase())
    };
    let meta = Arc::new(RuleMeta {
        title,
        id: string(obj.get("id")),
        name: string(obj.get("name")),
        status: string(obj.get("status")).map(|s| s.to_ascii_lowercase()),
        level: string(obj.get("level")).map(|s| s.to_ascii_lowercase()),
        tags: strings(obj.get("tags"))
            .into_iter()
            .map(|t| t.to_ascii_lowercase())
            .collect(),
        references: strings(obj.get("references")),
        falsepositives: strings(obj.get("falsepositives")),
        author: string(obj.get("author")),
        description: string(obj.get("description")),
        logsource: LogSource {
            product: lower("product"),
            category: lower("category"),
            service: lower("service"),
        },
        path: path.clone(),
    });
    let body = if let Some(corr) = obj.get("correlation") {
        let c = corr.as_object().ok_or("`correlation` is not a map")?;
        let kind = string(c.get("type")).ok_or("correlation without `type`")?;
        if !matches!(
            kind.as_str(),
            "event_count" | "value_count" | "temporal" | "temporal_ordered"
        ) {
            return Err(format!("unknown correlation type `{kind}`"));
        }
        let timespan = string(c.get("timespan")).ok_or("correlation without `timespan`")?;
        let timespan_secs =
            parse_timespan(&timespan).ok_or_else(|| format!("bad timespan `{timespan}`"))?;
        let condition = match c.get("condition") {
            Some(Json::Object(m)) => m.clone(),
            None if kind.starts_with("temporal") => Map::new(),
            _ => return Err("correlation without a `condition` map".into()),
        };
        RuleBody::Correlation(CorrelationDef {
            kind,
            rules: strings(c.get("rules")),
            group_by: strings(c.get("group-by")),
            timespan_secs,
            condition,
            aliases: c
                .get("aliases")
                .and_then(Json::as_object)
                .cloned()
                .unwrap_or_default(),
            generate: c.get("generate").and_then(Json::as_bool).unwrap_or(false),
        })
    } else if let Some(filter) = obj.get("filter") {
        let f = filter.as_object().ok_or("`filter` is not a map")?;
        let rules = strings(f.get("rules"));
        let mut det = Map::new();
        for (k, v) in f {
            if k != "rules" {
                det.insert(k.clone(), v.clone());
            }
        }
        RuleBody::Filter(FilterDef {
            rules,
            detection: detection(&Json::Object(det))?,
        })
    } else {
        let det = obj.get("detection").ok_or("no `detection`")?;
        RuleBody::Detection(detection(det)?)
    };
    Ok(Rule { meta, body })
}

/// Reads every rule document in a YAML text (`---`-separated; `action: global` merged).
pub fn parse_rules(text: &str, path: &Arc<str>) -> Vec<Result<Rule, RuleError>> {
    let err = |reason: String| RuleError {
        path: path.clone(),
        title: None,
        reason,
    };
    let docs: Vec<Json> = match serde_saphyr::from_multiple(text) {
        Ok(d) => d,
        Err(e) => return vec![Err(err(format!("not valid YAML: {e}")))],
    };
    let mut global: Option<Json> = None;
    let mut out = Vec::new();
    for doc in docs {
        let action = doc.get("action").and_then(Json::as_str).map(str::to_owned);
        match action.as_deref() {
            Some("global") => {
                let mut g = doc.clone();
                if let Json::Object(m) = &mut g {
                    m.remove("action");
                }
                global = Some(g);
                continue;
            }
            Some("reset") => {
                global = None;
                continue;
            }
            _ => {}
        }
        let doc = match &global {
            Some(g) => {
                let mut merged = g.clone();
                merge(&mut merged, &doc);
                merged
            }
            None => doc,
        };
        let title = string(doc.get("title"));
        out.push(rule_from_json(&doc, path).map_err(|reason| RuleError {
            path: path.clone(),
            title,
            reason,
        }));
    }
    if out.is_empty() {
        out.push(Err(err("no rule in this file".into())));
    }
    out
}

/// Reads a rule file.
pub fn read_rule_file(path: &Path) -> Vec<Result<Rule, RuleError>> {
    let shown: Arc<str> = Arc::from(path.display().to_string());
    match std::fs::read_to_string(path) {
        Ok(text) => parse_rules(&text, &shown),
        Err(e) => vec![Err(RuleError {
            path: shown,
            title: None,
            reason: format!("cannot read: {e}"),
        })],
    }
}

/// Reads a YAML map of name → list of strings (the placeholders file).
pub fn yaml_map_of_lists(
    text: &str,
) -> Result<std::collections::BTreeMap<String, Vec<String>>, String> {
    let doc: Json = serde_saphyr::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let Json::Object(m) = doc else {
        return Err("not a map of name to list of values".into());
    };
    Ok(m.iter()
        .map(|(k, v)| (k.clone(), strings(Some(v))))
        .collect())
}
