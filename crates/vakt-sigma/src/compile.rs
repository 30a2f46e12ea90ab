//! Detections compiled to selections over interned field ids and a boolean
//! expression over them.

use rustc_hash::FxHashMap;
use serde_json::Value as Json;
use vakt_core::FieldId;

use crate::condition::{self, Cond};
use crate::pattern::LazyRegex;
use crate::pattern::{self, Cmp, GlobTok, Pattern, TextOp, Wide, glob_tokens, lower_op, text_op};
use crate::rule::Detection;

/// Values for `expand` placeholders (`%name%`).
pub type Placeholders = FxHashMap<String, Vec<String>>;

/// One field and what its value must be.
#[derive(Debug, Clone)]
pub struct FieldCond {
    /// The field, already renamed for the logsource; `None` for keywords
    /// with modifiers (`'|all': [...]`), which look in every field.
    pub field: Option<FieldId>,
    /// One group per value written in the rule; a group's patterns are
    /// alternatives (encodings, dash variants).
    pub groups: Vec<Vec<Pattern>>,
    /// `all`: every group must match (otherwise one is enough).
    pub all: bool,
}

/// A compiled selection.
#[derive(Debug, Clone)]
pub enum Selection {
    /// A map: every field condition holds.
    All(Vec<FieldCond>),
    /// A list of maps: one holds.
    Any(Vec<Selection>),
    /// Keywords: one of the patterns matches some field's text.
    Keywords(Vec<Pattern>),
    /// Keywords with a literal each: one automaton pass over each field's
    /// lowercase text finds the keywords that may match there.
    KeywordSet(std::sync::Arc<KeywordSet>),
}

/// Keywords behind one automaton of the literals each must contain.
#[derive(Debug)]
pub struct KeywordSet {
    /// The literals, pattern `i` of the automaton being keyword `i`.
    pub automaton: aho_corasick::AhoCorasick,
    /// The keywords (case-insensitive text patterns).
    pub pats: Vec<Pattern>,
    /// Keyword `i` is its literal anywhere (`contains`): finding it is the match.
    pub exact: Vec<bool>,
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Expr {
    /// All hold.
    And(Vec<Expr>),
    /// One holds.
    Or(Vec<Expr>),
    /// Does not hold.
    Not(Box<Expr>),
    /// Selection number.
    Sel(usize),
}

/// A compiled detection.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The selections.
    pub selections: Vec<Selection>,
    /// The condition.
    pub expr: Expr,
}

/// Turns Sigma field names into event field ids (logsource renames applied).
pub struct FieldNames<'a> {
    /// Sigma name → event name.
    pub renames: &'a FxHashMap<String, String>,
}

impl FieldNames<'_> {
    fn id(&self, name: &str) -> Result<FieldId, String> {
        let name = self.renames.get(name).map(String::as_str).unwrap_or(name);
        FieldId::intern(name).map_err(|e| e.to_string())
    }
}

#[derive(Default)]
struct Mods {
    contains: bool,
    startswith: bool,
    endswith: bool,
    all: bool,
    cased: bool,
    re: bool,
    re_i: bool,
    re_m: bool,
    re_s: bool,
    cidr: bool,
    exists: bool,
    expand: bool,
    fieldref: bool,
    neq: bool,
    cmp: Option<Cmp>,
    windash: bool,
    /// Byte transforms in the order written.
    transforms: Vec<Transform>,
}

#[derive(Clone, Copy)]
enum Transform {
    Wide(Wide),
    Base64,
    Base64Offset,
}

