//! `vakt beacons`: the beacons RITA v5 would list for the same Zeek logs,
//! with its import rules and scores, to compare vakt with RITA line by line.

use std::process::ExitCode;

use vakt_analytics::beacon::BeaconConfig;
use vakt_analytics::rita::{RitaBeacons, RitaFilter};

use crate::cli::{BeaconsArgs, OutputFormat};

struct ZeekOnly;

impl crate::run::EventWork for ZeekOnly {
    type Item = vakt_core::Event;
    type State = ();

    fn start(&self) {}

    fn event(&self, _: &mut (), e: vakt_core::Event, emit: &mut dyn FnMut(vakt_core::Event)) {
        if matches!(&*e.source, "zeek:conn" | "zeek:ssl" | "zeek:http") {
            emit(e);
        }
    }

    fn finish(&self, _: (), _: &mut dyn FnMut(vakt_core::Event)) {}
}

/// Runs `vakt beacons`.
pub fn run(args: BeaconsArgs) -> anyhow::Result<ExitCode> {
    let mut filter = RitaFilter::default();
    if args.keep_external_to_internal {
        filter = filter.keep_external_to_internal();
    }
    for s in &args.internal {
        filter
            .add_internal(s)
            .ok_or_else(|| anyhow::anyhow!("--internal {s:?} is not an address or subnet"))?;
    }
    let mut rita = RitaBeacons::new(filter);
    let summary = crate::run::read_all(&args.input, &ZeekOnly, |e, _| {
        rita.observe(&e);
        Ok(())
    })?;
    let list: Vec<_> = rita
        .finish(&BeaconConfig::default())
        .into_iter()
        .filter(|b| b.score.score >= args.min_score)
        .collect();
    match args.format {
        OutputFormat::Json => {
            let items: Vec<serde_json::Value> = list
                .iter()
                .map(|b| {
                    serde_json::json!({
                        "src": b.src.to_string(),
                        "dst": b.target.to_string(),
                        "type": if matches!(b.target, vakt_analytics::rita::RitaTarget::Ip(_)) { "ip" } else { "sni" },
                        "proxied": b.proxied,
                        "count": b.count,
                        "score": b.score.score,
                        "ts": b.score.ts,
                        "ds": b.score.ds,
                        "dur": b.score.dur,
                        "hist": b.score.hist,
                    })
                })
                .collect();
            let range = rita.dataset_range();
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "dataset_range": range.map(|(a, b)| [a, b]),
                    "beacons": items,
                }))?
            );
        }
        OutputFormat::Table => {
            println!(
                "{:>5}  {:>5}  {:>5}  {:>5}  {:>5}  {:>7}  {:<40}  destination",
                "score", "ts", "ds", "dur", "hist", "conns", "source"
            );
            for b in &list {
                println!(
                    "{:>5.3}  {:>5.3}  {:>5.3}  {:>5.3}  {:>5.3}  {:>7}  {:<40}  {}{}",
                    b.score.score,
                    b.score.ts,
                    b.score.ds,
                    b.score.dur,
                    b.score.hist,
                    b.count,
                    b.src,
                    b.target,
                    if b.proxied { " (proxied)" } else { "" }
                );
            }
        }
    }
    Ok(summary.exit_code(args.input.quiet))
}
