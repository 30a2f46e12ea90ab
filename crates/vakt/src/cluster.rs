//! `vakt serve --cluster CONFIG` and `vakt cluster …`: the arguments; the
//! cluster itself is `vakt-cluster`'s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use vakt_cluster::ClusterConfig;

use crate::serve::ServeArgs;

/// `vakt cluster`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Nodes, partitions and their owners, lag and redeliveries per consumer, the stream.
    Status(StatusArgs),
    /// Ask a node to give its partitions back (each after a last commit) and stop.
    Drain(DrainArgs),
    /// Make a token for a tenant (ingest by default, or an API role): printed once, stored hashed in PostgreSQL.
    Token(ClusterTokenArgs),
    /// Add a user of the API and web UI (api nodes); the password is read from VAKT_PASSWORD or made and printed once.
    User(ClusterUserArgs),
    /// Write the cluster's alerts (alerts.jsonl) and incidents (incidents.json) to a folder.
    Export(ExportArgs),
    /// Walk the audit trail in PostgreSQL: each record's hash, its link to the one before, the api nodes' head files.
    AuditVerify(StatusArgs),
}

/// `vakt cluster export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The cluster's settings.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The folder to write to.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `vakt cluster status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The cluster's settings (the nodes' file).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// As JSON.
    #[arg(long)]
    pub json: bool,
}

/// `vakt cluster drain`.
#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The cluster's settings.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The node to drain.
    #[arg(long)]
    pub node: String,
}

/// `vakt cluster token`.
#[derive(Debug, Args)]
pub struct ClusterTokenArgs {
    /// The cluster's settings.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The tenant (trust) the token's input belongs to (an API token of a
    /// CERT-wide role has none).
    #[arg(long, default_value = "")]
    pub tenant: String,
    /// What the token is for.
    #[arg(long, default_value = "")]
    pub label: String,
    /// The role: ingest (events to ingest nodes), or an API role — cert-analyst, trust-analyst, privacy-officer, admin, partner.
    #[arg(long, default_value = "ingest")]
    pub role: String,
}

/// `vakt cluster user`.
#[derive(Debug, Args)]
pub struct ClusterUserArgs {
    /// The cluster's settings.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The user's name.
    #[arg(long)]
    pub name: String,
    /// The role: cert-analyst, trust-analyst, privacy-officer, admin.
    #[arg(long)]
    pub role: String,
    /// The tenant (trust) of a trust analyst.
    #[arg(long, default_value = "")]
    pub tenant: String,
}

fn load(path: &std::path::Path) -> anyhow::Result<ClusterConfig> {
    ClusterConfig::load(path).map_err(anyhow::Error::msg)
}

/// Runs `vakt cluster …`.
pub fn run(c: ClusterCommand) -> anyhow::Result<ExitCode> {
    match c {
        ClusterCommand::Status(a) => {
            let s = vakt_cluster::status::read(&load(&a.config)?).map_err(anyhow::Error::msg)?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&s)?);
            } else {
                print!("{s}");
            }
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Drain(a) => {
            if vakt_cluster::drain(&load(&a.config)?, &a.node).map_err(anyhow::Error::msg)? {
                eprintln!(
                    "vakt cluster: {} drains: it gives its partitions back and stops",
                    a.node
                );
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("vakt cluster: no node {} is known", a.node);
                Ok(ExitCode::from(1))
            }
        }
        ClusterCommand::AuditVerify(a) => {
            let v = vakt_cluster::audit_verify(&load(&a.config)?).map_err(anyhow::Error::msg)?;
            Ok(crate::serve::say_verified(&v))
        }
        ClusterCommand::Export(a) => {
            let (alerts, incidents) =
                vakt_cluster::export(&load(&a.config)?, &a.out).map_err(anyhow::Error::msg)?;
            eprintln!(
                "vakt cluster: {alerts} alerts and {incidents} incidents written to {}",
                a.out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Token(a) if a.role == "ingest" => {
            let t = vakt_cluster::add_token(&load(&a.config)?, &a.tenant, &a.label)
                .map_err(anyhow::Error::msg)?;
            println!("{t}");
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Token(a) => {
            let (t, id) =
                vakt_cluster::add_api_token(&load(&a.config)?, &a.tenant, &a.role, &a.label)
                    .map_err(anyhow::Error::msg)?;
            println!("{t}");
            eprintln!(
                "vakt cluster: token {id} ({}) made; it is shown only now",
                a.role
            );
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::User(a) => {
            let (password, made) = match std::env::var("VAKT_PASSWORD") {
                Ok(p) if !p.is_empty() => (p, false),
                _ => (
                    vakt_server::tokens::random_secret("")
                        .map_err(anyhow::Error::msg)?
                        .chars()
                        .take(24)
                        .collect(),
                    true,
                ),
            };
            vakt_cluster::add_user(&load(&a.config)?, &a.name, &password, &a.role, &a.tenant)
                .map_err(anyhow::Error::msg)?;
            if made {
                println!("{password}");
            }
            eprintln!("vakt cluster: user {} ({}) added", a.name, a.role);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs a cluster node with the detectors `vakt serve` would run.
pub fn serve(config: PathBuf, a: ServeArgs) -> anyhow::Result<ExitCode> {
    let cfg = load(&config)?;
    std::fs::create_dir_all(&cfg.shared_dir)
        .with_context(|| format!("cannot create {}", cfg.shared_dir.display()))?;
    let key = match &a.pseudonym_key_file {
        Some(k) => k.clone(),
        None => crate::serve::key_file(&cfg.shared_dir)?,
    };
    let loaded = crate::serve::live_setup(
        &a,
        &a.intel,
        &key,
        cfg.window_ns() / 1_000_000_000,
        cfg.step_ns() / 1_000_000_000,
    )?;
    let pseudo = Arc::new(crate::keys::pseudonymiser(Some(&key), "default", true)?);
    let (assets, _) = crate::case::load_assets(&a.assets);
    // Checked once here; every partition makes its own from the same files.
    crate::setup::allow_lists(&a.allow_lists)?;
    let allow_paths = a.allow_lists.clone();
    let detectors: Vec<&'static str> = vakt_detect::detectors(&loaded.setup)
        .iter()
        .map(|d| d.name())
        .collect();
    let api = if cfg.has(vakt_cluster::Role::Api) {
        let (context, rules, settings) = crate::serve::api_parts(&a, &loaded.setup)?;
        Some(vakt_cluster::api::ApiParts {
            context,
            rules,
            settings,
            respond: vakt_server::respond::RespondConfig::default(),
            session_hours: vakt_server::ServeConfig::default().session_hours,
        })
    } else {
        None
    };
    let setup = Arc::new(loaded.setup);
    let factory: vakt_cluster::Factory = Arc::new(move || {
        (
            vakt_detect::detectors(&setup),
            crate::setup::allow_lists(&allow_paths).unwrap_or_default(),
        )
    });
    vakt_cluster::run(
        cfg,
        vakt_cluster::Parts {
            factory,
            assets: Arc::new(assets),
            pseudo,
            api,
            detectors,
        },
    )
    .map_err(anyhow::Error::msg)?;
    Ok(ExitCode::SUCCESS)
}
