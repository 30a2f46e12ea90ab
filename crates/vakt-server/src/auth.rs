//! Who is asking: roles, users with passwords (argon2) and their sessions,
//! and the principal a request acts as (from an API token or a session).
//!
//! Roles:
//!
//! | role | sees | may |
//! |---|---|---|
//! | `cert-analyst` | every tenant | read, triage alerts, scope, add indicators, reload rules |
//! | `trust-analyst` | its own tenant | read, triage its alerts, scope its incidents |
//! | `privacy-officer` | its tenant (or every tenant when made without one) | read, scope, reveal a pseudonym with a reason |
//! | `ingest` | nothing | send events |
//! | `admin` | the service | users, tokens, the audit trail, settings; no patient data |
//!
//! Not here: which rows a principal sees — that is [`crate::access`], the
//! one place every query goes through.

use crate::sql::{Connection, OptionalExtension, params};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::tokens::{Tokens, hash, random_secret};

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// The CERT's analysts: every tenant.
    CertAnalyst,
    /// A trust's own security staff: its tenant only.
    TrustAnalyst,
    /// May reveal a pseudonym, stating a reason.
    PrivacyOfficer,
    /// Sends events; reads nothing.
    Ingest,
    /// Users, tokens, settings, the audit trail.
    Admin,
    /// A partner CERT: reads the shared TAXII collections, nothing else.
    Partner,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 6] = [
        Role::CertAnalyst,
        Role::TrustAnalyst,
        Role::PrivacyOfficer,
        Role::Ingest,
        Role::Admin,
        Role::Partner,
    ];

    /// The role's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::CertAnalyst => "cert-analyst",
            Role::TrustAnalyst => "trust-analyst",
            Role::PrivacyOfficer => "privacy-officer",
            Role::Ingest => "ingest",
            Role::Admin => "admin",
            Role::Partner => "partner",
        }
    }

    /// A role by name.
    pub fn parse(name: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown role `{name}` (known: {})",
                    Role::ALL.map(Role::name).join(", ")
                )
            })
    }

    /// The tenant a principal of this role is bound to: required for
    /// trust analysts and ingest, refused for CERT analysts and admins
    /// (they see every tenant), optional for privacy officers.
    pub fn check_tenant(self, tenant: &str) -> Result<String, String> {
        let tenant = tenant.trim();
        if tenant.len() > 128 || tenant.chars().any(char::is_control) {
            return Err(format!("`{tenant}` is not a tenant name"));
        }
        match self {
            Role::TrustAnalyst | Role::Ingest if tenant.is_empty() => Err(format!(
                "a {} belongs to one tenant: give --tenant",
                self.name()
            )),
            Role::CertAnalyst | Role::Admin | Role::Partner if !tenant.is_empty() => Err(format!(
                "a {} sees every tenant: give no tenant (a trust's own staff are trust-analyst)",
                self.name()
            )),
            _ => Ok(tenant.to_owned()),
        }
    }
}

/// Who a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user, or the token's label and id.
    pub who: String,
    /// The role.
    pub role: Role,
    /// The tenant it is bound to; `None`: every tenant.
    pub tenant: Option<String>,
}

impl Principal {
    /// May it see this tenant's data?
    pub fn sees(&self, tenant: &str) -> bool {
        self.tenant.as_deref().is_none_or(|t| t == tenant)
    }
}

/// Password hashing: argon2id with the OWASP-recommended minimum
/// (19 MiB, two passes).
fn argon() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Makes (or replaces the password and role of) a user.
pub fn add_user(
    c: &Connection,
    name: &str,
    password: &str,
    role: &str,
    tenant: &str,
) -> Result<(), String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 128 || name.chars().any(|ch| ch.is_control()) {
        return Err(format!("`{name}` is not a user name"));
    }
    if password.chars().count() < 12 {
        return Err("a password has at least 12 characters".into());
    }
    let role = Role::parse(role)?;
    if role == Role::Ingest {
        return Err("ingest is for tokens, not people (`vakt token create`)".into());
    }
    let tenant = role.check_tenant(tenant)?;
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| format!("no randomness from the system: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    let phc = argon()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| format!("cannot hash the password: {e}"))?
        .to_string();
    c.execute(
        "INSERT INTO users (name, password, role, tenant, created) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (name) DO UPDATE SET password = ?2, role = ?3, tenant = ?4, disabled = 0",
        params![name, phc, role.name(), tenant, crate::now().to_rfc3339()],
    )
    .map_err(|e| format!("cannot store the user: {e}"))?;
    Ok(())
}

