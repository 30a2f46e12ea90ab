//! API and ingest tokens: 32 random bytes (`vakt_` + base64url), shown once
//! when made and stored only as their SHA-256 (a random secret of that
//! length needs no slow password hash), each with a role, bound to one
//! tenant (or to all, for the roles that see all), with an optional expiry,
//! revocable by its public id.
//!
//! Shippers offer different ways to send a secret, so a token is taken from
//! `Authorization: Bearer <token>`, `Authorization: ApiKey <token>` or an
//! Elasticsearch API key (`ApiKey base64(id:token)`), and HTTP basic auth
//! with the token as password (any user name).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::sql::{Connection, params};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// A public id for the token (to list and revoke it; not the secret).
    pub id: String,
    /// The tenant it is bound to (empty: every tenant, for roles that may).
    pub tenant: String,
    /// Its role (see [`crate::auth::Role`]).
    pub role: String,
    /// Who holds it.
    pub label: String,
    /// When it stops working (ns since the epoch), if ever.
    pub expires: Option<i64>,
}

/// The SHA-256 of a secret, in hex (how tokens and sessions are stored).
pub fn hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random secret with this prefix (`vakt_`, `vakts_`).
pub fn random_secret(prefix: &str) -> Result<String, String> {
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness from the system: {e}"))?;
    Ok(format!("{prefix}{}", URL_SAFE_NO_PAD.encode(raw)))
}

/// Makes a token for `tenant` (empty: all tenants, where the role allows)
/// with `role`, valid until `expires` (ns) if given; stores its hash and
/// returns the token (the only time it is seen) and its public id.
pub fn create(
    c: &Connection,
    tenant: &str,
    role: &str,
    label: &str,
    expires: Option<i64>,
) -> Result<(String, String), String> {
    let role = crate::auth::Role::parse(role)?;
    let tenant = role.check_tenant(tenant)?;
    let token = random_secret("vakt_")?;
    let h = hash(&token);
    let id = format!("tok-{}", &h[..12]);
    c.execute(
        "INSERT INTO tokens (hash, tenant, role, label, created, id, expires) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![h, tenant, role.name(), label, crate::now().to_rfc3339(), id, expires],
    )
    .map_err(|e| format!("cannot store the token: {e}"))?;
    Ok((token, id))
}

/// The secret an `Authorization` header carries, in any of the accepted ways.
pub fn secret(authorization: &str) -> Option<String> {
    let (scheme, value) = authorization.trim().split_once(' ')?;
    let value = value.trim();
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(value.to_owned()),
        "apikey" => {
            if value.starts_with("vakt_") {
                return Some(value.to_owned());
            }
            let decoded = String::from_utf8(STANDARD.decode(value).ok()?).ok()?;
            Some(match decoded.split_once(':') {
                Some((_, key)) => key.to_owned(),
                None => decoded,
            })
        }
        "basic" => {
            let decoded = String::from_utf8(STANDARD.decode(value).ok()?).ok()?;
            decoded.split_once(':').map(|(_, pass)| pass.to_owned())
        }
        _ => None,
    }
}

/// The tokens the service knows, read from the database and cached: a
/// token not in the cache is looked up by its hash (one made while the
/// service runs), and the whole cache is read again every five seconds (a
/// token revoked elsewhere stops working).
#[derive(Debug)]
pub struct Tokens {
    db: std::sync::Mutex<Connection>,
    known: RwLock<HashMap<String, Grant>>,
    last_read: std::sync::Mutex<Option<Instant>>,
}

impl Tokens {
    /// Tokens from this database connection.
    pub fn new(db: Connection) -> Tokens {
        let t = Tokens {
            db: std::sync::Mutex::new(db),
            known: RwLock::new(HashMap::new()),
            last_read: std::sync::Mutex::new(None),
        };
        t.reload();
        t
    }

