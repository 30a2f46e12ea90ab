//! `vakt demo`: a simulated region under attack, end to end — simulated,
//! stored, hunted with every detector, correlated into incidents, the attack
//! scoped to the patients exposed and reported — and what was found compared
//! with the simulator's ground truth.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value as Json, json};
use vakt_context::{Assets, EhrContext};
use vakt_core::pseudo::Pseudonymiser;
use vakt_core::{Alert, Sink};
use vakt_detect::sinks::StoreSink;
use vakt_detect::{Analytics, EhrSetup, Pipeline, Setup, Source, detectors};
use vakt_incident::case::Case;
use vakt_incident::scope::Clock;
use vakt_incident::{CorrelationConfig, Correlator, Exposure, Incident};

use crate::cli::{DemoArgs, OutputFormat, RuleArgs, SimArgs};

fn rules(args: &DemoArgs) -> anyhow::Result<Vec<PathBuf>> {
    if !args.rules.is_empty() {
        return Ok(args.rules.clone());
    }
    if let Some((_, c)) = crate::rules::config()?
        && !c.rules.is_empty()
    {
        return Ok(c.rules);
    }
    let shared = PathBuf::from("../shared/data/sigma/rules");
    Ok(if shared.is_dir() {
        vec![shared]
    } else {
        Vec::new()
    })
}

const TENANT: &str = "default";

/// The scoped incident: itself (severity weighed), its exposure, its report.
type Scoped = (Incident, Exposure, PathBuf);

/// What the case holds in memory for the steps after the hunt.
struct Region {
    dir: PathBuf,
    pseudo: Arc<Pseudonymiser>,
    context: Arc<EhrContext>,
    context_paths: Vec<PathBuf>,
    assets: Arc<Assets>,
}

