//! The service itself: status, sign-in, rules and detectors, intelligence,
//! users, tokens and the audit trail.

use std::sync::Arc;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use vakt_core::Rule;

use super::{AnyJson, Api, ApiError, ErrorBody, J, Q, RuleInfo, blocking, db_err, json};
use crate::access::{Need, require};
use crate::audit::{Act, AuditQuery, AuditRecord};
use crate::auth::{Principal, User};

/// The service's status: version, uptime, readiness, and counts of what
/// you may see.
#[utoipa::path(get, path = "/api/v1/status", tag = "service",
    responses(
        (status = 200, description = "Status", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn status(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    let counts = if Need::Read.allowed(who.role) {
        let view = api.data.scoped(&who, Need::Read)?;
        Some(blocking(move || view.counts()).await?)
    } else {
        require(&who, Need::Status)?;
        None
    };
    Ok(json(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": api.started.elapsed().as_secs(),
        "ready": api.ingest.ready.load(std::sync::atomic::Ordering::Relaxed),
        "you": {"who": who.who, "role": who.role.name(), "tenant": who.tenant},
        "counts": counts,
    })))
}

/// The tenants you may see (those with alerts, tokens or users).
#[utoipa::path(get, path = "/api/v1/tenants", tag = "service",
    responses(
        (status = 200, description = "Tenant names", body = Vec<String>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn tenants(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    require(&who, Need::Status)?;
    let db = api.db.clone();
    let all = blocking(move || {
        let c = db.connect().map_err(db_err)?;
        let mut q = c
            .prepare(
                "SELECT tenant FROM alerts UNION SELECT tenant FROM tokens UNION SELECT tenant FROM users",
            )
            .map_err(db_err)?;
        let rows = q.query_map([], |r| r.get::<_, String>(0)).map_err(db_err)?;
        rows.collect::<crate::sql::Result<Vec<String>>>()
            .map_err(db_err)
    })
    .await?;
    let mine: Vec<String> = all
        .into_iter()
        .filter(|t| !t.is_empty() && who.sees(t))
        .collect();
    Ok(json(mine))
}

/// Who you are signed in as.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "service",
    responses(
        (status = 200, description = "`who`, `role`, `tenant`", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn me(Extension(who): Extension<Principal>) -> Response {
    json(serde_json::json!({"who": who.who, "role": who.role.name(), "tenant": who.tenant}))
}

/// A sign-in.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginBody {
    /// User name.
    user: String,
    /// Password.
    password: String,
}

/// Signs in with a user name and password: a session (as a bearer secret
/// and an HttpOnly cookie). Every sign-in, good or not, is audited.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "service", security(()),
    request_body = LoginBody,
    responses(
        (status = 200, description = "`session` (the bearer secret), `expires`, `role`, `tenant`", body = Object),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 401, description = "Wrong user name or password", body = ErrorBody),
    ))]
pub async fn login(
    State(api): State<Arc<Api>>,
    J(body): J<LoginBody>,
) -> Result<Response, ApiError> {
    let a = api.clone();
    let user = body.user.clone();
    let s = blocking(move || {
        let c = a.db.connect().map_err(db_err)?;
        crate::auth::sign_in(&c, &body.user, &body.password, a.session_hours)
            .map_err(ApiError::internal)
    })
    .await?;
    let act = sign_in_act(
        s.as_ref(),
        user.chars().take(128).collect(),
        "POST /api/v1/auth/login",
        "",
    );
    let a = api.clone();
    blocking(move || a.audit.append(act).map_err(ApiError::internal)).await?;
    let Some(s) = s else {
        return Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "wrong user name or password".into(),
        });
    };
    Ok(session_answer(&api, &s))
}

/// Whether the request is signed in (the web UI asks before it shows the
/// sign-in form), and whether OpenID Connect sign-in is offered. Never a
/// 401: not being signed in is the answer, not an error.
#[utoipa::path(get, path = "/api/v1/auth/session", tag = "service", security(()),
    responses(
        (status = 200, description = "`signed_in`; if so `who`, `role`, `tenant`; `oidc`", body = Object),
    ))]
