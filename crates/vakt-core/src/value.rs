//! Typed field values.

use std::net::IpAddr;

use compact_str::CompactString;
use serde::ser::{Serialize, SerializeSeq, Serializer};

use crate::Timestamp;

/// The value of one field, typed as the source typed it.
///
/// Strings are [`CompactString`]s: values of up to 24 bytes, most of them,
/// are stored inline without a heap allocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An explicit null (JSON `null`).
    Null,
    /// A boolean (Zeek `bool`, JSON `true`/`false`).
    Bool(bool),
    /// A signed integer (Zeek `int`, `count`, `port`; JSON integers).
    Int(i64),
    /// A float (Zeek `double`, JSON fractions).
    Float(f64),
    /// Text.
    Str(CompactString),
    /// An IP address (Zeek `addr`, known address fields of JSON logs).
    Ip(IpAddr),
    /// An IP network (Zeek `subnet`).
    Subnet(IpAddr, u8),
    /// A point in time (Zeek `time`).
    Time(Timestamp),
    /// A length of time in nanoseconds (Zeek `interval`).
    Interval(i64),
    /// A list (Zeek `set[..]` and `vector[..]`, JSON arrays of scalars).
    List(Vec<Value>),
}

impl Value {
    /// A string value.
    pub fn str(s: &str) -> Self {
        Value::Str(CompactString::new(s))
    }

    /// The text if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The address if this is one.
    pub fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Value::Ip(ip) => Some(*ip),
            _ => None,
        }
    }

    /// A short name of the type, for messages and tests.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Ip(_) => "ip",
            Value::Subnet(..) => "subnet",
            Value::Time(_) => "time",
            Value::Interval(_) => "interval",
            Value::List(_) => "list",
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(_) => s.serialize_unit(),
            Value::Str(t) => s.serialize_str(t),
            Value::Ip(ip) => s.collect_str(ip),
            Value::Subnet(ip, len) => s.collect_str(&format_args!("{ip}/{len}")),
            Value::Time(t) => s.serialize_str(&t.to_rfc3339()),
            Value::Interval(ns) => s.serialize_f64(*ns as f64 / 1e9),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}
