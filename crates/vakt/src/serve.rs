//! `vakt serve` and `vakt token`: the arguments; the service itself is
//! `vakt-server`'s.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use vakt_analytics::stream::StreamConfig;
use vakt_server::{ServeConfig, Service};

use crate::cli::RuleArgs;
use crate::setup::HuntSetup;

/// `vakt serve`.
#[derive(Debug, Args)]
#[command(
    after_help = "Ingest: POST /_bulk (Elasticsearch bulk: Beats, Logstash, Fluent Bit, Vector, rsyslog omelasticsearch),\nPOST /api/v1/ingest?format=…, POST /fhir/AuditEvent, POST /fhir (Bundle). Tokens: `vakt token create`.\nSyslog: --syslog tcp|udp|tls|relp://ADDR/TENANT (RELP acknowledges once stored; TCP/TLS/UDP have no acknowledgement).\nFolders: --watch zeek|eve:TENANT:DIR follows Zeek and Suricata logs through rotation; a restart resumes exactly.\nHealth: /healthz, /readyz; Prometheus: /metrics. SIGTERM stops it cleanly; a restart resumes."
)]
pub struct ServeArgs {
    /// The data folder (store, write-ahead log, alerts and incidents, tokens).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where HTTP listens (port 0: any free port, written to DIR/listening).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// TLS certificate chain (PEM): with --tls-key, the listener speaks HTTPS.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Settings (YAML; see the README's configuration reference).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// A syslog listener, PROTO://ADDR/TENANT (tcp, udp, tls, relp; e.g.
    /// relp://0.0.0.0:2514/ahus). Several allowed; rules in the config file.
    #[arg(long = "syslog", value_name = "SPEC", value_parser = parse_syslog)]
    pub syslog: Vec<vakt_server::config::SyslogListener>,
    /// A folder of Zeek or Suricata logs to follow, FORMAT:TENANT:DIR (e.g.
    /// zeek:ahus:/nsm/zeek/logs, eve:ous:/var/log/suricata). Several allowed.
    #[arg(long = "watch", value_name = "SPEC", value_parser = parse_watch)]
    pub watch: Vec<vakt_server::config::Watch>,
    #[command(flatten)]
    pub rules: RuleArgs,
    /// Behaviour analytics: all, none, or a list of findings.
    #[arg(long, value_delimiter = ',', default_value = "all")]
    pub analytics: Vec<String>,
    /// Indicator files or folders (STIX 2.1, MISP, lists).
    #[arg(long = "intel", value_name = "PATH")]
    pub intel: Vec<PathBuf>,
    /// MISP warninglists: indicators on them do not alert.
    #[arg(long = "warninglist", value_name = "PATH")]
    pub warninglists: Vec<PathBuf>,
    /// Allow-lists for behaviour findings.
    #[arg(long = "allow-list", value_name = "PATH")]
    pub allow_lists: Vec<PathBuf>,
    /// EHR care context (FHIR resources, protected-person registers).
    #[arg(long = "context", value_name = "PATH")]
    pub context: Vec<PathBuf>,
    /// Asset registers (CSV: host, address, kind, trust, holds_patients_of).
    #[arg(long = "assets", value_name = "PATH")]
    pub assets: Vec<PathBuf>,
    /// The pseudonym key (default: DIR/pseudonym.key, made on first start).
    #[arg(long, value_name = "FILE", env = "VAKT_PSEUDONYM_KEY_FILE")]
    pub pseudonym_key_file: Option<PathBuf>,
}

fn parse_syslog(s: &str) -> Result<vakt_server::config::SyslogListener, String> {
    vakt_server::config::SyslogListener::parse(s)
}

fn parse_watch(s: &str) -> Result<vakt_server::config::Watch, String> {
    vakt_server::config::Watch::parse(s)
}

/// `vakt token`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make an ingest token for a tenant; it is printed once and stored hashed.
    Create(TokenCreateArgs),
}

/// `vakt token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The service's data folder.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The tenant (trust) whose events the token sends.
    #[arg(long)]
    pub tenant: String,
    /// The role (ingest).
    #[arg(long, default_value = "ingest")]
    pub role: String,
    /// A note on who holds it.
    #[arg(long, default_value = "")]
    pub label: String,
}

/// Runs `vakt token`.
pub fn run_token(c: TokenCommand) -> anyhow::Result<ExitCode> {
    match c {
        TokenCommand::Create(a) => {
            std::fs::create_dir_all(&a.dir)
                .with_context(|| format!("cannot create {}", a.dir.display()))?;
            let db = vakt_server::db::open(&a.dir.join("vakt.db"))?;
            let token = vakt_server::tokens::create(&db, &a.tenant, &a.role, &a.label)
                .map_err(anyhow::Error::msg)?;
            println!("{token}");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The pseudonym key of a data folder, made on first start (patients in the
/// store must keep their pseudonyms across restarts).
fn key_file(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let path = dir.join("pseudonym.key");
    if !path.exists() {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        std::fs::write(&path, hex).with_context(|| format!("cannot write {}", path.display()))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        }
    }
    Ok(path)
}

/// Runs `vakt serve`.
pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut cfg = match &a.config {
        Some(f) => ServeConfig::load(f).map_err(anyhow::Error::msg)?,
        None => ServeConfig::default(),
    };
    if let Some(d) = a.dir {
        cfg.dir = d;
    }
    if let Some(l) = a.listen {
        cfg.listen = l;
    }
    if a.tls_cert.is_some() {
        cfg.tls_cert = a.tls_cert;
        cfg.tls_key = a.tls_key;
    }
    cfg.syslog.extend(a.syslog);
    cfg.watch.extend(a.watch);
    std::fs::create_dir_all(&cfg.dir)
        .with_context(|| format!("cannot create {}", cfg.dir.display()))?;
    let key = match a.pseudonym_key_file {
        Some(k) => k,
        None => key_file(&cfg.dir)?,
    };
    let step = cfg.stream_step_secs();
    // The data folder's intel/ is watched while the service runs; what is
    // there at start is matched from the start.
    let folder = cfg.dir.join("intel");
    std::fs::create_dir_all(&folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let mut intel = a.intel.clone();
    intel.push(folder);
    let loaded = crate::setup::hunt(&HuntSetup {
        rules: &a.rules,
        analytics: &a.analytics,
        context: &a.context,
        intel: &intel,
        warninglists: &a.warninglists,
        intel_force: false,
        key_file: Some(&key),
        tenant: "default",
        stream: Some(StreamConfig {
            window: cfg.stream_window_secs(),
            step,
            lateness: step,
        }),
        from_store: false,
        quiet: false,
    })?;
    let pseudo = Arc::new(crate::keys::pseudonymiser(Some(&key), "default", true)?);
    let (assets, _) = crate::case::load_assets(&a.assets);
    let service = Service {
        detectors: vakt_detect::detectors(&loaded.setup),
        allow: crate::setup::allow_lists(&a.allow_lists)?,
        assets: Arc::new(assets),
        pseudo,
        intel: a.intel,
        warninglists: a.warninglists,
    };
    vakt_server::serve(cfg, service)?;
    Ok(ExitCode::SUCCESS)
}