pub async fn session(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let a = api.clone();
    let who = blocking(move || Ok(super::principal(&a, &headers))).await?;
    let oidc = api.oidc.is_some();
    // In the trail as every request is (an ingest token is not signed in here).
    let who = who.filter(|p| p.role != crate::auth::Role::Ingest);
    let act = Act {
        who: who
            .as_ref()
            .map_or_else(|| "anonymous".into(), |p| p.who.clone()),
        role: who
            .as_ref()
            .map(|p| p.role.name().to_owned())
            .unwrap_or_default(),
        tenant: who
            .as_ref()
            .and_then(|p| p.tenant.clone())
            .unwrap_or_default(),
        action: "read".into(),
        object: "GET /api/v1/auth/session".into(),
        outcome: "200".into(),
        detail: String::new(),
    };
    let a = api.clone();
    blocking(move || a.audit.append(act).map_err(ApiError::internal)).await?;
    Ok(json(match who {
        Some(p) => serde_json::json!({
            "signed_in": true, "who": p.who, "role": p.role.name(), "tenant": p.tenant, "oidc": oidc,
        }),
        None => serde_json::json!({"signed_in": false, "oidc": oidc}),
    }))
}

/// A one-time code.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OnceParams {
    /// The code (`vakt demo --serve` prints a link with one).
    code: Option<String>,
}

/// Signs in with a one-time code: the session as a cookie, and to the web
/// UI. A code works once; every use, good or not, is audited.
#[utoipa::path(get, path = "/api/v1/auth/once", tag = "service", security(()), params(OnceParams),
    responses(
        (status = 303, description = "Signed in: to the UI (`Location`), the session as a cookie"),
        (status = 401, description = "No code, or an unknown, used or expired one", body = ErrorBody),
    ))]
pub async fn once(State(api): State<Arc<Api>>, Q(p): Q<OnceParams>) -> Result<Response, ApiError> {
    let a = api.clone();
    let s = blocking(move || {
        let c = a.db.connect().map_err(db_err)?;
        match p.code.as_deref().filter(|c| !c.is_empty()) {
            Some(code) => {
                crate::auth::redeem_code(&c, code, a.session_hours).map_err(ApiError::internal)
            }
            None => Ok(None),
        }
    })
    .await?;
    let who = s
        .as_ref()
        .map(|s| s.principal.who.clone())
        .unwrap_or_default();
    let act = sign_in_act(s.as_ref(), who, "GET /api/v1/auth/once", "one-time code");
    let a = api.clone();
    blocking(move || a.audit.append(act).map_err(ApiError::internal)).await?;
    let Some(s) = s else {
        return Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "this sign-in code is unknown, used or expired".into(),
        });
    };
    let mut r = session_answer(&api, &s);
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .insert(header::LOCATION, header::HeaderValue::from_static("/ui/"));
    Ok(r)
}

/// The audit record of a sign-in, granted (a session) or refused.
fn sign_in_act(s: Option<&crate::auth::Session>, who: String, object: &str, detail: &str) -> Act {
    Act {
        who,
        role: s
            .map(|s| s.principal.role.name().to_owned())
            .unwrap_or_default(),
        tenant: s
            .and_then(|s| s.principal.tenant.clone())
            .unwrap_or_default(),
        action: "sign-in".into(),
        object: object.into(),
        outcome: if s.is_some() { "granted" } else { "refused" }.into(),
        detail: detail.into(),
    }
}

/// The answer to a sign-in: the session as JSON and as a cookie.
fn session_answer(api: &Api, s: &crate::auth::Session) -> Response {
    let cookie = format!(
        "vakt_session={}; HttpOnly; SameSite=Lax; Path=/; Max-Age={}",
        s.secret,
        u64::from(api.session_hours) * 3600
    );
    let mut r = json(serde_json::json!({
        "session": s.secret, "expires": vakt_core::Timestamp(s.expires),
        "who": s.principal.who, "role": s.principal.role.name(), "tenant": s.principal.tenant,
    }));
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Signs in at the organisation's identity provider (OpenID Connect): a
/// redirect there.
#[utoipa::path(get, path = "/api/v1/auth/oidc/login", tag = "service", security(()),
    responses(
        (status = 303, description = "To the provider (`Location`)"),
        (status = 404, description = "No OpenID Connect sign-in is configured", body = ErrorBody),
        (status = 502, description = "The provider cannot be reached", body = ErrorBody),
    ))]
