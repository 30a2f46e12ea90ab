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
use vakt_intel::retro::Sighting;

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

/// A sighting as recorded: the hunt's time and the sighting.
#[derive(serde::Serialize, serde::Deserialize)]
struct Recorded {
    hunted: i64,
    kind: String,
    value: String,
    source: String,
    id: String,
    count: u64,
    first: i64,
    last: i64,
    hosts: Vec<String>,
    users: Vec<String>,
    sources: Vec<String>,
    origins: Vec<String>,
}

fn recorded(hunted: i64, s: &Sighting) -> Recorded {
    Recorded {
        hunted,
        kind: s.kind.to_owned(),
        value: s.value.clone(),
        source: s.source.clone(),
        id: s.id.clone(),
        count: s.count,
        first: s.first,
        last: s.last,
        hosts: s.hosts.iter().cloned().collect(),
        users: s.users.iter().cloned().collect(),
        sources: s.sources.iter().cloned().collect(),
        origins: s.origins.clone(),
    }
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
            let rec: Vec<Recorded> = found.sightings.iter().map(|s| recorded(at, s)).collect();
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
            let t = |n: i64| Timestamp(n).to_rfc3339();
            match a.format {
                ExportFormat::Stix => {
                    let mut objects = Vec::new();
                    let identity = "identity--8b3c6f3e-7a1d-4f55-9a57-7a6b5b1c0de5";
                    objects.push(serde_json::json!({
                        "type": "identity", "spec_version": "2.1", "id": identity,
                        "created": t(0), "modified": t(0), "name": "vakt", "identity_class": "system",
                    }));
                    for (n, s) in sightings.iter().enumerate() {
                        // The indicator: its STIX id when it came from STIX, else one made here.
                        let ind_id = if s.id.starts_with("indicator--") {
                            s.id.clone()
                        } else {
                            let made = format!(
                                "indicator--{}",
                                uuid_like(&format!("{}|{}", s.kind, s.value))
                            );
                            let pattern = match s.kind.as_str() {
                                "ip" if s.value.contains(':') => {
                                    format!("[ipv6-addr:value = '{}']", s.value)
                                }
                                "ip" | "cidr" => format!("[ipv4-addr:value = '{}']", s.value),
                                "domain" => format!("[domain-name:value = '{}']", s.value),
                                "url" => format!("[url:value = '{}']", s.value),
                                "md5" => format!("[file:hashes.MD5 = '{}']", s.value),
                                "sha1" => format!("[file:hashes.'SHA-1' = '{}']", s.value),
                                "sha256" => format!("[file:hashes.'SHA-256' = '{}']", s.value),
                                _ => format!("[email-addr:value = '{}']", s.value),
                            };
                            objects.push(serde_json::json!({
                                "type": "indicator", "spec_version": "2.1", "id": made,
                                "created": t(s.hunted), "modified": t(s.hunted),
                                "pattern": pattern, "pattern_type": "stix", "valid_from": t(s.first),
                                "name": format!("{} from {}", s.value, s.source),
                            }));
                            made
                        };
                        objects.push(serde_json::json!({
                            "type": "sighting", "spec_version": "2.1",
                            "id": format!("sighting--{}", uuid_like(&format!("{n}|{}|{}|{}", s.value, s.hunted, s.first))),
                            "created": t(s.hunted), "modified": t(s.hunted), "created_by_ref": identity,
                            "sighting_of_ref": ind_id, "count": s.count.min(999_999_999),
                            "first_seen": t(s.first), "last_seen": t(s.last),
                            "description": format!("seen by hosts {} in {}", s.hosts.join(", "), s.sources.join(", ")),
                        }));
                    }
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&serde_json::json!({
                            "type": "bundle", "id": format!("bundle--{}", uuid_like(&format!("{}", now()))), "objects": objects,
                        }))?
                    );
                }
                ExportFormat::Misp => {
                    let uuid_of =
                        |value: &str| inds.iter().find(|i| i.value == value).map(|i| i.id.clone());
                    let out: Vec<serde_json::Value> = sightings
                        .iter()
                        .map(|s| {
                            serde_json::json!({
                                "value": s.value,
                                "attribute_uuid": uuid_of(&s.value).filter(|u| u.len() == 36),
                                "type": "0",
                                "source": "vakt",
                                "timestamp": (s.last / 1_000_000_000).to_string(),
                                "count": s.count,
                                "first_seen": t(s.first),
                            })
                        })
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&out)?);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// A UUID-shaped identifier derived from a text (version 5 style layout,
/// from two 64-bit hashes): stable for the same text.
fn uuid_like(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut a = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    (text, 0x5eed_u32).hash(&mut b);
    let (x, y) = (a.finish(), b.finish());
    format!(
        "{:08x}-{:04x}-5{:03x}-{:04x}-{:012x}",
        (x >> 32) as u32,
        (x >> 16) as u16,
        (x & 0xfff) as u16,
        ((y >> 48) as u16 & 0x3fff) | 0x8000,
        y & 0xffff_ffff_ffff
    )
}