/// Runs `vakt demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let dir = match &args.dir {
        Some(o) => o.clone(),
        None => std::env::temp_dir().join(format!("vakt-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    // The case folder says where things are: absolute, so that a relative
    // --dir means the same from anywhere.
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot find {}", dir.display()))?;
    eprintln!(
        "vakt demo: a region of {} patients over {} days, attacked in the manner of January 2018 → {}",
        args.patients,
        args.days,
        dir.display()
    );
    let region = simulate(&args, &dir)?;
    let (alerts, incidents, rejected) = hunt(&args, &region)?;
    let case = write_case(&region, &incidents)?;
    let scoped = match incidents.first() {
        Some(top) => Some(scope_and_report(&case, &region, top, &alerts)?),
        None => None,
    };
    let truth = compare(&region, &alerts, &incidents, scoped.as_ref())?;
    let summary = summary(&args, &dir, &incidents, scoped.as_ref(), truth, started);
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary, &incidents, scoped.as_ref());
    }
    if args.serve {
        return crate::demo_serve::run(
            &dir,
            &rules(&args)?,
            args.listen,
            args.format == OutputFormat::Json,
        );
    }
    // Input a step could not use (a rejected record, a context resource, an
    // indicator) is said where it was met, and makes the exit code 2.
    Ok(if rejected > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Step 1: the region; its care context, asset register and the demo's
/// pseudonym key — synthetic data, so derived from the seed (the same seed
/// gives the same pseudonyms) — kept in memory for every later step (the key
/// is written for `vakt scope --case` later, not read back).
fn simulate(args: &DemoArgs, dir: &Path) -> anyhow::Result<Region> {
    crate::sim::run(SimArgs {
        out: dir.to_owned(),
        seed: args.seed,
        patients: args.patients,
        staff: None,
        days: args.days,
        scenario: "apt2018".into(),
        stealth: args.stealth,
        speed: args.speed,
        attack_start: None,
        no_relationship_share: 0.05,
        replay: args.replay.clone(),
        no_insiders: false,
        quiet: false,
    })?;
    let key = format!("vakt-demo-key-for-synthetic-data-seed-{}", args.seed);
    let key_file = dir.join("pseudonym.key");
    std::fs::write(&key_file, &key)
        .with_context(|| format!("cannot write {}", key_file.display()))?;
    let pseudo = Pseudonymiser::new(key.as_bytes()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut context_paths: Vec<PathBuf> = std::fs::read_dir(dir.join("tenants"))
        .with_context(|| format!("cannot list {}", dir.join("tenants").display()))?
        .filter_map(|e| Some(e.ok()?.path().join("fhir")))
        .filter(|p| p.is_dir())
        .collect();
    context_paths.sort();
    context_paths.push(dir.join("registers"));
    let (context, _) = crate::setup::context(&context_paths, false);
    let (assets, _) = crate::case::load_assets(&[dir.join("registers")]);
    Ok(Region {
        dir: dir.to_owned(),
        pseudo: Arc::new(pseudo),
        context: Arc::new(context),
        context_paths,
        assets: Arc::new(assets),
    })
}

/// Steps 2 and 3, in one pass over the region's logs: every event into the
/// store, and through every detector — Sigma, the network and EHR analytics,
/// and the indicators a partner CERT shared (the simulator writes them);
/// the alerts to the case's alerts file and to the incident correlator.
/// Returns the alerts, the incidents, and how many records or context and
/// indicator entries could not be used.
fn hunt(args: &DemoArgs, r: &Region) -> anyhow::Result<(Vec<Alert>, Vec<Incident>, usize)> {
    let rule_dirs = rules(args)?;
    if rule_dirs.is_empty() {
        eprintln!(
            "vakt demo: no Sigma rules found (give --rules DIR): running the behaviour analytics only"
        );
    }
    eprintln!(
        "\nvakt demo: storing the region's events in {} and hunting them with the Sigma rules, the network and EHR analytics and the indicators",
        r.dir.join("store").display()
    );
    let (rules, _) = crate::setup::rules(
        &RuleArgs {
            rules: rule_dirs,
            logsources: None,
            placeholders: None,
            no_pack: false,
        },
        false,
    )?;
    let (indicators, intel_problems) =
        crate::setup::indicators(&[r.dir.join("intel")], &[], false, false)?;
    let setup = Setup {
        rules,
        indicators: Some(indicators),
        analytics: Analytics::All,
        ehr: Some(EhrSetup {
            context: r.context.clone(),
            pseudonymiser: r.pseudo.clone(),
            patients_pseudonymised: false,
        }),
        stream: None,
        // The region's own site model unless another is given.
        sites: std::sync::Arc::new(crate::setup::sites(
            Some(
                args.site
                    .clone()
                    .unwrap_or_else(|| r.dir.join("registers/site.yml"))
                    .as_path(),
            ),
            false,
        )?),
    };
    let _ = std::fs::remove_dir_all(r.dir.join("store"));
    let (store, _) = vakt_store::Store::open(&r.dir.join("store"))?;
    let sinks: Vec<Box<dyn Sink>> = vec![
        Box::new(StoreSink::new(store.writer(r.pseudo.clone()), None)),
        crate::hunt::writer("jsonl", Some(&r.dir.join("alerts.jsonl")))?,
        Box::new(Correlator::new(
            r.assets.clone(),
            CorrelationConfig::default(),
        )),
    ];
    let mut pipeline = Pipeline::new(detectors(&setup), sinks);
    let paths = [r.dir.join("tenants")];
    let source = Source::Files {
        paths: &paths,
        options: vakt_ingest::Options {
            tenant: Arc::from(TENANT),
            chunk_threads: pipeline.threads,
            received: None,
            ..vakt_ingest::Options::default()
        },
        time_order: false,
    };
    let outcome = pipeline.run(&source, &vakt_detect::Quiet)?;
    let events = outcome.summary.total().events;
    let mut problems = outcome.summary.rejected as usize + outcome.summary.unreadable.len();
    problems += intel_problems + r.context.problems.len() + r.assets.problems.len();
    if let Some(ehr) = crate::hunt::detector::<vakt_analytics::ehr::EhrDetectors>(&pipeline) {
        problems += ehr.counts().invalid_identity_numbers as usize;
    }
    let correlator = pipeline
        .into_sinks()
        .into_iter()
        .find_map(|s| (s as Box<dyn Any>).downcast::<Correlator>().ok())
        .context("the incident correlator went missing")?;
    let incidents = correlator.incidents();
    eprintln!(
        "vakt demo: {events} events read once in {:.2} s: stored, and {} alerts → {} incidents",
        outcome.seconds,
        outcome.alerts.len(),
        incidents.len()
    );
    Ok((outcome.alerts, incidents, problems))
}

/// Step 4: the case folder's description (`vakt incidents|scope|report
/// --case DIR` read it) and its incidents.
fn write_case(r: &Region, incidents: &[Incident]) -> anyhow::Result<Case> {
    let clock = |name: &str, hours| Clock {
        name: name.into(),
        hours,
        due: None,
    };
    let case = Case {
        store: r.dir.join("store"),
        alerts: r.dir.join("alerts.jsonl"),
        incidents: r.dir.join("incidents.json"),
        context: r.context_paths.clone(),
        assets: vec![r.dir.join("registers")],
        tenant: TENANT.into(),
        pseudonym_key_file: Some(r.dir.join("pseudonym.key")),
        clocks: vec![
            clock("National health CERT (as the operator configures)", 24),
            clock("Police (as the operator configures)", 72),
        ],
    };
    case.save(&r.dir)?;
    std::fs::write(
        &case.incidents,
        serde_json::to_string_pretty(incidents)? + "\n",
    )
    .with_context(|| format!("cannot write {}", case.incidents.display()))?;
    Ok(case)
}

/// Step 5: the most severe incident, scoped and reported (HTML, JSON, notification list).
fn scope_and_report(
    case: &Case,
    r: &Region,
    top: &Incident,
    alerts: &[Alert],
) -> anyhow::Result<Scoped> {
    let (store, _) = vakt_store::Store::open(&case.store)?;
    let scoper = crate::case::Scoper::from_parts(case, store, &r.context, r.pseudo.clone(), &[])?;
    let e = scoper.scope(top, alerts, None)?;
    let mut inc = top.clone();
    inc.weigh_exposure(e.confirmed);
    let report = r.dir.join(format!("report-{}.html", inc.id));
    std::fs::write(&report, vakt_incident::report::html(&inc, alerts, &e))
        .with_context(|| format!("cannot write {}", report.display()))?;
    std::fs::write(
        r.dir.join(format!("report-{}.json", inc.id)),
        vakt_incident::report::json(&inc, alerts, &e)?,
    )?;
    crate::case::write_notification_list(&r.dir.join(format!("notification-{}.csv", inc.id)), &e)?;
    Ok((inc, e, report))
}

/// The summary object (`--format json` prints it whole).
fn summary(
    args: &DemoArgs,
    dir: &Path,
    incidents: &[Incident],
    scoped: Option<&Scoped>,
    truth: Json,
    started: Instant,
) -> Json {
    let incident = |i: &Incident| {
        // The scoped incident's severity weighs its exposure.
        let severity = match scoped {
            Some((s, _, _)) if s.id == i.id => s.severity,
            _ => i.severity,
        };
        json!({
            "id": i.id,
            "severity": severity,
            "title": i.title,
            "first": i.first,
            "last": i.last,
            "stages": i.stages.iter().map(|s| s.stage.clone()).collect::<Vec<_>>(),
            "entities": i.nodes.iter().map(|n| json!({"key": n.key, "role": n.role, "first_seen": n.first_seen})).collect::<Vec<_>>(),
            "patient_zero": i.patient_zero,
            "queue": i.queue,
            "awareness": i.awareness,
            "alerts": i.alerts.len(),
        })
    };
    json!({
        "dir": dir.display().to_string(),
        "seed": args.seed,
        "patients": args.patients,
        "days": args.days,
        "incidents": incidents.iter().map(incident).collect::<Vec<_>>(),
        "exposure": scoped.map(|(i, e, r)| json!({
            "incident": i.id,
            "basis": e.basis,
            "confirmed": e.confirmed,
            "possible": e.possible,
            "by_county": e.by_county,
            "by_trust": e.by_trust,
            "by_category": e.by_category,
            "awareness": e.awareness,
            "clocks": e.clocks,
            "scope_seconds": e.seconds,
            "report": r.display().to_string(),
        })),
        "truth": truth,
        "seconds": started.elapsed().as_secs_f64(),
    })
}

fn print_summary(s: &Json, incidents: &[Incident], scoped: Option<&Scoped>) {
    let mut by_sev: BTreeMap<&str, usize> = BTreeMap::new();
    let cert: Vec<&Incident> = incidents.iter().filter(|i| i.queue == "cert").collect();
    for i in &cert {
        *by_sev.entry(i.severity.name()).or_default() += 1;
    }
    println!(
        "\n{} CERT incidents ({}); {} cases for the privacy office",
        cert.len(),
        by_sev
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        incidents.len() - cert.len()
    );
    for i in cert.iter().take(6) {
        println!(
            "  {}  {:<9} {:>3} alerts  {}",
            i.id,
            i.severity.name(),
            i.alerts.len(),
            i.title
        );
    }
    if let Some((inc, e, report)) = scoped {
        println!(
            "\nThe most severe, {} ({}): stages in the order seen:",
            inc.id,
            inc.severity.name()
        );
        for st in &inc.stages {
            println!("  {:<22} {}", st.stage, st.first.to_rfc3339());
        }
        if let Some(pz) = &inc.patient_zero {
            println!("  patient zero: {} at {}", pz.entity, pz.time.to_rfc3339());
        }
        println!(
            "\nExposed: {} patients confirmed, {} more possible; by county (confirmed + possible):",
            e.confirmed, e.possible
        );
        for (c, n) in &e.by_county {
            println!("  {c:<22} {:>7} + {}", n.confirmed, n.possible);
        }
        if let Some(a) = e.awareness {
            println!("Clocks from awareness at {}:", a.to_rfc3339());
            for c in &e.clocks {
                println!(
                    "  {:<52} due {}",
                    c.name,
                    c.due.map_or("-".into(), |d| d.to_rfc3339())
                );
            }
        }
        println!("Report: {}", report.display());
    }
    let t = &s["truth"];
    println!(
        "\nAgainst the truth: {} patients exposed (the attacker's collection read {}); scoped {} — {} ({} missed, {} extra).",
        t["exposed"],
        t["collected"],
        t["scoped_confirmed"],
        if t["equal"] == true {
            "the same set"
        } else {
            "not the same set"
        },
        t["missing"],
        t["extra"]
    );
    println!(
        "Detection: CERT precision {:.3} ({} of the {} alerts in the CERT's incidents are about the attack; {} cases for the privacy office), stage recall {:.3} ({} of the attack's stages seen); the attack is in {} incident(s).",
        t["precision"].as_f64().unwrap_or(0.0),
        t["cert_alerts_on_attack"],
        t["cert_alerts"],
        t["privacy_cases"],
        t["recall"].as_f64().unwrap_or(0.0),
        t["stages_found"].as_array().map_or(0, Vec::len),
        t["attack_incidents"]
    );
    let ins = &t["insiders"];
    if ins.is_object() {
        println!(
            "Insiders: {} of {} misuse cases found by the EHR detectors (recall {:.2}); {} of the {} EHR alerts not about the intrusion are about a case (precision {:.2}); missed: {}.",
            ins["found"],
            ins["cases"],
            ins["recall"].as_f64().unwrap_or(0.0),
            ins["ehr_alerts_on_cases"],
            ins["ehr_alerts"],
            ins["precision"].as_f64().unwrap_or(0.0),
            ins["missed"]
                .as_array()
                .map(|m| m
                    .iter()
                    .map(|x| format!(
                        "{} ({})",
                        x["kind"].as_str().unwrap_or("?"),
                        x["shape"].as_str().unwrap_or("?")
                    ))
                    .collect::<Vec<_>>()
                    .join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".into())
        );
    }
    println!(
        "Patient zero {} (truth {}); the clock from {} (the first alert about the attack {}).",
        t["patient_zero"].as_str().unwrap_or("-"),
        t["patient_zero_true"].as_str().unwrap_or("-"),
        t["awareness"].as_str().unwrap_or("-"),
        t["first_attack_alert"].as_str().unwrap_or("-")
    );
    println!(
        "\nThe case folder: {} (vakt incidents|scope|report --case DIR)",
        s["dir"].as_str().unwrap_or("")
    );
}

/// Scores the EHR detectors against the simulator's insider truth
/// (`truth/insiders.json`): a case is found when an EHR alert (an `ehr-*`
/// analytic, or a Sigma rule over AuditEvents) names its account within its
/// time span (an hour before its first read to a day after its last);
/// precision is over the EHR alerts that are not about the intrusion.
pub fn score_insiders(
    dir: &std::path::Path,
    alerts: &[Alert],
    about_attack: &dyn Fn(&Alert) -> bool,
) -> anyhow::Result<Json> {
    let Ok(text) = std::fs::read_to_string(dir.join("truth/insiders.json")) else {
        return Ok(Json::Null);
    };
    let truth: Json = serde_json::from_str(&text).context("truth/insiders.json")?;
    let cases = truth["cases"].as_array().cloned().unwrap_or_default();
    let ehr: Vec<&Alert> = alerts
        .iter()
        .filter(|a| {
            a.detector.starts_with("ehr-")
                || a.origins
                    .iter()
                    .any(|o| o.path.ends_with("auditevent.ndjson"))
        })
        .filter(|a| !about_attack(a))
        .collect();
    let accounts = |a: &Alert| -> Vec<String> {
        a.actors
            .iter()
            .filter_map(|e| match e {
                vakt_core::Entity::Account(x) => {
                    Some(x.rsplit(['\\', '/']).next().unwrap_or(x).to_lowercase())
                }
                _ => None,
            })
            .collect()
    };
    let hour = 3_600_000_000_000i64;
    let mut on_case: BTreeSet<&str> = BTreeSet::new();
    let mut by_kind: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut missed = Vec::new();
    let mut found = 0u64;
    for c in &cases {
        let names: Vec<String> = [
            &c["account"]["user"],
            &c["account"]["practitioner"],
            &c["staff"]["user"],
            &c["staff"]["practitioner"],
        ]
        .iter()
        .filter_map(|v| v.as_str().map(str::to_lowercase))
        .collect();
        let t = |k: &str| {
            c[k].as_str()
                .and_then(|s| vakt_core::Timestamp::parse(s).ok())
                .map_or(0, |t| t.0)
        };
        let (first, last) = (t("first") - hour, t("last") + 24 * hour);
        let hits: Vec<&Alert> = ehr
            .iter()
            .copied()
            .filter(|a| a.first.0 <= last && a.last.0 >= first)
            .filter(|a| accounts(a).iter().any(|x| names.contains(x)))
            .collect();
        for a in &hits {
            on_case.insert(a.key.as_str());
        }
        let kind = c["kind"].as_str().unwrap_or("?").to_owned();
        let e = by_kind.entry(kind).or_default();
        e.1 += 1;
        if hits.is_empty() {
            missed.push(json!({"case": c["case"], "kind": c["kind"], "shape": c["shape"]}));
        } else {
            e.0 += 1;
            found += 1;
        }
    }
    let by_kind: BTreeMap<String, Json> = by_kind
        .into_iter()
        .map(|(k, (f, n))| (k, json!({"found": f, "cases": n})))
        .collect();
    Ok(json!({
        "cases": cases.len(),
        "found": found,
        "recall": found as f64 / cases.len().max(1) as f64,
        "ehr_alerts": ehr.len(),
        "ehr_alerts_on_cases": on_case.len(),
        "precision": on_case.len() as f64 / ehr.len().max(1) as f64,
        "by_kind": by_kind,
        "missed": missed,
    }))
}

/// Compares the incidents and the scope with the simulator's truth.
fn compare(
    r: &Region,
    alerts: &[Alert],
    incidents: &[Incident],
    scoped: Option<&Scoped>,
) -> anyhow::Result<Json> {
    let dir = &r.dir;
    let summary: Json = serde_json::from_str(
        &std::fs::read_to_string(dir.join("truth/summary.json"))
            .context("cannot read the truth summary")?,
    )?;
    // The attacker's records (file, line) and stages.
    let ledger = std::fs::read_to_string(dir.join("truth/events.jsonl"))
        .context("cannot read the truth ledger")?;
    let mut records: BTreeSet<(String, u64)> = BTreeSet::new();
    let mut stage_first: BTreeMap<String, String> = BTreeMap::new();
    // Replayed recordings: their records and stage.
    let mut replayed: BTreeMap<(String, u64), String> = BTreeMap::new();
    let mut recording_stage: BTreeMap<String, String> = BTreeMap::new();
    for l in ledger.lines() {
        let v: Json = serde_json::from_str(l)?;
        if let Some(rec) = v["recording"].as_str() {
            replayed.insert(
                (
                    dir.join(v["file"].as_str().unwrap_or(""))
                        .display()
                        .to_string(),
                    v["line"].as_u64().unwrap_or(0),
                ),
                rec.to_owned(),
            );
            recording_stage
                .entry(rec.to_owned())
                .or_insert_with(|| v["stage"].as_str().unwrap_or("?").to_owned());
        }
        let stage = v["stage"].as_str().unwrap_or("?").to_owned();
        let t = v["time"].as_str().unwrap_or("").to_owned();
        let e = stage_first.entry(stage).or_insert(t.clone());
        if t < *e {
            *e = t;
        }
        records.insert((
            dir.join(v["file"].as_str().unwrap_or(""))
                .display()
                .to_string(),
            v["line"].as_u64().unwrap_or(0),
        ));
    }
    // Who and what the attacker used.
    let mut marks: BTreeSet<String> = BTreeSet::new();
    for a in summary["accounts"].as_array().into_iter().flatten() {
        if let Some(u) = a["user"].as_str() {
            marks.insert(format!("account:{}", u.to_lowercase()));
        }
    }
    for h in summary["hosts"].as_array().into_iter().flatten() {
        if let Some(n) = h["host"].as_str() {
            marks.insert(format!("host:{}", vakt_context::site::host_key(n)));
        }
    }
    let start = summary["start"]
        .as_str()
        .and_then(|s| vakt_core::Timestamp::parse(s).ok())
        .unwrap_or_default();
    let on_attack = |a: &Alert| -> bool {
        let at_record = a.origins.iter().any(|o| match o.locator {
            vakt_core::Locator::Line(n) => records.contains(&(o.path.to_string(), n)),
            _ => false,
        });
        let mut keys = a.actors.iter().filter_map(|e| match e {
            vakt_core::Entity::Account(x) => {
                vakt_context::site::account_key(x).map(|k| format!("account:{k}"))
            }
            vakt_core::Entity::Host(h) => Some(format!("host:{}", vakt_context::site::host_key(h))),
            vakt_core::Entity::Ip(ip) => r.assets.by_ip(ip).map(|h| format!("host:{}", h.name)),
            _ => None,
        });
        at_record || (a.first >= start && keys.any(|k| marks.contains(&k)))
    };
    let attack: BTreeSet<&str> = alerts
        .iter()
        .filter(|a| on_attack(a))
        .map(|a| a.key.as_str())
        .collect();
    let attack_incidents: Vec<&Incident> = incidents
        .iter()
        .filter(|i| i.alerts.iter().any(|a| attack.contains(a.as_str())))
        .collect();
    // The CERT's queue: the alerts of its incidents (the privacy office's
    // cases — EHR conduct with no intrusion joined — are not in it).
    let cert: BTreeSet<&str> = incidents
        .iter()
        .filter(|i| i.queue == "cert")
        .flat_map(|i| i.alerts.iter().map(String::as_str))
        .collect();
    let cert_on_attack = cert.iter().filter(|a| attack.contains(*a)).count();
    let privacy_cases = incidents.iter().filter(|i| i.queue == "privacy").count();
    // Patient zero and the clock against the truth: the phished workstation
    // at the initial access; the clock from the attack incident's first
    // alert about the attack.
    let truth_zero = summary["patient_zero"]["host"]
        .as_str()
        .map(|h| format!("host:{}", vakt_context::site::host_key(h)));
    let found_zero = attack_incidents
        .first()
        .and_then(|i| i.patient_zero.as_ref())
        .map(|p| p.entity.clone());
    let first_attack_alert = attack_incidents.first().and_then(|i| {
        alerts
            .iter()
            .filter(|a| i.alerts.contains(&a.key.to_string()) && attack.contains(a.key.as_str()))
            .map(|a| a.first)
            .min()
    });
    let awareness = attack_incidents.first().and_then(|i| i.awareness);
    let stages_true: Vec<String> = {
        let mut v: Vec<(String, String)> = stage_first
            .iter()
            .map(|(s, t)| (t.clone(), s.clone()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, s)| s).collect()
    };
    let found: BTreeSet<String> = attack_incidents
        .iter()
        .flat_map(|i| i.stages.iter().map(|s| s.stage.clone()))
        .collect();
    let stages_found: Vec<&String> = stages_true.iter().filter(|s| found.contains(*s)).collect();
    // The exposed patients, pseudonymised as the scope has them.
    let csv = std::fs::read_to_string(dir.join("truth/exposed_patients.csv"))
        .context("cannot read the truth's exposed patients")?;
    let mut exposed: BTreeSet<String> = BTreeSet::new();
    let mut collected = 0usize;
    for l in csv.lines().skip(1) {
        let f: Vec<&str> = l.split(',').collect();
        if let Some(nin) = f.get(1) {
            exposed.insert(r.pseudo.pseudonym(TENANT, nin));
        }
        if f.get(6) == Some(&"1") {
            collected += 1;
        }
    }
    let scoped_set: BTreeSet<String> = scoped
        .map(|(_, e, _)| e.notification.iter().map(|n| n.patient.clone()).collect())
        .unwrap_or_default();
    let missing = exposed.difference(&scoped_set).count();
    let extra = scoped_set.difference(&exposed).count();
    let insiders = score_insiders(dir, alerts, &|a| attack.contains(a.key.as_str()))?;
    // Each replayed recording: the alerts raised on its records, whether one
    // carries its stage, whether they are in the attack's incident.
    let replays: Vec<Json> = recording_stage
        .iter()
        .map(|(rec, stage)| {
            let on: Vec<&Alert> = alerts
                .iter()
                .filter(|a| {
                    a.origins.iter().any(|o| match o.locator {
                        vakt_core::Locator::Line(n) => {
                            replayed.get(&(o.path.to_string(), n)) == Some(rec)
                        }
                        _ => false,
                    })
                })
                .collect();
            let tactics: BTreeSet<&str> = on
                .iter()
                .flat_map(|a| a.tactics.iter().map(String::as_str))
                .collect();
            let in_incident = on.iter().any(|a| {
                attack_incidents
                    .first()
                    .is_some_and(|i| i.alerts.contains(&a.key.to_string()))
            });
            let mut titles: Vec<&str> = on.iter().map(|a| a.title.as_str()).collect();
            titles.sort_unstable();
            titles.dedup();
            json!({
                "recording": rec,
                "stage": stage,
                "alerts": on.len(),
                "stage_found": tactics.contains(stage.as_str()),
                "tactics": tactics,
                "in_attack_incident": in_incident,
                "titles": titles,
            })
        })
        .collect();
    Ok(json!({
        "replays": replays,
        "insiders": insiders,
        "exposed": exposed.len(),
        "collected": collected,
        "scoped_confirmed": scoped_set.len(),
        "equal": missing == 0 && extra == 0,
        "missing": missing,
        "extra": extra,
        "alerts": alerts.len(),
        "alerts_on_attack": attack.len(),
        "cert_alerts": cert.len(),
        "cert_alerts_on_attack": cert_on_attack,
        "precision": cert_on_attack as f64 / cert.len().max(1) as f64,
        "privacy_cases": privacy_cases,
        "patient_zero": found_zero,
        "patient_zero_true": truth_zero,
        "patient_zero_right": found_zero.is_some() && found_zero == truth_zero,
        "awareness": awareness.map(|t| t.to_rfc3339()),
        "first_attack_alert": first_attack_alert.map(|t| t.to_rfc3339()),
        "clock_right": awareness.is_some() && awareness == first_attack_alert,
        "recall": stages_found.len() as f64 / stages_true.len().max(1) as f64,
        "stages_true": stages_true,
        "stages_found": stages_found,
        "attack_incidents": attack_incidents.len(),
        "attack_incident": attack_incidents.first().map(|i| i.id.clone()),
    }))
}