fn mods(list: &[&str]) -> Result<Mods, String> {
    let mut m = Mods::default();
    for name in list {
        match *name {
            "contains" => m.contains = true,
            "startswith" => m.startswith = true,
            "endswith" => m.endswith = true,
            "all" => m.all = true,
            "cased" => m.cased = true,
            "re" => m.re = true,
            "i" | "ignorecase" => m.re_i = true,
            "m" | "multiline" => m.re_m = true,
            "s" | "dotall" => m.re_s = true,
            "cidr" => m.cidr = true,
            "exists" => m.exists = true,
            "expand" => m.expand = true,
            "fieldref" => m.fieldref = true,
            "neq" => m.neq = true,
            "gt" => m.cmp = Some(Cmp::Gt),
            "gte" => m.cmp = Some(Cmp::Gte),
            "lt" => m.cmp = Some(Cmp::Lt),
            "lte" => m.cmp = Some(Cmp::Lte),
            "windash" => m.windash = true,
            "wide" | "utf16le" => m.transforms.push(Transform::Wide(Wide::Le)),
            "utf16be" => m.transforms.push(Transform::Wide(Wide::Be)),
            "utf16" => m.transforms.push(Transform::Wide(Wide::Bom)),
            "base64" => m.transforms.push(Transform::Base64),
            "base64offset" => m.transforms.push(Transform::Base64Offset),
            other => return Err(format!("unknown value modifier `{other}`")),
        }
    }
    let kinds = [
        m.contains,
        m.startswith,
        m.endswith,
        m.re,
        m.cidr,
        m.exists,
        m.fieldref,
        m.cmp.is_some(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if kinds > 1 && !(m.fieldref && (m.contains || m.startswith || m.endswith)) {
        return Err(format!("modifiers `{}` cannot be combined", list.join("|")));
    }
    if m.re && (!m.transforms.is_empty() || m.windash) {
        return Err("`re` cannot be combined with encoding modifiers".into());
    }
    Ok(m)
}

fn scalar_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn expand(text: &str, placeholders: &Placeholders) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        let values = placeholders.get(name).ok_or_else(|| {
            format!("placeholder `%{name}%` has no values (add it to the placeholders file)")
        })?;
        let prefix = &rest[..start];
        out = out
            .iter()
            .flat_map(|o| values.iter().map(move |v| format!("{o}{prefix}{v}")))
            .collect();
        rest = &rest[start + len + 2..];
    }
    Ok(out.into_iter().map(|o| o + rest).collect())
}

/// The patterns one written value compiles to (alternatives).
fn value_patterns(
    v: &Json,
    m: &Mods,
    names: &FieldNames,
    placeholders: &Placeholders,
) -> Result<Vec<Pattern>, String> {
    if m.exists {
        let b = match v {
            Json::Bool(b) => *b,
            Json::String(s) if s.eq_ignore_ascii_case("true") => true,
            Json::String(s) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err("`exists` takes true or false".into()),
        };
        return Ok(vec![Pattern::Exists(b)]);
    }
    let plain = m.transforms.is_empty()
        && !m.windash
        && !m.contains
        && !m.startswith
        && !m.endswith
        && !m.re
        && !m.cidr
        && !m.fieldref
        && !m.expand
        && m.cmp.is_none();
    match v {
        Json::Null => {
            return if plain || m.neq {
                Ok(vec![neg(m, Pattern::Null)])
            } else {
                Err("null value with a modifier".into())
            };
        }
        Json::Number(n) if plain => {
            let f = n.as_f64().ok_or("number out of range")?;
            return Ok(vec![neg(m, Pattern::Number(f, n.to_string()))]);
        }
        Json::Bool(b) if plain => return Ok(vec![neg(m, Pattern::Bool(*b))]),
        Json::Array(_) | Json::Object(_) => {
            return Err("a value is a list or map inside a list".into());
        }
        _ => {}
    }
    let text = scalar_text(v).ok_or("value is not a scalar")?;
    if let Some(cmp) = m.cmp {
        let n: f64 = text
            .trim()
            .parse()
            .map_err(|_| format!("`{text}` is not a number"))?;
        return Ok(vec![neg(m, Pattern::Compare(cmp, n))]);
    }
    if m.cidr {
        let (ip, len) =
            pattern::parse_cidr(&text).ok_or_else(|| format!("`{text}` is not a network"))?;
        return Ok(vec![neg(m, Pattern::Cidr(ip, len))]);
    }
    if m.re {
        let mut flags = String::new();
        if m.re_i {
            flags.push('i');
        }
        if m.re_m {
            flags.push('m');
        }
        if m.re_s {
            flags.push('s');
        }
        let src = if flags.is_empty() {
            text.clone()
        } else {
            format!("(?{flags}){text}")
        };
        let re =
            LazyRegex::new(src).map_err(|e| format!("regular expression not supported: {e}"))?;
        return Ok(vec![neg(m, Pattern::Regex(std::sync::Arc::new(re)))]);
    }
    if m.fieldref {
        if m.contains || m.startswith || m.endswith {
            return Err("`fieldref` with contains/startswith/endswith is not supported".into());
        }
        return Ok(vec![neg(m, Pattern::FieldRef(names.id(&text)?, m.cased))]);
    }
    let texts = if m.expand {
        expand(&text, placeholders)?
    } else {
        vec![text]
    };
    let texts: Vec<String> = if m.windash {
        texts.iter().flat_map(|t| pattern::windash(t)).collect()
    } else {
        texts
    };
    // Encodings turn the value into bytes; wildcards in it are then literal.
    let mut encoded = !m.transforms.is_empty();
    let mut values: Vec<Vec<u8>> = texts.into_iter().map(String::into_bytes).collect();
    for t in &m.transforms {
        values = match t {
            Transform::Wide(w) => values.iter().map(|v| pattern::wide(v, *w)).collect(),
            Transform::Base64 => values
                .iter()
                .map(|v| pattern::base64(v).into_bytes())
                .collect(),
            Transform::Base64Offset => values
                .iter()
                .flat_map(|v| {
                    pattern::base64_offsets(v)
                        .into_iter()
                        .map(String::into_bytes)
                })
                .collect(),
        };
    }
    if !m.transforms.is_empty() && matches!(m.transforms.last(), Some(Transform::Wide(_))) {
        // Raw UTF-16 text is matched as written (it holds NULs), never as wildcards.
        encoded = true;
    }
    let mut out = Vec::with_capacity(values.len());
    for bytes in values {
        let s = String::from_utf8_lossy(&bytes).into_owned();
        let mut toks = if encoded {
            vec![GlobTok::Lit(s)]
        } else {
            glob_tokens(&s)
        };
        if m.contains || m.endswith {
            toks.insert(0, GlobTok::Many);
        }
        if m.contains || m.startswith {
            toks.push(GlobTok::Many);
        }
        toks.dedup_by(|a, b| *a == GlobTok::Many && *b == GlobTok::Many);
        let op = text_op(toks);
        let op = if m.cased { op } else { lower_op(op) };
        out.push(neg(m, Pattern::Text { op, cased: m.cased }));
    }
    Ok(out)
}

