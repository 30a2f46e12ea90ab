//! Events into the event store: each event appended, each segment said as
//! it becomes visible (it is then durable), the rest written when the input
//! ends.

use std::path::Path;

use vakt_core::{Error, Event, Sink};
use vakt_store::StoreWriter;

/// Told of each segment once it is complete and visible.
pub type OnSegment = Box<dyn FnMut(&Path) + Send>;

/// The store as a sink of events.
pub struct StoreSink {
    writer: StoreWriter,
    said: usize,
    on_segment: Option<OnSegment>,
}

impl StoreSink {
    /// Events into the store through this writer; `on_segment` is told of
    /// each completed segment.
    pub fn new(writer: StoreWriter, on_segment: Option<OnSegment>) -> StoreSink {
        StoreSink {
            writer,
            said: 0,
            on_segment,
        }
    }

    /// The writer (segments written, events stored).
    pub fn writer(&self) -> &StoreWriter {
        &self.writer
    }

    fn say(&mut self) {
        if let Some(f) = self.on_segment.as_mut() {
            for s in &self.writer.segments()[self.said..] {
                f(s);
            }
        }
        self.said = self.writer.segments().len();
    }
}

fn store_error(e: vakt_store::StoreError) -> Error {
    Error::Sink {
        sink: "store".into(),
        reason: e.to_string(),
    }
}

impl Sink for StoreSink {
    fn name(&self) -> &'static str {
        "store"
    }

    fn wants_events(&self) -> bool {
        true
    }

    fn event(&mut self, e: &Event) -> Result<(), Error> {
        self.writer.append(e).map_err(store_error)?;
        if self.writer.segments().len() > self.said {
            self.say();
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.writer.flush().map_err(store_error)?;
        self.say();
        Ok(())
    }
}
