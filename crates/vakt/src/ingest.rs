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
    let summary = crate::run::read_all(&args.input, true, |r, _| {
        out.write_all(&r.output).context("cannot write events")
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