fn neg(m: &Mods, p: Pattern) -> Pattern {
    if m.neq { Pattern::Not(Box::new(p)) } else { p }
}

fn field_cond(
    key: &str,
    value: &Json,
    names: &FieldNames,
    placeholders: &Placeholders,
) -> Result<Option<FieldCond>, String> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("");
    let list: Vec<&str> = parts.collect();
    let mut m = mods(&list)?;
    if field.is_empty() && !(m.contains || m.startswith || m.endswith || m.re) {
        // Keywords match anywhere in a value.
        m.contains = true;
    }
    let values: Vec<&Json> = match value {
        Json::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut groups = Vec::with_capacity(values.len());
    for v in values {
        groups.push(value_patterns(v, &m, names, placeholders)?);
    }
    Ok(Some(FieldCond {
        field: if field.is_empty() {
            None
        } else {
            Some(names.id(field)?)
        },
        groups,
        all: m.all,
    }))
}

/// Keywords that each contain a literal, behind one automaton.
fn keyword_set(pats: &[Pattern]) -> Option<Selection> {
    let mut needles = Vec::with_capacity(pats.len());
    let mut exact = Vec::with_capacity(pats.len());
    for p in pats {
        let Pattern::Text { op, cased: false } = p else {
            return None;
        };
        let needle = op.needle().filter(|n| !n.is_empty())?;
        needles.push(needle.to_owned());
        exact.push(matches!(op, TextOp::Contains(_)));
    }
    if needles.len() < 2 {
        return None;
    }
    let automaton = aho_corasick::AhoCorasick::builder()
        .match_kind(aho_corasick::MatchKind::Standard)
        .build(&needles)
        .ok()?;
    Some(Selection::KeywordSet(std::sync::Arc::new(KeywordSet {
        automaton,
        pats: pats.to_vec(),
        exact,
    })))
}

