//! Pseudonymisation of patient identifiers (national identity numbers and
//! EHR patient ids) with a keyed HMAC per tenant, and the audited reveal.
//!
//! Every alert, log line and report shows a patient as `pt-` and 16 hex
//! digits: HMAC-SHA-256 of the tenant and the identifier under the tenant's
//! key, cut to 64 bits. The same identifier gets the same pseudonym within a
//! tenant (so findings about one patient join up) and different ones across
//! tenants; without the key the identifier cannot be recomputed — identity
//! numbers are few enough (some 40 million plausible ones) that an unkeyed
//! hash would be reversed in seconds, which is why the key must stay secret.
//!
//! The clear value comes back only through [`Pseudonymiser::reveal`], which
//! needs a [`RevealCapability`] (granted by the caller's authorisation — the
//! API wires roles to it) and a stated reason, and records every reveal,
//! granted or refused, in the reveal log.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Timestamp;

type HmacSha256 = Hmac<Sha256>;

/// The prefix of every patient pseudonym.
pub const PREFIX: &str = "pt-";

/// Permission to see clear identifiers, held by a named person acting in a
/// role that allows it. Only code that has checked an authorisation should
/// make one.
#[derive(Debug, Clone)]
pub struct RevealCapability {
    /// Who reveals (user name).
    pub who: String,
    /// The role that allows it (e.g. `privacy-officer`).
    pub role: String,
}

/// One reveal, as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RevealRecord {
    /// When.
    pub at: Timestamp,
    /// Who asked.
    pub who: String,
    /// In what role.
    pub role: String,
    /// The tenant.
    pub tenant: String,
    /// The pseudonym asked about.
    pub pseudonym: String,
    /// The stated reason.
    pub reason: String,
    /// Whether the clear value was given.
    pub granted: bool,
}

/// Why a reveal gave nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevealError {
    /// The role may not see clear identifiers.
    #[error("role `{0}` may not reveal patient identifiers")]
    NotAllowed(String),
    /// No reason was given.
    #[error("a reveal needs a reason")]
    NoReason,
    /// The pseudonym was never issued here.
    #[error("unknown pseudonym {0}")]
    Unknown(String),
}

/// A tenant's key is too short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the pseudonymisation key for tenant `{0}` must be at least 16 bytes")]
pub struct KeyError(pub String);

/// Pseudonymises patient identifiers per tenant and reveals them, audited.
#[derive(Debug, Default)]
pub struct Pseudonymiser {
    /// Each tenant's keyed MAC, ready to be cloned per identifier.
    keys: HashMap<String, HmacSha256>,
    /// A keyed MAC for tenants without their own key.
    default_key: Option<HmacSha256>,
    /// Roles allowed to reveal.
    allowed_roles: Vec<String>,
    /// pseudonym → (tenant, clear value), for reveals.
    issued: Mutex<HashMap<String, (String, String)>>,
    log: Mutex<Vec<RevealRecord>>,
}

impl Pseudonymiser {
    /// A pseudonymiser with one key for every tenant (at least 16 bytes).
    pub fn new(default_key: &[u8]) -> Result<Self, KeyError> {
        if default_key.len() < 16 {
            return Err(KeyError("*".into()));
        }
        Ok(Pseudonymiser {
            default_key: HmacSha256::new_from_slice(default_key).ok(),
            allowed_roles: vec!["privacy-officer".into(), "incident-lead".into()],
            ..Default::default()
        })
    }

    /// A pseudonymiser with a fresh random key (pseudonyms then hold for one
    /// run only): for when no key is configured.
    pub fn ephemeral() -> Self {
        use std::hash::{BuildHasher, Hasher};
        let mut key = Vec::with_capacity(32);
        let mut seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        for i in 0..4u64 {
            // RandomState is seeded from the OS's randomness per instance.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(seed ^ i);
            seed = h.finish();
            key.extend_from_slice(&seed.to_le_bytes());
        }
        Pseudonymiser::new(&key).unwrap_or_default()
    }

    /// Gives a tenant its own key (at least 16 bytes).
    pub fn with_tenant_key(mut self, tenant: &str, key: &[u8]) -> Result<Self, KeyError> {
        if key.len() < 16 {
            return Err(KeyError(tenant.into()));
        }
        if let Ok(mac) = HmacSha256::new_from_slice(key) {
            self.keys.insert(tenant.into(), mac);
        }
        Ok(self)
    }

    /// The roles allowed to reveal (default: `privacy-officer`, `incident-lead`).
    pub fn with_reveal_roles(mut self, roles: &[&str]) -> Self {
        self.allowed_roles = roles.iter().map(|r| (*r).to_owned()).collect();
        self
    }

    /// A 32-byte key for `purpose` within a tenant, derived from the
    /// tenant's pseudonymisation key (HMAC-SHA-256 over a label no
    /// identifier can take): state files that hold identifiers are sealed
    /// with it. `None` when no key is set.
    pub fn derive_key(&self, tenant: &str, purpose: &str) -> Option<[u8; 32]> {
        let mut mac = self.keys.get(tenant).or(self.default_key.as_ref())?.clone();
        mac.update(b"\0vakt derived key\0");
        mac.update(tenant.as_bytes());
        mac.update(&[0]);
        mac.update(purpose.as_bytes());
        Some(mac.finalize().into_bytes().into())
    }

