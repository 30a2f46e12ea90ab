//! The audit trail: every sign-in, every read of patient-related data,
//! every reveal of a pseudonym and every change, append-only and
//! hash-chained.
//!
//! Each record carries the SHA-256 of the record before it and its own
//! hash over its fields and that link, so editing, removing or reordering a
//! record breaks the chain at that record. The table refuses `UPDATE` and
//! `DELETE` (triggers), which stops mistakes; what stops a deliberate edit
//! by someone with the database file is that [`verify`] finds it. The newest
//! record's number and hash are also written beside the database
//! (`audit.head`), so that removing the newest records is found too.
//!
//! Not here: deciding what is audited (the API does, in one place for every
//! request) or who may read the trail (admins, through the API).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::sql::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash the first record links to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// One audited act, as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Its place in the trail (1, 2, …; no gaps).
    pub seq: u64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The act.
    #[serde(flatten)]
    pub act: Act,
    /// The hash of the record before.
    pub prev: String,
    /// This record's hash.
    pub hash: String,
}

/// An act to record (the trail adds its number, time and hashes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Act {
    /// Who (user name, or the token's label and id).
    pub who: String,
    /// In which role.
    pub role: String,
    /// The tenant acted on (empty: none, or all).
    pub tenant: String,
    /// What was done (`read`, `sign-in`, `reveal`, `change`, …).
    pub action: String,
    /// What it was done to (method and path, a pseudonym, a user).
    pub object: String,
    /// How it went (`200`, `403`, `granted`, `refused`, …).
    pub outcome: String,
    /// Anything else worth keeping (the reason stated for a reveal).
    pub detail: String,
}

/// The hash of a record: over every field but the hash itself, each
/// length-prefixed (so moving text from one field to the next changes it).
pub fn hash_of(r: &AuditRecord) -> String {
    let mut h = Sha256::new();
    for part in [
        r.seq.to_string().as_str(),
        &r.at,
        &r.act.who,
        &r.act.role,
        &r.act.tenant,
        &r.act.action,
        &r.act.object,
        &r.act.outcome,
        &r.act.detail,
        &r.prev,
    ] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes the audit table (append-only) in this database.
pub fn create(c: &Connection) -> crate::sql::Result<()> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS audit (
             seq INTEGER PRIMARY KEY,
             at TEXT NOT NULL,
             who TEXT NOT NULL,
             role TEXT NOT NULL,
             tenant TEXT NOT NULL,
             action TEXT NOT NULL,
             object TEXT NOT NULL,
             outcome TEXT NOT NULL,
             detail TEXT NOT NULL,
             prev TEXT NOT NULL,
             hash TEXT NOT NULL
         );
         CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at);
         CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
             BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
         CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
             BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;",
    )
}

/// The file beside the database holding the newest record's number and hash.
pub fn head_path(db: &Path) -> PathBuf {
    db.with_file_name("audit.head")
}

fn read_head(path: &Path) -> Option<(u64, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (seq, hash) = text.trim().split_once(' ')?;
    Some((seq.parse().ok()?, hash.to_owned()))
}

/// The trail, appended to by the service (and by the CLI's changes, beside
/// a running service: each append reads the newest record inside its own
/// write transaction, so two processes chain one after the other).
#[derive(Debug)]
pub struct AuditTrail {
    db: Mutex<Connection>,
    head: PathBuf,
}

fn row(r: &crate::sql::Row) -> crate::sql::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: r.get::<_, i64>(0)? as u64,
        at: r.get(1)?,
        act: Act {
            who: r.get(2)?,
            role: r.get(3)?,
            tenant: r.get(4)?,
            action: r.get(5)?,
            object: r.get(6)?,
            outcome: r.get(7)?,
            detail: r.get(8)?,
        },
        prev: r.get(9)?,
        hash: r.get(10)?,
    })
}

const COLUMNS: &str = "seq, at, who, role, tenant, action, object, outcome, detail, prev, hash";

