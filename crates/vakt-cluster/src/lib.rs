//! vakt-cluster: `vakt serve --cluster CONFIG` — the same binary and the
//! same detectors as `vakt serve`, as nodes of a cluster on real
//! distributed parts: NATS JetStream is the durable bus, PostgreSQL the
//! shared state, a shared folder the event store.
//!
//! ```text
//! shipper ─ HTTP ─► ingest node: token → tenant, parse, split by partition
//!                     │  publish to vakt.ev.<tenant>.<shard>, 2xx once JetStream acknowledged
//!                     ▼
//!           JetStream stream VAKT_EVENTS (file storage, R1 or R3)
//!                     │  one durable pull consumer per partition
//!                     ▼
//!   worker (holds the partition's lease in PostgreSQL) ─► every detector
//!      │ store segments (shared folder, the partition's own sub-folder)
//!      │ alerts by key + checkpoint, one fenced transaction ─► PostgreSQL
//!      └ then the acknowledgement to JetStream
//!   owner of a tenant's shard 0 ─► incidents of the tenant ─► PostgreSQL
//!   api node ─► vakt serve's API and UI over PostgreSQL and every partition's store
//! ```
//!
//! - [`config`]: the node's settings; [`bus`]: the stream, subjects,
//!   partition keys; [`codec`]: events in messages; [`pg`]: the schema
//!   (versioned migrations) and every statement; [`ingest`]: the ingest
//!   role (its own API and `vakt serve`'s shippers' endpoints);
//!   [`worker`]: leases, partitions, commits; [`incidents`]: per tenant
//!   correlation; [`api`]: the api role; [`status`]: `vakt cluster status`.
//! - The partitioning scheme and why each detector's state is complete
//!   where it lives: `docs/CLUSTER.md`; capacity: `docs/SCALE.md`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod bus;
/// The events' wire format on the bus (the store's, shared with saved detector state).
pub use vakt_store::wire as codec;
pub mod config;
pub mod incidents;
pub mod ingest;
pub mod pg;
pub mod snapshot;
pub mod status;
pub mod worker;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use vakt_context::Assets;
use vakt_core::Detector;
use vakt_core::pseudo::Pseudonymiser;
use vakt_detect::AllowLists;

pub use config::{ClusterConfig, Role};

/// Makes a partition's detectors (each partition has its own state).
pub type Factory = Arc<dyn Fn() -> (Vec<Box<dyn Detector>>, AllowLists) + Send + Sync>;

/// What the workers run with.
pub struct Parts {
    /// A fresh set of detectors and allow-lists.
    pub factory: Factory,
    /// The asset register (incidents join host names and addresses by it).
    pub assets: Arc<Assets>,
    /// Patient identifiers become pseudonyms in the store under these keys.
    pub pseudo: Arc<Pseudonymiser>,
    /// What the api role serves beside the cluster's state (api nodes).
    pub api: Option<api::ApiParts>,
    /// The detectors' names (as the API lists them).
    pub detectors: Vec<&'static str>,
}

/// A node's counters (`/metrics`, and its row in `nodes`).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Ingest requests.
    pub ingest_requests: AtomicU64,
    /// Events accepted (acknowledged by JetStream).
    pub ingest_events: AtomicU64,
    /// Records rejected and quarantined.
    pub ingest_rejected: AtomicU64,
    /// Messages published and acknowledged.
    pub published_messages: AtomicU64,
    /// Their bytes.
    pub published_bytes: AtomicU64,
    /// Publications JetStream did not acknowledge (the request got 503).
    pub publish_failures: AtomicU64,
    /// Partitions held.
    pub partitions: AtomicU64,
    /// Events through the detectors.
    pub worker_events: AtomicU64,
    /// Messages delivered again (after a worker died or an ack was lost).
    pub redelivered: AtomicU64,
    /// Messages that could not be read.
    pub bad_messages: AtomicU64,
    /// Commits.
    pub commits: AtomicU64,
    /// Commits that failed (retried).
    pub commit_failures: AtomicU64,
    /// Alerts kept (restated ones counted again).
    pub alerts: AtomicU64,
    /// Partitions taken over from another node.
    pub takeovers: AtomicU64,
    /// Leases lost.
    pub leases_lost: AtomicU64,
    /// Partitions that stopped on a fault.
    pub partition_faults: AtomicU64,
    /// Detector state snapshots saved.
    pub snapshots: AtomicU64,
    /// The size of the last snapshot saved (bytes).
    pub snapshot_bytes: AtomicU64,
    /// Partitions whose detector state was loaded from a snapshot.
    pub snapshot_loads: AtomicU64,
    /// Deliveries lost on the way (a consumer sequence skipped): the
    /// partition read again from the message after the last one read.
    pub lost_deliveries: AtomicU64,
}

