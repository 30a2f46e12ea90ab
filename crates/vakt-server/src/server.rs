//! Starting and stopping the service: open the data folder, remove what a
//! crash left uncommitted, replay the write-ahead log, start the threads,
//! listen; on SIGTERM or Ctrl-C stop listening, let requests in flight
//! finish, and let every thread drain, commit and checkpoint.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::sync_channel;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vakt_context::Assets;
use vakt_core::Detector;
use vakt_core::pseudo::Pseudonymiser;
use vakt_detect::AllowLists;
use vakt_detect::quarantine::Quarantine;
use vakt_incident::CorrelationConfig;
use vakt_store::Store;

use crate::ServeConfig;
use crate::batch::Batch;
use crate::http::State;
use crate::live::{Checkpoint, DetectLoop, Downstream, Reservation, StoreLoop};
use crate::metrics::Metrics;
use crate::tokens::Tokens;
use crate::wal::{self, Wal};

/// Why the service could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data folder or one of its parts.
    #[error("{0}")]
    Data(String),
    /// Another `vakt serve` holds the data folder.
    #[error("{0} is in use by another vakt serve")]
    Locked(String),
    /// The listening address.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// What the detectors of the service are.
pub struct Service {
    /// Every detector, streaming where windowed.
    pub detectors: Vec<Box<dyn Detector>>,
    /// Allow-lists over behaviour findings.
    pub allow: AllowLists,
    /// The asset register (incidents join host names and addresses by it).
    pub assets: Arc<Assets>,
    /// Patient identifiers become pseudonyms in the store under these keys.
    pub pseudo: Arc<Pseudonymiser>,
    /// Indicator files given at start (reloaded with the intel folder's).
    pub intel: Vec<std::path::PathBuf>,
    /// MISP warninglists for the indicators.
    pub warninglists: Vec<std::path::PathBuf>,
    /// The EHR care context (patients, staff): scoping and reveals.
    pub context: Arc<vakt_context::EhrContext>,
    /// The rules, to list, check and reload through the API.
    pub rules: Option<Arc<dyn crate::api::RuleSource>>,
    /// The detectors' settings, as the API shows them.
    pub settings: serde_json::Value,
}

fn data<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> ServeError + '_ {
    move |e| ServeError::Data(format!("{what}: {e}"))
}

