//! `vakt store stats` and `vakt store retain`.

use std::process::ExitCode;

use vakt_core::Timestamp;

use crate::cli::{OutputFormat, StoreCommand};

/// Runs `vakt store …`.
pub fn run(c: StoreCommand) -> anyhow::Result<ExitCode> {
    match c {
        StoreCommand::Stats(a) => {
            if !a.dir.join("events").is_dir() {
                anyhow::bail!(
                    "{} is not a vakt store (no events/ folder)",
                    a.dir.display()
                );
            }
            let (store, _) = vakt_store::Store::open(&a.dir)?;
            let st = store.stats()?;
            let t = |x: Option<i64>| x.map(|n| Timestamp(n).to_rfc3339());
            match a.format {
                OutputFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({
                        "events": st.events, "segments": st.segments, "bytes": st.bytes,
                        "first": t(st.first), "last": t(st.last),
                        "by_tenant": st.by_tenant, "by_source": st.by_source,
                    }))?
                ),
                OutputFormat::Table => {
                    println!(
                        "{} events in {} segments, {} bytes ({:.1} bytes per event), from {} to {}",
                        st.events,
                        st.segments,
                        st.bytes,
                        st.bytes as f64 / st.events.max(1) as f64,
                        t(st.first).unwrap_or_else(|| "-".into()),
                        t(st.last).unwrap_or_else(|| "-".into())
                    );
                    for (k, n) in &st.by_tenant {
                        println!("  tenant {k:<30} {n:>12}");
                    }
                    for (k, n) in &st.by_source {
                        println!("  source {k:<30} {n:>12}");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Retain(a) => {
            let (store, _) = vakt_store::Store::open(&a.dir)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as i64);
            let oldest = a.max_age.map(|s| now - s * 1_000_000_000);
            let n = store.retain(oldest, a.max_bytes)?;
            eprintln!("vakt: {n} day partitions deleted");
            Ok(ExitCode::SUCCESS)
        }
    }
}