    fn reload(&self) {
        let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
        match read_grants(&db, None) {
            Ok(m) => *self.known.write().unwrap_or_else(|p| p.into_inner()) = m,
            Err(e) => tracing::error!(target: "vakt::serve", "cannot read the tokens: {e}"),
        }
        *self.last_read.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Revokes the token with this public id; true if there was one.
    pub fn revoke(&self, id: &str) -> Result<bool, String> {
        let n = {
            let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
            db.execute(
                "UPDATE tokens SET revoked = 1 WHERE coalesce(id, 'tok-' || substr(hash, 1, 12)) = ?1 AND revoked = 0",
                [id],
            )
            .map_err(|e| format!("cannot revoke: {e}"))?
        };
        self.reload();
        Ok(n > 0)
    }

    /// Every token that works (not revoked), without secrets.
    pub fn list(&self) -> Vec<Grant> {
        self.reload();
        let mut v: Vec<Grant> = self
            .known
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// Makes a token (see [`create`]) and knows it at once.
    pub fn create(
        &self,
        tenant: &str,
        role: &str,
        label: &str,
        expires: Option<i64>,
    ) -> Result<(String, String), String> {
        let made = {
            let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
            create(&db, tenant, role, label, expires)?
        };
        self.reload();
        Ok(made)
    }

    /// Who an `Authorization` header speaks for, if anyone (an expired
    /// token speaks for no one).
    pub fn grant(&self, authorization: Option<&str>) -> Option<Grant> {
        let g = self.lookup(&secret(authorization?)?)?;
        if g.expires.is_some_and(|t| t <= crate::now().0) {
            return None;
        }
        Some(g)
    }

    fn lookup(&self, secret: &str) -> Option<Grant> {
        let h = hash(secret);
        // Read whole again every few seconds: a token revoked by another
        // process (the command line, another node of a cluster) stops
        // working here within that time.
        let stale = self
            .last_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|t| t.elapsed() > Duration::from_secs(5));
        if stale {
            self.reload();
        }
        if let Some(g) = self.known.read().unwrap_or_else(|p| p.into_inner()).get(&h) {
            return Some(g.clone());
        }
        // A token made since (by another process or node): looked up by
        // its hash, the table's key.
        let found = {
            let db = self.db.lock().unwrap_or_else(|p| p.into_inner());
            match read_grants(&db, Some(&h)) {
                Ok(m) => m,
                Err(e) => {
                    tracing::error!(target: "vakt::serve", "cannot read the tokens: {e}");
                    HashMap::new()
                }
            }
        };
        let g = found.get(&h).cloned();
        if let Some(g) = &g {
            self.known
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(h, g.clone());
        }
        g
    }
}

/// The tokens not revoked (or the one of this hash), by hash.
fn read_grants(db: &Connection, only: Option<&str>) -> crate::sql::Result<HashMap<String, Grant>> {
    let mut q = db.prepare(
        "SELECT hash, tenant, role, coalesce(id, 'tok-' || substr(hash, 1, 12)), coalesce(label, ''), expires
         FROM tokens WHERE revoked = 0 AND (?1 IS NULL OR hash = ?1)",
    )?;
    let rows = q.query_map([only], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Grant {
                tenant: r.get(1)?,
                role: r.get(2)?,
                id: r.get(3)?,
                label: r.get(4)?,
                expires: r.get(5)?,
            },
        ))
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_way_of_sending_a_token_is_understood() {
        let t = "vakt_abc";
        assert_eq!(secret("Bearer vakt_abc").as_deref(), Some(t));
        assert_eq!(secret("ApiKey vakt_abc").as_deref(), Some(t));
        let es = STANDARD.encode("some-id:vakt_abc");
        assert_eq!(secret(&format!("ApiKey {es}")).as_deref(), Some(t));
        let basic = STANDARD.encode("elastic:vakt_abc");
        assert_eq!(secret(&format!("Basic {basic}")).as_deref(), Some(t));
        assert_eq!(secret("Digest x"), None);
        assert_eq!(secret("Basic !!!"), None);
    }

    #[test]
    fn a_token_is_stored_hashed_and_names_its_tenant() {
        let d = tempfile::tempdir().unwrap();
        let c = crate::db::open(&d.path().join("v.db")).unwrap();
        let (tok, id) = create(&c, "ahus", "ingest", "test", None).unwrap();
        assert!(id.starts_with("tok-"));
        assert!(tok.starts_with("vakt_") && tok.len() > 40);
        let stored: String = c
            .query_row("SELECT hash FROM tokens", [], |r| r.get(0))
            .unwrap();
        assert!(!stored.contains(&tok[5..]));
        assert!(create(&c, "ahus", "admin", "", None).is_err());
        assert!(create(&c, "", "ingest", "", None).is_err());
        let (old, _) = create(&c, "", "cert-analyst", "", Some(1)).unwrap();
        let tokens = Tokens::new(c);
        let g = tokens.grant(Some(&format!("Bearer {tok}"))).unwrap();
        assert_eq!(g.tenant, "ahus");
        assert_eq!(tokens.grant(Some("Bearer vakt_nothing")), None);
        assert_eq!(tokens.grant(None), None);
        assert_eq!(
            tokens.grant(Some(&format!("Bearer {old}"))),
            None,
            "expired"
        );
        assert!(tokens.revoke(&id).unwrap());
        assert_eq!(
            tokens.grant(Some(&format!("Bearer {tok}"))),
            None,
            "revoked"
        );
    }
}
