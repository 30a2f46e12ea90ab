//! `table`: one line per alert for a person at a terminal — time, level,
//! rule, host, evidence, where the first evidence is.

use vakt_core::{Alert, Error, Sink};

use super::{Output, Writer, details, io, level};

/// The format.
pub const WRITER: Writer = ("table", TableWriter::boxed);

/// Alerts as a readable table.
pub struct TableWriter {
    out: Output,
    header: bool,
}

impl TableWriter {
    /// A table writer, boxed for the registry.
    pub fn boxed(out: Output) -> Box<dyn Sink> {
        Box::new(TableWriter { out, header: false })
    }

    fn header(&mut self) -> Result<(), Error> {
        if !self.header {
            self.header = true;
            writeln!(
                self.out,
                "{:<24}  {:<8}  {:<50}  {:<18}  {:<60}  origin",
                "time", "level", "rule", "host", "details"
            )
            .map_err(|e| io("table", e))?;
        }
        Ok(())
    }
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

impl Sink for TableWriter {
    fn name(&self) -> &'static str {
        "table"
    }

    fn alert(&mut self, a: &Alert) -> Result<(), Error> {
        self.header()?;
        let origin = a.origins.first().map_or(String::new(), |o| {
            let name = o.path.rsplit(['/', '\\']).next().unwrap_or(&o.path);
            match &o.record_id {
                Some(id) => format!("{name}: {} ({} {id})", o.locator, o.record_id_name()),
                None => format!("{name}: {}", o.locator),
            }
        });
        writeln!(
            self.out,
            "{:<24}  {:<8}  {:<50}  {:<18}  {:<60}  {}",
            cut(&a.first.to_rfc3339(), 24),
            cut(level(a), 8),
            cut(&a.title, 50),
            cut(&a.subject(), 18),
            cut(&details(a), 60),
            cut(&origin, 70),
        )
        .map_err(|e| io("table", e))
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.header()?;
        self.out.flush().map_err(|e| io("table", e))
    }
}