impl AuditTrail {
    /// The trail in the database at `path` (made if missing).
    pub fn open(path: &Path) -> Result<AuditTrail, String> {
        AuditTrail::open_in(&crate::sql::Database::Sqlite(path.to_owned()))
    }

    /// The trail in a database (SQLite or PostgreSQL).
    pub fn open_in(db: &crate::sql::Database) -> Result<AuditTrail, String> {
        let c = db.open().map_err(|e| e.to_string())?;
        Ok(AuditTrail {
            db: Mutex::new(c),
            head: db.audit_head(),
        })
    }

    /// Appends an act; returns its record. A trail that cannot be written
    /// is an error the caller must not hide (the act is refused).
    pub fn append(&self, act: Act) -> Result<AuditRecord, String> {
        let mut c = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let e = |e: crate::sql::Error| format!("cannot write the audit trail: {e}");
        let tx = c
            .transaction_with_behavior(crate::sql::TransactionBehavior::Immediate)
            .map_err(e)?;
        let last: Option<(i64, String)> = tx
            .query_row(
                "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(e)?;
        let (last, prev) = last.map_or((0, GENESIS.to_owned()), |(s, h)| (s as u64, h));
        let mut r = AuditRecord {
            seq: last + 1,
            at: crate::now().to_rfc3339(),
            act,
            prev,
            hash: String::new(),
        };
        r.hash = hash_of(&r);
        tx.execute(
            &format!("INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"),
            params![
                r.seq as i64,
                r.at,
                r.act.who,
                r.act.role,
                r.act.tenant,
                r.act.action,
                r.act.object,
                r.act.outcome,
                r.act.detail,
                r.prev,
                r.hash
            ],
        )
        .map_err(e)?;
        // The head is written while the write lock is held (writers take
        // turns); a commit that then failed leaves it one ahead, which
        // `verify` reports rather than hides.
        let tmp = self.head.with_extension("head.tmp");
        std::fs::write(&tmp, format!("{} {}\n", r.seq, r.hash))
            .and_then(|()| std::fs::rename(&tmp, &self.head))
            .map_err(|err| format!("cannot write {}: {err}", self.head.display()))?;
        tx.commit().map_err(e)?;
        Ok(r)
    }

    /// Records matching a query, oldest first.
    pub fn query(&self, q: &AuditQuery) -> Result<Vec<AuditRecord>, String> {
        let g = self.db.lock().unwrap_or_else(|p| p.into_inner());
        let mut sql = format!("SELECT {COLUMNS} FROM audit WHERE seq > ?1");
        let mut args: Vec<String> = vec![q.after.unwrap_or(0).to_string()];
        for (col, op, v) in [
            ("at", ">=", &q.from),
            ("at", "<", &q.to),
            ("who", "=", &q.who),
            ("action", "=", &q.action),
            ("tenant", "=", &q.tenant),
        ] {
            if let Some(v) = v {
                args.push(v.clone());
                sql.push_str(&format!(" AND {col} {op} ?{}", args.len()));
            }
        }
        if let Some(m) = &q.mentions {
            args.push(m.clone());
            let n = args.len();
            sql.push_str(&format!(
                " AND (instr(object, ?{n}) > 0 OR instr(detail, ?{n}) > 0)"
            ));
        }
        sql.push_str(&format!(" ORDER BY seq LIMIT {}", q.limit.clamp(1, 10_000)));
        let mut st = g.prepare(&sql).map_err(|e| e.to_string())?;
        let rows = st
            .query_map(crate::sql::params_from_iter(args.iter()), row)
            .map_err(|e| e.to_string())?;
        rows.collect::<crate::sql::Result<Vec<_>>>()
            .map_err(|e| e.to_string())
    }
}

/// Which records to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// After this record number.
    pub after: Option<u64>,
    /// From this time (RFC 3339).
    pub from: Option<String>,
    /// Before this time.
    pub to: Option<String>,
    /// By this person.
    pub who: Option<String>,
    /// This action.
    pub action: Option<String>,
    /// On this tenant.
    pub tenant: Option<String>,
    /// Naming this text in the object or the detail (a case's id).
    pub mentions: Option<String>,
    /// At most this many.
    pub limit: usize,
}

