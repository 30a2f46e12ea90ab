//! `vakt beacons`: the beacons RITA v5 would list for the same Zeek logs,
//! with its import rules and scores, to compare vakt with RITA line by line.

use std::process::ExitCode;

use vakt_analytics::beacon::BeaconConfig;
use vakt_analytics::rita::{RitaBeacons, RitaFilter};
use vakt_core::ZeekLog;

use crate::cli::{BeaconsArgs, OutputFormat};

/// RITA's beacon listing as a sink of Zeek events.
struct Rita(RitaBeacons);

impl vakt_core::Sink for Rita {
    fn name(&self) -> &'static str {
        "rita"
    }

    fn wants_events(&self) -> bool {
        true
    }

    fn event(&mut self, e: &vakt_core::Event) -> Result<(), vakt_core::Error> {
        if matches!(
            e.source.zeek_log(),
            Some(ZeekLog::Conn | ZeekLog::Ssl | ZeekLog::Http)
        ) {
            self.0.observe(e);
        }
        Ok(())
    }
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
    let source = crate::input::files(&args.input, false)?;
    let mut pipeline =
        vakt_detect::Pipeline::new(Vec::new(), vec![Box::new(Rita(RitaBeacons::new(filter)))]);
    pipeline.threads = crate::input::threads(&args.input);
    pipeline.quarantine = args.input.quarantine.clone();
    let summary = pipeline.run(&source, &vakt_detect::Quiet)?.summary;
    let Some(rita) = pipeline
        .into_sinks()
        .into_iter()
        .find_map(|s| (s as Box<dyn std::any::Any>).downcast::<Rita>().ok())
    else {
        anyhow::bail!("the RITA listing went missing");
    };
    let rita = rita.0;
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
    Ok(crate::input::exit_code(&summary, 0, args.input.quiet))
}
