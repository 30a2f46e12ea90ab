//! `json`: one JSON array of [`Alert`]s, written as they come.

use vakt_core::{Alert, Error, Sink};

use super::{Output, Writer, io};

/// The format.
pub const WRITER: Writer = ("json", JsonWriter::boxed);

/// Alerts as one JSON array.
pub struct JsonWriter {
    out: Output,
    written: usize,
}

impl JsonWriter {
    /// A writer, boxed for the registry.
    pub fn boxed(out: Output) -> Box<dyn Sink> {
        Box::new(JsonWriter { out, written: 0 })
    }
}

impl Sink for JsonWriter {
    fn name(&self) -> &'static str {
        "json"
    }

    fn alert(&mut self, a: &Alert) -> Result<(), Error> {
        let sep: &[u8] = if self.written == 0 { b"[\n" } else { b",\n" };
        self.out.write_all(sep).map_err(|e| io("json", e))?;
        serde_json::to_writer_pretty(&mut self.out, a).map_err(|e| io("json", e.into()))?;
        self.written += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        let end: &[u8] = if self.written == 0 { b"[]\n" } else { b"\n]\n" };
        self.out.write_all(end).map_err(|e| io("json", e))?;
        self.out.flush().map_err(|e| io("json", e))
    }
}