/// A break in the chain, naming the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Break {
    /// The record number where the chain breaks.
    pub seq: u64,
    /// What is wrong there.
    pub what: String,
}

impl std::fmt::Display for Break {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "record {}: {}", self.seq, self.what)
    }
}

/// What a verification found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verified {
    /// Records read.
    pub records: u64,
    /// Where the chain breaks (empty: intact).
    pub breaks: Vec<Break>,
}

/// Walks the whole trail of the database at `path`: each record's hash
/// over its fields, its link to the one before, numbers without gaps, and
/// the newest record against `audit.head`.
pub fn verify(path: &Path) -> Result<Verified, String> {
    let c = Connection::from(
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| format!("{}: {e}", path.display()))?,
    );
    verify_with(&c, &path.display().to_string(), &[head_path(path)])
}

/// Walks the trail of a database (SQLite or PostgreSQL) as [`verify`]
/// does, checking the newest record against each head file given (a
/// cluster's api nodes keep one each: each anchors what it wrote).
pub fn verify_with(c: &Connection, what: &str, heads: &[PathBuf]) -> Result<Verified, String> {
    let mut st = c
        .prepare(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))
        .map_err(|e| format!("{what}: no audit trail: {e}"))?;
    let rows = st.query_map([], row).map_err(|e| e.to_string())?;
    let mut out = Verified::default();
    let (mut last, mut prev) = (0u64, GENESIS.to_owned());
    for r in rows {
        let r = r.map_err(|e| format!("a record cannot be read: {e}"))?;
        out.records += 1;
        if r.seq != last + 1 {
            out.breaks.push(Break {
                seq: last + 1,
                what: if r.seq == last + 2 {
                    "removed".into()
                } else {
                    format!(
                        "removed (records {} to {} are missing)",
                        last + 1,
                        r.seq - 1
                    )
                },
            });
        } else if r.prev != prev {
            out.breaks.push(Break {
                seq: r.seq,
                what: "does not follow the record before it (moved, or one before it removed or replaced)".into(),
            });
        }
        if hash_of(&r) != r.hash {
            out.breaks.push(Break {
                seq: r.seq,
                what: "edited (its content does not match its hash)".into(),
            });
        }
        last = r.seq;
        prev = r.hash;
    }
    if heads.iter().all(|h| read_head(h).is_none()) && last > 0 {
        out.breaks.push(Break {
            seq: last,
            what: "audit.head is missing: the newest records cannot be checked".into(),
        });
    }
    for head in heads {
        check_head(c, read_head(head), last, &mut out);
    }
    Ok(out)
}

