//! `vakt stats`: events per source kind, time range, rejected records.

use std::collections::BTreeMap;
use std::process::ExitCode;

use vakt_core::Timestamp;
use vakt_detect::{Pipeline, Summary};

use crate::cli::{OutputFormat, StatsArgs};

/// Runs `vakt stats`.
pub fn run(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let source = crate::input::files(&args.input, false)?;
    let mut pipeline = Pipeline::new(Vec::new(), Vec::new());
    pipeline.threads = crate::input::threads(&args.input);
    pipeline.quarantine = args.input.quarantine.clone();
    let bar = crate::input::Bar::new(args.input.quiet);
    let summary = pipeline.run(&source, &bar)?.summary;
    bar.finish();
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&json(&summary))?),
        OutputFormat::Table => print!("{}", table(&summary, args.show_skipped)),
    }
    Ok(crate::input::exit_code(&summary, 0, args.input.quiet))
}

fn time(t: Option<Timestamp>) -> serde_json::Value {
    t.map(|t| serde_json::Value::String(t.to_rfc3339()))
        .unwrap_or(serde_json::Value::Null)
}

/// The JSON report: `{"events","rejected","first","last","by_source":{KIND:{"events","rejected"}}, ...}`.
pub fn json(s: &Summary) -> serde_json::Value {
    let total = s.total();
    let by_source: serde_json::Map<String, serde_json::Value> = s
        .by_source
        .iter()
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::json!({
                    "events": v.events,
                    "rejected": v.rejected,
                    "first": time(v.first),
                    "last": time(v.last),
                }),
            )
        })
        .collect();
    serde_json::json!({
        "events": total.events,
        "rejected": s.rejected,
        "first": time(total.first),
        "last": time(total.last),
        "by_source": by_source,
        "files": s.inputs,
        "skipped": s.skipped.iter().map(|(p, r)| serde_json::json!({"path": &**p, "reason": r})).collect::<Vec<_>>(),
        "unreadable": s.unreadable.iter().map(|e| serde_json::json!({"path": &*e.path, "reason": e.reason})).collect::<Vec<_>>(),
    })
}

fn table(s: &Summary, show_skipped: bool) -> String {
    let mut out = String::new();
    let t = |x: Option<Timestamp>| x.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
    let width = s
        .by_source
        .keys()
        .map(|k| k.len())
        .max()
        .unwrap_or(6)
        .max(6);
    out.push_str(&format!(
        "{:<width$}  {:>10}  {:>8}  {:<32}  {:<32}\n",
        "source", "events", "rejected", "first", "last"
    ));
    for (k, v) in &s.by_source {
        out.push_str(&format!(
            "{:<width$}  {:>10}  {:>8}  {:<32}  {:<32}\n",
            k,
            v.events,
            v.rejected,
            t(v.first),
            t(v.last)
        ));
    }
    let total = s.total();
    out.push_str(&format!(
        "{:<width$}  {:>10}  {:>8}  {:<32}  {:<32}\n",
        "total",
        total.events,
        s.rejected,
        t(total.first),
        t(total.last)
    ));
    out.push_str(&format!("\n{} files read", s.inputs));
    if s.skipped.is_empty() {
        out.push('\n');
    } else {
        out.push_str(&format!(
            ", {} skipped (not an event format):\n",
            s.skipped.len()
        ));
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, r) in &s.skipped {
            *reasons.entry(r).or_default() += 1;
        }
        for (r, n) in reasons {
            out.push_str(&format!("  {n:>6}  {r}\n"));
        }
        if show_skipped {
            for (p, r) in &s.skipped {
                out.push_str(&format!("  skipped {p}: {r}\n"));
            }
        } else {
            out.push_str("  (--show-skipped lists them)\n");
        }
    }
    for e in &s.unreadable {
        out.push_str(&format!("unreadable: {e}\n"));
    }
    out
}
