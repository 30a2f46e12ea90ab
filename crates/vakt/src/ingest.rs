//! `vakt ingest`: logs in, normalised events out as JSON Lines.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::IngestArgs;

/// Runs `vakt ingest`.
pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.store {
        return to_store(&args, dir);
    }
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

/// Events handed on in batches (store mode).
struct Events;

impl crate::run::EventWork for Events {
    type Item = Vec<vakt_core::Event>;
    type State = Vec<vakt_core::Event>;

    fn start(&self) -> Vec<vakt_core::Event> {
        Vec::new()
    }

    fn event(
        &self,
        out: &mut Vec<vakt_core::Event>,
        e: vakt_core::Event,
        emit: &mut dyn FnMut(Vec<vakt_core::Event>),
    ) {
        out.push(e);
        if out.len() >= 1024 {
            emit(std::mem::take(out));
        }
    }

    fn finish(&self, out: Vec<vakt_core::Event>, emit: &mut dyn FnMut(Vec<vakt_core::Event>)) {
        if !out.is_empty() {
            emit(out);
        }
    }
}

/// `vakt ingest --store DIR`: events into the store, each completed segment
/// said on standard error (`stored SEGMENT (N events)`) as it becomes visible.
fn to_store(args: &IngestArgs, dir: &std::path::Path) -> anyhow::Result<ExitCode> {
    let quiet = args.input.quiet;
    let (store, removed) = vakt_store::Store::open(dir)?;
    if removed > 0 && !quiet {
        eprintln!("vakt: removed {removed} partial segments of an interrupted write");
    }
    let pseudo = crate::keys::pseudonymiser(
        args.pseudonym_key_file.as_deref(),
        &args.input.tenant,
        quiet,
    )?;
    let mut w = store
        .writer(std::sync::Arc::new(pseudo))
        .with_sizes(args.segment_events, args.segment_events.min(16_384));
    let intel = if args.intel.is_empty() {
        None
    } else {
        Some(crate::intel::for_matching(
            &args.intel,
            &args.warninglists,
            args.intel_force,
            quiet,
        )?)
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut hits = Vec::new();
    let mut matched = 0u64;
    let mut said = 0;
    let mut say = |w: &vakt_store::StoreWriter| {
        for s in &w.segments()[said..] {
            eprintln!("stored {}", s.display());
        }
        said = w.segments().len();
    };
    let summary = crate::run::read_all(&args.input, &Events, |batch, _| {
        for e in &batch {
            w.append(e)?;
            if let Some((m, alerting, _)) = &intel {
                hits.clear();
                m.event(e, &mut hits);
                for h in hits.iter().filter(|h| alerting[h.indicator as usize]) {
                    let ind = &m.indicators()[h.indicator as usize];
                    matched += 1;
                    serde_json::to_writer(
                        &mut out,
                        &serde_json::json!({
                            "time": e.time.to_rfc3339(),
                            "indicator": {"kind": ind.kind.name(), "value": ind.value, "source": &*ind.source,
                                "id": ind.id, "confidence": ind.confidence, "tlp": ind.tlp},
                            "field": h.field.name(), "value": h.value,
                            "event_source": &*e.source,
                            "origin": {"path": &*e.origin.path, "where": e.origin.locator.to_string()},
                        }),
                    )
                    .map_err(std::io::Error::from)?;
                    out.write_all(b"\n")?;
                }
            }
        }
        if !quiet {
            say(&w);
        }
        Ok(())
    })?;
    w.flush()?;
    out.flush()?;
    if !quiet {
        say(&w);
        if intel.is_some() {
            eprintln!("vakt: {matched} indicator matches while storing");
        }
        let t = summary.total();
        eprintln!(
            "vakt: {} events from {} files stored in {} segments under {}; {} rejected, {} skipped, {} unreadable",
            w.written(),
            summary.files,
            w.segments().len(),
            dir.display(),
            summary.rejected,
            summary.skipped.len(),
            summary.unreadable.len()
        );
        let _ = t;
    }
    let bad_intel = intel.as_ref().is_some_and(|(_, _, problems)| *problems > 0);
    if bad_intel && summary.unreadable.is_empty() && summary.rejected == 0 {
        let _ = summary.exit_code(quiet);
        return Ok(ExitCode::from(2));
    }
    Ok(summary.exit_code(quiet))
}
