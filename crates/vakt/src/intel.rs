//! `vakt intel add|list|stats|export --store DIR`.
//!
//! The store keeps its intelligence under `DIR/intel/`: `indicators.jsonl`
//! (every indicator added, one JSON object per line) and `sightings.jsonl`
//! (every retro-hunt's sightings, with when the hunt ran).

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use vakt_core::Timestamp;
use vakt_intel::Indicator;
use vakt_intel::export::Recorded;

use crate::cli::{ExportFormat, IntelCommand, OutputFormat};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn append_lines<T: serde::Serialize>(path: &Path, items: &[T]) -> anyhow::Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let mut buf = Vec::new();
    for i in items {
        serde_json::to_writer(&mut buf, i)?;
        buf.push(b'\n');
    }
    f.write_all(&buf)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.sync_all().ok();
    Ok(())
}

fn read_lines<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(Vec::new());
    };
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l).with_context(|| format!("{} line {}", path.display(), i + 1))
        })
        .collect()
}

/// Loads indicators for live matching: the matcher, which indicators may
/// alert (meant for detection and not warninglisted, or all when forced),
/// and the number of problems (each said on standard error).
pub fn for_matching(
    paths: &[std::path::PathBuf],
    warninglists: &[std::path::PathBuf],
    force: bool,
    quiet: bool,
) -> anyhow::Result<(vakt_intel::Matcher, Vec<bool>, usize)> {
    let mut loaded = vakt_intel::load(paths);
    if !warninglists.is_empty() {
        let lists = vakt_intel::Warninglists::load(warninglists)?;
        loaded.mark_warninglisted(&lists);
    }
    for p in &loaded.problems {
        tracing::warn!(target: "vakt::intel", "intel: {p}");
    }
    let alerting: Vec<bool> = loaded
        .indicators
        .iter()
        .map(|i| force || (i.to_ids && i.warning.is_none()))
        .collect();
    if !quiet {
        let counts: Vec<String> = loaded
            .counts()
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        eprintln!(
            "vakt: {} indicators loaded ({}); {} warninglisted or not for detection, not alerting{}; {} patterns or attributes unsupported",
            loaded.indicators.len(),
            counts.join(", "),
            alerting.iter().filter(|a| !**a).count(),
            if force { " (forced: alerting)" } else { "" },
            loaded.unsupported.values().sum::<usize>()
        );
    }
    let problems = loaded.problems.len();
    Ok((
        vakt_intel::Matcher::new(loaded.indicators),
        alerting,
        problems,
    ))
}