pub async fn oidc_login(State(api): State<Arc<Api>>) -> Result<Response, ApiError> {
    if api.oidc.is_none() {
        return Err(ApiError::not_found(
            "no OpenID Connect sign-in is configured",
        ));
    }
    let a = api.clone();
    let url = blocking(move || {
        a.oidc
            .as_ref()
            .ok_or_else(|| ApiError::not_found("no OpenID Connect sign-in"))?
            .start()
            .map_err(|e| {
                tracing::warn!(target: "vakt::api", "OpenID Connect: {e}");
                ApiError {
                    status: StatusCode::BAD_GATEWAY,
                    message: "the identity provider cannot be reached".into(),
                }
            })
    })
    .await?;
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = header::HeaderValue::from_str(&url) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    Ok(r)
}

/// The provider's answer to a sign-in.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OidcCallback {
    /// The authorization code.
    code: Option<String>,
    /// The state the sign-in began with.
    state: Option<String>,
    /// The provider's error, if it refused.
    error: Option<String>,
}

/// Where the provider sends the browser back: the code is exchanged, the
/// ID token checked, its claims mapped to a role and tenant, and a session
/// made. Every such sign-in, granted or refused, is audited.
#[utoipa::path(get, path = "/api/v1/auth/oidc/callback", tag = "service", security(()),
    params(OidcCallback),
    responses(
        (status = 200, description = "`session`, `expires`, `who`, `role`, `tenant` (and the cookie)", body = Object),
        (status = 400, description = "No code or state", body = ErrorBody),
        (status = 401, description = "Refused (why, for a person)", body = ErrorBody),
        (status = 404, description = "No OpenID Connect sign-in is configured", body = ErrorBody),
    ))]
pub async fn oidc_callback(
    State(api): State<Arc<Api>>,
    Q(p): Q<OidcCallback>,
) -> Result<Response, ApiError> {
    if api.oidc.is_none() {
        return Err(ApiError::not_found(
            "no OpenID Connect sign-in is configured",
        ));
    }
    let (Some(code), Some(state)) = (p.code, p.state) else {
        return Err(ApiError::bad_request(if p.error.is_some() {
            "the identity provider refused the sign-in"
        } else {
            "no code or state"
        }));
    };
    let a = api.clone();
    let outcome = blocking(move || {
        let o = a
            .oidc
            .as_ref()
            .ok_or_else(|| ApiError::not_found("no OpenID Connect sign-in"))?;
        Ok(match o.finish(&code, &state) {
            Ok(p) => {
                let c = a.db.connect().map_err(db_err)?;
                crate::auth::external_session(&c, p, a.session_hours)
            }
            Err(e) => Err(e),
        })
    })
    .await?;
    let act = Act {
        who: outcome
            .as_ref()
            .map_or_else(|_| "oidc".to_owned(), |s| s.principal.who.clone()),
        role: outcome
            .as_ref()
            .map(|s| s.principal.role.name().to_owned())
            .unwrap_or_default(),
        tenant: outcome
            .as_ref()
            .ok()
            .and_then(|s| s.principal.tenant.clone())
            .unwrap_or_default(),
        action: "sign-in".into(),
        object: "GET /api/v1/auth/oidc/callback".into(),
        outcome: if outcome.is_ok() {
            "granted"
        } else {
            "refused"
        }
        .into(),
        detail: outcome
            .as_ref()
            .err()
            .cloned()
            .unwrap_or_else(|| "OpenID Connect".into()),
    };
    let a = api.clone();
    blocking(move || a.audit.append(act).map_err(ApiError::internal)).await?;
    match outcome {
        Ok(s) => Ok(session_answer(&api, &s)),
        Err(e) => Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: e,
        }),
    }
}