/// Runs the service until SIGTERM or Ctrl-C.
pub fn serve(cfg: ServeConfig, service: Service) -> Result<(), ServeError> {
    std::fs::create_dir_all(&cfg.dir).map_err(data("cannot create the data folder"))?;
    cfg.respond.check().map_err(ServeError::Data)?;
    let lock = std::fs::File::create(cfg.dir.join("serve.lock"))
        .map_err(data("cannot create the lock file"))?;
    if lock.try_lock().is_err() {
        return Err(ServeError::Locked(cfg.dir.display().to_string()));
    }
    let metrics = Arc::new(Metrics::default());
    let tokens = Tokens::new(crate::db::open(&cfg.db_path()).map_err(data("database"))?);
    let (store, partial) = Store::open(&cfg.store_dir()).map_err(data("store"))?;
    let committed = Checkpoint::read(&cfg.dir).map_err(ServeError::Data)?;
    let uncommitted = store
        .discard_uncommitted(committed.epoch)
        .map_err(data("store"))?;
    if partial + uncommitted > 0 {
        tracing::info!(target: "vakt::serve", "removed {partial} partial and {uncommitted} uncommitted segments left by a stop; the log holds their events");
    }

    let alerts_db = crate::db::open(&cfg.db_path()).map_err(data("database"))?;
    let detected_through = crate::db::detected_through(&alerts_db).map_err(data("database"))?;
    let detected = Arc::new(std::sync::atomic::AtomicU64::new(detected_through));
    // Incidents go on from the alerts kept before the stop.
    let mut correlator =
        crate::incidents::TenantIncidents::new(service.assets, CorrelationConfig::default());
    for a in crate::db::alerts_unsilenced(&alerts_db).map_err(data("database"))? {
        correlator.add(a);
    }
    // Short queues behind the log: a batch waits behind a few others at
    // most (ingest-to-alert latency), and a full queue pushes back on the
    // log thread, then on the clients.
    let (store_tx, store_rx) = sync_channel(8);
    let (detect_tx, detect_rx) = sync_channel(8);
    let down = Downstream {
        store: store_tx,
        detect: detect_tx,
        metrics: metrics.clone(),
    };
    let forget: crate::live::Forget = Arc::default();
    let store_loop = StoreLoop {
        dir: cfg.dir.clone(),
        wal_dir: cfg.wal_dir(),
        writer: store.writer(service.pseudo.clone()),
        committed: committed.clone(),
        forget: forget.clone(),
        every: cfg.checkpoint_every(),
        delay: Duration::from_millis(cfg.test_store_delay_ms),
        metrics: metrics.clone(),
        detected: detected.clone(),
    };
    let hunts: Arc<Mutex<crate::intel::Hunts>> = Arc::default();
    let (reload_tx, reload_rx) = std::sync::mpsc::channel();
    let detector_names: Vec<&'static str> = service.detectors.iter().map(|d| d.name()).collect();
    let mut intel_paths = service.intel.clone();
    intel_paths.push(cfg.dir.join("intel"));
    let database = crate::sql::Database::Sqlite(cfg.db_path());
    let api_data = Arc::new(crate::access::Data::new(
        database.clone(),
        cfg.store_dir(),
        service.context.clone(),
        service.pseudo.clone(),
        hunts.clone(),
        intel_paths,
    ));
    let audit = Arc::new(crate::audit::AuditTrail::open(&cfg.db_path()).map_err(ServeError::Data)?);
    let (wake_tx, wake_rx) = std::sync::mpsc::channel();
    let respond = Arc::new(crate::respond::Respond {
        cfg: cfg.respond.clone(),
        db: database.clone(),
        audit: audit.clone(),
        wake: Mutex::new(wake_tx),
        exceptions_changed: std::sync::atomic::AtomicU64::new(1),
        templates_dir: cfg.dir.join("templates"),
        intel_dir: cfg.dir.join("intel"),
        hunts: hunts.clone(),
        store_dir: cfg.store_dir(),
        stopping: AtomicBool::new(false),
    });
    let detect_loop = DetectLoop {
        detectors: service.detectors,
        allow: service.allow,
        db: alerts_db,
        correlator,
        step: cfg.stream_step_secs().saturating_mul(1_000_000_000),
        metrics: metrics.clone(),
        detected,
        intel: Some(
            crate::intel::IntelWatch::new(
                cfg.dir.join("intel"),
                service.intel,
                service.warninglists,
                cfg.store_dir(),
                hunts.clone(),
            )
            .settling(cfg.checkpoint_every() * 2 + Duration::from_millis(500)),
        ),
        reload: reload_rx,
        respond: respond.clone(),
        exceptions: crate::live::LiveExceptions::default(),
    };
    let respond_threads = {
        let r = respond.clone();
        let t = respond.clone();
        vec![
            std::thread::Builder::new()
                .name("vakt-respond".into())
                .spawn(move || crate::respond::run(r, wake_rx))
                .map_err(data("thread"))?,
            std::thread::Builder::new()
                .name("vakt-taxii".into())
                .spawn(move || crate::respond::taxii::run(t))
                .map_err(data("thread"))?,
        ]
    };
    let threads = vec![
        std::thread::Builder::new()
            .name("vakt-store".into())
            .spawn(move || store_loop.run(store_rx))
            .map_err(data("thread"))?,
        std::thread::Builder::new()
            .name("vakt-detect".into())
            .spawn(move || detect_loop.run(detect_rx))
            .map_err(data("thread"))?,
    ];

    // What was acknowledged but not committed to the store, or not through
    // the detectors, goes through again (each thread skips what it has).
    let mut replayed = 0u64;
    let from = committed.seq.min(detected_through);
    let mut marks = Vec::new();
    let next = wal::replay(&cfg.wal_dir(), from, |seq, payload| {
        match Batch::decode(&payload) {
            Ok(b) => {
                let parsed = crate::batch::parse(&b);
                if seq > committed.seq
                    && let Some(t) = &b.tail
                {
                    marks.push(t.clone());
                }
                down.send(seq, parsed.events, b.tail, Reservation::none(&metrics));
                replayed += 1;
            }
            Err(e) => tracing::error!(target: "vakt::serve", "write-ahead log record {seq}: {e}"),
        }
    })
    .map_err(data("write-ahead log"))?;
    metrics.replayed.store(replayed, Relaxed);
    if replayed > 0 {
        tracing::info!(
            target: "vakt::serve",
            "replayed {replayed} batches from the write-ahead log (after record {from}: stored through {}, detected through {detected_through}; the log goes on at {next})",
            committed.seq
        );
    }
    let wal =
        Wal::open(&cfg.wal_dir(), next, cfg.wal_file_bytes).map_err(data("write-ahead log"))?;
    let (log_tx, log_rx) = sync_channel(cfg.wal_queue.max(1));
    let log_down = down.clone();
    drop(down);
    let closing = Arc::new(AtomicBool::new(false));
    let log_closing = closing.clone();
    let log_thread = std::thread::Builder::new()
        .name("vakt-log".into())
        .spawn(move || crate::live::log_thread(wal, log_rx, log_down, log_closing))
        .map_err(data("thread"))?;

    let quarantine = Quarantine::create(&cfg.quarantine_dir()).map_err(data("quarantine"))?;
    let listener =
        std::net::TcpListener::bind(cfg.listen).map_err(|source| ServeError::Listen {
            addr: cfg.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Listen {
        addr: cfg.listen,
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(data("cannot listen"))?;
    let state = Arc::new(State {
        cfg: cfg.clone(),
        tokens,
        metrics: metrics.clone(),
        to_log: log_tx,
        quarantine: Mutex::new(quarantine),
        ready: AtomicBool::new(true),
        stopping: AtomicBool::new(false),
    });
    for w in &cfg.watch {
        crate::tail::check(&w.dir).map_err(ServeError::Data)?;
    }
    // Watched folders go on from the positions stored, and those in the log after them.
    let positions = crate::tail::positions_after(&committed.tails, marks);
    let tail_closing = Arc::new(AtomicBool::new(false));
    let mut tailers = Vec::new();
    for w in cfg.watch.clone() {
        let t = crate::tail::Tailer::new(
            w,
            positions.clone(),
            state.clone(),
            forget.clone(),
            tail_closing.clone(),
        );
        tailers.push(
            std::thread::Builder::new()
                .name("vakt-tail".into())
                .spawn(move || t.run())
                .map_err(data("thread"))?,
        );
    }
    let tls = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(c), Some(k)) => Some(crate::tls::config(c, k).map_err(ServeError::Data)?),
        (None, None) => None,
        _ => {
            return Err(ServeError::Data(
                "TLS needs both a certificate (tls_cert) and a key (tls_key)".into(),
            ));
        }
    };
    let scheme = if tls.is_some() { "https" } else { "http" };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(data("runtime"))?;
    let oidc = match cfg.oidc.clone() {
        Some(o) => Some(crate::oidc::Oidc::new(o).map_err(ServeError::Data)?),
        None => None,
    };
    let api = Arc::new(crate::api::Api {
        data: api_data,
        audit,
        respond: respond.clone(),
        ingest: state.clone(),
        db: database.clone(),
        rules: service.rules,
        reload: Some(Mutex::new(reload_tx)),
        detectors: serde_json::json!({
            "detectors": detector_names,
            "settings": service.settings,
        }),
        intel_dir: cfg.dir.join("intel"),
        hunts,
        started: std::time::Instant::now(),
        session_hours: cfg.session_hours.max(1),
        oidc,
    });
    let app = crate::http::router(state.clone())
        .merge(crate::api::router(api))
        .merge(crate::ui::router());
    let syslog_state = state.clone();
    let dir = cfg.dir.clone();
    let served: Result<(), ServeError> = runtime.block_on(async move {
        let (close_tx, close_rx) = tokio::sync::watch::channel(false);
        let (syslog, mut syslog_tasks) =
            crate::syslog::start(syslog_state, &cfg.syslog, close_rx.clone())
                .await
                .map_err(ServeError::Data)?;
        // What listens where: the first line HTTP, then one line per syslog listener.
        let mut listening = format!("{scheme}://{addr}\n");
        for l in &syslog {
            listening.push_str(&format!("{}://{}\n", l.cfg.protocol.name(), l.local));
            tracing::info!(target: "vakt::serve", "syslog listening on {}", l.name);
        }
        let _ = std::fs::write(dir.join("listening"), listening);
        tracing::info!(target: "vakt::serve", "listening on {scheme}://{addr} (data in {})", dir.display());
        tokio::spawn(async move {
            stopped().await;
            let _ = close_tx.send(true);
        });
        let mut http_closing = close_rx.clone();
        let shutdown = async move {
            let _ = http_closing.wait_for(|c| *c).await;
        };
        let listener =
            tokio::net::TcpListener::from_std(listener).map_err(data("cannot listen"))?;
        let served = match tls {
            Some(cfg) => {
                let tls =
                    crate::tls::TlsListener::new(listener, cfg).map_err(data("cannot listen"))?;
                axum::serve(tls, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                    .map_err(data("server"))
            }
            None => axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
                .map_err(data("server")),
        };
        // Syslog connections send what they hold, then close.
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while syslog_tasks.join_next().await.is_some() {}
        })
        .await;
        served
    });
    runtime.shutdown_timeout(Duration::from_secs(5));
    tracing::info!(target: "vakt::serve", "stopping: draining the log, the store and the detectors");
    state.stopping.store(true, Relaxed);
    tail_closing.store(true, Relaxed);
    for t in tailers {
        let _ = t.join();
    }
    // The log takes what is queued and stops; then each thread drains.
    closing.store(true, Relaxed);
    let _ = log_thread.join();
    let quarantine = Arc::try_unwrap(state)
        .ok()
        .map(|s| s.quarantine.into_inner().unwrap_or_else(|p| p.into_inner()));
    for t in threads {
        let _ = t.join();
    }
    respond.stopping.store(true, Relaxed);
    respond.poke();
    for t in respond_threads {
        let _ = t.join();
    }
    if let Some(q) = quarantine
        && let Err(e) = q.finish()
    {
        tracing::error!(target: "vakt::serve", "quarantine: {e}");
    }
    let _ = std::fs::remove_file(cfg.dir.join("listening"));
    eprintln!("vakt: stopped; everything acknowledged is stored");
    served
}

/// SIGTERM or Ctrl-C.
async fn stopped() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
