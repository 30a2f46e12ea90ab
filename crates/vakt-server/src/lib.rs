//! vakt-server: `vakt serve`, the always-on service on the embedded default
//! — one process, one data folder, nothing to install.
//!
//! ```text
//! shipper ─ HTTP ─► token → tenant ─► parse ─► write-ahead log (fsync, then 2xx)
//!                                                 │
//!                     ┌───────────────────────────┴──────────────────┐
//!                     ▼                                              ▼
//!              event store (Parquet,                  every detector, live (the
//!              committed by epoch)                    pipeline's detectors) ─► alerts
//!                                                     (SQLite, by key) ─► incidents
//! ```
//!
//! - [`wal`]: the write-ahead log. A batch is acknowledged only when its
//!   record is written and fsynced (group commit: one fsync for every batch
//!   that arrived meanwhile).
//! - [`batch`]: what a log record holds (tenant, origin, the accepted input
//!   by format) and how it is parsed into events, the same way live and on
//!   replay.
//! - [`live`]: the two threads behind the log — the store, committing epochs
//!   (a checkpoint names the last log record stored; a crash's uncommitted
//!   segments are removed and the log replayed from the checkpoint, so every
//!   acknowledged event is stored exactly once), and the detectors, whose
//!   alerts are kept by their idempotent key in SQLite (a replay restates,
//!   never duplicates) and joined into incidents as they arrive.
//! - [`http`]: the ingest paths — Elasticsearch `_bulk` (what Beats,
//!   Logstash, Fluent Bit, Vector and rsyslog's `omelasticsearch` post),
//!   `/api/v1/ingest` for every format vakt reads, FHIR `AuditEvent` and
//!   Bundles — with limits on bodies and memory, back-pressure (429 with
//!   `Retry-After`), health and Prometheus metrics.
//! - [`tokens`]: ingest tokens, random and stored hashed, each bound to one
//!   tenant: the tenant is decided at the door and nowhere else.
//! - [`tls`]: HTTPS on the listener (rustls).
//! - [`syslog`]: syslog listeners — TCP, UDP, TLS and RELP (acknowledged
//!   once in the log) — placing messages in tenants by listener and rules.
//! - [`tail`]: watched folders of Zeek and Suricata logs, followed through
//!   rotation, truncation and compression, positions durable with the lines.
//! - [`intel`]: indicators dropped into the data folder's `intel/` while the
//!   service runs: matched live from then on, retro-hunted over the store.
//!
//! - [`api`]: the REST API under `/api/v1` with its OpenAPI 3.1 document;
//!   [`auth`]: roles, users, sessions; [`access`]: the one scoped view every
//!   query goes through (tenant separation in one place); [`audit`]: the
//!   append-only, hash-chained audit trail; [`incidents`]: incidents
//!   correlated per tenant.
//!
//! - [`respond`]: cases, templates, the notification clocks, triage
//!   exceptions, notifications and escalation (webhooks, e-mail),
//!   containment exports and requests, TAXII 2.1 pull and serve.
//!
//! Not here: reading formats (`vakt-ingest`), detection (`vakt-detect`),
//! loading rules and context (the binary), the UI (later).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod api;
pub mod audit;
pub mod auth;
pub mod batch;
pub mod config;
pub mod db;
pub mod http;
pub mod incidents;
pub mod intel;
pub mod live;
pub mod metrics;
pub mod oidc;
pub mod respond;
pub mod server;
pub mod sql;
pub mod syslog;
pub mod tail;
pub mod tls;
pub mod tokens;
pub mod ui;
pub mod wal;

pub use config::ServeConfig;
pub use server::{ServeError, Service, serve};

/// The wall clock as a timestamp.
pub fn now() -> vakt_core::Timestamp {
    vakt_core::Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64),
    )
}
