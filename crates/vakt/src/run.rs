//! Reading many files in parallel with deterministic, in-order results.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
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
        Command::Hunt(args) => crate::hunt::run(*args),
        Command::Rules(crate::cli::RulesCommand::Check(args)) => crate::rules::check(args),
        Command::Sim(args) => crate::sim::run(args),
        Command::Demo(args) => crate::demo::run(args),
        Command::Beacons(args) => crate::beacons::run(args),
        Command::Store(c) => crate::store::run(c),
        Command::Intel(c) => crate::intel::run(c),
        Command::Incidents(a) => crate::case::run_incidents(a),
        Command::Scope(a) => crate::case::run_scope(a),
        Command::Report(a) => crate::case::run_report(a),
    }
}

/// The reader options for the input arguments.
pub fn options(input: &InputArgs) -> Options {
    Options {
        format: input.input_format.fixed(),
        tenant: Arc::from(input.tenant.as_str()),
        timestamp_field: input.timestamp_field.as_deref().map(Arc::from),
        chunk_threads: input
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
    }
}

/// What a command does with the events of one file, on a worker thread.
pub trait EventWork: Sync {
    /// What it hands to the main thread.
    type Item: Send;
    /// Its state while reading one file.
    type State;
    /// A fresh state for a file.
    fn start(&self) -> Self::State;
    /// One event; may emit items.
    fn event(
        &self,
        state: &mut Self::State,
        event: vakt_core::Event,
        emit: &mut dyn FnMut(Self::Item),
    );
    /// The file is read; emit what is left.
    fn finish(&self, state: Self::State, emit: &mut dyn FnMut(Self::Item));
}

/// Reads every file under the input paths in parallel, runs `work` on each
/// event, and hands the items to `sink` in path order, with a progress bar on
/// a terminal. Counts, rejections and quarantine are handled here.
pub fn read_all<W: EventWork>(
    input: &InputArgs,
    work: &W,
    sink: impl FnMut(W::Item, &ProgressBar) -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    read_all_in(input, work, |_| {}, sink)
}

/// Zeek's rotated logs (`conn.13:00:00-14:00:00.log.gz`, in a folder per
/// day) in time order: by folder, then by the hour in the name, then by name,
/// so that a day's conn, dns and ssl logs of one hour come together. Other
/// files keep their place in name order within their folder.
pub fn time_order(files: &mut [PathBuf]) {
    fn hour(p: &Path) -> String {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default();
        name.split('.')
            .find(|part| {
                let b = part.as_bytes();
                b.len() >= 8
                    && b[2] == b':'
                    && b[5] == b':'
                    && b[..2].iter().all(u8::is_ascii_digit)
            })
            .map(|s| s[..8].to_owned())
            .unwrap_or_default()
    }
    files.sort_by_cached_key(|p| (p.parent().map(Path::to_path_buf), hour(p), p.clone()));
}

/// [`read_all`], with the files put in another order first.
pub fn read_all_in<W: EventWork>(
    input: &InputArgs,
    work: &W,
    order: impl FnOnce(&mut [PathBuf]),
    mut sink: impl FnMut(W::Item, &ProgressBar) -> anyhow::Result<()>,
) -> anyhow::Result<Summary> {
    let opts = options(input);
    let (mut files, walk_errors) = vakt_ingest::collect_files(&input.paths);
    order(&mut files);
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
    crate::ordered::run_ordered(
        files.len(),
        threads,
        |i, emit| read_one(&files[i], &opts, work, keep_raw, emit),
        |_, msg| -> anyhow::Result<()> {
            match msg {
                Msg::Item(item) => sink(item, &bar)?,
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
enum Msg<T> {
    /// Something the command's work emitted.
    Item(T),
    /// A rejected record.
    Rejected(RecordError),
    /// The file is done: its counts.
    Done(FileResult),
}

fn read_one<W: EventWork>(
    path: &std::path::Path,
    opts: &Options,
    work: &W,
    keep_raw: bool,
    emit: &mut dyn FnMut(Msg<W::Item>),
) {
    let mut r = FileResult::default();
    let mut state = work.start();
    vakt_ingest::read_path(path, opts, &mut |v| match v {
        Visit::Opened { .. } => {}
        Visit::Event(e) => {
            r.by_source.entry(e.source.clone()).or_default().see(e.time);
            work.event(&mut state, e, &mut |item| emit(Msg::Item(item)));
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
    work.finish(state, &mut |item| emit(Msg::Item(item)));
    emit(Msg::Done(r));
}