fn check_head(c: &Connection, head: Option<(u64, String)>, last: u64, out: &mut Verified) {
    match head {
        Some((seq, _)) if seq > last => out.breaks.push(Break {
            seq: last + 1,
            what: if seq == last + 1 {
                "removed (the newest record, per audit.head)".into()
            } else {
                format!("removed (records {} to {seq}, per audit.head)", last + 1)
            },
        }),
        Some((seq, hash)) => {
            let at: Option<String> = c
                .query_row("SELECT hash FROM audit WHERE seq = ?1", [seq as i64], |r| {
                    r.get(0)
                })
                .optional()
                .ok()
                .flatten();
            if at.is_some_and(|h| h != hash) {
                out.breaks.push(Break {
                    seq,
                    what: "replaced (its hash is not the one audit.head recorded)".into(),
                });
            }
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn act(n: usize) -> Act {
        Act {
            who: format!("user{n}"),
            role: "cert-analyst".into(),
            tenant: "ahus".into(),
            action: "read".into(),
            object: format!("GET /api/v1/alerts/{n}"),
            outcome: "200".into(),
            detail: String::new(),
        }
    }

    fn trail(n: usize) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("vakt.db");
        let t = AuditTrail::open(&p).unwrap();
        for i in 0..n {
            t.append(act(i)).unwrap();
        }
        (d, p)
    }

    /// The triggers are dropped first: what `verify` must catch is an edit
    /// by someone who has the file, not one the table refuses.
    fn tamper(p: &Path, sql: &str) {
        let c = crate::db::connect(p).unwrap();
        c.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
            .unwrap();
        c.execute_batch(sql).unwrap();
    }

    #[test]
    fn an_intact_trail_verifies_and_survives_reopening() {
        let (_d, p) = trail(5);
        let t = AuditTrail::open(&p).unwrap();
        assert_eq!(t.append(act(9)).unwrap().seq, 6);
        let v = verify(&p).unwrap();
        assert_eq!((v.records, v.breaks.len()), (6, 0), "{:?}", v.breaks);
    }

    #[test]
    fn two_writers_chain_one_after_the_other() {
        let (_d, p) = trail(2);
        let a = AuditTrail::open(&p).unwrap();
        let b = AuditTrail::open(&p).unwrap();
        for i in 0..5 {
            a.append(act(i)).unwrap();
            b.append(act(i)).unwrap();
        }
        let v = verify(&p).unwrap();
        assert_eq!((v.records, v.breaks.len()), (12, 0), "{:?}", v.breaks);
    }

    #[test]
    fn the_table_refuses_updates_and_deletes() {
        let (_d, p) = trail(3);
        let c = crate::db::connect(&p).unwrap();
        assert!(
            c.execute("UPDATE audit SET who = 'x' WHERE seq = 2", [])
                .is_err()
        );
        assert!(c.execute("DELETE FROM audit WHERE seq = 2", []).is_err());
    }

    #[test]
    fn an_edited_record_is_named() {
        let (_d, p) = trail(6);
        tamper(&p, "UPDATE audit SET who = 'someone else' WHERE seq = 4");
        let v = verify(&p).unwrap();
        assert_eq!(v.breaks.len(), 1, "{:?}", v.breaks);
        assert_eq!(v.breaks[0].seq, 4);
        assert!(v.breaks[0].what.contains("edited"));
    }

    #[test]
    fn an_edit_with_its_hash_recomputed_breaks_the_next_link() {
        let (_d, p) = trail(6);
        let c = crate::db::connect(&p).unwrap();
        let mut r = c
            .query_row(
                &format!("SELECT {COLUMNS} FROM audit WHERE seq = 3"),
                [],
                row,
            )
            .unwrap();
        r.act.detail = "nothing to see".into();
        r.hash = hash_of(&r);
        tamper(
            &p,
            &format!(
                "UPDATE audit SET detail = 'nothing to see', hash = '{}' WHERE seq = 3",
                r.hash
            ),
        );
        let v = verify(&p).unwrap();
        assert_eq!(v.breaks.iter().map(|b| b.seq).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn a_removed_record_is_named_in_the_middle_and_at_the_end() {
        let (_d, p) = trail(6);
        tamper(&p, "DELETE FROM audit WHERE seq = 3");
        let v = verify(&p).unwrap();
        assert_eq!(v.breaks.len(), 1, "{:?}", v.breaks);
        assert_eq!((v.breaks[0].seq, v.breaks[0].what.as_str()), (3, "removed"));

        let (_d, p) = trail(6);
        tamper(&p, "DELETE FROM audit WHERE seq = 6");
        let v = verify(&p).unwrap();
        assert_eq!(v.breaks.len(), 1, "{:?}", v.breaks);
        assert_eq!(v.breaks[0].seq, 6);
        assert!(v.breaks[0].what.contains("removed"));
    }

    #[test]
    fn reordered_records_are_named() {
        let (_d, p) = trail(6);
        // Records 2 and 5 swap places (numbers kept, contents moved).
        tamper(
            &p,
            "UPDATE audit SET seq = -2 WHERE seq = 2;
             UPDATE audit SET seq = 2 WHERE seq = 5;
             UPDATE audit SET seq = 5 WHERE seq = -2;",
        );
        let v = verify(&p).unwrap();
        let named: Vec<u64> = v.breaks.iter().map(|b| b.seq).collect();
        assert!(named.contains(&2) && named.contains(&5), "{:?}", v.breaks);
    }
}