fn selection(
    v: &Json,
    names: &FieldNames,
    placeholders: &Placeholders,
) -> Result<Selection, String> {
    match v {
        Json::Object(map) => {
            let mut conds = Vec::with_capacity(map.len());
            for (k, val) in map {
                if let Some(fc) = field_cond(k, val, names, placeholders)? {
                    conds.push(fc);
                }
            }
            Ok(Selection::All(conds))
        }
        Json::Array(items) if items.iter().all(Json::is_object) && !items.is_empty() => {
            Ok(Selection::Any(
                items
                    .iter()
                    .map(|i| selection(i, names, placeholders))
                    .collect::<Result<_, _>>()?,
            ))
        }
        Json::Array(items) => {
            let mut pats = Vec::new();
            for i in items {
                let text = scalar_text(i).ok_or("a keyword list holds a map or list")?;
                let mut toks = glob_tokens(&text);
                toks.insert(0, GlobTok::Many);
                toks.push(GlobTok::Many);
                toks.dedup_by(|a, b| *a == GlobTok::Many && *b == GlobTok::Many);
                pats.push(Pattern::Text {
                    op: lower_op(text_op(toks)),
                    cased: false,
                });
            }
            Ok(keyword_set(&pats).unwrap_or(Selection::Keywords(pats)))
        }
        Json::String(_) | Json::Number(_) => {
            selection(&Json::Array(vec![v.clone()]), names, placeholders)
        }
        _ => Err("a selection is neither a map, a list of maps, nor keywords".into()),
    }
}

fn expr(c: &Cond, names: &[String]) -> Result<Expr, String> {
    let find = |pat: &Option<String>| -> Result<Vec<Expr>, String> {
        let hits: Vec<Expr> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| match pat {
                Some(p) => condition::name_matches(p, n),
                None => !n.starts_with('_'),
            })
            .map(|(i, _)| Expr::Sel(i))
            .collect();
        if hits.is_empty() {
            return Err(format!(
                "`{}` names no selection",
                pat.as_deref().unwrap_or("them")
            ));
        }
        Ok(hits)
    };
    Ok(match c {
        Cond::And(items) => Expr::And(
            items
                .iter()
                .map(|i| expr(i, names))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(items) => Expr::Or(
            items
                .iter()
                .map(|i| expr(i, names))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Not(inner) => Expr::Not(Box::new(expr(inner, names)?)),
        Cond::Sel(n) => Expr::Sel(
            names
                .iter()
                .position(|x| x == n)
                .ok_or_else(|| format!("the condition names `{n}`, which is not a selection"))?,
        ),
        Cond::OneOf(p) => Expr::Or(find(p)?),
        Cond::AllOf(p) => Expr::And(find(p)?),
    })
}

/// Compiles a detection for one logsource's field names.
pub fn compile(
    det: &Detection,
    names: &FieldNames,
    placeholders: &Placeholders,
) -> Result<Compiled, String> {
    let mut selections = Vec::with_capacity(det.selections.len());
    let mut sel_names = Vec::with_capacity(det.selections.len());
    for (name, v) in &det.selections {
        selections.push(
            selection(v, names, placeholders).map_err(|e| format!("selection `{name}`: {e}"))?,
        );
        sel_names.push(name.clone());
    }
    let mut alternatives = Vec::new();
    for c in &det.conditions {
        let parsed = condition::parse(c).map_err(|e| format!("condition `{c}`: {e}"))?;
        alternatives.push(expr(&parsed, &sel_names)?);
    }
    let expr = if alternatives.len() == 1 {
        alternatives.remove(0)
    } else {
        Expr::Or(alternatives)
    };
    Ok(Compiled { selections, expr })
}

/// The fields a compiled detection reads, in order of first use.
pub fn fields(c: &Compiled) -> Vec<FieldId> {
    fn from_sel(s: &Selection, out: &mut Vec<FieldId>) {
        match s {
            Selection::All(fcs) => {
                for fc in fcs {
                    if let Some(f) = fc.field
                        && !out.contains(&f)
                    {
                        out.push(f);
                    }
                }
            }
            Selection::Any(items) => items.iter().for_each(|i| from_sel(i, out)),
            Selection::Keywords(_) | Selection::KeywordSet(_) => {}
        }
    }
    let mut out = Vec::new();
    c.selections.iter().for_each(|s| from_sel(s, &mut out));
    out
}
