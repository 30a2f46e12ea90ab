//! `vakt incidents`, `vakt scope`, `vakt report`: the case folder's alerts
//! become incidents, an incident is scoped, and reported.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use vakt_core::Alert;
use vakt_incident::case::Case;
use vakt_incident::scope::{Clock, gdpr_clock};
use vakt_incident::{Assets, CorrelationConfig, Exposure, Incident, PatientIndex};

use crate::cli::{IncidentsArgs, OutputFormat, ReportArgs, ReportFormat, ScopeArgs};

/// The case, with what was wrong in its inputs said on standard error.
pub fn load(dir: &Path) -> anyhow::Result<Case> {
    Case::load(dir).map_err(|e| anyhow::anyhow!("cannot read the case: {e}"))
}

/// The case's alerts; lines that are not alerts are reported and counted.
pub fn alerts(case: &Case) -> anyhow::Result<(Vec<Alert>, usize)> {
    let (alerts, bad) = vakt_incident::read_alerts(&case.alerts)
        .with_context(|| format!("cannot read the alerts {}", case.alerts.display()))?;
    for b in &bad {
        tracing::warn!(
            target: "vakt::case",
            "{}: line {}: not an alert: {}",
            case.alerts.display(),
            b.line,
            b.reason
        );
    }
    Ok((alerts, bad.len()))
}

/// Asset registers; rows that cannot be used are reported and counted.
pub fn load_assets(paths: &[std::path::PathBuf]) -> (Assets, usize) {
    let a = Assets::load(paths);
    for p in &a.problems {
        tracing::warn!(target: "vakt::assets", "asset register: {p}");
    }
    let n = a.problems.len();
    (a, n)
}

/// Correlates the case's alerts.
pub fn correlate(case: &Case, gap_secs: i64) -> anyhow::Result<(Vec<Alert>, Vec<Incident>, usize)> {
    let (alerts, bad) = alerts(case)?;
    let (assets, bad_assets) = load_assets(&case.assets);
    let cfg = CorrelationConfig {
        gap: gap_secs.saturating_mul(1_000_000_000),
        ..CorrelationConfig::default()
    };
    let incidents = vakt_incident::correlate(&alerts, &assets, &cfg);
    Ok((alerts, incidents, bad + bad_assets))
}

