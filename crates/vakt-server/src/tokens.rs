//! Ingest tokens: 32 random bytes (`vakt_` + base64url), shown once when
//! made and stored only as their SHA-256 (a random secret of that length
//! needs no slow password hash), each bound to one tenant and role.
//!
//! Shippers offer different ways to send a secret, so a token is taken from
//! `Authorization: Bearer <token>`, `Authorization: ApiKey <token>` or an
//! Elasticsearch API key (`ApiKey base64(id:token)`), and HTTP basic auth
//! with the token as password (any user name).

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rusqlite::{Connection, params};
use sha2::{Digest, Sha256};

/// Who a token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The tenant its events land in.
    pub tenant: String,
    /// `ingest` (more roles come with the API).
    pub role: String,
}

fn hash(token: &str) -> String {
    let d = Sha256::digest(token.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes a token for `tenant` with `role`, stores its hash, and returns it
/// (the only time it is seen).
pub fn create(c: &Connection, tenant: &str, role: &str, label: &str) -> Result<String, String> {
    if tenant.is_empty() || tenant.len() > 128 || tenant.chars().any(char::is_control) {
        return Err(format!("`{tenant}` is not a tenant name"));
    }
    if role != "ingest" {
        return Err(format!("unknown role `{role}` (known: ingest)"));
    }
    let mut raw = [0u8; 32];
    getrandom::fill(&mut raw).map_err(|e| format!("no randomness from the system: {e}"))?;
    let token = format!("vakt_{}", URL_SAFE_NO_PAD.encode(raw));
    c.execute(
        "INSERT INTO tokens (hash, tenant, role, label, created) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![hash(&token), tenant, role, label, crate::now().to_rfc3339()],
    )
    .map_err(|e| format!("cannot store the token: {e}"))?;
    Ok(token)
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

/// The tokens the service knows, read from the database and cached; a
/// token not in the cache is looked up again (one made while the service
/// runs), at most once a second.
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
        let read = || -> rusqlite::Result<HashMap<String, Grant>> {
            let mut q = db.prepare("SELECT hash, tenant, role FROM tokens")?;
            let rows = q.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    Grant {
                        tenant: r.get(1)?,
                        role: r.get(2)?,
                    },
                ))
            })?;
            rows.collect()
        };
        match read() {
            Ok(m) => *self.known.write().unwrap_or_else(|p| p.into_inner()) = m,
            Err(e) => tracing::error!(target: "vakt::serve", "cannot read the tokens: {e}"),
        }
        *self.last_read.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// Who an `Authorization` header speaks for, if anyone.
    pub fn grant(&self, authorization: Option<&str>) -> Option<Grant> {
        let h = hash(&secret(authorization?)?);
        if let Some(g) = self.known.read().unwrap_or_else(|p| p.into_inner()).get(&h) {
            return Some(g.clone());
        }
        let stale = self
            .last_read
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none_or(|t| t.elapsed() > Duration::from_secs(1));
        if stale {
            self.reload();
            return self
                .known
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&h)
                .cloned();
        }
        None
    }
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
        let tok = create(&c, "ahus", "ingest", "test").unwrap();
        assert!(tok.starts_with("vakt_") && tok.len() > 40);
        let stored: String = c
            .query_row("SELECT hash FROM tokens", [], |r| r.get(0))
            .unwrap();
        assert!(!stored.contains(&tok[5..]));
        assert!(create(&c, "ahus", "admin", "").is_err());
        let tokens = Tokens::new(c);
        let g = tokens.grant(Some(&format!("Bearer {tok}"))).unwrap();
        assert_eq!(g.tenant, "ahus");
        assert_eq!(tokens.grant(Some("Bearer vakt_nothing")), None);
        assert_eq!(tokens.grant(None), None);
    }
}