impl Metrics {
    fn pairs(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("ingest_requests", self.ingest_requests.load(Relaxed)),
            ("ingest_events", self.ingest_events.load(Relaxed)),
            ("ingest_rejected", self.ingest_rejected.load(Relaxed)),
            ("published_messages", self.published_messages.load(Relaxed)),
            ("published_bytes", self.published_bytes.load(Relaxed)),
            ("publish_failures", self.publish_failures.load(Relaxed)),
            ("partitions", self.partitions.load(Relaxed)),
            ("worker_events", self.worker_events.load(Relaxed)),
            ("redelivered", self.redelivered.load(Relaxed)),
            ("bad_messages", self.bad_messages.load(Relaxed)),
            ("commits", self.commits.load(Relaxed)),
            ("commit_failures", self.commit_failures.load(Relaxed)),
            ("alerts", self.alerts.load(Relaxed)),
            ("takeovers", self.takeovers.load(Relaxed)),
            ("leases_lost", self.leases_lost.load(Relaxed)),
            ("partition_faults", self.partition_faults.load(Relaxed)),
            ("snapshots", self.snapshots.load(Relaxed)),
            ("snapshot_bytes", self.snapshot_bytes.load(Relaxed)),
            ("snapshot_loads", self.snapshot_loads.load(Relaxed)),
            ("lost_deliveries", self.lost_deliveries.load(Relaxed)),
        ]
    }

    /// As a JSON object.
    pub fn json(&self) -> String {
        let m: serde_json::Map<String, serde_json::Value> = self
            .pairs()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        serde_json::Value::Object(m).to_string()
    }

    /// In Prometheus' text format.
    pub fn prometheus(&self, node: &str) -> String {
        let mut out = String::new();
        for (k, v) in self.pairs() {
            let kind = if k == "partitions" {
                "gauge"
            } else {
                "counter"
            };
            out += &format!(
                "# TYPE vakt_cluster_{k} {kind}\nvakt_cluster_{k}{{node=\"{node}\"}} {v}\n"
            );
        }
        out
    }
}

/// One node: its settings, connections and counters.
pub struct Node {
    /// Settings.
    pub cfg: ClusterConfig,
    /// JetStream.
    pub js: async_nats::jetstream::Context,
    /// PostgreSQL for requests (tokens, quarantine, partitions).
    pub db: tokio::sync::Mutex<pg::Db>,
    /// PostgreSQL for the partitions' commits.
    pub part_db: tokio::sync::Mutex<pg::Db>,
    /// PostgreSQL through the service's storage interface (exceptions).
    pub sql: Arc<vakt_server::sql::PgPool>,
    /// The runtime (partition threads block on it).
    pub rt: tokio::runtime::Handle,
    /// Detectors and what they need.
    pub parts: Parts,
    /// Counters.
    pub metrics: Metrics,
    /// Where HTTP listens.
    pub listen: std::sync::Mutex<Option<SocketAddr>>,
    /// Stopping (SIGTERM).
    pub stopping: AtomicBool,
    /// Draining (asked through the database).
    pub draining: AtomicBool,
    /// The worker gave every partition back.
    pub worker_done: AtomicBool,
    /// The serve side of an ingest node: its tokens (PostgreSQL's `tokens`
    /// table, role ingest), quarantine folder and log queue.
    shippers: std::sync::OnceLock<Arc<vakt_server::http::State>>,
    /// Partitions known to exist.
    known: std::sync::Mutex<HashSet<(String, i32)>>,
    /// Batches published.
    batch_no: AtomicU64,
    /// When the node started (ns): with the node name, message ids unique.
    boot: i64,
}