/// Ends the session the request was made with.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "service",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn logout(
    State(api): State<Arc<Api>>,
    Extension(_who): Extension<Principal>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(secret) = super::bearer(&headers)
        .and_then(|b| b.strip_prefix("Bearer ").map(|s| s.trim().to_owned()))
        .filter(|s| s.starts_with("vakts_"))
    {
        let db = api.db.clone();
        blocking(move || {
            let c = db.connect().map_err(db_err)?;
            crate::auth::sign_out(&c, &secret).map_err(db_err)
        })
        .await?;
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        header::HeaderValue::from_static(
            "vakt_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0",
        ),
    );
    Ok(r)
}

/// Paging by offset.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// At most this many (1–10000, default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
    /// Skip this many.
    offset: Option<usize>,
}

impl Paging {
    fn apply<T>(&self, v: Vec<T>) -> Vec<T> {
        v.into_iter()
            .skip(self.offset.unwrap_or(0))
            .take(self.limit.unwrap_or(1000).clamp(1, 10_000))
            .collect()
    }
}

/// The Sigma rules loaded.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", params(Paging),
    responses(
        (status = 200, description = "Rules", body = Vec<RuleInfo>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn rules(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<Paging>,
) -> Result<Response, ApiError> {
    require(&who, Need::Status)?;
    let list = api.rules.as_ref().map(|r| r.list()).unwrap_or_default();
    Ok(json(p.apply(list)))
}

/// What `vakt rules check` says of the rules: loaded, unsupported and why.
#[utoipa::path(get, path = "/api/v1/rules/check", tag = "rules",
    responses(
        (status = 200, description = "The check", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn rules_check(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    require(&who, Need::Status)?;
    Ok(json(api.rules.as_ref().map_or_else(
        || serde_json::json!({"rules": 0}),
        |r| r.check(),
    )))
}

/// Loads the rules again from their folders; the live detectors take them
/// at once.
#[utoipa::path(post, path = "/api/v1/rules/reload", tag = "rules",
    responses(
        (status = 200, description = "`loaded`: rules now running", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 404, description = "The service runs without Sigma rules", body = ErrorBody),
        (status = 409, description = "The detectors run on a cluster's workers: a rolling restart of the workers loads new rules", body = ErrorBody),
        (status = 422, description = "The rules could not be loaded (the running ones stay)", body = ErrorBody),
    ))]
pub async fn rules_reload(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    require(&who, Need::Operate)?;
    let Some(rules) = api.rules.clone() else {
        return Err(ApiError::not_found("the service runs without Sigma rules"));
    };
    let Some(reload) = &api.reload else {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: "the detectors run on the cluster's workers: a rolling restart of the workers loads new rules".into(),
        });
    };
    let (detectors, n) = blocking(move || {
        rules.reload().map_err(|e| ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: e,
        })
    })
    .await?;
    reload
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(detectors)
        .map_err(|_| ApiError::internal("the detectors are not running"))?;
    Ok(json(serde_json::json!({"loaded": n})))
}

