//! Fields as one JSON object per event, typed so that they read back as the
//! reader made them.
//!
//! JSON has no address, network, time or duration, and no NaN: such values
//! are written as a one-key object — `{"$ip":"10.0.0.1"}`,
//! `{"$net":"10.0.0.0/8"}`, `{"$t":<ns>}`, `{"$dur":<ns>}`,
//! `{"$f":"NaN"}` — which no field value can be otherwise (fields hold
//! scalars and lists, never objects). Everything else is plain JSON, so
//! DuckDB's `json_extract` reads the column as it is. Segments written
//! before typing (no `vakt.fields` = `typed` in the file's metadata) read
//! back with plain JSON types: addresses as text.

use serde::Serialize;
use serde_json::Value as Json;
use vakt_core::{FieldId, Timestamp, Value};

/// A one-key object `{"$tag": value}`.
struct Tag<'a, T>(&'a str, T);

impl<T: Serialize> Serialize for Tag<'_, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, &self.1)?;
        m.end()
    }
}

/// A value as typed JSON, serialised straight to the output.
struct Typed<'a>(&'a Value);

impl Serialize for Typed<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(f) => Tag("$f", f.to_string()).serialize(s),
            Value::Str(t) => s.serialize_str(t),
            Value::Ip(ip) => Tag("$ip", ip.to_string()).serialize(s),
            Value::Subnet(ip, len) => Tag("$net", format!("{ip}/{len}")).serialize(s),
            Value::Time(t) => Tag("$t", t.0).serialize(s),
            Value::Interval(ns) => Tag("$dur", *ns).serialize(s),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Typed(item))?;
                }
                seq.end()
            }
        }
    }
}

/// The fields as a typed JSON object, in their order, leaving out those
/// `skip` names.
pub fn encode(fields: &[(FieldId, Value)], skip: impl Fn(&str) -> bool) -> String {
    use serde::ser::{SerializeMap, Serializer};
    let mut out = Vec::with_capacity(16 + 40 * fields.len());
    let mut ser = serde_json::Serializer::new(&mut out);
    let written = (|| -> Result<(), serde_json::Error> {
        let mut m = (&mut ser).serialize_map(None)?;
        for (f, v) in fields {
            let n = f.name();
            if !skip(n) {
                m.serialize_entry(n, &Typed(v))?;
            }
        }
        m.end()
    })();
    match written {
        // serde_json writes UTF-8 only.
        Ok(()) => String::from_utf8(out).unwrap_or_else(|_| "{}".into()),
        Err(_) => "{}".into(),
    }
}

/// A JSON object's members in their order.
struct Members(Vec<(String, Json)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Members, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(8));
                while let Some((k, v)) = a.next_entry::<String, Json>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

fn decode_value(j: &Json, typed: bool) -> Value {
    match j {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::str(s),
        Json::Array(items) => Value::List(items.iter().map(|i| decode_value(i, typed)).collect()),
        Json::Object(m) if typed && m.len() == 1 => {
            let (tag, v) = m
                .iter()
                .next()
                .map_or(("", &Json::Null), |(k, v)| (k.as_str(), v));
            let text = v.as_str().unwrap_or("");
            match tag {
                "$ip" => text.parse().map_or_else(|_| Value::str(text), Value::Ip),
                "$net" => text
                    .split_once('/')
                    .and_then(|(a, l)| Some(Value::Subnet(a.parse().ok()?, l.parse().ok()?)))
                    .unwrap_or_else(|| Value::str(text)),
                "$t" => Value::Time(Timestamp(v.as_i64().unwrap_or(0))),
                "$dur" => Value::Interval(v.as_i64().unwrap_or(0)),
                "$f" => Value::Float(text.parse().unwrap_or(f64::NAN)),
                _ => Value::str(&j.to_string()),
            }
        }
        Json::Object(_) => Value::str(&j.to_string()),
    }
}

/// Reads fields written by [`encode`] (`typed`: written with the type
/// tags; else plain JSON). `Err` when the text is not a JSON object or a
/// name cannot be interned.
pub fn decode(text: &str, typed: bool) -> Result<Vec<(FieldId, Value)>, String> {
    let Members(m) =
        serde_json::from_str(text).map_err(|e| format!("fields are not a JSON object: {e}"))?;
    let mut out = Vec::with_capacity(m.len());
    for (k, v) in &m {
        let id = FieldId::intern(k).map_err(|e| e.to_string())?;
        out.push((id, decode_value(v, typed)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_type_reads_back_as_written() {
        let f = |n: &str| FieldId::intern(n).unwrap();
        let fields = vec![
            (f("codec.null"), Value::Null),
            (f("codec.bool"), Value::Bool(true)),
            (f("codec.int"), Value::Int(-7)),
            (f("codec.float"), Value::Float(1.0)),
            (f("codec.nan"), Value::Float(f64::INFINITY)),
            (f("codec.str"), Value::str("{\"$ip\":\"x\"} is text")),
            (f("codec.ip"), Value::Ip("2001:db8::1".parse().unwrap())),
            (
                f("codec.net"),
                Value::Subnet("10.0.0.0".parse().unwrap(), 8),
            ),
            (
                f("codec.time"),
                Value::Time(Timestamp(1_517_336_042_090_842_000)),
            ),
            (f("codec.dur"), Value::Interval(1_500_000_000)),
            (
                f("codec.list"),
                Value::List(vec![
                    Value::str("a"),
                    Value::Ip("10.1.1.1".parse().unwrap()),
                ]),
            ),
            (f("codec.secret"), Value::str("left out")),
        ];
        let text = encode(&fields, |n| n == "codec.secret");
        let back = decode(&text, true).unwrap();
        assert_eq!(back, fields[..fields.len() - 1].to_vec());
        // Untyped (older segments): plain JSON types.
        let plain = decode(&text, false).unwrap();
        assert!(matches!(plain[6].1, Value::Str(_)));
        assert!(decode("[1]", true).is_err());
    }
}
