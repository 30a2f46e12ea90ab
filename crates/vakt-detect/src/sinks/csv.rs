//! `csv`: one row per alert — time, rule title and id, level, ATT&CK
//! techniques, host, evidence, and where the first evidence is (file, place,
//! the source's own record id).

use vakt_core::{Alert, Error, Sink};

use super::{Output, Writer, details, io, level};

/// The format.
pub const WRITER: Writer = ("csv", CsvWriter::boxed);

/// Alerts as CSV.
pub struct CsvWriter {
    out: Output,
    header: bool,
}

impl CsvWriter {
    /// A CSV writer, boxed for the registry.
    pub fn boxed(out: Output) -> Box<dyn Sink> {
        Box::new(CsvWriter { out, header: false })
    }
}

fn field(f: &str) -> String {
    if f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_owned()
    }
}

impl Sink for CsvWriter {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn alert(&mut self, a: &Alert) -> Result<(), Error> {
        if !self.header {
            writeln!(
                self.out,
                "time,rule,id,level,attack,host,fields,path,where,record_id,count,key"
            )
            .map_err(|e| io("csv", e))?;
            self.header = true;
        }
        let o = a.origins.first();
        writeln!(
            self.out,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            a.first.to_rfc3339(),
            field(&a.title),
            field(&a.rule.id()),
            field(level(a)),
            field(&a.techniques.join(" ")),
            field(&a.subject()),
            field(&details(a)),
            field(o.map_or("", |o| &o.path)),
            field(&o.map_or(String::new(), |o| o.locator.to_string())),
            field(o.and_then(|o| o.record_id.as_deref()).unwrap_or("")),
            a.count,
            a.key,
        )
        .map_err(|e| io("csv", e))
    }

    fn finish(&mut self) -> Result<(), Error> {
        if !self.header {
            writeln!(
                self.out,
                "time,rule,id,level,attack,host,fields,path,where,record_id,count,key"
            )
            .map_err(|e| io("csv", e))?;
        }
        self.out.flush().map_err(|e| io("csv", e))
    }
}