/// A user as listed (no password).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct User {
    /// The name signed in with.
    pub name: String,
    /// The role.
    pub role: String,
    /// The tenant (empty: every tenant).
    pub tenant: String,
    /// When made.
    pub created: String,
    /// Signed out for good.
    pub disabled: bool,
}

/// Every user.
pub fn users(c: &Connection) -> crate::sql::Result<Vec<User>> {
    let mut q =
        c.prepare("SELECT name, role, tenant, created, disabled FROM users ORDER BY name")?;
    let rows = q.query_map([], |r| {
        Ok(User {
            name: r.get(0)?,
            role: r.get(1)?,
            tenant: r.get(2)?,
            created: r.get(3)?,
            disabled: r.get::<_, i64>(4)? != 0,
        })
    })?;
    rows.collect()
}

/// Disables a user and ends its sessions; true if there was one.
pub fn disable_user(c: &Connection, name: &str) -> crate::sql::Result<bool> {
    let n = c.execute(
        "UPDATE users SET disabled = 1 WHERE name = ?1 AND disabled = 0",
        [name],
    )?;
    c.execute("DELETE FROM sessions WHERE \"user\" = ?1", [name])?;
    Ok(n > 0)
}

/// A session made by signing in.
#[derive(Debug, Clone)]
pub struct Session {
    /// The secret (shown once; `vakts_…`).
    pub secret: String,
    /// When it ends (ns).
    pub expires: i64,
    /// Who.
    pub principal: Principal,
}

fn principal_of(name: String, role: &str, tenant: String) -> Option<Principal> {
    Some(Principal {
        who: name,
        role: Role::parse(role).ok()?,
        tenant: (!tenant.is_empty()).then_some(tenant),
    })
}

