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
    /// The site model (YAML; see `vakt hunt --help` and docs/NETWORK.md).
    #[arg(long, value_name = "FILE", env = "VAKT_SITE")]
    pub site: Option<PathBuf>,
    /// EHR care context (FHIR resources, protected-person registers).
    #[arg(long = "context", value_name = "PATH")]
    pub context: Vec<PathBuf>,
    /// Asset registers (CSV: host, address, kind, trust, holds_patients_of).
    #[arg(long = "assets", value_name = "PATH")]
    pub assets: Vec<PathBuf>,
    /// The pseudonym key (default: DIR/pseudonym.key, made on first start).
    #[arg(long, value_name = "FILE", env = "VAKT_PSEUDONYM_KEY_FILE")]
    pub pseudonym_key_file: Option<PathBuf>,
    /// Run as a node of a cluster (YAML: node, roles, nats, postgres,
    /// listen, shared_dir, shards, replicas; see docs/CLUSTER.md). The
    /// detector options above apply; --dir, --config, --syslog and --watch do not.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["config", "syslog", "watch"])]
    pub cluster: Option<PathBuf>,
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
    /// Make a token (ingest, or an API role); it is printed once and stored hashed.
    Create(TokenCreateArgs),
}

/// `vakt user`.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add an API user (or set a user's password, role and tenant); the
    /// password is read from $VAKT_PASSWORD, else the first line of standard input.
    Add(UserAddArgs),
}

/// `vakt user add`.
#[derive(Debug, Args)]
pub struct UserAddArgs {
    /// The service's data folder.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The user name.
    #[arg(long)]
    pub name: String,
    /// The role: cert-analyst, trust-analyst, privacy-officer, admin.
    #[arg(long)]
    pub role: String,
    /// The tenant (trust analysts: required; privacy officers: optional).
    #[arg(long, default_value = "")]
    pub tenant: String,
}

/// `vakt audit`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the audit trail's hash chain: names every edited, removed or
    /// moved record (exit code 1 if any).
    Verify(AuditVerifyArgs),
}

/// `vakt audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// The service's data folder.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
}

/// `vakt token create`.
#[derive(Debug, Args)]
pub struct TokenCreateArgs {
    /// The service's data folder.
    #[arg(long, value_name = "DIR")]
    pub dir: PathBuf,
    /// The tenant (trust) the token is bound to (ingest, trust-analyst:
    /// required; cert-analyst, admin: none).
    #[arg(long, default_value = "")]
    pub tenant: String,
    /// The role: ingest, cert-analyst, trust-analyst, privacy-officer, admin.
    #[arg(long, default_value = "ingest")]
    pub role: String,
    /// A note on who holds it.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Days until it stops working (default: never).
    #[arg(long, value_name = "DAYS")]
    pub expires_days: Option<u32>,
}

