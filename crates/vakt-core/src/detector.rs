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
