//! OpenID Connect sign-in: the authorization code flow with PKCE against
//! the organisation's identity provider, its claims mapped to a vakt role
//! and tenant.
//!
//! `GET /api/v1/auth/oidc/login` sends the browser to the provider (with
//! `state`, `nonce` and a PKCE challenge); the provider sends it back to
//! `/api/v1/auth/oidc/callback`, where the code is exchanged for tokens at
//! the provider's token endpoint (client authentication, over the back
//! channel) and the ID token's issuer, audience, expiry and nonce are
//! checked. Received directly from the token endpoint, the ID token's
//! issuer is vouched for by that connection (OpenID Connect Core 3.1.3.7),
//! so its signature is not checked again here. The user becomes
//! `oidc:<name>` with the role of the first `roles` rule its role claim
//! matches and the tenant of its tenant claim; a user no rule matches is
//! refused. Then a session, as after a password sign-in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::auth::{Principal, Role};

/// How the provider is reached and its claims read (the config file's `oidc:`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer (its `/.well-known/openid-configuration` is read).
    pub issuer: String,
    /// vakt's client id at the provider.
    pub client_id: String,
    /// Its secret (client_secret_basic).
    #[serde(default)]
    pub client_secret: String,
    /// Where the provider sends the browser back: this service's
    /// `/api/v1/auth/oidc/callback`, as the browser reaches it.
    pub redirect_url: String,
    /// Scopes asked for.
    #[serde(default = "scopes")]
    pub scopes: String,
    /// The claim naming the user.
    #[serde(default = "user_claim")]
    pub user_claim: String,
    /// The claim holding the user's groups or roles (a string or a list).
    #[serde(default = "role_claim")]
    pub role_claim: String,
    /// The claim naming the user's tenant (trust).
    #[serde(default = "tenant_claim")]
    pub tenant_claim: String,
    /// Role claim value → vakt role; the first rule the user matches wins.
    pub roles: Vec<RoleRule>,
}

/// One mapping of a role claim value to a role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// The claim value (a group name).
    pub value: String,
    /// The vakt role it gives.
    pub role: String,
}

fn scopes() -> String {
    "openid profile".into()
}
fn user_claim() -> String {
    "preferred_username".into()
}
fn role_claim() -> String {
    "groups".into()
}
fn tenant_claim() -> String {
    "tenant".into()
}

#[derive(Debug, Clone, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

struct Pending {
    nonce: String,
    verifier: String,
    at: Instant,
}

/// A sign-in begun at the provider lasts this long.
const PENDING_FOR: Duration = Duration::from_secs(600);

/// The OpenID Connect client.
pub struct Oidc {
    cfg: OidcConfig,
    agent: ureq::Agent,
    discovery: Mutex<Option<Discovery>>,
    pending: Mutex<HashMap<String, Pending>>,
}

