//! `jsonl`: one [`Alert`] per line, the shape `vakt incidents` reads back
//! (a case folder's `alerts.jsonl`).

use vakt_core::{Alert, Error, Sink};

use super::{Output, Writer, io};

/// The format.
pub const WRITER: Writer = ("jsonl", JsonlWriter::boxed);

/// Alerts as JSON Lines.
pub struct JsonlWriter {
    out: Output,
}

impl JsonlWriter {
    /// A writer, boxed for the registry.
    pub fn boxed(out: Output) -> Box<dyn Sink> {
        Box::new(JsonlWriter { out })
    }
}

impl Sink for JsonlWriter {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn alert(&mut self, a: &Alert) -> Result<(), Error> {
        serde_json::to_writer(&mut self.out, a).map_err(|e| io("jsonl", e.into()))?;
        self.out.write_all(b"\n").map_err(|e| io("jsonl", e))
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.out.flush().map_err(|e| io("jsonl", e))
    }
}
