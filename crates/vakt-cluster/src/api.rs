//! The api role: `vakt serve`'s API and web UI, the same code, over the
//! cluster's shared state — PostgreSQL for what SQLite holds on the
//! embedded default (users, sessions, API tokens, alerts and their triage,
//! incidents and their scopes, cases, exceptions, notifications, the audit
//! trail: [`vakt_server::sql`]) and the partitions' stores in the shared
//! folder read as one (scopes, evidence, event search, hunts).
//!
//! Any number of api nodes may run: they keep nothing of their own but
//! the audit trail's head file (in the node's folder) and the retro-hunts
//! asked of them. Read-modify-write steps (the audit chain, case numbers,
//! exceptions) take one PostgreSQL advisory lock, so nodes take turns.
//!
//! Not here (the workers own them): rules reload and intel folders — a
//! reload asked of an api node is refused (409: a rolling restart of the
//! workers loads new rules); alerts are raised by workers.

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::mpsc::{channel, sync_channel};
use std::sync::{Arc, Mutex};

use vakt_server::sql::{Database, PgPool};

use crate::ClusterConfig;

/// What an api node serves beside the cluster's state.
pub struct ApiParts {
    /// The EHR care context (scoping, reveals, privacy reports).
    pub context: Arc<vakt_context::EhrContext>,
    /// The rules the workers run (listed and checked; not reloaded here).
    pub rules: Option<Arc<dyn vakt_server::api::RuleSource>>,
    /// The detectors' settings, as the API shows them.
    pub settings: serde_json::Value,
    /// Cases, clocks and notifications.
    pub respond: vakt_server::respond::RespondConfig,
    /// How long a session lasts.
    pub session_hours: u32,
}

/// The API's routes and the threads behind them (clocks, deliveries,
/// TAXII pulls), made once the schema is in place. Blocking: call it off
/// the async threads.
pub fn build(
    cfg: &ClusterConfig,
    pseudo: Arc<vakt_core::pseudo::Pseudonymiser>,
    detectors: Vec<&'static str>,
    parts: &ApiParts,
) -> Result<(axum::Router, Arc<vakt_server::respond::Respond>), String> {
    let dir = cfg.shared_dir.join("nodes").join(&cfg.node);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let database = Database::Postgres {
        pool: Arc::new(PgPool::new(&cfg.postgres)),
        dir: dir.clone(),
    };
    let intel_dir = dir.join("intel");
    let hunts: Arc<Mutex<vakt_server::intel::Hunts>> = Arc::default();
    let store_dir = cfg.shared_dir.join("store");
    let data = Arc::new(
        vakt_server::access::Data::new(
            database.clone(),
            store_dir.clone(),
            parts.context.clone(),
            pseudo,
            hunts.clone(),
            vec![intel_dir.clone()],
        )
        .partitioned(),
    );
    let audit = Arc::new(vakt_server::audit::AuditTrail::open_in(&database)?);
    let (wake_tx, wake_rx) = channel();
    let respond = Arc::new(vakt_server::respond::Respond {
        cfg: parts.respond.clone(),
        db: database.clone(),
        audit: audit.clone(),
        wake: Mutex::new(wake_tx),
        exceptions_changed: AtomicU64::new(1),
        templates_dir: dir.join("templates"),
        intel_dir: intel_dir.clone(),
        hunts: hunts.clone(),
        store_dir,
        stopping: AtomicBool::new(false),
    });
    respond.cfg.check()?;
    {
        let r = respond.clone();
        let t = respond.clone();
        std::thread::Builder::new()
            .name("vakt-respond".into())
            .spawn(move || vakt_server::respond::run(r, wake_rx))
            .map_err(|e| e.to_string())?;
        std::thread::Builder::new()
            .name("vakt-taxii".into())
            .spawn(move || vakt_server::respond::taxii::run(t))
            .map_err(|e| e.to_string())?;
    }
    let serve_cfg = vakt_server::ServeConfig {
        dir: dir.clone(),
        session_hours: parts.session_hours,
        respond: parts.respond.clone(),
        ..vakt_server::ServeConfig::default()
    };
    let tokens = vakt_server::tokens::Tokens::new(database.connect().map_err(|e| e.to_string())?);
    let quarantine = vakt_detect::quarantine::Quarantine::create(&dir.join("quarantine"))
        .map_err(|e| format!("quarantine: {e}"))?;
    // An api node takes no input: its serve side has no log behind it.
    let (to_log, _) = sync_channel(1);
    let state = Arc::new(vakt_server::http::State {
        cfg: serve_cfg,
        tokens,
        metrics: Arc::default(),
        to_log,
        quarantine: Mutex::new(quarantine),
        ready: AtomicBool::new(true),
        stopping: AtomicBool::new(false),
    });
    let api = Arc::new(vakt_server::api::Api {
        data,
        audit,
        respond: respond.clone(),
        ingest: state,
        db: database,
        rules: parts.rules.clone(),
        // The workers own the detectors: a reload is refused here.
        reload: None,
        detectors: serde_json::json!({
            "detectors": detectors,
            "settings": parts.settings,
        }),
        intel_dir,
        hunts,
        started: std::time::Instant::now(),
        session_hours: parts.session_hours.max(1),
        oidc: None,
    });
    Ok((
        vakt_server::api::router(api).merge(vakt_server::ui::router()),
        respond,
    ))
}
