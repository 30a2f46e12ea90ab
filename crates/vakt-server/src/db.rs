//! The service's relational store: embedded SQLite in WAL mode, in the data
//! folder — tokens, users and sessions, alerts by their idempotent key and
//! their triage status, incidents and their last scope, the audit trail.

use std::path::Path;

use rusqlite::{Connection, params};
use vakt_core::Alert;
use vakt_incident::Incident;

/// A database error.
#[derive(Debug, thiserror::Error)]
#[error("database {path}: {source}")]
pub struct DbError {
    /// The database file.
    pub path: String,
    /// Why.
    pub source: rusqlite::Error,
}

/// Opens (creating) the database and its tables.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let e = |source| DbError {
        path: path.display().to_string(),
        source,
    };
    let c = Connection::open(path).map_err(e)?;
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
    let has = |col: &str| -> rusqlite::Result<bool> {
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

/// A connection to the database the service made at start (no schema
/// work: what every API request opens).
pub fn connect(path: &Path) -> Result<Connection, DbError> {
    let e = |source| DbError {
        path: path.display().to_string(),
        source,
    };
    let c = Connection::open(path).map_err(e)?;
    c.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(e)?;
    c.execute_batch("PRAGMA synchronous = NORMAL;").map_err(e)?;
    Ok(c)
}

/// The last write-ahead log record whose alerts are kept (0: none).
pub fn detected_through(c: &Connection) -> rusqlite::Result<u64> {
    c.query_row("SELECT seq FROM progress WHERE name = 'detect'", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|s| s as u64)
    .or_else(|e| match e {
        rusqlite::Error::QueryReturnedNoRows => Ok(0),
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
) -> rusqlite::Result<usize> {
    let tx = c.transaction()?;
    let mut new = 0;
    tx.execute(
        "INSERT INTO progress (name, seq) VALUES ('detect', ?1)
         ON CONFLICT (name) DO UPDATE SET seq = max(seq, ?1)",
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
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
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
) -> rusqlite::Result<()> {
    let tx = c.transaction()?;
    tx.execute("DELETE FROM incidents", [])?;
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO incidents (id, severity, first, last, incident)
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

fn alerts_of(c: &Connection, sql: &str) -> rusqlite::Result<Vec<Alert>> {
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
pub fn alerts(c: &Connection) -> rusqlite::Result<Vec<Alert>> {
    alerts_of(c, "SELECT alert FROM alerts ORDER BY first, key")
}

/// Every alert kept that no exception silenced, oldest first.
pub fn alerts_unsilenced(c: &Connection) -> rusqlite::Result<Vec<Alert>> {
    alerts_of(
        c,
        "SELECT a.alert FROM alerts a LEFT JOIN alert_status s ON s.key = a.key
         WHERE s.status IS NULL OR s.status != 'suppressed' ORDER BY a.first, a.key",
    )
}

/// Every incident kept.
pub fn incidents(c: &Connection) -> rusqlite::Result<Vec<Incident>> {
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
