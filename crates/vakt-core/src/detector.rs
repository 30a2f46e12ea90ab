//! The `Detector` trait: the one shape of every detector, stateless or
//! windowed.
//!
//! A detector observes inputs one at a time and may raise [`Alert`]s at
//! once (a Sigma rule, an indicator); a windowed one keeps state and raises
//! when time passes ([`Detector::advance`]) or the input ends
//! ([`Detector::flush`]). A detector that can run on several workers at once
//! [`fork`](Detector::fork)s a fresh instance per worker and later
//! [`merge`](Detector::merge)s it back; one that cannot (it needs events in
//! time order) returns `None` from `fork` and runs once. Long-running
//! streams [`expire`](Detector::expire) state to a window.
//!
//! Detectors come in [`Family`]s. Most take [`Event`]s ([`Events`]); a
//! family of behaviour detectors (the network detectors, the EHR access
//! detectors) takes a view that the family works out once per event — a
//! connection, an EHR access — and shares what the family knows in common
//! (how many hosts use a destination, say) as its context at evaluation.
//!
//! The trait lives here, beside the `Alert`, so that the crates that hold
//! detectors (`vakt-sigma`, `vakt-intel`, `vakt-analytics`, `vakt-detect`)
//! need nothing more; `vakt-detect` owns the registry and the pipeline.

use std::any::Any;

use crate::{Alert, Event, Timestamp};

/// A family of detectors: what each observes and what they share.
pub trait Family: 'static {
    /// What a detector of the family observes.
    type Input<'a>;
    /// What the family knows in common, passed when detectors raise findings.
    type Context;
}

/// The family of detectors that take events as they are.
#[derive(Debug)]
pub enum Events {}

impl Family for Events {
    type Input<'a> = Event;
    type Context = ();
}

/// A detector.
pub trait Detector<F: Family = Events>: Any + Send {
    /// Its name, as in [`Alert::detector`].
    fn name(&self) -> &'static str;

    /// Takes one input; may raise alerts at once.
    fn observe(&mut self, input: &F::Input<'_>, out: &mut Vec<Alert>);

    /// Time has passed to `now` (stream time): a windowed detector closes the
    /// windows that ended before it and raises what they hold. Alerts raised
    /// again for a key already raised restate that finding.
    fn advance(&mut self, now: Timestamp, cx: &F::Context, out: &mut Vec<Alert>) {
        let _ = (now, cx, out);
    }

    /// The input has ended (or the caller wants every finding now): raise
    /// what the state holds. Detectors of a family are flushed in the order
    /// they are registered, into one `out`, so a detector may read the
    /// findings of those before it there (a rare destination already reported
    /// as a beacon is left to that finding).
    fn flush(&mut self, cx: &F::Context, out: &mut Vec<Alert>) {
        let _ = (cx, out);
    }

    /// A fresh instance for another worker (same configuration, empty
    /// state), or `None` if this detector must see every input itself, in
    /// order.
    fn fork(&self) -> Option<Box<dyn Detector<F>>> {
        None
    }

    /// Takes back the state of an instance made by [`Detector::fork`].
    fn merge(&mut self, other: Box<dyn Detector<F>>) {
        let _ = other;
    }

    /// Forgets state from before `cutoff`, so memory covers a window.
    fn expire(&mut self, cutoff: Timestamp) {
        let _ = cutoff;
    }

    /// What the state holds, in a line (memory is bounded by these counts).
    fn footprint(&self) -> Option<String> {
        None
    }

    /// Region-wide facts this detector's state adds to: destinations
    /// outside the tenant's networks (addresses and server names) with how
    /// many of its internal hosts used them. A cluster sums them over every
    /// tenant and partition (a second, aggregated stage) for what one
    /// partition cannot know alone: how common a destination is.
    fn prevalence(&self, out: &mut Vec<(String, u64)>) {
        let _ = out;
    }

    /// The detector's state, saved so that a fresh instance of the same
    /// configuration can [`load`](Detector::load) it and go on as this one
    /// would (a partition's snapshot in cluster mode: a new owner resumes
    /// from it instead of re-reading the stream). `None`: nothing is kept
    /// between inputs. Configuration (rules, thresholds, interned field
    /// ids) is not part of it.
    fn save(&self) -> Option<Result<Vec<u8>, String>> {
        None
    }

    /// Takes the state [`save`](Detector::save) gave, replacing this
    /// instance's. An error leaves the instance as it was or empty: the
    /// caller rebuilds the state another way.
    fn load(&mut self, state: &[u8]) -> Result<(), String> {
        let _ = state;
        Err(format!("{} keeps no state to load", self.name()))
    }
}

/// A value saved as detector state (CBOR: maps with any keys, byte strings).
pub fn save_state<T: serde::Serialize + ?Sized>(t: &T) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    ciborium::into_writer(t, &mut out).map_err(|e| format!("saving state: {e}"))?;
    Ok(out)
}

