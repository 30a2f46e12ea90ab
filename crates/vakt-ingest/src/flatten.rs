//! Nested JSON to flat native fields with dotted names (`alert.signature`,
//! `agent.who.reference`), as Sigma rules over JSON logs name them.
//!
//! Objects nest with `.`; an array of scalars becomes a list; the fields of
//! objects inside an array become lists of their values, one per element
//! that has them (so `agent.who.reference` lists every agent's reference).

use serde_json::Value as Json;
use vakt_core::{FieldId, Value};

/// A JSON scalar (or array of scalars) as a typed value; `None` for objects.
pub(crate) fn scalar(v: &Json) -> Option<Value> {
    Some(match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::str(s),
        Json::Array(items) => Value::List(items.iter().filter_map(scalar).collect()),
        Json::Object(_) => return None,
    })
}

/// Appends the flattened fields of `value` under `prefix` to `out`.
pub(crate) fn flatten_into(
    prefix: &mut String,
    value: &Json,
    out: &mut Vec<(FieldId, Value)>,
) -> Result<(), vakt_core::Error> {
    match value {
        Json::Object(map) => {
            for (k, v) in map {
                let len = prefix.len();
                if !prefix.is_empty() {
                    prefix.push('.');
                }
                prefix.push_str(k);
                flatten_into(prefix, v, out)?;
                prefix.truncate(len);
            }
        }
        Json::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            let mut grouped: Vec<(FieldId, Vec<Value>)> = Vec::new();
            let mut tmp = Vec::new();
            for item in items {
                tmp.clear();
                flatten_into(prefix, item, &mut tmp)?;
                for (id, v) in tmp.drain(..) {
                    let values = match v {
                        Value::List(inner) => inner,
                        other => vec![other],
                    };
                    match grouped.iter_mut().find(|(g, _)| *g == id) {
                        Some((_, list)) => list.extend(values),
                        None => grouped.push((id, values)),
                    }
                }
            }
            out.extend(grouped.into_iter().map(|(id, l)| (id, Value::List(l))));
        }
        other => {
            if let Some(v) = scalar(other) {
                out.push((FieldId::intern(prefix)?, v));
            }
        }
    }
    Ok(())
}

/// The flattened fields of a JSON object.
pub(crate) fn flatten(value: &Json) -> Result<Vec<(FieldId, Value)>, vakt_core::Error> {
    let mut out = Vec::with_capacity(32);
    flatten_into(&mut String::new(), value, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_objects_and_arrays() {
        let j: Json = serde_json::json!({
            "a": {"b": 1, "c": "x"},
            "agent": [{"who": {"reference": "P/1"}}, {"who": {"reference": "D/2"}, "requestor": true}],
            "tags": ["t1", "t2"]
        });
        let f = flatten(&j).unwrap();
        let get = |n: &str| {
            f.iter()
                .find(|(id, _)| id.name() == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("a.b"), Some(Value::Int(1)));
        assert_eq!(get("a.c"), Some(Value::str("x")));
        assert_eq!(
            get("agent.who.reference"),
            Some(Value::List(vec![Value::str("P/1"), Value::str("D/2")]))
        );
        assert_eq!(
            get("agent.requestor"),
            Some(Value::List(vec![Value::Bool(true)]))
        );
        assert_eq!(
            get("tags"),
            Some(Value::List(vec![Value::str("t1"), Value::str("t2")]))
        );
    }
}