impl Node {
    fn roles(&self) -> String {
        let r: Vec<&str> = self
            .cfg
            .roles
            .iter()
            .map(|r| match r {
                Role::Ingest => "ingest",
                Role::Worker => "worker",
                Role::Api => "api",
            })
            .collect();
        r.join(",")
    }

    fn listen_text(&self) -> String {
        self.listen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|a| a.to_string())
            .unwrap_or_default()
    }

    /// The tenant of an ingest token (the same tokens as the shippers'
    /// endpoints: `vakt cluster token`, role ingest).
    async fn tenant_of(&self, token: &str) -> Result<Option<String>, String> {
        let Some(state) = self.shippers.get().cloned() else {
            return Err("the node is starting".into());
        };
        let auth = format!("Bearer {token}");
        let grant = tokio::task::spawn_blocking(move || state.tokens.grant(Some(&auth)))
            .await
            .map_err(|e| e.to_string())?;
        Ok(grant.filter(|g| g.role == "ingest").map(|g| g.tenant))
    }

    /// Makes sure a partition is recorded (workers find it there).
    async fn known(&self, tenant: &str, shard: i32) -> Result<(), String> {
        let k = (tenant.to_owned(), shard);
        if self
            .known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&k)
        {
            return Ok(());
        }
        {
            let mut db = self.db.lock().await;
            pg::register(&mut db, tenant, shard).await?;
        }
        self.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(k);
        Ok(())
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(n): State<Arc<Node>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        n.metrics.prometheus(&n.cfg.node),
    )
}

/// Makes an ingest token for a tenant (printed once, stored hashed).
pub fn add_token(cfg: &ClusterConfig, tenant: &str, label: &str) -> Result<String, String> {
    if tenant.is_empty() || !tenant.chars().all(config::token_char) {
        return Err(format!(
            "tenant {tenant:?}: letters, digits, '-' and '_' only (it names subjects and folders)"
        ));
    }
    let c = api_database(cfg)?;
    vakt_server::tokens::create(&c, tenant, "ingest", label, None).map(|(t, _)| t)
}

/// The cluster's relational store as the API reads it (the schema brought
/// up to date first).
fn api_database(cfg: &ClusterConfig) -> Result<vakt_server::sql::Connection, String> {
    let rt = runtime(1)?;
    rt.block_on(async {
        pg::Db::open(&cfg.postgres, Duration::from_secs(10))
            .await
            .map(drop)
    })?;
    drop(rt);
    vakt_server::sql::PgPool::get(&Arc::new(vakt_server::sql::PgPool::new(&cfg.postgres)))
        .map_err(|e| e.to_string())
}

/// Makes an API token (a role other than ingest: `vakt token create` for a
/// cluster): printed once, stored hashed; returns the token and its id.
pub fn add_api_token(
    cfg: &ClusterConfig,
    tenant: &str,
    role: &str,
    label: &str,
) -> Result<(String, String), String> {
    let c = api_database(cfg)?;
    vakt_server::tokens::create(&c, tenant, role, label, None)
}

/// Adds an API user (`vakt users add` for a cluster).
pub fn add_user(
    cfg: &ClusterConfig,
    name: &str,
    password: &str,
    role: &str,
    tenant: &str,
) -> Result<(), String> {
    let c = api_database(cfg)?;
    vakt_server::auth::add_user(&c, name, password, role, tenant)
}

