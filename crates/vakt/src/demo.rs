//! `vakt demo`: a simulated region under attack, hunted with Sigma rules,
//! and what was found compared with the ground truth.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::{
    DemoArgs, HuntArgs, HuntFormat, InputArgs, InputFormat, RuleArgs, SimArgs, StealthArg,
};

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

/// Runs `vakt demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let out = match &args.out {
        Some(o) => o.clone(),
        None => std::env::temp_dir().join(format!("vakt-demo-{}", std::process::id())),
    };
    eprintln!(
        "vakt demo: a region of {} patients over {} days, attacked in the manner of January 2018 → {}",
        args.patients,
        args.days,
        out.display()
    );
    crate::sim::run(SimArgs {
        out: out.clone(),
        seed: args.seed,
        patients: args.patients,
        staff: None,
        days: args.days,
        scenario: "apt2018".into(),
        stealth: StealthArg::Medium,
        speed: None,
        attack_start: None,
        no_relationship_share: 0.05,
        quiet: false,
    })?;
    let rule_dirs = rules(&args)?;
    if rule_dirs.is_empty() {
        eprintln!(
            "vakt demo: no Sigma rules found (give --rules DIR); the simulated logs are in {}",
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let detections = out.join("detections.jsonl");
    eprintln!(
        "\nvakt demo: hunting the region's logs with the Sigma rules of {}",
        rule_dirs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    crate::hunt::run(HuntArgs {
        input: InputArgs {
            paths: vec![out.join("tenants")],
            input_format: InputFormat::Auto,
            quarantine: None,
            tenant: "default".into(),
            timestamp_field: None,
            quiet: false,
            threads: None,
        },
        rules: RuleArgs {
            rules: rule_dirs,
            logsources: None,
            placeholders: None,
        },
        min_level: None,
        status: Vec::new(),
        from: None,
        to: None,
        rule_ids: Vec::new(),
        tags: Vec::new(),
        analytics: vec!["all".into()],
        allow_lists: Vec::new(),
        context: vec![out.join("tenants"), out.join("registers")],
        intel: Vec::new(),
        warninglists: Vec::new(),
        intel_force: false,
        pseudonym_key_file: None,
        stream_window: None,
        stream_step: 3600,
        format: HuntFormat::Jsonl,
        output: Some(detections.clone()),
    })?;
    compare(&out, &detections)?;
    Ok(ExitCode::SUCCESS)
}

/// Prints, stage by stage, how many of the attacker's records the rules flagged.
fn compare(out: &Path, detections: &Path) -> anyhow::Result<()> {
    let truth = std::fs::read_to_string(out.join("truth/events.jsonl"))
        .context("cannot read the truth ledger")?;
    let mut stages: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut records: BTreeMap<(String, u64), String> = BTreeMap::new();
    for l in truth.lines() {
        let v: serde_json::Value = serde_json::from_str(l)?;
        let stage = v["stage"].as_str().unwrap_or("?").to_owned();
        stages.entry(stage.clone()).or_default().0 += 1;
        records.insert(
            (
                v["file"].as_str().unwrap_or("").to_owned(),
                v["line"].as_u64().unwrap_or(0),
            ),
            stage,
        );
    }
    let found = std::fs::read_to_string(detections).context("cannot read the detections")?;
    let (mut total, mut on_records, mut on_attack) = (0usize, 0usize, BTreeSet::new());
    for l in found.lines() {
        let v: serde_json::Value = serde_json::from_str(l)?;
        total += 1;
        let path = v["origin"]["path"].as_str().unwrap_or("");
        let line = v["origin"]["where"]
            .as_str()
            .and_then(|w| w.strip_prefix("line "))
            .and_then(|n| n.parse::<u64>().ok());
        let rel = Path::new(path)
            .strip_prefix(out)
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        if let Some(n) = line
            && records.contains_key(&(rel.clone(), n))
        {
            on_records += 1;
            on_attack.insert((rel, n));
        }
    }
    for key in &on_attack {
        if let Some(stage) = records.get(key) {
            stages.entry(stage.clone()).or_default().1 += 1;
        }
    }
    println!(
        "\nWhat the Sigma rules found of the attack (ground truth in {}):",
        out.join("truth").display()
    );
    println!(
        "  {:<22} {:>16} {:>12}",
        "stage", "attacker records", "flagged"
    );
    for (stage, (n, hit)) in &stages {
        println!("  {stage:<22} {n:>16} {hit:>12}");
    }
    println!(
        "  {total} detections and alerts in all: {on_records} on {} attacker records, {} elsewhere.",
        on_attack.len(),
        total - on_records
    );
    println!(
        "  The behaviour analytics report the beacon, the DNS tunnel, the upload, the burst of remote administration and the\n  EHR collection (bulk, no care relationship, protected persons, a script's pace) once each: an alert points at its\n  first records, not at every record it covers."
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("truth/summary.json"))?)?;
    println!(
        "\nThe breach (truth): trust {}, {} patients' records read; by county: {}",
        summary["trust"].as_str().unwrap_or("?"),
        summary["exposed_patients"],
        summary["exposed_by_county"]
    );
    Ok(())
}
