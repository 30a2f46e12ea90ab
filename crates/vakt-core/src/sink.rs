//! The `Sink` trait: where a pipeline's events and alerts go — an output
//! format, the event store, the incident correlator, later HTTP and the
//! message bus. One shape for all, so adding one is one new type.
//!
//! A sink that keeps events says so ([`Sink::wants_events`]); every sink
//! gets the alerts, in time order in a batch or as they are raised live (a
//! later statement of an alert comes again under the same key).

use std::any::Any;

use crate::{Alert, Error, Event};

/// Where events and alerts go.
pub trait Sink: Any + Send {
    /// Its name, for messages (`jsonl`, `store`, `incidents`).
    fn name(&self) -> &'static str;

    /// Whether it takes events (most take only alerts).
    fn wants_events(&self) -> bool {
        false
    }

    /// One event read (only when [`Sink::wants_events`]).
    fn event(&mut self, event: &Event) -> Result<(), Error> {
        let _ = event;
        Ok(())
    }

    /// One alert, new or restated.
    fn alert(&mut self, alert: &Alert) -> Result<(), Error> {
        let _ = alert;
        Ok(())
    }

    /// The input has ended: write out what is held.
    fn finish(&mut self) -> Result<(), Error> {
        Ok(())
    }
}