/// Walks the audit trail in PostgreSQL (as `vakt audit verify` does the
/// embedded one), against the head file of every node that wrote to it.
pub fn audit_verify(cfg: &ClusterConfig) -> Result<vakt_server::audit::Verified, String> {
    let c = api_database(cfg)?;
    let heads: Vec<std::path::PathBuf> = std::fs::read_dir(cfg.shared_dir.join("nodes"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("audit.head"))
        .filter(|p| p.exists())
        .collect();
    vakt_server::audit::verify_with(&c, "PostgreSQL", &heads)
}

/// Asks a node to drain: it gives its partitions back and stops.
pub fn drain(cfg: &ClusterConfig, node: &str) -> Result<bool, String> {
    let rt = runtime(1)?;
    rt.block_on(async {
        let mut db = pg::Db::open(&cfg.postgres, Duration::from_secs(10)).await?;
        db.execute("UPDATE nodes SET draining = true WHERE node = $1", &[&node])
            .await
            .map(|n| n > 0)
    })
}

/// Writes the cluster's alerts (`alerts.jsonl`) and incidents
/// (`incidents.json`) to a folder: the files `vakt demo` writes, for
/// `vakt scope`, `vakt report` and comparisons.
pub fn export(cfg: &ClusterConfig, out: &std::path::Path) -> Result<(usize, usize), String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let rt = runtime(1)?;
    let (alerts, incidents) = rt.block_on(async {
        let mut db = pg::Db::open(&cfg.postgres, Duration::from_secs(10)).await?;
        Ok::<_, String>((pg::alerts(&mut db).await?, pg::incidents(&mut db).await?))
    })?;
    let mut text = String::new();
    for (a, _) in &alerts {
        text += &serde_json::to_string(a).map_err(|e| e.to_string())?;
        text.push('\n');
    }
    std::fs::write(out.join("alerts.jsonl"), text).map_err(|e| e.to_string())?;
    let list: Vec<&vakt_incident::Incident> = incidents.iter().map(|(_, i)| i).collect();
    let json = serde_json::to_string_pretty(&list).map_err(|e| e.to_string())? + "\n";
    std::fs::write(out.join("incidents.json"), json).map_err(|e| e.to_string())?;
    Ok((alerts.len(), incidents.len()))
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// Runs a node until SIGTERM or Ctrl-C (or, for a worker-only node, until
/// it has drained).
pub fn run(cfg: ClusterConfig, mut parts: Parts) -> Result<(), String> {
    cfg.check()?;
    std::fs::create_dir_all(&cfg.shared_dir)
        .map_err(|e| format!("{}: {e}", cfg.shared_dir.display()))?;
    let rt = runtime(2)?;
    rt.block_on(async move {
        let db = pg::Db::open(&cfg.postgres, Duration::from_secs(60)).await?;
        let js = bus::connect(&cfg).await?;
        // A JetStream cluster that is just starting has no leader yet.
        let waiting = std::time::Instant::now();
        while let Err(e) = bus::stream(&js, &cfg).await {
            if waiting.elapsed() > Duration::from_secs(60) {
                return Err(e);
            }
            tracing::warn!(target: "vakt::cluster", "waiting for JetStream: {e}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let api_parts = parts.api.take();
        let n = Arc::new(Node {
            js,
            db: tokio::sync::Mutex::new(db),
            part_db: tokio::sync::Mutex::new(pg::Db::new(&cfg.postgres)),
            sql: Arc::new(vakt_server::sql::PgPool::new(&cfg.postgres)),
            rt: tokio::runtime::Handle::current(),
            parts,
            metrics: Metrics::default(),
            listen: std::sync::Mutex::new(None),
            stopping: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            worker_done: AtomicBool::new(false),
            shippers: Default::default(),
            known: Default::default(),
            batch_no: AtomicU64::new(0),
            boot: vakt_server::now().0,
            cfg,
        });
        let mut app = axum::Router::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics));
        if n.cfg.has(Role::Ingest) {
            app = app.route("/api/v1/ingest", post(ingest::ingest));
        }
        let mut app = app
            .layer(axum::extract::DefaultBodyLimit::max(n.cfg.max_body_bytes))
            .with_state(n.clone());
        let mut shippers = None;
        if n.cfg.has(Role::Ingest) {
            let (to_log, queue) = std::sync::mpsc::sync_channel(64);
            let cfg = n.cfg.clone();
            let state = tokio::task::spawn_blocking(move || ingest::shipper_state(&cfg, to_log))
                .await
                .map_err(|e| e.to_string())??;
            let _ = n.shippers.set(state.clone());
            app = app.merge(vakt_server::http::shipper_router(state.clone()));
            let n2 = n.clone();
            std::thread::Builder::new()
                .name("vakt-publish".into())
                .spawn(move || ingest::publisher(n2, queue))
                .map_err(|e| e.to_string())?;
            shippers = Some(state);
        }
        let (close_tx, close_rx) = tokio::sync::watch::channel(false);
        let mut syslog_tasks = None;
        if let Some(state) = &shippers
            && !n.cfg.syslog.is_empty()
        {
            let (_, tasks) = vakt_server::syslog::start(state.clone(), &n.cfg.syslog, close_rx)
                .await
                .map_err(|e| format!("syslog: {e}"))?;
            syslog_tasks = Some(tasks);
        }
        let mut responder = None;
        if n.cfg.has(Role::Api) {
            let Some(api_parts) = api_parts else {
                return Err("the api role needs the API's parts".to_owned());
            };
            let (cfg, pseudo, detectors) =
                (n.cfg.clone(), n.parts.pseudo.clone(), n.parts.detectors.clone());
            let (router, respond) = tokio::task::spawn_blocking(move || {
                api::build(&cfg, pseudo, detectors, &api_parts)
            })
            .await
            .map_err(|e| e.to_string())??;
            app = app.merge(router);
            responder = Some(respond);
        }
        let listener = tokio::net::TcpListener::bind(n.cfg.listen)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", n.cfg.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        *n.listen.lock().unwrap_or_else(|p| p.into_inner()) = Some(addr);
        let nodes = n.cfg.shared_dir.join("nodes");
        let _ = std::fs::create_dir_all(&nodes);
        let _ = std::fs::write(nodes.join(format!("{}.listening", n.cfg.node)), addr.to_string());
        tracing::info!(target: "vakt::cluster", "node {} ({}) listening on {addr}", n.cfg.node, n.roles());
        let worker = if n.cfg.has(Role::Worker) {
            Some(tokio::spawn(worker::control(n.clone())))
        } else {
            let n2 = n.clone();
            // An ingest-only node still says it is alive.
            Some(tokio::spawn(async move {
                let mut db = pg::Db::new(&n2.cfg.postgres);
                while !n2.stopping.load(Relaxed) {
                    let _ = pg::heartbeat(&mut db, &n2.cfg.node, &n2.roles(), &n2.listen_text(), &n2.metrics.json()).await;
                    tokio::time::sleep(n2.cfg.lease() / 3).await;
                }
                let _ = pg::gone(&mut db, &n2.cfg.node).await;
            }))
        };
        let n2 = n.clone();
        let stop = async move {
            let term = async {
                #[cfg(unix)]
                {
                    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                        s.recv().await;
                        return;
                    }
                }
                std::future::pending::<()>().await
            };
            let drained = async {
                loop {
                    if n2.worker_done.load(Relaxed)
                        && !n2.cfg.has(Role::Ingest)
                        && !n2.cfg.has(Role::Api)
                    {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term => {}
                _ = drained => {}
            }
            tracing::info!(target: "vakt::cluster", "stopping: partitions are committed and given back");
        };
        let served = axum::serve(listener, app).with_graceful_shutdown(stop).await;
        n.stopping.store(true, Relaxed);
        if let Some(s) = &shippers {
            s.stopping.store(true, Relaxed);
        }
        let _ = close_tx.send(true);
        if let Some(mut t) = syslog_tasks {
            while t.join_next().await.is_some() {}
        }
        if let Some(r) = &responder {
            r.stopping.store(true, Relaxed);
        }
        if let Some(w) = worker {
            let _ = w.await;
        }
        served.map_err(|e| format!("HTTP: {e}"))
    })
}
