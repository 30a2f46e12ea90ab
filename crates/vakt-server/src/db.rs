//! The service's relational store: embedded SQLite in WAL mode, in the data
//! folder — tokens, users and sessions, alerts by their idempotent key and
//! their triage status, incidents and their last scope, the audit trail.

use std::path::Path;

use crate::sql::{Connection, params};
use vakt_core::Alert;
use vakt_incident::Incident;

/// A database error.
#[derive(Debug, thiserror::Error)]
#[error("database {path}: {source}")]
pub struct DbError {
    /// The database file.
    pub path: String,
    /// Why.
    pub source: crate::sql::Error,
}

/// Opens (creating) the database and its tables.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let e = |source: crate::sql::Error| DbError {
        path: path.display().to_string(),
        source,
    };
    let c = Connection::from(rusqlite::Connection::open(path).map_err(|x| e(x.into()))?);
    c.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(e)?;
    c.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         CREATE TABLE IF NOT EXISTS tokens (
             hash TEXT PRIMARY KEY,
             tenant TEXT NOT NULL,
             role TEXT NOT NULL,
             label TEXT,
             created TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS alerts (
             key TEXT PRIMARY KEY,
             tenant TEXT NOT NULL,
             detector TEXT NOT NULL,
             severity TEXT NOT NULL,
             first INTEGER NOT NULL,
             last INTEGER NOT NULL,
             count INTEGER NOT NULL,
             statements INTEGER NOT NULL DEFAULT 1,
             alert TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS alerts_by_tenant ON alerts (tenant, first);
         CREATE TABLE IF NOT EXISTS progress (
             name TEXT PRIMARY KEY,
             seq INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS incidents (
             id TEXT PRIMARY KEY,
             severity TEXT NOT NULL,
             first INTEGER NOT NULL,
             last INTEGER NOT NULL,
             incident TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS users (
             name TEXT PRIMARY KEY,
             password TEXT NOT NULL,
             role TEXT NOT NULL,
             tenant TEXT NOT NULL,
             created TEXT NOT NULL,
             disabled INTEGER NOT NULL DEFAULT 0
         );
         CREATE TABLE IF NOT EXISTS sessions (
             hash TEXT PRIMARY KEY,
             user TEXT NOT NULL,
             expires INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS signin_codes (
             hash TEXT PRIMARY KEY,
             user TEXT NOT NULL,
             expires INTEGER NOT NULL
         );
         CREATE TABLE IF NOT EXISTS alert_status (
             key TEXT PRIMARY KEY,
             status TEXT NOT NULL,
             note TEXT NOT NULL,
             by TEXT NOT NULL,
             at TEXT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS scopes (
             incident TEXT PRIMARY KEY,
             at TEXT NOT NULL,
             exposure TEXT NOT NULL
         );",
    )
    .map_err(e)?;
    // Tokens made before the API had no id, expiry or revocation.
    let has = |col: &str| -> crate::sql::Result<bool> {
        let mut q = c.prepare("SELECT 1 FROM pragma_table_info('tokens') WHERE name = ?1")?;
        q.exists([col])
    };
    for (col, ddl) in [
        ("id", "ALTER TABLE tokens ADD COLUMN id TEXT"),
        ("expires", "ALTER TABLE tokens ADD COLUMN expires INTEGER"),
        (
            "revoked",
            "ALTER TABLE tokens ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0",
        ),
    ] {
        if !has(col).map_err(e)? {
            c.execute_batch(ddl).map_err(e)?;
        }
    }
    crate::audit::create(&c).map_err(e)?;
    crate::respond::create(&c).map_err(e)?;
    Ok(c)
}

/// The service's tables on PostgreSQL (a cluster's database): what
/// [`open`] makes in SQLite, in PostgreSQL's types — except `alerts` and
/// `incidents`, which the cluster's own migrations shape the same way
/// (its workers write them). Applied once, as one of the cluster's
/// versioned migrations.
pub const POSTGRES_TABLES: &str = "
     CREATE TABLE tokens (
         hash text PRIMARY KEY,
         tenant text NOT NULL,
         role text NOT NULL,
         label text,
         created text NOT NULL,
         id text,
         expires bigint,
         revoked bigint NOT NULL DEFAULT 0);
     CREATE TABLE progress (
         name text PRIMARY KEY,
         seq bigint NOT NULL);
     CREATE TABLE users (
         name text PRIMARY KEY,
         password text NOT NULL,
         role text NOT NULL,
         tenant text NOT NULL,
         created text NOT NULL,
         disabled bigint NOT NULL DEFAULT 0);
     CREATE TABLE sessions (
         hash text PRIMARY KEY,
         \"user\" text NOT NULL,
         expires bigint NOT NULL);
     CREATE TABLE signin_codes (
         hash text PRIMARY KEY,
         \"user\" text NOT NULL,
         expires bigint NOT NULL);
     CREATE TABLE alert_status (
         key text PRIMARY KEY,
         status text NOT NULL,
         note text NOT NULL,
         by text NOT NULL,
         at text NOT NULL);
     CREATE TABLE scopes (
         incident text PRIMARY KEY,
         at text NOT NULL,
         exposure text NOT NULL);
     CREATE TABLE audit (
         seq bigint PRIMARY KEY,
         at text NOT NULL,
         who text NOT NULL,
         role text NOT NULL,
         tenant text NOT NULL,
         action text NOT NULL,
         object text NOT NULL,
         outcome text NOT NULL,
         detail text NOT NULL,
         prev text NOT NULL,
         hash text NOT NULL);
     CREATE INDEX audit_by_time ON audit (at);
     CREATE FUNCTION vakt_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS
         'BEGIN RAISE EXCEPTION ''the audit trail is append-only''; END';
     CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit
         FOR EACH ROW EXECUTE FUNCTION vakt_audit_append_only();
     CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit
         FOR EACH STATEMENT EXECUTE FUNCTION vakt_audit_append_only();
     CREATE TABLE cases (
         seq bigint PRIMARY KEY,
         id text NOT NULL UNIQUE,
         tenant text NOT NULL,
         status text NOT NULL,
         updated text NOT NULL,
         doc text NOT NULL);
     CREATE TABLE templates (
         name text PRIMARY KEY,
         doc text NOT NULL,
         by text NOT NULL,
         at text NOT NULL);
     CREATE TABLE exceptions (
         seq bigint PRIMARY KEY,
         id text NOT NULL UNIQUE,
         tenant text NOT NULL,
         revoked bigint NOT NULL DEFAULT 0,
         doc text NOT NULL);
     CREATE TABLE deliveries (
         id bigserial PRIMARY KEY,
         channel text NOT NULL,
         tenant text NOT NULL,
         kind text NOT NULL,
         subject text NOT NULL,
         payload text NOT NULL,
         created text NOT NULL,
         attempts bigint NOT NULL DEFAULT 0,
         next_at bigint NOT NULL,
         status text NOT NULL,
         last_error text NOT NULL DEFAULT '',
         delivered_at text);
     CREATE INDEX deliveries_due ON deliveries (status, next_at);
     CREATE TABLE incident_notices (
         id text PRIMARY KEY,
         severity text NOT NULL,
         stages text NOT NULL);
     CREATE TABLE taxii_pulls (
         name text PRIMARY KEY,
         added_after text,
         at text NOT NULL,
         objects bigint NOT NULL,
         error text NOT NULL DEFAULT '');";

/// A connection to the database the service made at start (no schema
/// work: what every API request opens).
pub fn connect(path: &Path) -> Result<Connection, DbError> {
    let e = |source: crate::sql::Error| DbError {
        path: path.display().to_string(),
        source,
    };
    let c = Connection::from(rusqlite::Connection::open(path).map_err(|x| e(x.into()))?);
    c.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(e)?;
    c.execute_batch("PRAGMA synchronous = NORMAL;").map_err(e)?;
    Ok(c)
}

/// The last write-ahead log record whose alerts are kept (0: none).
pub fn detected_through(c: &Connection) -> crate::sql::Result<u64> {
    c.query_row("SELECT seq FROM progress WHERE name = 'detect'", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|s| s as u64)
    .or_else(|e| match e {
        crate::sql::Error::QueryReturnedNoRows => Ok(0),
        e => Err(e),
    })
}

/// Writes alerts by key: a new key is inserted, a known one restated
/// (its latest statement kept, the first evidence and highest severity
/// kept as [`Alert::update`] does), and — in the same transaction — that
/// the detectors are through log record `through`. Returns the keys that
/// were new.
pub fn upsert_alerts(
    c: &mut Connection,
    alerts: &[Alert],
    through: u64,
) -> crate::sql::Result<usize> {
    let tx = c.transaction()?;
    let mut new = 0;
    tx.execute(
        "INSERT INTO progress (name, seq) VALUES ('detect', ?1)
         ON CONFLICT (name) DO UPDATE SET seq = CASE WHEN seq > ?1 THEN seq ELSE ?1 END",
        params![through as i64],
    )?;
    {
        let mut get = tx.prepare_cached("SELECT alert FROM alerts WHERE key = ?1")?;
        let mut put = tx.prepare_cached(
            "INSERT INTO alerts (key, tenant, detector, severity, first, last, count, alert)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (key) DO UPDATE SET severity = ?4, first = ?5, last = ?6,
                 count = ?7, alert = ?8, statements = statements + 1",
        )?;
        for a in alerts {
            let key = a.key.to_string();
            let before: Option<String> = get
                .query_row(params![key], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    crate::sql::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            let merged = match before.and_then(|b| serde_json::from_str::<Alert>(&b).ok()) {
                Some(mut old) => {
                    old.update(a.clone());
                    old
                }
                None => {
                    new += 1;
                    a.clone()
                }
            };
            let json = serde_json::to_string(&merged).unwrap_or_default();
            put.execute(params![
                key,
                &*merged.tenant,
                merged.detector,
                merged.severity.name(),
                merged.first.0,
                merged.last.0,
                merged.count as i64,
                json
            ])?;
        }
    }
    tx.commit()?;
    Ok(new)
}

/// Replaces the incidents with the correlator's current ones.
pub fn put_incidents<'a>(
    c: &mut Connection,
    incidents: impl IntoIterator<Item = &'a Incident>,
) -> crate::sql::Result<()> {
    let tx = c.transaction()?;
    tx.execute("DELETE FROM incidents", [])?;
    {
        let mut put = tx.prepare_cached(
            "INSERT INTO incidents (id, severity, first, last, incident)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for i in incidents {
            put.execute(params![
                i.id,
                i.severity.name(),
                i.first.0,
                i.last.0,
                serde_json::to_string(i).unwrap_or_default()
            ])?;
        }
    }
    tx.commit()
}

fn alerts_of(c: &Connection, sql: &str) -> crate::sql::Result<Vec<Alert>> {
    let mut q = c.prepare(sql)?;
    let rows = q.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        if let Ok(a) = serde_json::from_str(&r?) {
            out.push(a);
        }
    }
    Ok(out)
}

/// Every alert kept, oldest first (as stored: the latest statement of each key).
pub fn alerts(c: &Connection) -> crate::sql::Result<Vec<Alert>> {
    alerts_of(c, "SELECT alert FROM alerts ORDER BY first, key")
}

/// Every alert kept that no exception silenced, oldest first.
pub fn alerts_unsilenced(c: &Connection) -> crate::sql::Result<Vec<Alert>> {
    alerts_of(
        c,
        "SELECT a.alert FROM alerts a LEFT JOIN alert_status s ON s.key = a.key
         WHERE s.status IS NULL OR s.status != 'suppressed' ORDER BY a.first, a.key",
    )
}

/// Every incident kept.
pub fn incidents(c: &Connection) -> crate::sql::Result<Vec<Incident>> {
    let mut q = c.prepare("SELECT incident FROM incidents ORDER BY first, id")?;
    let rows = q.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for r in rows {
        if let Ok(i) = serde_json::from_str(&r?) {
            out.push(i);
        }
    }
    Ok(out)
}
