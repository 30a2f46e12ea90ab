//! Evaluating a compiled detection against an event.

use vakt_core::Value;

use crate::compile::{Compiled, Expr, FieldCond, Selection};
use crate::pattern::{Cmp, Pattern, in_cidr};
use crate::view::{View, render};

/// Whether the detection holds for the event.
pub fn eval(c: &Compiled, view: &mut View) -> bool {
    eval_expr(&c.expr, c, view)
}

fn eval_expr(e: &Expr, c: &Compiled, view: &mut View) -> bool {
    match e {
        Expr::And(items) => items.iter().all(|i| eval_expr(i, c, view)),
        Expr::Or(items) => items.iter().any(|i| eval_expr(i, c, view)),
        Expr::Not(inner) => !eval_expr(inner, c, view),
        Expr::Sel(i) => c.selections.get(*i).is_some_and(|s| eval_sel(s, view)),
    }
}

fn eval_sel(s: &Selection, view: &mut View) -> bool {
    match s {
        Selection::All(conds) => conds.iter().all(|fc| eval_field(fc, view)),
        Selection::Any(items) => items.iter().any(|i| eval_sel(i, view)),
        Selection::Keywords(pats) => keywords(pats, view),
        Selection::KeywordSet(k) => keyword_set(k, view),
    }
}

/// Some keyword in some field's lowercase text: the automaton finds the
/// keywords whose literal is there; only those are tested whole.
fn keyword_set(k: &crate::compile::KeywordSet, view: &mut View) -> bool {
    let hit = |text: &str| {
        k.automaton.find_overlapping_iter(text).any(|m| {
            let i = m.pattern().as_usize();
            k.exact[i] || matches!(&k.pats[i], Pattern::Text { op, .. } if op.matches(text))
        })
    };
    for slot in view.positions() {
        let found = match view.value(slot) {
            Value::Str(_) => view.lower(slot).is_some_and(hit),
            Value::List(items) => items.iter().any(|i| match i {
                Value::Str(s) => hit(&s.to_lowercase()),
                _ => false,
            }),
            _ => false,
        };
        if found {
            return true;
        }
    }
    false
}

/// Whether a field condition holds.
pub fn eval_field(fc: &FieldCond, view: &mut View) -> bool {
    let Some(field) = fc.field else {
        // Keywords with modifiers: each group must (or one may) match somewhere.
        let mut group = |g: &Vec<Pattern>| keywords(g, view);
        return if fc.all {
            fc.groups.iter().all(&mut group)
        } else {
            fc.groups.iter().any(group)
        };
    };
    let slot = view.slot(field);
    let mut group = |g: &Vec<Pattern>| g.iter().any(|p| test(p, slot, view));
    if fc.all {
        fc.groups.iter().all(&mut group)
    } else {
        fc.groups.iter().any(group)
    }
}

fn test(p: &Pattern, slot: Option<usize>, view: &mut View) -> bool {
    match p {
        Pattern::Exists(want) => {
            let present = slot.is_some_and(|s| !matches!(view.value(s), Value::Null));
            present == *want
        }
        Pattern::Null => slot.is_none_or(|s| matches!(view.value(s), Value::Null)),
        // `neq` on a field that is not there says nothing.
        Pattern::Not(inner) => slot.is_some() && !test(inner, slot, view),
        _ => match slot {
            None => false,
            Some(s) => match view.value(s) {
                Value::List(items) => items.iter().any(|i| test_detached(p, i, view)),
                Value::Null => false,
                _ => test_slot(p, s, view),
            },
        },
    }
}

/// A scalar held in the event, with its cached lowercase text.
fn test_slot(p: &Pattern, slot: usize, view: &mut View) -> bool {
    let value = view.value(slot);
    match p {
        Pattern::Text { op, cased: false } => view.lower(slot).is_some_and(|t| op.matches(t)),
        Pattern::Number(n, text) => match value {
            Value::Int(i) => *i as f64 == *n,
            Value::Float(f) => f == n,
            _ => view
                .lower(slot)
                .is_some_and(|t| t.trim() == text || t.trim().parse::<f64>().ok() == Some(*n)),
        },
        Pattern::FieldRef(other, cased) => {
            let Some(o) = view.slot(*other) else {
                return false;
            };
            if *cased {
                original(view.value(slot)) == original(view.value(o))
            } else {
                let a = view.lower(slot).map(str::to_owned);
                a.is_some() && a.as_deref() == view.lower(o)
            }
        }
        _ => test_detached(p, value, view),
    }
}

fn original(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::Str(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        other => render(other).map(std::borrow::Cow::Owned),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => {
            let t = s.trim();
            match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok().map(|i| i as f64),
                None => t.parse().ok(),
            }
        }
        Value::Interval(ns) => Some(*ns as f64 / 1e9),
        _ => None,
    }
}

/// A value not in the cache (a list element): computed on the spot.
fn test_detached(p: &Pattern, value: &Value, view: &mut View) -> bool {
    match p {
        Pattern::Text { op, cased } => match original(value) {
            Some(t) if *cased => op.matches(&t),
            Some(t) => op.matches(&t.to_lowercase()),
            None => false,
        },
        Pattern::Number(n, text) => match value {
            Value::Int(i) => *i as f64 == *n,
            Value::Float(f) => f == n,
            other => original(other).is_some_and(|t| t.trim().eq_ignore_ascii_case(text)),
        },
        Pattern::Bool(b) => match value {
            Value::Bool(v) => v == b,
            other => original(other).is_some_and(|t| t.trim().eq_ignore_ascii_case(&b.to_string())),
        },
        Pattern::Regex(re) => original(value).is_some_and(|t| re.is_match(&t)),
        Pattern::Cidr(net, len) => match value {
            Value::Ip(ip) => in_cidr(*ip, *net, *len),
            Value::Str(s) => s.trim().parse().is_ok_and(|ip| in_cidr(ip, *net, *len)),
            _ => false,
        },
        Pattern::Compare(cmp, n) => number(value).is_some_and(|v| match cmp {
            Cmp::Gt => v > *n,
            Cmp::Gte => v >= *n,
            Cmp::Lt => v < *n,
            Cmp::Lte => v <= *n,
        }),
        Pattern::Not(inner) => !test_detached(inner, value, view),
        Pattern::FieldRef(other, cased) => {
            let Some(o) = view.slot(*other) else {
                return false;
            };
            let (a, b) = (original(value), original(view.value(o)));
            match (a, b) {
                (Some(a), Some(b)) if *cased => a == b,
                (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
                _ => false,
            }
        }
        Pattern::Exists(_) | Pattern::Null => false,
    }
}

fn keywords(pats: &[Pattern], view: &mut View) -> bool {
    for slot in view.positions() {
        let hit = match view.value(slot) {
            Value::Str(_) => pats.iter().any(|p| test_slot(p, slot, view)),
            Value::List(items) => items.iter().any(|i| {
                matches!(i, Value::Str(_)) && pats.iter().any(|p| test_detached(p, i, view))
            }),
            _ => false,
        };
        if hit {
            return true;
        }
    }
    false
}
