//! `vakt ingest`: logs in, normalised events out as JSON Lines — or into
//! the event store, matched against indicators as they are stored.

use std::any::Any;
use std::process::ExitCode;
use std::sync::Arc;

use vakt_core::Sink;
use vakt_detect::sinks::{EventLines, StoreSink};
use vakt_detect::{Pipeline, Setup, detectors};

use crate::cli::IngestArgs;

fn sink<T: Sink>(p: &Pipeline) -> Option<&T> {
    p.sinks()
        .iter()
        .find_map(|s| (&**s as &dyn Any).downcast_ref::<T>())
}

/// Runs `vakt ingest`.
pub fn run(args: IngestArgs) -> anyhow::Result<ExitCode> {
    let quiet = args.input.quiet;
    let source = crate::input::files(&args.input, false)?;
    let mut setup = Setup {
        analytics: vakt_detect::Analytics::None,
        ..Setup::default()
    };
    let mut problems = 0;
    let mut sinks: Vec<Box<dyn Sink>> = Vec::new();
    match &args.store {
        Some(dir) => {
            let (store, removed) = vakt_store::Store::open(dir)?;
            if removed > 0 {
                tracing::warn!(target: "vakt::store", "removed {removed} partial segments of an interrupted write");
            }
            let tenant = args.input.tenant.as_deref().unwrap_or("default");
            let pseudo =
                crate::keys::pseudonymiser(args.pseudonym_key_file.as_deref(), tenant, quiet)?;
            let writer = store
                .writer(Arc::new(pseudo))
                .with_sizes(args.segment_events, args.segment_events.min(16_384));
            // Each segment, once complete, is said: it is durable from then on.
            let say: vakt_detect::sinks::OnSegment = if quiet {
                Box::new(|_| {})
            } else {
                Box::new(|p| eprintln!("stored {}", p.display()))
            };
            sinks.push(Box::new(StoreSink::new(writer, Some(say))));
            if !args.intel.is_empty() {
                let (i, n) = crate::setup::indicators(
                    &args.intel,
                    &args.warninglists,
                    args.intel_force,
                    quiet,
                )?;
                setup.indicators = Some(i);
                problems += n;
                sinks.push(crate::hunt::writer("jsonl", None)?);
            }
        }
        None => {
            sinks.push(Box::new(EventLines::new(crate::hunt::output(
                args.output.as_deref(),
            )?)));
        }
    }
    let mut pipeline = Pipeline::new(detectors(&setup), sinks);
    pipeline.threads = crate::input::threads(&args.input);
    pipeline.quarantine = args.input.quarantine.clone();
    let bar = crate::input::Bar::new(quiet);
    let outcome = pipeline.run(&source, &bar)?;
    bar.finish();
    if !quiet {
        let s = &outcome.summary;
        if let Some(store) = sink::<StoreSink>(&pipeline) {
            if setup.indicators.is_some() {
                let matches: u64 = outcome.alerts.iter().map(|a| a.count).sum();
                eprintln!(
                    "vakt: {matches} indicator matches while storing ({} alerts)",
                    outcome.alerts.len()
                );
            }
            let w = store.writer();
            eprintln!(
                "vakt: {} events from {} files stored in {} segments under {}; {} rejected, {} skipped, {} unreadable",
                w.written(),
                s.inputs,
                w.segments().len(),
                args.store
                    .as_deref()
                    .unwrap_or(std::path::Path::new(""))
                    .display(),
                s.rejected,
                s.skipped.len(),
                s.unreadable.len()
            );
        } else {
            eprintln!(
                "vakt: {} events from {} files; {} rejected, {} skipped (not an event format), {} unreadable",
                s.total().events,
                s.inputs,
                s.rejected,
                s.skipped.len(),
                s.unreadable.len()
            );
        }
    }
    Ok(crate::input::exit_code(&outcome.summary, problems, quiet))
}
