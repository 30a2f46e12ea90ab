//! `vakt ingest`: logs in, normalised events out as JSON Lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::IngestArgs;

/// Runs `vakt ingest`.
pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let summary = crate::run::read_all(&args.input, &JsonLines, |batch: Vec<u8>, _| {
        out.write_all(&batch).context("cannot write events")
    })?;
    out.flush().context("cannot write events")?;
    if !args.input.quiet {
        let t = summary.total();
        eprintln!(
            "vakt: {} events from {} files; {} rejected, {} skipped (not an event format), {} unreadable",
            t.events,
            summary.files,
            summary.rejected,
            summary.skipped.len(),
            summary.unreadable.len()
        );
    }
    Ok(summary.exit_code(args.input.quiet))
}

/// Events are handed on in batches of about this many bytes.
const BATCH_BYTES: usize = 1 << 20;

/// Serialises events to JSON Lines on the workers, in batches.
struct JsonLines;

impl crate::run::EventWork for JsonLines {
    type Item = Vec<u8>;
    type State = Vec<u8>;

    fn start(&self) -> Vec<u8> {
        Vec::new()
    }

    fn event(&self, out: &mut Vec<u8>, e: vakt_core::Event, emit: &mut dyn FnMut(Vec<u8>)) {
        if serde_json::to_writer(&mut *out, &e).is_ok() {
            out.push(b'\n');
            if out.len() >= BATCH_BYTES {
                emit(std::mem::take(out));
            }
        }
    }

    fn finish(&self, out: Vec<u8>, emit: &mut dyn FnMut(Vec<u8>)) {
        if !out.is_empty() {
            emit(out);
        }
    }
}