/// Runs `vakt token`.
pub fn run_token(c: TokenCommand) -> anyhow::Result<ExitCode> {
    match c {
        TokenCommand::Create(a) => {
            std::fs::create_dir_all(&a.dir)
                .with_context(|| format!("cannot create {}", a.dir.display()))?;
            let db = vakt_server::db::open(&a.dir.join("vakt.db"))?;
            let expires = a.expires_days.map(|d| {
                vakt_server::now()
                    .0
                    .saturating_add(i64::from(d) * 86_400_000_000_000)
            });
            let (token, id) =
                vakt_server::tokens::create(&db, &a.tenant, &a.role, &a.label, expires)
                    .map_err(anyhow::Error::msg)?;
            cli_audit(
                &a.dir,
                "vakt token create",
                &a.tenant,
                format!("token {id}, role {}, label {:?}", a.role, a.label),
            )?;
            println!("{token}");
            eprintln!("vakt: token {id} ({}) made; it is shown only now", a.role);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Records a change made from the command line in the audit trail (who:
/// the operating-system user running it).
fn cli_audit(
    dir: &std::path::Path,
    what: &str,
    tenant: &str,
    detail: String,
) -> anyhow::Result<()> {
    let trail =
        vakt_server::audit::AuditTrail::open(&dir.join("vakt.db")).map_err(anyhow::Error::msg)?;
    let who = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    trail
        .append(vakt_server::audit::Act {
            who: format!("{who} (command line)"),
            role: "operator".into(),
            tenant: tenant.to_owned(),
            action: "change".into(),
            object: what.to_owned(),
            outcome: "done".into(),
            detail,
        })
        .map_err(anyhow::Error::msg)?;
    Ok(())
}

/// Runs `vakt user`.
pub fn run_user(c: UserCommand) -> anyhow::Result<ExitCode> {
    match c {
        UserCommand::Add(a) => {
            let password = match std::env::var("VAKT_PASSWORD") {
                Ok(p) => p,
                Err(_) => {
                    let mut line = String::new();
                    std::io::stdin()
                        .read_line(&mut line)
                        .context("cannot read the password from standard input")?;
                    line.trim_end_matches(['\r', '\n']).to_owned()
                }
            };
            std::fs::create_dir_all(&a.dir)
                .with_context(|| format!("cannot create {}", a.dir.display()))?;
            let db = vakt_server::db::open(&a.dir.join("vakt.db"))?;
            vakt_server::auth::add_user(&db, &a.name, &password, &a.role, &a.tenant)
                .map_err(anyhow::Error::msg)?;
            cli_audit(
                &a.dir,
                "vakt user add",
                &a.tenant,
                format!("user {}, role {}", a.name, a.role),
            )?;
            eprintln!("vakt: user {} ({}) can sign in", a.name, a.role);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs `vakt audit`.
pub fn run_audit(c: AuditCommand) -> anyhow::Result<ExitCode> {
    match c {
        AuditCommand::Verify(a) => {
            let v =
                vakt_server::audit::verify(&a.dir.join("vakt.db")).map_err(anyhow::Error::msg)?;
            Ok(say_verified(&v))
        }
    }
}

/// Prints what a walk of the audit trail found; exit 1 if it is broken.
pub(crate) fn say_verified(v: &vakt_server::audit::Verified) -> ExitCode {
    for b in &v.breaks {
        println!("{b}");
    }
    if v.breaks.is_empty() {
        eprintln!("vakt: the audit trail is intact ({} records)", v.records);
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "vakt: the audit trail is broken at {} place(s) ({} records read)",
            v.breaks.len(),
            v.records
        );
        ExitCode::from(1)
    }
}

/// The rules of the service: listed, checked and loaded again through the API.
struct ServeRules {
    args: RuleArgs,
    now: std::sync::Mutex<(Vec<vakt_server::api::RuleInfo>, serde_json::Value)>,
}

impl ServeRules {
    /// The rule set of the arguments, with its list and check.
    fn load(
        args: &RuleArgs,
    ) -> anyhow::Result<
        Option<(
            vakt_sigma::RuleSet,
            Vec<vakt_server::api::RuleInfo>,
            serde_json::Value,
        )>,
    > {
        let (dirs, logsources, placeholders) = crate::setup::rule_sources(args)?;
        if dirs.is_empty() {
            return Ok(None);
        }
        let (set, report, secs) = crate::rules::load(
            &dirs,
            logsources.as_deref(),
            placeholders.as_deref(),
            args.no_pack,
        )?;
        let check = crate::rules::check_json(&set, &report, secs);
        let list = set
            .rules
            .iter()
            .map(|r| vakt_server::api::RuleInfo {
                id: r.id.clone().unwrap_or_else(|| r.title.clone()),
                title: r.title.clone(),
                level: r.level.clone(),
                status: r.status.clone(),
                tags: r.tags.clone(),
                logsource: [
                    &r.logsource.product,
                    &r.logsource.category,
                    &r.logsource.service,
                ]
                .map(|x| x.as_deref().unwrap_or(""))
                .join("/"),
                file: r.path.to_string(),
            })
            .collect();
        Ok(Some((set, list, check)))
    }
}

impl vakt_server::api::RuleSource for ServeRules {
    fn list(&self) -> Vec<vakt_server::api::RuleInfo> {
        self.now.lock().unwrap_or_else(|p| p.into_inner()).0.clone()
    }

    fn check(&self) -> serde_json::Value {
        self.now.lock().unwrap_or_else(|p| p.into_inner()).1.clone()
    }

    fn reload(&self) -> Result<(Vec<Box<dyn vakt_core::Detector>>, usize), String> {
        let Some((set, list, check)) = Self::load(&self.args).map_err(|e| format!("{e:#}"))? else {
            return Err("no rule folders are configured".into());
        };
        let n = list.len();
        let setup = vakt_detect::Setup {
            rules: Some(Arc::new(vakt_detect::detectors::SigmaRules::new(set))),
            analytics: vakt_detect::Analytics::None,
            ..Default::default()
        };
        let detectors = vakt_detect::detectors(&setup);
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = (list, check);
        Ok((detectors, n))
    }
}

/// The pseudonym key of a data folder, made on first start (patients in the
/// store must keep their pseudonyms across restarts).
pub(crate) fn key_file(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
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

/// The detectors' set-up of a live service (`vakt serve`, and each node
/// of a cluster): the network family as a stream with this window and step
/// (seconds).
pub(crate) fn live_setup(
    a: &ServeArgs,
    intel: &[PathBuf],
    key: &std::path::Path,
    window: i64,
    step: i64,
) -> anyhow::Result<crate::setup::Loaded> {
    crate::setup::hunt(&HuntSetup {
        rules: &a.rules,
        analytics: &a.analytics,
        context: &a.context,
        intel,
        warninglists: &a.warninglists,
        intel_force: false,
        key_file: Some(key),
        tenant: "default",
        site: a.site.as_deref(),
        assets: &a.assets,
        stream: Some(StreamConfig {
            window,
            step,
            lateness: step,
        }),
        from_store: false,
        quiet: false,
    })
}

/// What the API serves beside the data: the care context, the rules
/// running (listed and checked), the detectors' settings. Shared by
/// `vakt serve` and a cluster's api nodes.
pub(crate) type ApiParts = (
    Arc<vakt_context::EhrContext>,
    Option<Arc<dyn vakt_server::api::RuleSource>>,
    serde_json::Value,
);

/// Makes the [`ApiParts`] from the arguments and the loaded set-up.
pub(crate) fn api_parts(a: &ServeArgs, setup: &vakt_detect::Setup) -> anyhow::Result<ApiParts> {
    let context = match &setup.ehr {
        Some(e) => e.context.clone(),
        None if !a.context.is_empty() => Arc::new(crate::setup::context(&a.context, true).0),
        None => Arc::default(),
    };
    // The list and check of the rules running (loaded once more: the
    // running set is compiled into the detectors).
    let rules: Option<Arc<dyn vakt_server::api::RuleSource>> =
        ServeRules::load(&a.rules)?.map(|(_, list, check)| {
            Arc::new(ServeRules {
                args: a.rules.clone(),
                now: std::sync::Mutex::new((list, check)),
            }) as Arc<dyn vakt_server::api::RuleSource>
        });
    let settings = serde_json::json!({
        "analytics": a.analytics,
        "allow_lists": a.allow_lists,
        "intel": a.intel,
        "warninglists": a.warninglists,
        "assets": a.assets,
        "context": a.context,
    });
    Ok((context, rules, settings))
}

/// Runs `vakt serve`.
pub fn run(a: ServeArgs) -> anyhow::Result<ExitCode> {
    if let Some(c) = &a.cluster {
        return crate::cluster::serve(c.clone(), a);
    }
    let mut cfg = match &a.config {
        Some(f) => ServeConfig::load(f).map_err(anyhow::Error::msg)?,
        None => ServeConfig::default(),
    };
    if let Some(d) = a.dir.clone() {
        cfg.dir = d;
    }
    if let Some(l) = a.listen {
        cfg.listen = l;
    }
    if a.tls_cert.is_some() {
        cfg.tls_cert = a.tls_cert.clone();
        cfg.tls_key = a.tls_key.clone();
    }
    cfg.syslog.extend(a.syslog.iter().cloned());
    cfg.watch.extend(a.watch.iter().cloned());
    std::fs::create_dir_all(&cfg.dir)
        .with_context(|| format!("cannot create {}", cfg.dir.display()))?;
    let key = match &a.pseudonym_key_file {
        Some(k) => k.clone(),
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
    let loaded = live_setup(&a, &intel, &key, cfg.stream_window_secs(), step)?;
    let pseudo = Arc::new(crate::keys::pseudonymiser(Some(&key), "default", true)?);
    let (assets, _) = crate::case::load_assets(&a.assets);
    let (context, rules, mut settings) = api_parts(&a, &loaded.setup)?;
    settings["stream_window_hours"] = cfg.stream_window_hours.into();
    settings["stream_step_minutes"] = cfg.stream_step_minutes.into();
    let service = Service {
        detectors: vakt_detect::detectors(&loaded.setup),
        allow: crate::setup::allow_lists(&a.allow_lists)?,
        assets: Arc::new(assets),
        pseudo,
        intel: a.intel,
        warninglists: a.warninglists,
        context,
        rules,
        settings,
    };
    vakt_server::serve(cfg, service)?;
    Ok(ExitCode::SUCCESS)
}
