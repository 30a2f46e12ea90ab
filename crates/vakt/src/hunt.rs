//! `vakt hunt`: every detector over logs or the stored history — the
//! arguments, the pipeline of `vakt-detect`, and the summary on standard
//! error.

use std::any::Any;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::process::ExitCode;

use anyhow::Context;
use vakt_analytics::ehr::EhrDetectors;
use vakt_analytics::network::NetworkDetectors;
use vakt_analytics::stream::StreamConfig;
use vakt_core::{Alert, Detector, Rule, Sink, Timestamp};
use vakt_detect::sinks::Output;
use vakt_detect::{AlertFilter, Outcome, Pipeline, Source, detectors};

use crate::cli::HuntArgs;
use crate::setup::HuntSetup;

fn parse_time(t: Option<&str>) -> anyhow::Result<Option<Timestamp>> {
    t.map(|t| Timestamp::parse(t).map_err(|e| anyhow::anyhow!("{t}: {e}")))
        .transpose()
}

/// A file, or standard output.
pub fn output(path: Option<&std::path::Path>) -> anyhow::Result<Output> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout())),
    })
}

/// A writer of a format to a file or standard output.
pub fn writer(format: &str, path: Option<&std::path::Path>) -> anyhow::Result<Box<dyn Sink>> {
    vakt_detect::sinks::writer(format, output(path)?)
        .with_context(|| format!("no output format `{format}`"))
}

/// A detector of the run as its own type.
pub fn detector<D: Detector>(p: &Pipeline) -> Option<&D> {
    p.detectors()
        .iter()
        .find_map(|d| (&**d as &dyn Any).downcast_ref::<D>())
}

/// Runs `vakt hunt`.
pub fn run(args: HuntArgs) -> anyhow::Result<ExitCode> {
    let quiet = args.input.quiet;
    let store = match &args.store {
        Some(dir) => Some(
            vakt_store::Store::open(dir)
                .with_context(|| format!("cannot open the store {}", dir.display()))?
                .0,
        ),
        None => None,
    };
    let tenant = args.input.tenant.clone();
    let loaded = crate::setup::hunt(&HuntSetup {
        rules: &args.rules,
        analytics: &args.analytics,
        context: &args.context,
        intel: &args.intel,
        warninglists: &args.warninglists,
        intel_force: args.intel_force,
        key_file: args.pseudonym_key_file.as_deref(),
        tenant: tenant.as_deref().unwrap_or("default"),
        site: args.site.as_deref(),
        assets: &[],
        // Rotated logs of one period arrive together but not interleaved:
        // events up to a step late are in time.
        stream: args.stream_window.map(|window| StreamConfig {
            window,
            step: args.stream_step,
            lateness: args.stream_step,
        }),
        from_store: store.is_some(),
        quiet,
    })?;
    let mut sinks = vec![writer(&args.format, args.output.as_deref())?];
    if let Some(p) = &args.alerts {
        sinks.push(writer("jsonl", Some(p))?);
    }
    let mut pipeline = Pipeline::new(detectors(&loaded.setup), sinks);
    pipeline.filter = AlertFilter {
        min_severity: args.min_level.map(|l| l.severity()),
        status: args.status.clone(),
        rule_ids: args.rule_ids.clone(),
        tags: args.tags.clone(),
    };
    pipeline.allow = crate::setup::allow_lists(&args.allow_lists)?;
    let (from, to) = (
        parse_time(args.from.as_deref())?,
        parse_time(args.to.as_deref())?,
    );
    pipeline.window = (from, to);
    pipeline.threads = crate::input::threads(&args.input);
    pipeline.quarantine = args.input.quarantine.clone();
    let source = match &store {
        Some(store) => Source::Store {
            store,
            query: vakt_store::EventQuery {
                tenant: tenant.clone(),
                from: from.map(|t| t.0),
                to: to.map(|t| t.0),
            },
        },
        None => crate::input::files(&args.input, args.stream_window.is_some())?,
    };
    let bar = crate::input::Bar::new(quiet);
    let outcome = pipeline.run(&source, &bar)?;
    bar.finish();
    let mut problems = loaded.problems;
    if let Some(ehr) = detector::<EhrDetectors>(&pipeline) {
        let c = ehr.counts();
        if !quiet {
            eprintln!(
                "vakt: EHR analytics: {} AuditEvents ({} without a user or patient; {} reads as approved research exports, not judged); {}",
                c.events,
                c.unattributed,
                c.approved_research,
                ehr.footprint().unwrap_or_default()
            );
        }
        if c.invalid_identity_numbers > 0 {
            tracing::warn!(
                target: "vakt::ehr",
                "EHR analytics: {} patients named by an identity number that fails its check digits (bad input)",
                c.invalid_identity_numbers
            );
            problems += c.invalid_identity_numbers as usize;
        }
    }
    if let Some(net) = detector::<NetworkDetectors>(&pipeline) {
        let (late, dropped) = net.late();
        if !quiet && (late > 0 || dropped > 0) {
            eprintln!(
                "stream: {late} events arrived late ({dropped} of them before the window, left out)"
            );
        }
        let (transit, conns) = net.transit();
        if !quiet && conns > 0 && transit * 2 > conns {
            eprintln!(
                "vakt: {transit} of {conns} connections had neither end inside the site: \
                 does the site model (--site) name the sensor's networks?"
            );
        }
    }
    if !quiet {
        summary(&outcome, loaded.rules_secs, store.is_some());
    }
    Ok(crate::input::exit_code(&outcome.summary, problems, quiet))
}

/// How a summary names an alert's rule: its title, or for a behaviour
/// finding (each has its own title) its detector.
fn rule_label(a: &Alert) -> String {
    match &*a.rule {
        Rule::Analytic(_) => a.rule.title(),
        _ => a.title.clone(),
    }
}

/// Detections by rule and level, and what was read how fast.
fn summary(o: &Outcome, rules_secs: f64, from_store: bool) {
    if !o.set_aside.is_empty() {
        let lists: Vec<String> = o
            .set_aside
            .iter()
            .map(|(l, n)| format!("{l} {n}"))
            .collect();
        eprintln!(
            "behaviour findings set aside by allow-lists: {}",
            lists.join(", ")
        );
    }
    let mut per_rule: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut per_level: BTreeMap<String, usize> = BTreeMap::new();
    for a in &o.alerts {
        let level = vakt_detect::sinks::level(a).to_owned();
        *per_rule.entry((level.clone(), rule_label(a))).or_default() += 1;
        *per_level.entry(level).or_default() += 1;
    }
    let mut rules: Vec<_> = per_rule.into_iter().collect();
    rules.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    eprintln!("\ndetections by rule:");
    for ((level, title), n) in rules.iter().take(25) {
        eprintln!("  {n:>7}  {level:<13} {title}");
    }
    if rules.len() > 25 {
        eprintln!("  … and {} more rules", rules.len() - 25);
    }
    let levels: Vec<String> = per_level.iter().map(|(l, n)| format!("{l} {n}")).collect();
    let events = o.summary.total().events;
    eprintln!(
        "\n{} detections ({}) from {} rules; {} events in {} {} scanned in {:.2} s ({:.0} events/s); rules loaded in {rules_secs:.2} s",
        o.alerts.len(),
        if levels.is_empty() {
            "none".into()
        } else {
            levels.join(", ")
        },
        rules.len(),
        events,
        o.summary.inputs,
        if from_store {
            "store segments"
        } else {
            "files"
        },
        o.seconds,
        events as f64 / o.seconds.max(1e-9),
    );
}
