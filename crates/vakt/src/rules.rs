//! `vakt rules check`: which rules load, which cannot, and why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use vakt_sigma::{LoadReport, Mapping, Placeholders, RuleSet};

use crate::cli::{OutputFormat, RulesCheckArgs};

/// The logsource mapping: the given file or the shipped one.
pub fn mapping(path: Option<&Path>) -> anyhow::Result<Mapping> {
    match path {
        None => Ok(Mapping::default_mapping()),
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?;
            Mapping::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
        }
    }
}

/// Placeholder values for `expand`, from a YAML map of name → list.
pub fn placeholders(path: Option<&Path>) -> anyhow::Result<Placeholders> {
    let Some(p) = path else {
        return Ok(Placeholders::default());
    };
    let text =
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    let map: BTreeMap<String, Vec<String>> =
        serde_saphyr_like(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    Ok(map.into_iter().collect())
}

fn serde_saphyr_like(text: &str) -> Result<BTreeMap<String, Vec<String>>, String> {
    vakt_sigma::rule::yaml_map_of_lists(text)
}

/// The settings a config file may give (`rules`, `logsources`,
/// `placeholders`, `pseudonym_keys`).
#[derive(Debug, Default, serde::Deserialize)]
pub struct Config {
    /// Per tenant: the file holding its pseudonymisation key (16 bytes or
    /// more), e.g. `pseudonym_keys: {ous: /etc/vakt/ous.key}`; a tenant
    /// without one uses `--pseudonym-key-file`.
    #[serde(default)]
    pub pseudonym_keys: BTreeMap<String, PathBuf>,
    /// Rule folders or files.
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    /// The logsource mapping.
    pub logsources: Option<PathBuf>,
    /// Placeholder values for `expand`.
    pub placeholders: Option<PathBuf>,
}

/// The config file: `$VAKT_CONFIG`, else `./vakt.yml`, else `$XDG_CONFIG_HOME/vakt/config.yml`
/// (or `~/.config/vakt/config.yml`); relative paths in it are relative to the file.
pub fn config() -> anyhow::Result<Option<(PathBuf, Config)>> {
    let home = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let candidates: Vec<PathBuf> = match std::env::var_os("VAKT_CONFIG") {
        Some(p) => vec![PathBuf::from(p)],
        None => std::iter::once(PathBuf::from("vakt.yml"))
            .chain(home.map(|h| h.join("vakt/config.yml")))
            .collect(),
    };
    for path in candidates {
        if !path.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut c: Config = serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: not a vakt config: {e}", path.display()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let fix = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        c.rules = c.rules.into_iter().map(fix).collect();
        c.logsources = c.logsources.map(fix);
        c.placeholders = c.placeholders.map(fix);
        c.pseudonym_keys = c
            .pseudonym_keys
            .into_iter()
            .map(|(t, p)| (t, fix(p)))
            .collect();
        return Ok(Some((path, c)));
    }
    Ok(None)
}

/// Loads the rules (and vakt's own pack with them unless `no_pack`), timing it.
pub fn load(
    paths: &[PathBuf],
    logsources: Option<&Path>,
    placeholder_file: Option<&Path>,
    no_pack: bool,
) -> anyhow::Result<(RuleSet, LoadReport, f64)> {
    let mapping = mapping(logsources)?;
    let ph = placeholders(placeholder_file)?;
    let started = Instant::now();
    let pack = if no_pack {
        Vec::new()
    } else {
        vakt_sigma::pack::parse()
    };
    let (set, mut report) = RuleSet::load_with(paths, pack, &mapping, &ph);
    if !no_pack {
        report.files += vakt_sigma::pack::PACK.len();
    }
    Ok((set, report, started.elapsed().as_secs_f64()))
}

/// vakt's own rule pack as `vakt rules check` lists it.
pub fn pack_listing() -> Vec<serde_json::Value> {
    vakt_sigma::pack::parse()
        .into_iter()
        .map(|r| match r {
            Ok(r) => serde_json::json!({
                "path": &*r.meta.path,
                "id": r.meta.id,
                "title": r.meta.title,
                "level": r.meta.level,
                "logsource": {
                    "product": r.meta.logsource.product,
                    "category": r.meta.logsource.category,
                    "service": r.meta.logsource.service,
                },
                "techniques": r.meta.techniques(),
            }),
            Err(e) => serde_json::json!({"path": &*e.path, "error": e.reason}),
        })
        .collect()
}

/// What `vakt rules check --format json` says of a loaded rule set.
pub fn check_json(
    set: &vakt_sigma::RuleSet,
    report: &vakt_sigma::LoadReport,
    secs: f64,
) -> serde_json::Value {
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for e in &report.unsupported {
        *reasons.entry(reason_class(&e.reason)).or_default() += 1;
    }
    serde_json::json!({
        "files": report.files,
        "rules": report.loaded + report.unsupported.len(),
        "loaded": report.loaded,
        "unsupported": report.unsupported.len(),
        "never_match": report.unmapped.len(),
        "correlations": report.correlations,
        "filters": report.filters,
        "variants": set.variant_count(),
        "load_seconds": secs,
        "reasons": reasons,
        "unsupported_rules": report.unsupported.iter().map(|e| serde_json::json!({
            "path": &*e.path, "title": e.title, "reason": e.reason
        })).collect::<Vec<_>>(),
    })
}

/// Runs `vakt rules check`.
pub fn check(args: RulesCheckArgs) -> anyhow::Result<ExitCode> {
    for p in &args.paths {
        if !p.exists() {
            tracing::error!(target: "vakt::input", "cannot read: {}: no such file or folder", p.display());
            return Ok(ExitCode::from(1));
        }
    }
    let (set, report, secs) = load(
        &args.paths,
        args.logsources.as_deref(),
        args.placeholders.as_deref(),
        args.no_pack,
    )?;
    let pack = if args.no_pack {
        Vec::new()
    } else {
        pack_listing()
    };
    let total = report.loaded + report.unsupported.len();
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for e in &report.unsupported {
        *reasons.entry(reason_class(&e.reason)).or_default() += 1;
    }
    match args.format {
        OutputFormat::Json => {
            let mut v = check_json(&set, &report, secs);
            v["pack"] = serde_json::Value::Array(pack);
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        OutputFormat::Table => {
            let pct = if total == 0 {
                0.0
            } else {
                100.0 * report.loaded as f64 / total as f64
            };
            println!(
                "{} of {} rules loaded ({pct:.1} %) from {} files in {secs:.2} s; {} unsupported",
                report.loaded,
                total,
                report.files,
                report.unsupported.len()
            );
            println!(
                "{} correlation rules, {} filters; {} loaded rules have a logsource that maps to no events vakt reads (they never match)",
                report.correlations,
                report.filters,
                report.unmapped.len()
            );
            if !reasons.is_empty() {
                println!("\nunsupported, by reason:");
                for (r, n) in &reasons {
                    println!("  {n:>5}  {r}");
                }
            }
            if !pack.is_empty() {
                println!(
                    "\nvakt's own rule pack ({} rules, built in; --no-pack leaves it out):",
                    pack.len()
                );
                for r in &pack {
                    println!(
                        "  {:<13} {}  [{}]",
                        r["level"].as_str().unwrap_or("-"),
                        r["title"].as_str().or(r["error"].as_str()).unwrap_or("-"),
                        r["path"].as_str().unwrap_or("")
                    );
                }
            }
            if args.verbose {
                for e in &report.unsupported {
                    println!("  {e}");
                }
            } else if !report.unsupported.is_empty() {
                println!("  (--verbose lists every rule)");
            }
        }
    }
    Ok(if report.unsupported.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// A reason without the rule-specific details, to count rules by reason.
fn reason_class(reason: &str) -> String {
    let r = reason.split_once(": ").map_or(reason, |(head, tail)| {
        if head.starts_with("selection `") || head.starts_with("condition `") {
            tail
        } else {
            reason
        }
    });
    let mut out = String::new();
    let mut in_tick = false;
    for c in r.chars() {
        if c == '`' {
            in_tick = !in_tick;
            out.push_str(if in_tick { "`…" } else { "`" });
        } else if !in_tick {
            out.push(c);
        }
    }
    out
}
