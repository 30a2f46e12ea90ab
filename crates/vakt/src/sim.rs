//! `vakt sim`: a synthetic health region under attack.

use std::process::ExitCode;
use std::time::Instant;

use vakt_sim::{Config, Speed, Stealth};

use crate::cli::{SimArgs, SpeedArg, StealthArg};

/// Runs `vakt sim`.
pub fn run(args: SimArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = Config::new(&args.out, args.seed, args.patients, args.days);
    if let Some(s) = args.staff {
        cfg.staff = s;
    }
    cfg.scenario = Some(args.scenario.clone());
    cfg.stealth = match args.stealth {
        StealthArg::Low => Stealth::Low,
        StealthArg::Medium => Stealth::Medium,
        StealthArg::High => Stealth::High,
    };
    if let Some(s) = args.speed {
        cfg.speed = match s {
            SpeedArg::Fast => Speed::Fast,
            SpeedArg::Normal => Speed::Normal,
            SpeedArg::Slow => Speed::Slow,
        };
    }
    if let Some(h) = args.attack_start {
        cfg.attack_start_hours = h;
    }
    if !(0.0..=1.0).contains(&args.no_relationship_share) {
        anyhow::bail!("--no-relationship-share must be between 0 and 1");
    }
    cfg.no_relationship_share = args.no_relationship_share;
    cfg.insiders = !args.no_insiders;
    cfg.replay = vakt_sim::replay::files(&args.replay);
    if !args.replay.is_empty() && cfg.replay.is_empty() {
        anyhow::bail!(
            "--replay: no recordings (.zip, .json, .jsonl, .ndjson, .evtx) under {}",
            args.replay
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let started = Instant::now();
    let summary = vakt_sim::run(&cfg).map_err(|e| anyhow::anyhow!("{e}"))?;
    let secs = started.elapsed().as_secs_f64();
    if !args.quiet {
        let bytes: u64 = summary
            .files
            .iter()
            .filter_map(|f| std::fs::metadata(args.out.join(f)).ok())
            .map(|m| m.len())
            .sum();
        eprintln!(
            "vakt: {} days of {} patients and {} staff: {} records in {} files ({:.1} MB) in {secs:.1} s; {} clinician reads, {:.1} % without a care relationship; {} patients exposed, {} of them read by the attacker's collection (truth/)",
            cfg.days,
            cfg.patients,
            cfg.staff,
            summary.records,
            summary.files.len(),
            bytes as f64 / 1e6,
            summary.reads.0,
            100.0 * summary.reads.1 as f64 / summary.reads.0.max(1) as f64,
            summary.exposed,
            summary.collected,
        );
    }
    Ok(ExitCode::SUCCESS)
}
