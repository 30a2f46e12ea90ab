//! Reading many files in parallel with deterministic, in-order results.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use vakt_core::Timestamp;
use vakt_ingest::{InputError, Options, RecordError, Visit};

use crate::cli::{Cli, Command, InputArgs};
use crate::quarantine::Quarantine;

/// Counts for one source kind.
#[derive(Debug, Default, Clone)]
pub struct SourceStats {
    pub events: u64,
    pub rejected: u64,
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
}

impl SourceStats {
    fn see(&mut self, t: Timestamp) {
        self.events += 1;
        self.first = Some(self.first.map_or(t, |f| f.min(t)));
        self.last = Some(self.last.map_or(t, |l| l.max(t)));
    }

    fn merge(&mut self, o: &SourceStats) {
        self.events += o.events;
        self.rejected += o.rejected;
        self.first = match (self.first, o.first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = match (self.last, o.last) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// What reading one file produced.
#[derive(Debug, Default)]
pub struct FileResult {
    pub by_source: BTreeMap<Arc<str>, SourceStats>,
    pub skipped: Vec<(Arc<str>, String)>,
    pub unreadable: Vec<InputError>,
    /// Normalised events as JSON Lines (ingest only).
    pub output: Vec<u8>,
}

/// Totals over all files.
#[derive(Debug, Default)]
pub struct Summary {
    pub by_source: BTreeMap<Arc<str>, SourceStats>,
    pub rejected: u64,
    pub skipped: Vec<(Arc<str>, String)>,
    pub unreadable: Vec<InputError>,
    pub files: u64,
    reported: u64,
}

/// How many rejected records are printed one by one before only counting.
const REPORT_LIMIT: u64 = 50;

impl Summary {
    /// Adds a file's result, printing the inputs that could not be read to standard error.
    pub fn add(&mut self, r: &FileResult, bar: &ProgressBar) {
        self.files += 1;
        for (k, s) in &r.by_source {
            self.by_source.entry(k.clone()).or_default().merge(s);
        }
        for e in &r.unreadable {
            bar.suspend(|| eprintln!("vakt: cannot read: {e}"));
        }
        self.skipped.extend(r.skipped.iter().cloned());
        self.unreadable.extend(r.unreadable.iter().cloned());
    }

    /// Counts a rejected record, printing it to standard error unless quiet.
    pub fn reject(&mut self, e: &RecordError, quiet: bool, bar: &ProgressBar) {
        self.rejected += 1;
        if !quiet && self.reported < REPORT_LIMIT {
            bar.suspend(|| eprintln!("vakt: rejected: {e}"));
            self.reported += 1;
        }
    }

    /// The totals over every source kind.
    pub fn total(&self) -> SourceStats {
        let mut t = SourceStats::default();
        for s in self.by_source.values() {
            t.merge(s);
        }
        t
    }

    /// 1 if a path could not be read, 2 if records were rejected, else 0.
    pub fn exit_code(&self, quiet: bool) -> ExitCode {
        if !quiet && self.reported < self.rejected {
            eprintln!(
                "vakt: ... and {} more rejected records (use --quarantine DIR to keep them all)",
                self.rejected - self.reported
            );
        }
        if !self.unreadable.is_empty() {
            ExitCode::from(1)
        } else if self.rejected > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    }
}

/// Runs a subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Ingest(args) => crate::ingest::run(args),
        Command::Stats(args) => crate::stats::run(args),
    }
}

/// The reader options for the input arguments.
pub fn options(input: &InputArgs) -> Options {
    Options {
        format: input.input_format.fixed(),
        tenant: Arc::from(input.tenant.as_str()),
        timestamp_field: input.timestamp_field.as_deref().map(Arc::from),
    }
}

/// Reads every file under the input paths in parallel and hands each file's
/// result to `sink` in path order, with a progress bar on a terminal.
pub fn read_all(
    input: &InputArgs,
    write_events: bool,
    mut sink: impl FnMut(FileResult, &ProgressBar) -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    let opts = options(input);
    let (files, walk_errors) = vakt_ingest::collect_files(&input.paths);
    let mut summary = Summary::default();
    let bar = if input.quiet || !std::io::stderr().is_terminal() {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(files.len() as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{spinner} {pos}/{len} files {wide_bar} {elapsed}")
        {
            b.set_style(style);
        }
        b
    };
    let walk = FileResult {
        unreadable: walk_errors,
        ..FileResult::default()
    };
    summary.add(&walk, &bar);
    summary.files = 0;

    let mut quarantine = match &input.quarantine {
        Some(dir) => Some(Quarantine::create(dir)?),
        None => None,
    };
    let keep_raw = quarantine.is_some();
    let threads = input
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut current = FileResult::default();
    crate::ordered::run_ordered(
        files.len(),
        threads,
        |i, emit| read_one(&files[i], &opts, write_events, keep_raw, emit),
        |_, msg| -> anyhow::Result<()> {
            match msg {
                Msg::Events(bytes) => {
                    current.output = bytes;
                    sink(std::mem::take(&mut current), &bar)?;
                }
                Msg::Rejected(e) => {
                    summary.reject(&e, input.quiet, &bar);
                    if let Some(q) = quarantine.as_mut() {
                        q.write(std::slice::from_ref(&e))?;
                    }
                }
                Msg::Done(r) => {
                    summary.add(&r, &bar);
                    bar.inc(1);
                }
            }
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    if let Some(q) = quarantine {
        q.finish()?;
    }
    Ok(summary)
}

/// What a worker sends while reading one file.
enum Msg {
    /// A batch of normalised events as JSON Lines.
    Events(Vec<u8>),
    /// A rejected record.
    Rejected(RecordError),
    /// The file is done: its counts.
    Done(FileResult),
}

/// Events are handed on in batches of about this many bytes.
const BATCH_BYTES: usize = 1 << 20;

fn read_one(
    path: &std::path::Path,
    opts: &Options,
    write_events: bool,
    keep_raw: bool,
    emit: &mut dyn FnMut(Msg),
) {
    let mut r = FileResult::default();
    let mut out = Vec::new();
    vakt_ingest::read_path(path, opts, &mut |v| match v {
        Visit::Opened { .. } => {}
        Visit::Event(e) => {
            r.by_source.entry(e.source.clone()).or_default().see(e.time);
            if write_events && serde_json::to_writer(&mut out, &e).is_ok() {
                out.push(b'\n');
                if out.len() >= BATCH_BYTES {
                    emit(Msg::Events(std::mem::take(&mut out)));
                }
            }
        }
        Visit::Rejected(mut e) => {
            r.by_source.entry(e.source.clone()).or_default().rejected += 1;
            if !keep_raw {
                e.raw = Vec::new();
            }
            emit(Msg::Rejected(e));
        }
        Visit::Skipped { path, reason } => r.skipped.push((path, reason)),
        Visit::Unreadable(e) => r.unreadable.push(e),
    });
    if !out.is_empty() {
        emit(Msg::Events(out));
    }
    emit(Msg::Done(r));
}
