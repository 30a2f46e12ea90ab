//! Reading logs from the command line: the reader options, the progress
//! bar on a terminal, and what a run's summary means for the exit code.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use vakt_detect::{Progress, Source, Summary};

use crate::cli::InputArgs;

/// The reader options for the input arguments.
pub fn options(input: &InputArgs) -> vakt_ingest::Options {
    vakt_ingest::Options {
        format: input.input_format.fixed(),
        tenant: Arc::from(input.tenant.as_deref().unwrap_or("default")),
        timestamp_field: input.timestamp_field.as_deref().map(Arc::from),
        chunk_threads: threads(input),
        received: None,
    }
}

/// Worker threads.
pub fn threads(input: &InputArgs) -> usize {
    input
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// The files and folders of the input arguments as a pipeline source.
pub fn files(input: &InputArgs, time_order: bool) -> anyhow::Result<Source<'_>> {
    if input.paths.is_empty() {
        anyhow::bail!("no input: give files or folders to read");
    }
    Ok(Source::Files {
        paths: &input.paths,
        options: options(input),
        time_order,
    })
}

/// A progress bar on a terminal (hidden when quiet or piped).
pub struct Bar(ProgressBar);

impl Bar {
    /// A bar, or a hidden one.
    pub fn new(quiet: bool) -> Bar {
        if quiet || !std::io::stderr().is_terminal() {
            return Bar(ProgressBar::hidden());
        }
        let b = ProgressBar::new(0);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {pos}/{len} inputs {wide_bar} {elapsed}")
        {
            b.set_style(style);
        }
        Bar(b)
    }

    /// Done: the bar goes.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn inputs(&self, n: usize) {
        self.0.set_length(n as u64);
    }

    fn input_done(&self) {
        self.0.inc(1);
    }
}

/// The exit code of a run: 1 if a path could not be read, 2 if records were
/// rejected (or `more_rejected` other inputs — context, indicators — were),
/// else 0. Says how many rejected records were only counted.
pub fn exit_code(summary: &Summary, more_rejected: usize, quiet: bool) -> ExitCode {
    if !quiet && summary.reported < summary.rejected {
        eprintln!(
            "vakt: ... and {} more rejected records (use --quarantine DIR to keep them all)",
            summary.rejected - summary.reported
        );
    }
    match summary.exit_code() {
        0 if more_rejected > 0 => ExitCode::from(2),
        code => ExitCode::from(code),
    }
}