/// The case's incidents as `vakt incidents` wrote them.
pub fn incidents(case: &Case) -> anyhow::Result<Vec<Incident>> {
    let text = std::fs::read_to_string(&case.incidents).with_context(|| {
        format!(
            "cannot read the incidents {} (run `vakt incidents` first)",
            case.incidents.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an incidents file", case.incidents.display()))
}

/// One incident by id (`top`: the most severe).
pub fn pick<'a>(incidents: &'a [Incident], id: &str) -> anyhow::Result<&'a Incident> {
    if id == "top" {
        return incidents.first().context("the case has no incidents");
    }
    match incidents.iter().find(|i| i.id == id) {
        Some(i) => Ok(i),
        None => bail!(
            "no incident {id} in the case (it has {})",
            incidents
                .iter()
                .take(10)
                .map(|i| i.id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Everything scoping needs of a case, loaded once.
pub struct Scoper {
    store: vakt_store::Store,
    patients: PatientIndex,
    tenant: String,
    clocks: Vec<Clock>,
    /// Context records that could not be used.
    pub problems: usize,
}

impl Scoper {
    /// Loads the store, the patients (pseudonymised with the tenant's key) and the clocks.
    pub fn new(case: &Case, extra_clocks: &[String]) -> anyhow::Result<Scoper> {
        let (store, _) = vakt_store::Store::open(&case.store)
            .with_context(|| format!("cannot open the store {}", case.store.display()))?;
        let ctx = vakt_context::EhrContext::load(&case.context);
        for p in &ctx.problems {
            tracing::warn!(target: "vakt::context", "context: {p}");
        }
        let pseudo =
            crate::keys::pseudonymiser(case.pseudonym_key_file.as_deref(), &case.tenant, false)?;
        Self::from_parts(case, store, &ctx, std::sync::Arc::new(pseudo), extra_clocks)
    }

    /// The same, with the context and keys already in memory.
    pub fn from_parts(
        case: &Case,
        store: vakt_store::Store,
        ctx: &vakt_context::EhrContext,
        pseudo: std::sync::Arc<vakt_core::pseudo::Pseudonymiser>,
        extra_clocks: &[String],
    ) -> anyhow::Result<Scoper> {
        let patients = PatientIndex::new(ctx, pseudo, &case.tenant);
        let mut clocks = vec![gdpr_clock()];
        clocks.extend(case.clocks.iter().cloned());
        for c in extra_clocks {
            let (name, hours) = c
                .rsplit_once('=')
                .with_context(|| format!("`{c}`: a clock is NAME=HOURS"))?;
            clocks.push(Clock {
                name: name.trim().to_owned(),
                hours: hours
                    .trim()
                    .parse()
                    .with_context(|| format!("`{c}`: hours must be a whole number"))?,
                due: None,
            });
        }
        Ok(Scoper {
            store,
            patients,
            tenant: case.tenant.clone(),
            clocks,
            problems: ctx.problems.len(),
        })
    }

    /// Scopes one incident.
    pub fn scope(
        &self,
        incident: &Incident,
        alerts: &[Alert],
        until: Option<i64>,
    ) -> anyhow::Result<Exposure> {
        let cfg = vakt_incident::ScopeConfig {
            until,
            clocks: self.clocks.clone(),
            tenant: self.tenant.clone(),
        };
        Ok(vakt_incident::scope(
            incident,
            alerts,
            &self.store,
            &self.patients,
            &cfg,
        )?)
    }
}

fn until(t: Option<&str>) -> anyhow::Result<Option<i64>> {
    t.map(|t| {
        vakt_core::Timestamp::parse(t)
            .map(|t| t.0)
            .map_err(|e| anyhow::anyhow!("--until {t}: {e}"))
    })
    .transpose()
}

/// Runs `vakt incidents`.
pub fn run_incidents(args: IncidentsArgs) -> anyhow::Result<ExitCode> {
    let case = load(&args.case)?;
    let (alerts, incidents, bad) = correlate(&case, args.gap)?;
    std::fs::write(
        &case.incidents,
        serde_json::to_string_pretty(&incidents)? + "\n",
    )
    .with_context(|| format!("cannot write {}", case.incidents.display()))?;
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&incidents)?),
        OutputFormat::Table => {
            println!(
                "{:<18}  {:<7}  {:<9}  {:>6}  {:<24}  title",
                "incident", "queue", "severity", "alerts", "first"
            );
            for i in &incidents {
                println!(
                    "{:<18}  {:<7}  {:<9}  {:>6}  {:<24}  {}",
                    i.id,
                    i.queue,
                    i.severity.name(),
                    i.alerts.len(),
                    i.first.to_rfc3339(),
                    i.title
                );
            }
            let privacy = incidents.iter().filter(|i| i.queue == "privacy").count();
            eprintln!(
                "\nvakt: {} alerts → {} incidents for the CERT and {privacy} cases for the privacy office, written to {}",
                alerts.len(),
                incidents.len() - privacy,
                case.incidents.display()
            );
        }
    }
    Ok(if bad > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints an exposure as a table.
pub fn print_exposure(e: &Exposure) {
    println!(
        "Incident {}: {} patients confirmed exposed, {} more possibly exposed ({} accesses in scope, from {}{})",
        e.incident,
        e.confirmed,
        e.possible,
        e.accesses,
        e.from.to_rfc3339(),
        e.until.map_or(
            String::from(" to the end of the stored history"),
            |u| format!(" to {}", u.to_rfc3339())
        )
    );
    println!("  confirmed means {}", e.basis);
    for a in e.accounts.iter().chain(&e.hosts) {
        println!(
            "  in scope: {:<32} from {}  {:>7} accesses  ({})",
            a.key,
            a.from.to_rfc3339(),
            a.accesses,
            a.why
        );
    }
    for r in &e.reached {
        println!(
            "  reached:  {:<32} from {}  holds the records of {} ({} patients)",
            r.system,
            r.from.to_rfc3339(),
            r.holds_patients_of,
            r.patients
        );
    }
    println!(
        "\n  {:<24} {:>10} {:>10}",
        "county", "confirmed", "possible"
    );
    for (c, n) in &e.by_county {
        println!("  {c:<24} {:>10} {:>10}", n.confirmed, n.possible);
    }
    println!("\n  {:<24} {:>10} {:>10}", "trust", "confirmed", "possible");
    for (c, n) in &e.by_trust {
        println!("  {c:<24} {:>10} {:>10}", n.confirmed, n.possible);
    }
    if !e.by_category.is_empty() {
        println!("\n  categories (confirmed):");
        for (c, n) in &e.by_category {
            println!("    {c:<30} {n:>8}");
        }
    }
    match e.awareness {
        Some(a) => {
            println!(
                "\n  aware since {} (first high-severity alert):",
                a.to_rfc3339()
            );
            for c in &e.clocks {
                println!(
                    "    {:<48} {:>3} h  due {}",
                    c.name,
                    c.hours,
                    c.due.map_or("-".into(), |d| d.to_rfc3339())
                );
            }
        }
        None => println!("\n  no high-severity alert: the notification clocks have not started"),
    }
    println!(
        "\n  scoped in {:.3} s ({} segments, {} row groups read, {} skipped, {} rows)",
        e.seconds, e.scan.segments, e.scan.row_groups_read, e.scan.row_groups_skipped, e.scan.rows
    );
}

/// Writes the notification list as CSV: one row per patient (pseudonym),
/// grouped by the trust that must notify.
pub fn write_notification_list(path: &Path, e: &Exposure) -> anyhow::Result<()> {
    std::fs::write(path, vakt_incident::report::notification_csv(e))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Runs `vakt scope`.
pub fn run_scope(args: ScopeArgs) -> anyhow::Result<ExitCode> {
    let case = load(&args.case)?;
    let incidents = incidents(&case)?;
    let inc = pick(&incidents, &args.incident)?;
    let (alerts, bad) = alerts(&case)?;
    let scoper = Scoper::new(&case, &args.clocks)?;
    let e = scoper.scope(inc, &alerts, until(args.until.as_deref())?)?;
    if let Some(p) = &args.notification_list {
        write_notification_list(p, &e)?;
    }
    match args.format {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&e)?),
        OutputFormat::Table => print_exposure(&e),
    }
    Ok(if bad + scoper.problems > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `vakt report`.
pub fn run_report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let case = load(&args.case)?;
    let incidents = incidents(&case)?;
    let inc = pick(&incidents, &args.incident)?;
    let (alerts, bad) = alerts(&case)?;
    let scoper = Scoper::new(&case, &[])?;
    let e = scoper.scope(inc, &alerts, until(args.until.as_deref())?)?;
    let mut inc = inc.clone();
    inc.weigh_exposure(e.confirmed);
    let (text, ext) = match args.format {
        ReportFormat::Html => (vakt_incident::report::html(&inc, &alerts, &e), "html"),
        ReportFormat::Json => (vakt_incident::report::json(&inc, &alerts, &e)?, "json"),
    };
    let out = args
        .output
        .unwrap_or_else(|| args.case.join(format!("report-{}.{ext}", inc.id)));
    std::fs::write(&out, text).with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!("vakt: report on {} written to {}", inc.id, out.display());
    Ok(if bad + scoper.problems > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
