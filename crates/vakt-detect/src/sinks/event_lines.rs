//! Events as normalised JSON Lines (what `vakt ingest` writes):
//! `{"time","tenant","source","origin","common","fields"}` per event.

use vakt_core::{Error, Event, Sink};

use super::{Output, io};

/// Events as JSON Lines.
pub struct EventLines {
    out: Output,
    written: u64,
}

impl EventLines {
    /// A writer of events to `out`.
    pub fn new(out: Output) -> EventLines {
        EventLines { out, written: 0 }
    }

    /// Events written.
    pub fn written(&self) -> u64 {
        self.written
    }
}

impl Sink for EventLines {
    fn name(&self) -> &'static str {
        "events"
    }

    fn wants_events(&self) -> bool {
        true
    }

    fn event(&mut self, e: &Event) -> Result<(), Error> {
        serde_json::to_writer(&mut self.out, e).map_err(|e| io("events", e.into()))?;
        self.out.write_all(b"\n").map_err(|e| io("events", e))?;
        self.written += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(|e| io("events", e))
    }
}
