//! Events straight from the JSON the `evtx` crate renders, without building a
//! `serde_json::Value` tree for the whole record: `EventData` values, nearly all
//! scalars, go directly into fields; only the small System elements and the
//! rare nested values are built as JSON values and flattened by the same code
//! as the JSON readers use, so that both paths give the same fields.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value as Json;
use vakt_core::{Event, FieldId, Locator, Timestamp, Value};

use super::{SourceKinds, TimeSlot, event_child, finish, flatten_named, push, system_child};
use crate::ReadContext;

type Fields = Vec<(FieldId, Value)>;

/// Builds the Event of one rendered EVTX record (`{"Event": {...}}`).
pub(crate) fn event_from_rendered(
    json: &[u8],
    ctx: &ReadContext,
    kinds: &mut SourceKinds,
    locator: Locator,
    fallback_time: Option<Timestamp>,
) -> Result<Event, String> {
    let mut fields = Vec::with_capacity(40);
    let mut time = None;
    let mut de = serde_json::Deserializer::from_slice(json);
    Root {
        out: &mut fields,
        time: &mut time,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| format!("record rendered to invalid JSON: {e}"))?;
    finish(fields, time, fallback_time, ctx, kinds, locator)
}

fn field_error<E: de::Error>(e: vakt_core::Error) -> E {
    E::custom(e)
}

struct Root<'a> {
    out: &'a mut Fields,
    time: &'a mut TimeSlot,
}

impl<'de> DeserializeSeed<'de> for Root<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Root<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with an Event")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "Event" {
                map.next_value_seed(EventSeed {
                    out: &mut *self.out,
                    time: &mut *self.time,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct EventSeed<'a> {
    out: &'a mut Fields,
    time: &'a mut TimeSlot,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the Event object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "#attributes" => {
                    map.next_value::<IgnoredAny>()?;
                }
                "System" => {
                    // A handful of small elements: built as values, named by the shared code.
                    let system: serde_json::Map<String, Json> = map.next_value()?;
                    for (k, v) in &system {
                        system_child(k, v, self.out, self.time).map_err(field_error)?;
                    }
                }
                "EventData" => map.next_value_seed(DataSeed {
                    out: &mut *self.out,
                })?,
                other => {
                    let v: Json = map.next_value()?;
                    event_child(other, &v, self.out).map_err(field_error)?;
                }
            }
        }
        Ok(())
    }
}

/// `EventData`: an object of named values (the hot path), or null, or a bare value.
struct DataSeed<'a> {
    out: &'a mut Fields,
}

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("EventData")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "#attributes" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            map.next_value_seed(NamedSeed {
                name: &key,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        push(self.out, "EventData", Value::str(v)).map_err(field_error)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        push(self.out, "EventData", Value::Bool(v)).map_err(field_error)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        push(self.out, "EventData", Value::Int(v)).map_err(field_error)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        push(self.out, "EventData", unsigned(v)).map_err(field_error)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        push(self.out, "EventData", Value::Float(v)).map_err(field_error)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let v = Json::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        super::event_data(&v, self.out).map_err(field_error)
    }
}

fn unsigned(v: u64) -> Value {
    i64::try_from(v).map_or(Value::Float(v as f64), Value::Int)
}

/// One named value: a scalar goes straight in; anything else is built and
/// flattened by [`flatten_named`].
struct NamedSeed<'a, 'n> {
    name: &'n str,
    out: &'a mut Fields,
}

impl NamedSeed<'_, '_> {
    fn put<E: de::Error>(self, v: Value) -> Result<(), E> {
        push(self.out, self.name, v).map_err(field_error)
    }
}

impl<'de> DeserializeSeed<'de> for NamedSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NamedSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an EventData value")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.put(Value::str(v))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.put(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.put(Value::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.put(unsigned(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.put(Value::Float(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.put(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.put(Value::Null)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let v = Json::deserialize(de::value::MapAccessDeserializer::new(map))?;
        flatten_named(self.name, &v, self.out).map_err(field_error)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let v = Json::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        flatten_named(self.name, &v, self.out).map_err(field_error)
    }
}