/// Runs `vakt intel …`.
pub fn run(c: IntelCommand) -> anyhow::Result<ExitCode> {
    match c {
        IntelCommand::Add(a) => {
            let (store, _) = vakt_store::Store::open(&a.store)?;
            let mut loaded = vakt_intel::load(&a.paths);
            if !a.warninglists.is_empty() {
                let lists = vakt_intel::Warninglists::load(&a.warninglists)?;
                loaded.mark_warninglisted(&lists);
            }
            for p in &loaded.problems {
                tracing::warn!(target: "vakt::intel", "intel: {p}");
            }
            let hunted: Vec<Indicator> = loaded
                .indicators
                .iter()
                .filter(|i| a.force || (i.to_ids && i.warning.is_none()))
                .cloned()
                .collect();
            append_lines(&a.store.join("intel/indicators.jsonl"), &loaded.indicators)?;
            let started = std::time::Instant::now();
            let found = vakt_intel::retro::hunt(&store, &hunted)?;
            let secs = started.elapsed().as_secs_f64();
            let at = now();
            let rec: Vec<Recorded> = found
                .sightings
                .iter()
                .map(|s| Recorded::of(at, s))
                .collect();
            append_lines(&a.store.join("intel/sightings.jsonl"), &rec)?;
            let t = |n: i64| Timestamp(n).to_rfc3339();
            match a.format {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "indicators": loaded.indicators.len(),
                        "hunted": hunted.len(),
                        "problems": loaded.problems.len(),
                        "sightings": found.sightings.iter().map(|s| serde_json::json!({
                            "value": s.value, "kind": s.kind, "source": s.source, "id": s.id,
                            "count": s.count, "first": t(s.first), "last": t(s.last),
                            "hosts": s.hosts, "users": s.users, "sources": s.sources, "origins": s.origins,
                        })).collect::<Vec<_>>(),
                        "segments": {"total": found.segments.0, "read": found.segments.1},
                        "row_groups": {"total": found.row_groups.0, "read": found.row_groups.1},
                        "events_read": found.events_read,
                        "seconds": secs,
                    }))?
                ),
                OutputFormat::Table => {
                    for s in &found.sightings {
                        let hosts: Vec<&str> = s.hosts.iter().map(String::as_str).take(5).collect();
                        println!(
                            "{} {} ({}): {} events, first {} by {}, last {}",
                            s.kind,
                            s.value,
                            s.source,
                            s.count,
                            t(s.first),
                            hosts.join(", "),
                            t(s.last)
                        );
                    }
                    eprintln!(
                        "vakt: {} indicators added ({} hunted); {} seen in the history; {} of {} segments and {} of {} row groups read ({} events) in {secs:.2} s",
                        loaded.indicators.len(),
                        hunted.len(),
                        found.sightings.len(),
                        found.segments.1,
                        found.segments.0,
                        found.row_groups.1,
                        found.row_groups.0,
                        found.events_read
                    );
                }
            }
            Ok(if loaded.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        IntelCommand::List(a) => {
            let inds: Vec<Indicator> = read_lines(&a.store.join("intel/indicators.jsonl"))?;
            match a.format {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&inds)?),
                OutputFormat::Table => {
                    for i in &inds {
                        println!(
                            "{:<7} {:<50} {:<5} {}{}",
                            i.kind.name(),
                            i.value,
                            i.confidence.map_or("-".into(), |c| c.to_string()),
                            i.source,
                            i.warning
                                .as_ref()
                                .map_or(String::new(), |w| format!(" [warninglist: {w}]"))
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        IntelCommand::Stats(a) => {
            let inds: Vec<Indicator> = read_lines(&a.store.join("intel/indicators.jsonl"))?;
            let sightings: Vec<Recorded> = read_lines(&a.store.join("intel/sightings.jsonl"))?;
            let mut by_kind = std::collections::BTreeMap::<&str, usize>::new();
            let mut by_source = std::collections::BTreeMap::<String, usize>::new();
            for i in &inds {
                *by_kind.entry(i.kind.name()).or_default() += 1;
                *by_source.entry(i.source.to_string()).or_default() += 1;
            }
            let warned = inds.iter().filter(|i| i.warning.is_some()).count();
            match a.format {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "indicators": inds.len(), "by_kind": by_kind, "by_source": by_source,
                        "warninglisted": warned, "sightings": sightings.len(),
                    }))?
                ),
                OutputFormat::Table => {
                    println!(
                        "{} indicators ({warned} warninglisted), {} sightings recorded",
                        inds.len(),
                        sightings.len()
                    );
                    for (k, n) in &by_kind {
                        println!("  {k:<8} {n:>8}");
                    }
                    for (k, n) in &by_source {
                        println!("  {n:>8}  {k}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        IntelCommand::Export(a) => {
            let sightings: Vec<Recorded> = read_lines(&a.store.join("intel/sightings.jsonl"))?;
            let inds: Vec<Indicator> = read_lines(&a.store.join("intel/indicators.jsonl"))?;
            let out = match a.format {
                ExportFormat::Stix => vakt_intel::export::stix_bundle(&sightings, now()),
                ExportFormat::Misp => vakt_intel::export::misp_sightings(&sightings, &inds),
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(ExitCode::SUCCESS)
        }
    }
}