/// Signs a user in: the password against its argon2 hash, then a session
/// of `hours`. `None` for an unknown or disabled user or a wrong password
/// (the same work is done either way, so timing does not tell which).
pub fn sign_in(
    c: &Connection,
    name: &str,
    password: &str,
    hours: u32,
) -> Result<Option<Session>, String> {
    let row: Option<(String, String, String, i64)> = c
        .query_row(
            "SELECT password, role, tenant, disabled FROM users WHERE name = ?1",
            [name],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    // A fixed hash to verify against when the user is unknown.
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3k3cS6VDbx7fUivC6FbAMmBOwSu6ZKXqFq8GsGHUx3o";
    let (phc, ok_user) = match &row {
        Some((p, _, _, 0)) => (p.as_str(), true),
        _ => (DUMMY, false),
    };
    let verified = PasswordHash::new(phc)
        .map(|h| argon().verify_password(password.as_bytes(), &h).is_ok())
        .unwrap_or(false);
    let Some((_, role, tenant, _)) = row.filter(|_| ok_user && verified) else {
        return Ok(None);
    };
    let Some(principal) = principal_of(name.to_owned(), &role, tenant) else {
        return Ok(None);
    };
    new_session(c, principal, hours).map(Some)
}

/// A session for a principal the identity provider vouched for (OpenID
/// Connect): its user row (no password: it signs in at the provider only)
/// takes the role and tenant the provider's claims give now.
pub fn external_session(c: &Connection, p: Principal, hours: u32) -> Result<Session, String> {
    c.execute(
        "INSERT INTO users (name, password, role, tenant, created) VALUES (?1, '!', ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET password = '!', role = ?2, tenant = ?3
         WHERE disabled = 0",
        params![
            p.who,
            p.role.name(),
            p.tenant.clone().unwrap_or_default(),
            crate::now().to_rfc3339()
        ],
    )
    .map_err(|e| e.to_string())?;
    let disabled: i64 = c
        .query_row(
            "SELECT disabled FROM users WHERE name = ?1",
            [&p.who],
            |r| r.get(0),
        )
        .map_err(|e| e.to_string())?;
    if disabled != 0 {
        return Err(format!("{} is disabled here", p.who));
    }
    new_session(c, p, hours)
}

fn new_session(c: &Connection, principal: Principal, hours: u32) -> Result<Session, String> {
    let name = principal.who.clone();
    let secret = random_secret("vakts_")?;
    let expires = crate::now()
        .0
        .saturating_add(i64::from(hours) * 3_600_000_000_000);
    c.execute("DELETE FROM sessions WHERE expires <= ?1", [crate::now().0])
        .map_err(|e| e.to_string())?;
    c.execute(
        "INSERT INTO sessions (hash, \"user\", expires) VALUES (?1, ?2, ?3)",
        params![hash(&secret), name, expires],
    )
    .map_err(|e| e.to_string())?;
    Ok(Session {
        secret,
        expires,
        principal,
    })
}

/// A one-time sign-in code for a user (`vakt demo --serve` prints one):
/// stored hashed, good once, for `minutes`.
pub fn one_time_code(c: &Connection, name: &str, minutes: u32) -> Result<String, String> {
    let code = random_secret("vakto_")?;
    let expires = crate::now()
        .0
        .saturating_add(i64::from(minutes) * 60_000_000_000);
    c.execute(
        "INSERT INTO signin_codes (hash, \"user\", expires) VALUES (?1, ?2, ?3)",
        params![hash(&code), name, expires],
    )
    .map_err(|e| e.to_string())?;
    Ok(code)
}

/// Redeems a one-time code: a session for its user, if the code is known,
/// unused and unexpired and the user not disabled. The code is gone after.
pub fn redeem_code(c: &Connection, code: &str, hours: u32) -> Result<Option<Session>, String> {
    let h = hash(code);
    let row: Option<(String, i64)> = c
        .query_row(
            "DELETE FROM signin_codes WHERE hash = ?1 RETURNING \"user\", expires",
            [&h],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    let Some((name, expires)) = row.filter(|(_, e)| *e > crate::now().0) else {
        return Ok(None);
    };
    let _ = expires;
    let user: Option<(String, String)> = c
        .query_row(
            "SELECT role, tenant FROM users WHERE name = ?1 AND disabled = 0",
            [&name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    let Some(principal) = user.and_then(|(role, tenant)| principal_of(name, &role, tenant)) else {
        return Ok(None);
    };
    new_session(c, principal, hours).map(Some)
}

/// Ends a session.
pub fn sign_out(c: &Connection, secret: &str) -> crate::sql::Result<()> {
    c.execute("DELETE FROM sessions WHERE hash = ?1", [hash(secret)])
        .map(|_| ())
}

/// The principal of a live session, if the secret names one.
pub fn session(c: &Connection, secret: &str) -> Option<Principal> {
    let (name, role, tenant): (String, String, String) = c
        .query_row(
            "SELECT u.name, u.role, u.tenant FROM sessions s JOIN users u ON u.name = s.\"user\"
             WHERE s.hash = ?1 AND s.expires > ?2 AND u.disabled = 0",
            params![hash(secret), crate::now().0],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .ok()
        .flatten()?;
    principal_of(name, &role, tenant)
}

/// The principal a token speaks for.
pub fn token_principal(tokens: &Tokens, authorization: &str) -> Option<Principal> {
    let g = tokens.grant(Some(authorization))?;
    Some(Principal {
        who: if g.label.is_empty() {
            g.id.clone()
        } else {
            format!("{} ({})", g.label, g.id)
        },
        role: Role::parse(&g.role).ok()?,
        tenant: (!g.tenant.is_empty()).then_some(g.tenant),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_bind_tenants_as_documented() {
        assert!(Role::TrustAnalyst.check_tenant("").is_err());
        assert!(Role::CertAnalyst.check_tenant("ahus").is_err());
        assert_eq!(Role::PrivacyOfficer.check_tenant("").unwrap(), "");
        assert_eq!(Role::PrivacyOfficer.check_tenant("ous").unwrap(), "ous");
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn a_user_signs_in_with_the_right_password_only() {
        let d = tempfile::tempdir().unwrap();
        let c = crate::db::open(&d.path().join("v.db")).unwrap();
        add_user(&c, "kari", "correct horse battery", "trust-analyst", "ahus").unwrap();
        let stored: String = c
            .query_row("SELECT password FROM users", [], |r| r.get(0))
            .unwrap();
        assert!(stored.starts_with("$argon2id$") && !stored.contains("horse"));
        assert!(
            sign_in(&c, "kari", "wrong password!!", 8)
                .unwrap()
                .is_none()
        );
        assert!(
            sign_in(&c, "nobody", "correct horse battery", 8)
                .unwrap()
                .is_none()
        );
        let s = sign_in(&c, "kari", "correct horse battery", 8)
            .unwrap()
            .unwrap();
        assert_eq!(s.principal.tenant.as_deref(), Some("ahus"));
        assert_eq!(session(&c, &s.secret).unwrap().role, Role::TrustAnalyst);
        sign_out(&c, &s.secret).unwrap();
        assert!(session(&c, &s.secret).is_none());
        let s = sign_in(&c, "kari", "correct horse battery", 8)
            .unwrap()
            .unwrap();
        assert!(disable_user(&c, "kari").unwrap());
        assert!(session(&c, &s.secret).is_none());
        assert!(
            sign_in(&c, "kari", "correct horse battery", 8)
                .unwrap()
                .is_none()
        );
        assert!(add_user(&c, "x", "short", "admin", "").is_err());
    }
}