fn random() -> Result<String, String> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness from the system: {e}"))?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// The values of a claim that is a string or a list of strings.
fn values(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

impl Oidc {
    /// A client for this provider (nothing is fetched until the first sign-in).
    pub fn new(cfg: OidcConfig) -> Result<Oidc, String> {
        for r in &cfg.roles {
            Role::parse(&r.role).map_err(|e| format!("oidc roles: {e}"))?;
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(15)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(Oidc {
            cfg,
            agent,
            discovery: Mutex::new(None),
            pending: Mutex::new(HashMap::new()),
        })
    }

    fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let mut r = self
            .agent
            .get(url)
            .call()
            .map_err(|e| format!("{url}: {e}"))?;
        let status = r.status();
        let text = r
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{url}: {status}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{url}: not JSON: {e}"))
    }

    fn discover(&self) -> Result<Discovery, String> {
        if let Some(d) = self
            .discovery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(d);
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.cfg.issuer.trim_end_matches('/')
        );
        let d: Discovery = serde_json::from_value(self.get_json(&url)?)
            .map_err(|e| format!("{url}: not a discovery document: {e}"))?;
        if d.issuer.trim_end_matches('/') != self.cfg.issuer.trim_end_matches('/') {
            return Err(format!(
                "{url} names issuer {} (configured: {})",
                d.issuer, self.cfg.issuer
            ));
        }
        *self.discovery.lock().unwrap_or_else(|p| p.into_inner()) = Some(d.clone());
        Ok(d)
    }

    /// Where to send the browser to sign in.
    pub fn start(&self) -> Result<String, String> {
        let d = self.discover()?;
        let (state, nonce, verifier) = (random()?, random()?, random()?);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        let query = serde_urlencoded::to_string([
            ("response_type", "code"),
            ("client_id", self.cfg.client_id.as_str()),
            ("redirect_uri", self.cfg.redirect_url.as_str()),
            ("scope", self.cfg.scopes.as_str()),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .map_err(|e| e.to_string())?;
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        p.retain(|_, v| v.at.elapsed() < PENDING_FOR);
        if p.len() > 10_000 {
            return Err("too many sign-ins under way; try again shortly".into());
        }
        p.insert(
            state,
            Pending {
                nonce,
                verifier,
                at: Instant::now(),
            },
        );
        let sep = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        Ok(format!("{}{sep}{query}", d.authorization_endpoint))
    }

    /// The principal the provider's answer names (`Err`: why not, for a person).
    pub fn finish(&self, code: &str, state: &str) -> Result<Principal, String> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(state)
            .filter(|p| p.at.elapsed() < PENDING_FOR)
            .ok_or("this sign-in was not begun here, or took too long: begin again")?;
        let d = self.discover()?;
        // Form-encoded, as client_secret_basic asks (`=value` without its `=`).
        let enc = |s: &str| {
            let e = serde_urlencoded::to_string([("", s)]).unwrap_or_default();
            e.get(1..).unwrap_or_default().to_owned()
        };
        let basic = STANDARD.encode(format!(
            "{}:{}",
            enc(&self.cfg.client_id),
            enc(&self.cfg.client_secret)
        ));
        let mut r = self
            .agent
            .post(&d.token_endpoint)
            .header("Authorization", &format!("Basic {basic}"))
            .send_form([
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", self.cfg.redirect_url.as_str()),
                ("code_verifier", pending.verifier.as_str()),
                ("client_id", self.cfg.client_id.as_str()),
            ])
            .map_err(|e| format!("the token endpoint: {e}"))?;
        let status = r.status();
        let text = r
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("the token endpoint: {e}"))?;
        if !status.is_success() {
            return Err(format!("the provider refused the code ({status})"));
        }
        let tokens: serde_json::Value =
            serde_json::from_str(&text).map_err(|_| "the token endpoint's answer is not JSON")?;
        let id_token = tokens["id_token"]
            .as_str()
            .ok_or("the provider gave no ID token")?;
        let payload = id_token
            .split('.')
            .nth(1)
            .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .ok_or("the ID token cannot be read")?;
        self.principal(&payload, &d.issuer, &pending.nonce)
    }

    /// Checks an ID token's claims and maps them to a principal.
    fn principal(
        &self,
        c: &serde_json::Value,
        issuer: &str,
        nonce: &str,
    ) -> Result<Principal, String> {
        if c["iss"].as_str() != Some(issuer) {
            return Err("the ID token is of another issuer".into());
        }
        if !values(&c["aud"]).contains(&self.cfg.client_id) {
            return Err("the ID token is for another client".into());
        }
        let now = crate::now().0 / 1_000_000_000;
        if c["exp"].as_i64().is_none_or(|exp| exp <= now) {
            return Err("the ID token has expired".into());
        }
        if c["nonce"].as_str() != Some(nonce) {
            return Err("the ID token is not of this sign-in (nonce)".into());
        }
        let user = c[&self.cfg.user_claim]
            .as_str()
            .or_else(|| c["sub"].as_str())
            .filter(|u| !u.is_empty() && u.len() <= 120 && !u.chars().any(char::is_control))
            .ok_or("the ID token names no user")?;
        let groups = values(&c[&self.cfg.role_claim]);
        let rule = self
            .cfg
            .roles
            .iter()
            .find(|r| groups.contains(&r.value))
            .ok_or_else(|| format!("{user} has no vakt role at the provider"))?;
        let role = Role::parse(&rule.role)?;
        let tenant = role.check_tenant(c[&self.cfg.tenant_claim].as_str().unwrap_or(""))?;
        Ok(Principal {
            who: format!("oidc:{user}"),
            role,
            tenant: (!tenant.is_empty()).then_some(tenant),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oidc() -> Oidc {
        Oidc::new(OidcConfig {
            issuer: "https://idp.example".into(),
            client_id: "vakt".into(),
            client_secret: String::new(),
            redirect_url: "https://vakt.example/api/v1/auth/oidc/callback".into(),
            scopes: scopes(),
            user_claim: user_claim(),
            role_claim: role_claim(),
            tenant_claim: tenant_claim(),
            roles: vec![
                RoleRule {
                    value: "vakt-cert".into(),
                    role: "cert-analyst".into(),
                },
                RoleRule {
                    value: "vakt-soc".into(),
                    role: "trust-analyst".into(),
                },
            ],
        })
        .unwrap()
    }

    fn claims(extra: serde_json::Value) -> serde_json::Value {
        let mut c = serde_json::json!({
            "iss": "https://idp.example", "aud": "vakt", "exp": 4_102_444_800i64,
            "nonce": "n1", "preferred_username": "kari",
        });
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        c
    }

    #[test]
    fn claims_map_to_a_role_and_tenant_and_bad_tokens_are_refused() {
        let o = oidc();
        let iss = "https://idp.example";
        let p = o
            .principal(
                &claims(serde_json::json!({"groups": ["staff", "vakt-soc"], "tenant": "ahus"})),
                iss,
                "n1",
            )
            .unwrap();
        assert_eq!(
            (p.who.as_str(), p.role, p.tenant.as_deref()),
            ("oidc:kari", Role::TrustAnalyst, Some("ahus"))
        );
        let p = o
            .principal(
                &claims(serde_json::json!({"groups": "vakt-cert"})),
                iss,
                "n1",
            )
            .unwrap();
        assert_eq!((p.role, p.tenant), (Role::CertAnalyst, None));
        for (bad, why) in [
            (serde_json::json!({"groups": ["staff"]}), "no vakt role"),
            (serde_json::json!({"groups": ["vakt-soc"]}), "one tenant"),
            (
                serde_json::json!({"groups": ["vakt-cert"], "aud": "other"}),
                "another client",
            ),
            (
                serde_json::json!({"groups": ["vakt-cert"], "iss": "https://evil"}),
                "another issuer",
            ),
            (
                serde_json::json!({"groups": ["vakt-cert"], "exp": 1}),
                "expired",
            ),
            (
                serde_json::json!({"groups": ["vakt-cert"], "nonce": "n2"}),
                "nonce",
            ),
        ] {
            let e = o.principal(&claims(bad), iss, "n1").unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        assert!(o.finish("code", "never-begun").is_err());
    }
}