/// The detectors and their settings.
#[utoipa::path(get, path = "/api/v1/detectors", tag = "rules",
    responses(
        (status = 200, description = "Detectors", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn detectors(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    require(&who, Need::Status)?;
    Ok(json(&api.detectors))
}

/// The indicators loaded (given at start, and the data folder's `intel/`).
#[utoipa::path(get, path = "/api/v1/intel", tag = "intel", params(Paging),
    responses(
        (status = 200, description = "Indicators", body = Vec<Object>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn intel_list(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<Paging>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    let loaded = blocking(move || Ok(view.indicators())).await?;
    Ok(json(p.apply(loaded.indicators)))
}

/// A name for added indicators.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IntelParams {
    /// A name for the file (letters, digits, `-`, `_`).
    name: Option<String>,
}

/// Adds indicators (a STIX 2.1 bundle, a MISP event, or a list, one per
/// line): matched live from the next look at the folder (seconds), and
/// retro-hunted over the stored history in the background — the answer
/// names the hunt, whose progress and result are `/api/v1/intel/hunts/{id}`.
#[utoipa::path(post, path = "/api/v1/intel", tag = "intel", params(IntelParams),
    request_body(content = String, description = "STIX 2.1 bundle or MISP event (JSON), or a list (text)", content_type = "application/json"),
    responses(
        (status = 202, description = "`hunt`: the retro-hunt's id; `indicators`", body = Object),
        (status = 400, description = "No indicator in the body", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
        (status = 409, description = "The detectors run on a cluster's workers: indicators are given to them (--intel) and loaded by a rolling restart", body = ErrorBody),
    ))]
pub async fn intel_add(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<IntelParams>,
    body: Bytes,
) -> Result<Response, ApiError> {
    require(&who, Need::Operate)?;
    if api.reload.is_none() {
        return Err(ApiError {
            status: StatusCode::CONFLICT,
            message: "the detectors run on the cluster's workers: give them the indicators (--intel) and restart them one by one".into(),
        });
    }
    let name: String = p
        .name
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    let a = api.clone();
    let by = who.who.clone();
    let (id, n, file) = blocking(move || {
        let ext = if serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
            "json"
        } else {
            "txt"
        };
        let incoming = a.intel_dir.with_file_name(".intel-incoming");
        std::fs::create_dir_all(&incoming).map_err(|_| ApiError::internal("cannot write"))?;
        let stamp = crate::now().0;
        let file = format!(
            "api-{stamp}{}{name}.{ext}",
            if name.is_empty() { "" } else { "-" }
        );
        let tmp = incoming.join(&file);
        std::fs::write(&tmp, &body).map_err(|_| ApiError::internal("cannot write"))?;
        let loaded = vakt_intel::load(std::slice::from_ref(&tmp));
        if loaded.indicators.is_empty() {
            let _ = std::fs::remove_file(&tmp);
            return Err(ApiError::bad_request(format!(
                "no indicator could be read ({} problems): a STIX 2.1 bundle, a MISP event, or one indicator per line",
                loaded.problems.len()
            )));
        }
        let n = loaded.indicators.len();
        let id = a
            .hunts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .add(file.clone(), by, n);
        std::fs::rename(&tmp, a.intel_dir.join(&file))
            .map_err(|_| ApiError::internal("cannot write"))?;
        Ok((id, n, file))
    })
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        json(serde_json::json!({"hunt": id, "indicators": n, "file": file})),
    )
        .into_response())
}

