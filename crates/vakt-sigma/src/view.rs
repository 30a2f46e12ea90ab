//! An event seen by the matcher: fields found by id in constant time, and
//! each field's lowercased text computed at most once per event.

use vakt_core::{Event, FieldId, Value};

#[derive(Clone, Default)]
enum Cached {
    #[default]
    Unset,
    /// Lowercasing changes nothing: use the value itself.
    Same,
    /// The lowercased (or, for non-text values, rendered) text.
    Text(String),
}

/// Reusable per-thread tables; one per worker.
#[derive(Default)]
pub struct Tables {
    stamp: u32,
    /// By field id: (stamp, position) — valid only when the stamp is current.
    index: Vec<(u32, u32)>,
    lower: Vec<Cached>,
    /// By field id: the id of the same name without spaces (Sigma writes
    /// `ThreatName` for Defender's `Threat Name`); 0 not yet known, 1 none, else id + 2.
    unspaced: Vec<u32>,
}

impl Tables {
    fn unspaced(&mut self, f: FieldId) -> Option<FieldId> {
        let i = f.0 as usize;
        if i >= self.unspaced.len() {
            self.unspaced.resize(i + 1, 0);
        }
        if self.unspaced[i] == 0 {
            let name = f.name();
            self.unspaced[i] = if name.contains(' ') {
                FieldId::intern(&name.replace(' ', "")).map_or(1, |id| id.0 + 2)
            } else {
                1
            };
        }
        match self.unspaced[i] {
            0 | 1 => None,
            n => Some(FieldId(n - 2)),
        }
    }
}

/// An event indexed for matching.
pub struct View<'e> {
    event: &'e Event,
    scratch: &'e mut Tables,
    /// Native fields first, then common fields.
    native: usize,
}

impl<'e> View<'e> {
    /// Indexes `event` using `scratch`.
    pub fn new(event: &'e Event, scratch: &'e mut Tables) -> Self {
        scratch.stamp = scratch.stamp.wrapping_add(1);
        if scratch.stamp == 0 {
            // After wrapping, old stamps could look current: start clean.
            scratch.index.iter_mut().for_each(|e| *e = (0, 0));
            scratch.stamp = 1;
        }
        let stamp = scratch.stamp;
        let total = event.fields.len() + event.common.len();
        scratch.lower.clear();
        scratch.lower.resize(total, Cached::Unset);
        // Common fields first so that a native field of the same name wins.
        let common = event
            .common
            .iter()
            .enumerate()
            .map(|(i, (f, _))| (*f, event.fields.len() + i));
        let native = event.fields.iter().enumerate().map(|(i, (f, _))| (*f, i));
        for (f, pos) in common.chain(native) {
            let alias = scratch.unspaced(f);
            for id in std::iter::once(f).chain(alias) {
                let id = id.0 as usize;
                if id >= scratch.index.len() {
                    scratch.index.resize(id + 1, (0, 0));
                }
                let slot = &mut scratch.index[id];
                // The first native field of a repeated name wins.
                if slot.0 != stamp || slot.1 as usize >= event.fields.len() {
                    *slot = (stamp, pos as u32);
                }
            }
        }
        View {
            event,
            scratch,
            native: event.fields.len(),
        }
    }

    /// The event.
    pub fn event(&self) -> &'e Event {
        self.event
    }

    /// The position of a field, if the event has it.
    pub fn slot(&self, f: FieldId) -> Option<usize> {
        match self.scratch.index.get(f.0 as usize) {
            Some((s, pos)) if *s == self.scratch.stamp => Some(*pos as usize),
            _ => None,
        }
    }

    /// The value at a position.
    pub fn value(&self, slot: usize) -> &'e Value {
        if slot < self.native {
            &self.event.fields[slot].1
        } else {
            &self.event.common[slot - self.native].1
        }
    }

    /// A scalar's text, lowercased (computed once per event and field).
    pub fn lower(&mut self, slot: usize) -> Option<&str> {
        let value = self.value(slot);
        if matches!(self.scratch.lower.get(slot), Some(Cached::Unset)) {
            let computed = match value {
                Value::Str(s) => {
                    if s.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
                        let l = s.as_str().to_lowercase();
                        if l == s.as_str() {
                            Cached::Same
                        } else {
                            Cached::Text(l)
                        }
                    } else {
                        Cached::Same
                    }
                }
                other => match render(other) {
                    Some(t) => Cached::Text(t.to_lowercase()),
                    None => Cached::Same,
                },
            };
            self.scratch.lower[slot] = computed;
        }
        match (&self.scratch.lower[slot], value) {
            (Cached::Text(t), _) => Some(t.as_str()),
            (Cached::Same, Value::Str(s)) => Some(s.as_str()),
            _ => None,
        }
    }

    /// Every position (native and common) holding text or a scalar.
    pub fn positions(&self) -> std::ops::Range<usize> {
        0..self.native + self.event.common.len()
    }
}

/// The text form of a scalar that is not a string (numbers, addresses, times).
pub fn render(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Ip(ip) => ip.to_string(),
        Value::Subnet(ip, l) => format!("{ip}/{l}"),
        Value::Time(t) => t.to_rfc3339(),
        Value::Interval(ns) => (*ns as f64 / 1e9).to_string(),
        Value::Null | Value::List(_) => return None,
    })
}
