//! The literal prefilter: for each compiled detection, a set of (field,
//! text) pairs at least one of which must be in the event for the detection
//! to have a chance. One Aho-Corasick pass per field finds which texts are
//! present; rules none of whose texts are present are not evaluated.

use vakt_core::FieldId;

use crate::compile::{Compiled, Expr, FieldCond, Selection};
use crate::pattern::Pattern;

/// (field, lowercased literal) pairs; one must be present.
pub type Requirement = Vec<(FieldId, String)>;

/// The "field" of a keyword's literal: any text field of the event.
pub const ANY_FIELD: FieldId = FieldId(u32::MAX);

fn better(a: Requirement, b: Requirement) -> Requirement {
    let score = |r: &Requirement| {
        (
            r.len(),
            std::cmp::Reverse(r.iter().map(|(_, s)| s.len()).min().unwrap_or(0)),
        )
    };
    if score(&b) < score(&a) { b } else { a }
}

fn pattern_needle(p: &Pattern) -> Option<String> {
    match p {
        Pattern::Text { op, .. } => op.needle().filter(|n| !n.is_empty()).map(str::to_lowercase),
        _ => None,
    }
}

fn field(fc: &FieldCond) -> Option<Requirement> {
    let f = fc.field?;
    let group = |g: &Vec<Pattern>| -> Option<Requirement> {
        g.iter()
            .map(|p| pattern_needle(p).map(|n| (f, n)))
            .collect()
    };
    if fc.all {
        // Every group must match: any one group's texts are necessary.
        fc.groups.iter().filter_map(group).reduce(better)
    } else {
        let mut all = Vec::new();
        for g in &fc.groups {
            all.extend(group(g)?);
        }
        (!all.is_empty()).then_some(all)
    }
}

fn selection(s: &Selection) -> Option<Requirement> {
    match s {
        Selection::All(fcs) => fcs.iter().filter_map(field).reduce(better),
        Selection::Any(items) => {
            let mut all = Vec::new();
            for i in items {
                all.extend(selection(i)?);
            }
            (!all.is_empty()).then_some(all)
        }
        // Keywords: one of their literals somewhere in the event.
        Selection::Keywords(pats) => {
            let all: Option<Requirement> = pats
                .iter()
                .map(|p| pattern_needle(p).map(|n| (ANY_FIELD, n)))
                .collect();
            all.filter(|a| !a.is_empty())
        }
        Selection::KeywordSet(k) => {
            let all: Option<Requirement> = k
                .pats
                .iter()
                .map(|p| pattern_needle(p).map(|n| (ANY_FIELD, n)))
                .collect();
            all.filter(|a| !a.is_empty())
        }
    }
}

fn expr(e: &Expr, c: &Compiled) -> Option<Requirement> {
    match e {
        Expr::Sel(i) => c.selections.get(*i).and_then(selection),
        Expr::And(items) => items.iter().filter_map(|i| expr(i, c)).reduce(better),
        Expr::Or(items) => {
            let mut all = Vec::new();
            for i in items {
                all.extend(expr(i, c)?);
            }
            (!all.is_empty()).then_some(all)
        }
        Expr::Not(_) => None,
    }
}

/// The texts one of which a detection needs, if that can be said.
pub fn requirement(c: &Compiled) -> Option<Requirement> {
    let mut r = expr(&c.expr, c)?;
    r.sort();
    r.dedup();
    Some(r)
}