/// The retro-hunts of indicators added through the API.
#[utoipa::path(get, path = "/api/v1/intel/hunts", tag = "intel",
    responses(
        (status = 200, description = "Hunts: `state` (waiting, running, done, failed), `alerts` you may see", body = Vec<Object>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn hunts(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(view.hunts()))
}

/// One retro-hunt: its progress and result.
#[utoipa::path(get, path = "/api/v1/intel/hunts/{id}", tag = "intel",
    params(("id" = u64, Path, description = "The hunt's id")),
    responses(
        (status = 200, description = "The hunt", body = Object),
        (status = 400, description = "Not a hunt id", body = ErrorBody),
        (status = 404, description = "No such hunt", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn hunt(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: u64 = id
        .parse()
        .map_err(|_| ApiError::bad_request("a hunt id is a number"))?;
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(view.hunt(id)?))
}

/// A sightings export format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SightingParams {
    /// `stix` (a STIX 2.1 bundle, default) or `misp` (MISP sightings).
    #[param(pattern = "^(stix|misp)$")]
    format: Option<String>,
}

/// The indicators seen in your tenants' data, to share: a STIX 2.1 bundle
/// of Sighting objects, or MISP sightings.
#[utoipa::path(get, path = "/api/v1/intel/sightings", tag = "intel", params(SightingParams),
    responses(
        (status = 200, description = "The export: a STIX 2.1 bundle (object), or MISP sightings (array)", body = AnyJson),
        (status = 400, description = "An unknown format", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn sightings(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<SightingParams>,
) -> Result<Response, ApiError> {
    let misp = match p.format.as_deref() {
        None | Some("stix") => false,
        Some("misp") => true,
        Some(_) => return Err(ApiError::bad_request("format is stix or misp")),
    };
    let view = api.data.scoped(&who, Need::Read)?;
    let v = blocking(move || {
        let now = crate::now().0;
        let recs = recorded_sightings(&view, Some(now))?;
        Ok(if misp {
            vakt_intel::export::misp_sightings(&recs, &view.indicators().indicators)
        } else {
            vakt_intel::export::stix_bundle(&recs, now)
        })
    })
    .await?;
    Ok(json(v))
}

/// The intel alerts a view sees, as sightings; recorded at `hunted`
/// (default: each alert's last sighting, so a sighting's `created` stays
/// put from one read to the next).
pub fn recorded_sightings(
    view: &crate::access::Scoped,
    hunted: Option<i64>,
) -> Result<Vec<vakt_intel::export::Recorded>, ApiError> {
    Ok(view
        .intel_alerts()?
        .iter()
        .filter_map(|a| match &*a.rule {
            Rule::Indicator(r) => Some(vakt_intel::export::Recorded {
                hunted: hunted.unwrap_or(a.last.0),
                kind: r.kind.clone(),
                value: r.value.clone(),
                source: r.feed.clone(),
                id: r.id.clone(),
                count: a.count,
                first: a.first.0,
                last: a.last.0,
                hosts: a
                    .actors
                    .iter()
                    .filter(|e| matches!(e, vakt_core::Entity::Host(_)))
                    .map(vakt_core::Entity::value)
                    .collect(),
                users: a
                    .actors
                    .iter()
                    .filter(|e| matches!(e, vakt_core::Entity::Account(_)))
                    .map(vakt_core::Entity::value)
                    .collect(),
                sources: vec![a.tenant.to_string()],
                origins: a
                    .origins
                    .iter()
                    .map(|o| format!("{}: {}", o.path, o.locator))
                    .collect(),
            }),
            _ => None,
        })
        .collect())
}

/// Every user (no passwords).
#[utoipa::path(get, path = "/api/v1/users", tag = "admin",
    responses(
        (status = 200, description = "Users", body = Vec<User>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn users(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    require(&who, Need::Administer)?;
    let db = api.db.clone();
    Ok(json(
        blocking(move || crate::auth::users(&db.connect().map_err(db_err)?).map_err(db_err))
            .await?,
    ))
}

/// A new user (or a new password and role for one).
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserBody {
    /// User name.
    name: String,
    /// Password (12 characters or more).
    password: String,
    /// Role: cert-analyst, trust-analyst, privacy-officer, admin.
    role: String,
    /// Tenant (trust analysts: required; privacy officers: optional).
    #[serde(default)]
    tenant: String,
}

/// Adds a user (or sets a user's password, role and tenant).
#[utoipa::path(post, path = "/api/v1/users", tag = "admin", request_body = UserBody,
    responses(
        (status = 201, description = "Made", body = Object),
        (status = 400, description = "A bad name, password, role or tenant", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn user_add(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    J(b): J<UserBody>,
) -> Result<Response, ApiError> {
    require(&who, Need::Administer)?;
    let db = api.db.clone();
    let (name, role, tenant) = (b.name.clone(), b.role.clone(), b.tenant.clone());
    blocking(move || {
        let c = db.connect().map_err(db_err)?;
        crate::auth::add_user(&c, &b.name, &b.password, &b.role, &b.tenant)
            .map_err(ApiError::bad_request)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        json(serde_json::json!({"name": name, "role": role, "tenant": tenant})),
    )
        .into_response())
}

/// Disables a user and ends its sessions.
#[utoipa::path(delete, path = "/api/v1/users/{name}", tag = "admin",
    params(("name" = String, Path, description = "User name")),
    responses(
        (status = 204, description = "Disabled"),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn user_disable(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    require(&who, Need::Administer)?;
    let db = api.db.clone();
    let done = blocking(move || {
        crate::auth::disable_user(&db.connect().map_err(db_err)?, &name).map_err(db_err)
    })
    .await?;
    if done {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("no such user"))
    }
}

/// A token as listed (never its secret).
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct TokenInfo {
    /// Its public id.
    id: String,
    /// Role.
    role: String,
    /// Tenant (empty: every tenant).
    tenant: String,
    /// Who holds it.
    label: String,
    /// When it stops working (RFC 3339), if ever.
    expires: Option<String>,
}

/// Every token that works (not revoked; expired ones say so by `expires`).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin",
    responses(
        (status = 200, description = "Tokens", body = Vec<TokenInfo>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn tokens(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    require(&who, Need::Administer)?;
    let a = api.clone();
    let list = blocking(move || Ok(a.ingest.tokens.list())).await?;
    Ok(json(
        list.into_iter()
            .map(|g| TokenInfo {
                id: g.id,
                role: g.role,
                tenant: g.tenant,
                label: g.label,
                expires: g.expires.map(|t| vakt_core::Timestamp(t).to_rfc3339()),
            })
            .collect::<Vec<_>>(),
    ))
}

/// A new token.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenBody {
    /// Role: ingest, cert-analyst, trust-analyst, privacy-officer, admin.
    role: String,
    /// Tenant (ingest and trust analysts: required).
    #[serde(default)]
    tenant: String,
    /// Who holds it.
    #[serde(default)]
    label: String,
    /// Days until it stops working (default: never).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    expires_days: Option<u32>,
}

/// Makes a token: its secret is in this answer and never again.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = TokenBody,
    responses(
        (status = 201, description = "`token` (the secret, shown once) and `id`", body = Object),
        (status = 400, description = "A bad role or tenant", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn token_add(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    J(b): J<TokenBody>,
) -> Result<Response, ApiError> {
    require(&who, Need::Administer)?;
    let expires = match b.expires_days {
        Some(d @ 1..=3650) => Some(
            crate::now()
                .0
                .saturating_add(i64::from(d) * 86_400_000_000_000),
        ),
        Some(_) => return Err(ApiError::bad_request("expires_days is 1 to 3650")),
        None => None,
    };
    let a = api.clone();
    let (token, id) = blocking(move || {
        a.ingest
            .tokens
            .create(&b.tenant, &b.role, &b.label, expires)
            .map_err(ApiError::bad_request)
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        json(serde_json::json!({"token": token, "id": id})),
    )
        .into_response())
}

/// Revokes a token.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin",
    params(("id" = String, Path, description = "The token's public id (`tok-…`)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn token_revoke(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    require(&who, Need::Administer)?;
    let a = api.clone();
    let done = blocking(move || a.ingest.tokens.revoke(&id).map_err(ApiError::internal)).await?;
    if done {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("no such token"))
    }
}

/// An audit trail query.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// After this record number.
    after: Option<u64>,
    /// From this time (RFC 3339).
    from: Option<String>,
    /// Before this time (RFC 3339).
    to: Option<String>,
    /// By this person.
    who: Option<String>,
    /// This action (`read`, `change`, `sign-in`, `reveal`, `refused`).
    action: Option<String>,
    /// On this tenant.
    tenant: Option<String>,
    /// At most this many (1–10000, default 1000).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
}

/// The audit trail, oldest first (admins only).
#[utoipa::path(get, path = "/api/v1/audit", tag = "admin", params(AuditParams),
    responses(
        (status = 200, description = "Records", body = Vec<AuditRecord>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ))]
pub async fn audit(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<AuditParams>,
) -> Result<Response, ApiError> {
    require(&who, Need::Administer)?;
    let q = AuditQuery {
        after: p.after,
        from: p.from,
        to: p.to,
        who: p.who,
        action: p.action,
        tenant: p.tenant,
        mentions: None,
        limit: p.limit.unwrap_or(1000),
    };
    let a = api.clone();
    Ok(json(
        blocking(move || a.audit.query(&q).map_err(ApiError::internal)).await?,
    ))
}
