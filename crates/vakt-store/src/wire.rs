//! Events as bytes: one message (a JetStream message in cluster mode, a
//! saved detector's kept events) holds a run of one tenant's events, each
//! as time, source kind, native and common fields (typed JSON, the store's
//! own codec, so every value keeps its type), and origin.
//!
//! ```text
//! u8 layout (1) · u32 count · per event:
//!   i64 time · str source · str native · str common · str path · u8 locator kind · u64 locator
//! str = u32 length · UTF-8 bytes; integers little-endian
//! ```

use std::sync::Arc;

use vakt_core::{Event, Locator, Origin, SourceKind, Timestamp};

const LAYOUT: u8 = 1;

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Appends one event.
pub fn put(out: &mut Vec<u8>, e: &Event) {
    out.extend_from_slice(&e.time.0.to_le_bytes());
    put_str(out, e.source.as_str());
    put_str(out, &crate::codec::encode(&e.fields, |_| false));
    put_str(out, &crate::codec::encode(&e.common, |_| false));
    put_str(out, &e.origin.path);
    let (k, n) = match e.origin.locator {
        Locator::Record(n) => (0u8, n),
        Locator::Line(n) => (1, n),
        Locator::Index(n) => (2, n),
        Locator::Chunk(n) => (3, n),
    };
    out.push(k);
    out.extend_from_slice(&n.to_le_bytes());
}

/// A message's payload: a header, then the events as [`put`] wrote them.
pub fn message(count: u32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(LAYOUT);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(body);
    out
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.b.len() < n {
            return Err("the message ends inside an event".into());
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().unwrap_or_default(),
        ))
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().unwrap_or_default(),
        ))
    }
    fn str(&mut self) -> Result<&'a str, String> {
        let n = self.u32()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| "text is not UTF-8".to_owned())
    }
}

/// The events of a message, for `tenant` (from its subject).
pub fn events(payload: &[u8], tenant: &Arc<str>) -> Result<Vec<Event>, String> {
    let mut r = Reader { b: payload };
    let layout = r.take(1)?[0];
    if layout != LAYOUT {
        return Err(format!("message layout {layout} is not known here"));
    }
    let n = r.u32()? as usize;
    let mut out = Vec::with_capacity(n.min(1 << 16));
    let mut path: Option<Arc<str>> = None;
    for _ in 0..n {
        let time = Timestamp(r.u64()? as i64);
        let source = SourceKind::new(r.str()?);
        let fields = crate::codec::decode(r.str()?, true)?;
        let common = crate::codec::decode(r.str()?, true)?;
        let p = r.str()?;
        // Runs of one input share their path.
        let path = match &path {
            Some(q) if &**q == p => q.clone(),
            _ => {
                let a: Arc<str> = Arc::from(p);
                path = Some(a.clone());
                a
            }
        };
        let k = r.take(1)?[0];
        let at = r.u64()?;
        let locator = match k {
            0 => Locator::Record(at),
            1 => Locator::Line(at),
            2 => Locator::Index(at),
            3 => Locator::Chunk(at),
            _ => return Err(format!("locator kind {k} is not known")),
        };
        out.push(Event {
            time,
            tenant: tenant.clone(),
            source,
            fields,
            common,
            origin: Origin { path, locator },
        });
    }
    if !r.b.is_empty() {
        return Err(format!("{} bytes after the last event", r.b.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use vakt_core::{FieldId, Value};

    #[test]
    fn events_go_through_the_bus_unchanged_and_damage_is_an_error() {
        let tenant: Arc<str> = Arc::from("ous");
        let e = Event {
            time: Timestamp(1_516_000_000_123_456_789),
            tenant: tenant.clone(),
            source: SourceKind::new("zeek:conn"),
            fields: vec![
                (
                    FieldId::intern("id.orig_h").unwrap(),
                    Value::Ip("10.1.2.3".parse().unwrap()),
                ),
                (FieldId::intern("orig_bytes").unwrap(), Value::Int(-4)),
                (FieldId::intern("service").unwrap(), Value::str("ssl")),
                (FieldId::intern("duration").unwrap(), Value::Interval(1_500)),
            ],
            common: vec![(
                vakt_core::field::SRC_IP,
                Value::Ip("10.1.2.3".parse().unwrap()),
            )],
            origin: Origin {
                path: Arc::from("ingest @1"),
                locator: Locator::Line(7),
            },
        };
        let mut body = Vec::new();
        put(&mut body, &e);
        put(&mut body, &e);
        let m = message(2, &body);
        let back = events(&m, &tenant).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[1].time, e.time);
        assert_eq!(back[1].source.as_str(), "zeek:conn");
        assert_eq!(back[1].fields, e.fields);
        assert_eq!(back[1].common, e.common);
        assert_eq!(back[1].origin.to_string(), e.origin.to_string());
        for cut in [0, 1, 5, m.len() / 2, m.len() - 1] {
            assert!(events(&m[..cut], &tenant).is_err(), "cut at {cut}");
        }
        let mut longer = m.clone();
        longer.push(0);
        assert!(events(&longer, &tenant).is_err());
    }
}