/// A value saved by [`save_state`].
pub fn load_state<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, String> {
    let mut rest = b;
    let v = ciborium::from_reader(&mut rest).map_err(|e| format!("loading state: {e}"))?;
    if !rest.is_empty() {
        return Err(format!("loading state: {} bytes after its end", rest.len()));
    }
    Ok(v)
}

/// The saved states of the detectors in a list (a family's members, a
/// partition's detectors), by name: a detector without state is left out.
pub fn save_all<F: Family>(ds: &[Box<dyn Detector<F>>]) -> Result<Vec<(String, Blob)>, String> {
    let mut out = Vec::new();
    for d in ds {
        if let Some(s) = d.save() {
            out.push((d.name().to_owned(), Blob(s?)));
        }
    }
    Ok(out)
}

/// Loads what [`save_all`] saved into a list of the same detectors; a
/// detector with state that the saved list lacks, or a saved one the list
/// lacks, is an error (the configuration changed).
pub fn load_all<F: Family>(
    ds: &mut [Box<dyn Detector<F>>],
    saved: &[(String, Blob)],
) -> Result<(), String> {
    let mut it = saved.iter();
    for d in ds.iter_mut() {
        if d.save().is_none() {
            continue;
        }
        match it.next() {
            Some((name, blob)) if name == d.name() => {
                d.load(&blob.0).map_err(|e| format!("{name}: {e}"))?
            }
            Some((name, _)) => {
                return Err(format!(
                    "saved state of {name} where {} was expected",
                    d.name()
                ));
            }
            None => return Err(format!("no saved state for {}", d.name())),
        }
    }
    if let Some((name, _)) = it.next() {
        return Err(format!(
            "saved state of {name}, which is not among the detectors"
        ));
    }
    Ok(())
}

/// Bytes inside saved state (a member's own saved state): a CBOR byte
/// string, not a list of numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Blob(pub Vec<u8>);

impl serde::Serialize for Blob {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Blob;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Blob, E> {
                Ok(Blob(v.to_vec()))
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Blob, E> {
                Ok(Blob(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Blob, A::Error> {
                let mut v = Vec::new();
                while let Some(b) = a.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(Blob(v))
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// A registry entry: makes one detector of a family, empty.
pub type Make<F> = fn() -> Box<dyn Detector<F>>;

/// A forked instance back as its own type (for [`Detector::merge`]); `None`
/// if it is another detector's.
pub fn downcast<F: Family, D: Detector<F>>(other: Box<dyn Detector<F>>) -> Option<Box<D>> {
    let any: Box<dyn Any> = other;
    any.downcast::<D>().ok()
}

/// Declares a registry: one module (one file) per entry, and the constant
/// listing their constructors — so a new detector, sink or format is one
/// new file and one new line here.
///
/// ```ignore
/// vakt_core::registry! {
///     /// The network detectors.
///     pub const REGISTRY: &[fn() -> Box<dyn Detector<Network>>] = [
///         beacon::BeaconDetector::boxed,
///         strobe::StrobeDetector::boxed,
///     ];
/// }
/// ```
#[macro_export]
macro_rules! registry {
    ($(#[$meta:meta])* $vis:vis const $name:ident: $ty:ty = [
        $($module:ident :: $($item:ident)::+),* $(,)?
    ];) => {
        $(mod $module;)*
        $(#[$meta])*
        $vis const $name: $ty = &[$($module::$($item)::+),*];
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u64);

    impl Detector for Counter {
        fn name(&self) -> &'static str {
            "counter"
        }
        fn observe(&mut self, _: &Event, _: &mut Vec<Alert>) {
            self.0 += 1;
        }
        fn fork(&self) -> Option<Box<dyn Detector>> {
            Some(Box::new(Counter(0)))
        }
        fn merge(&mut self, other: Box<dyn Detector>) {
            if let Some(o) = downcast::<Events, Counter>(other) {
                self.0 += o.0;
            }
        }
    }

    struct Other;
    impl Detector for Other {
        fn name(&self) -> &'static str {
            "other"
        }
        fn observe(&mut self, _: &Event, _: &mut Vec<Alert>) {}
    }

    #[test]
    fn forks_merge_back_and_strangers_are_refused() {
        let mut c = Counter(2);
        let f = c.fork().unwrap();
        let mut f = downcast::<Events, Counter>(f).unwrap();
        f.0 = 3;
        c.merge(f);
        assert_eq!(c.0, 5);
        c.merge(Box::new(Other));
        assert_eq!(c.0, 5);
    }
}