    /// The pseudonym of a patient identifier within a tenant. Leading and
    /// trailing spaces do not count; an identity number and a patient id are
    /// different identifiers (map ids to numbers first where both exist).
    pub fn pseudonym(&self, tenant: &str, id: &str) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let id = id.trim();
        let mut mac = match self.keys.get(tenant).or(self.default_key.as_ref()) {
            Some(m) => m.clone(),
            // HMAC takes keys of any length; every constructor sets one.
            None => return format!("{PREFIX}unkeyed"),
        };
        mac.update(tenant.as_bytes());
        mac.update(&[0]);
        mac.update(id.as_bytes());
        let out = mac.finalize().into_bytes();
        let mut p = String::with_capacity(PREFIX.len() + 16);
        p.push_str(PREFIX);
        for b in &out[..8] {
            p.push(char::from(HEX[usize::from(b >> 4)]));
            p.push(char::from(HEX[usize::from(b & 15)]));
        }
        if let Ok(mut issued) = self.issued.lock()
            && !issued.contains_key(&p)
        {
            issued.insert(p.clone(), (tenant.to_owned(), id.to_owned()));
        }
        p
    }

    /// The clear identifier behind a pseudonym, for a capability whose role
    /// allows it and with a reason; every call is recorded, granted or not.
    pub fn reveal(
        &self,
        cap: &RevealCapability,
        pseudonym: &str,
        reason: &str,
        now: Timestamp,
    ) -> Result<String, RevealError> {
        let found = self
            .issued
            .lock()
            .ok()
            .and_then(|m| m.get(pseudonym).cloned());
        let outcome = if !self.allowed_roles.iter().any(|r| r == &cap.role) {
            Err(RevealError::NotAllowed(cap.role.clone()))
        } else if reason.trim().is_empty() {
            Err(RevealError::NoReason)
        } else {
            found
                .clone()
                .map(|(_, clear)| clear)
                .ok_or_else(|| RevealError::Unknown(pseudonym.to_owned()))
        };
        let record = RevealRecord {
            at: now,
            who: cap.who.clone(),
            role: cap.role.clone(),
            tenant: found.map(|(t, _)| t).unwrap_or_default(),
            pseudonym: pseudonym.to_owned(),
            reason: reason.to_owned(),
            granted: outcome.is_ok(),
        };
        if let Ok(mut log) = self.log.lock() {
            log.push(record);
        }
        outcome
    }

    /// Every reveal so far, in order.
    pub fn reveal_log(&self) -> Vec<RevealRecord> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    /// The pseudonym is HMAC-SHA-256(tenant ‖ 0 ‖ id) under the key, its
    /// first eight bytes in hex (known answer from Python's hmac module).
    #[test]
    fn pseudonyms_are_the_documented_hmac() {
        let p = Pseudonymiser::new(b"a key of sixteen bytes+").unwrap();
        assert_eq!(p.pseudonym("ous", " 01018012345 "), "pt-2fd2360f6429ce9d");
        let t = Pseudonymiser::new(b"another default key!")
            .unwrap()
            .with_tenant_key("ous", b"a key of sixteen bytes+")
            .unwrap();
        assert_eq!(t.pseudonym("ous", "01018012345"), "pt-2fd2360f6429ce9d");
        assert_ne!(t.pseudonym("vv", "01018012345"), "pt-2fd2360f6429ce9d");
    }

    #[test]
    fn pseudonyms_are_stable_per_tenant_and_differ_across_tenants_and_keys() {
        let p = Pseudonymiser::new(KEY).unwrap();
        let a = p.pseudonym("ous", "25905522860");
        assert!(a.starts_with(PREFIX) && a.len() == 19, "{a}");
        assert_eq!(a, p.pseudonym("ous", " 25905522860 "));
        assert_ne!(a, p.pseudonym("ahus", "25905522860"));
        assert_ne!(a, p.pseudonym("ous", "25905522861"));
        let q = Pseudonymiser::new(b"another key, also 16+ bytes").unwrap();
        assert_ne!(a, q.pseudonym("ous", "25905522860"));
        let own = Pseudonymiser::new(KEY)
            .unwrap()
            .with_tenant_key("ous", b"ous's own key, 16+ bytes")
            .unwrap();
        assert_ne!(a, own.pseudonym("ous", "25905522860"));
        assert!(Pseudonymiser::new(b"short").is_err());
        assert!(!a.contains("25905522860"));
    }

    #[test]
    fn reveal_needs_an_allowed_role_and_a_reason_and_is_always_recorded() {
        let p = Pseudonymiser::new(KEY).unwrap();
        let a = p.pseudonym("ous", "25905522860");
        let now = Timestamp(1_700_000_000_000_000_000);
        let analyst = RevealCapability {
            who: "kari".into(),
            role: "analyst".into(),
        };
        let officer = RevealCapability {
            who: "ola".into(),
            role: "privacy-officer".into(),
        };
        assert_eq!(
            p.reveal(&analyst, &a, "curious", now),
            Err(RevealError::NotAllowed("analyst".into()))
        );
        assert_eq!(p.reveal(&officer, &a, " ", now), Err(RevealError::NoReason));
        assert_eq!(
            p.reveal(&officer, &a, "notification to the patient, case 17", now),
            Ok("25905522860".into())
        );
        assert!(matches!(
            p.reveal(&officer, "pt-0000000000000000", "case 17", now),
            Err(RevealError::Unknown(_))
        ));
        let log = p.reveal_log();
        assert_eq!(log.len(), 4);
        assert_eq!(
            log.iter().map(|r| r.granted).collect::<Vec<_>>(),
            [false, false, true, false]
        );
        assert_eq!(
            (log[2].who.as_str(), log[2].tenant.as_str()),
            ("ola", "ous")
        );
    }

    #[test]
    fn ephemeral_keys_differ() {
        let a = Pseudonymiser::ephemeral().pseudonym("t", "x");
        let b = Pseudonymiser::ephemeral().pseudonym("t", "x");
        assert_ne!(a, b);
    }
}
