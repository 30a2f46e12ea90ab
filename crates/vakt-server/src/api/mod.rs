//! The REST API under `/api/v1`: what the service knows, to the right
//! people only.
//!
//! Every request but the OpenAPI document and sign-in passes [`guard`]:
//! it finds the principal (an API token, or a session from signing in),
//! refuses the `ingest` role (it writes only), runs the handler, and
//! appends the request — who, in which role, on which tenant, what, and how
//! it went — to the hash-chained audit trail; if the trail cannot be
//! written nothing is served. Handlers reach data only through
//! [`crate::access::Scoped`], which applies the principal's tenant to every
//! row. The OpenAPI 3.1 document at `/api/v1/openapi.json` is generated
//! from the handlers' annotations and the types (utoipa), so it cannot
//! drift from the code.

mod data;
mod respond;
mod service;
mod taxii;
mod views;

use std::path::PathBuf;
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{Modify, OpenApi, ToSchema};
use vakt_core::Detector;

use crate::access::Data;
use crate::audit::{Act, AuditTrail};
use crate::auth::{Principal, Role};
use crate::http::State as Ingest;

/// Where new detectors go (the detect thread).
pub type Reload = Sender<Vec<Box<dyn Detector>>>;

/// What the API serves from.
pub struct Api {
    /// The data, through scoped views only.
    pub data: Arc<Data>,
    /// The audit trail.
    pub audit: Arc<AuditTrail>,
    /// Cases, notifications, sharing.
    pub respond: Arc<crate::respond::Respond>,
    /// The ingest side (tokens, metrics, readiness).
    pub ingest: Arc<Ingest>,
    /// The database (users and sessions).
    pub db: crate::sql::Database,
    /// The rules, to list, check and reload.
    pub rules: Option<Arc<dyn RuleSource>>,
    /// New detectors for the detect thread (a rules reload).
    /// (`None`: the detectors run elsewhere — a cluster's workers.)
    pub reload: Option<Mutex<Reload>>,
    /// The detectors and their settings.
    pub detectors: serde_json::Value,
    /// The data folder's `intel/`.
    pub intel_dir: PathBuf,
    /// The retro-hunts asked for.
    pub hunts: Arc<Mutex<crate::intel::Hunts>>,
    /// When the service started.
    pub started: Instant,
    /// How long a session lasts.
    pub session_hours: u32,
    /// OpenID Connect sign-in, if configured.
    pub oidc: Option<crate::oidc::Oidc>,
}

/// The rules the service runs: listed, checked, loaded again.
pub trait RuleSource: Send + Sync {
    /// The rules loaded now.
    fn list(&self) -> Vec<RuleInfo>;
    /// What `vakt rules check` says of them.
    fn check(&self) -> serde_json::Value;
    /// Loads the rules again from where they came from: the detectors to
    /// replace (by name), and how many rules were loaded.
    fn reload(&self) -> Result<(Vec<Box<dyn Detector>>, usize), String>;
}

/// A rule as listed.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct RuleInfo {
    /// Its id (the Sigma id, else the title).
    pub id: String,
    /// Title.
    pub title: String,
    /// Level.
    pub level: Option<String>,
    /// Status.
    pub status: Option<String>,
    /// Tags (ATT&CK).
    pub tags: Vec<String>,
    /// `product/category/service`.
    pub logsource: String,
    /// The file it came from.
    pub file: String,
}

/// An error answer: what went wrong, for a person.
#[derive(Debug, Clone, serde::Serialize, ToSchema)]
pub struct ErrorBody {
    /// Why.
    pub error: String,
}

/// An error of the API.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// Why (never a clear patient identifier, never the input echoed).
    pub message: String,
}

impl ApiError {
    /// An error of any status.
    pub fn new_status(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::new(status, message)
    }
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    /// 400.
    pub fn bad_request(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, m)
    }
    /// 403.
    pub fn forbidden(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, m)
    }
    /// 404.
    pub fn not_found(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, m)
    }
    /// 500.
    pub fn internal(m: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, m)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"vakt\""),
            );
        }
        r
    }
}

/// Query parameters, refused as JSON errors.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(q)
            .map(Q)
            .map_err(|e| ApiError::bad_request(format!("bad query: {e}")))
    }
}

/// A JSON body, refused as JSON errors.
pub struct J<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for J<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, s: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, s)
            .await
            .map_err(|_| ApiError::bad_request("the body could not be read"))?;
        serde_json::from_slice(&bytes)
            .map(J)
            .map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))
    }
}

/// A detail the audit record of a request should carry (a reveal's reason).
#[derive(Debug, Clone)]
pub struct AuditNote {
    /// The action (`reveal`).
    pub action: &'static str,
    /// The detail.
    pub detail: String,
    /// The tenant acted on.
    pub tenant: String,
}

/// Any JSON object (its fields are described in the operation's text).
pub struct Object;

impl utoipa::PartialSchema for Object {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new().schema_type(Type::Object).into()
    }
}

impl ToSchema for Object {}

/// Any JSON value (an object or an array, per the operation's text).
pub struct AnyJson;

impl utoipa::PartialSchema for AnyJson {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::AnyValue)
            .into()
    }
}

impl ToSchema for AnyJson {}

/// A JSON answer.
pub fn json(v: impl serde::Serialize) -> Response {
    axum::Json(v).into_response()
}

/// A database failure: logged for the operator, a 500 for the client.
pub fn db_err(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(target: "vakt::api", "database: {e}");
    ApiError::internal("the database could not be used")
}

/// Runs blocking work (SQLite, the store) off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ApiError::internal("the request failed"))?
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    if let Some(a) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return Some(a.to_owned());
    }
    let cookies = headers.get(header::COOKIE)?.to_str().ok()?;
    cookies.split(';').find_map(|c| {
        c.trim()
            .strip_prefix("vakt_session=")
            .map(|s| format!("Bearer {s}"))
    })
}

/// Who the request acts as, if anyone.
pub(crate) fn principal(api: &Api, headers: &HeaderMap) -> Option<Principal> {
    let auth = bearer(headers)?;
    if let Some(secret) = auth
        .trim()
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|s| s.starts_with("vakts_"))
    {
        let c = api.db.connect().ok()?;
        return crate::auth::session(&c, secret);
    }
    crate::auth::token_principal(&api.ingest.tokens, &auth)
}

/// Query text for the audit trail, with any run of 11 digits (the shape of
/// an identity number) masked: a search may name one; the trail must not.
pub(crate) fn masked(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    let mut digits = String::new();
    let flush = |d: &mut String, out: &mut String| {
        if d.len() == 11 {
            out.push_str("[11 digits]");
        } else {
            out.push_str(d);
        }
        d.clear();
    };
    for ch in q.chars() {
        if ch.is_ascii_digit() {
            digits.push(ch);
        } else {
            flush(&mut digits, &mut out);
            out.push(ch);
        }
    }
    flush(&mut digits, &mut out);
    out
}

fn query_tenant(q: Option<&str>) -> Option<String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(q?).ok()?;
    pairs
        .into_iter()
        .find(|(k, _)| k == "tenant")
        .map(|(_, v)| v)
}

/// Authenticates, runs the handler, audits. See the module's text.
pub async fn guard(State(api): State<Arc<Api>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if matches!(
        path.as_str(),
        "/api/v1/openapi.json"
            | "/api/v1/auth/login"
            | "/api/v1/auth/once"
            | "/api/v1/auth/session"
            | "/api/v1/auth/oidc/login"
            | "/api/v1/auth/oidc/callback"
    ) {
        return next.run(req).await;
    }
    let object = match req.uri().query() {
        Some(q) => format!("{} {path}?{}", req.method(), masked(q)),
        None => format!("{} {path}", req.method()),
    };
    let asked_tenant = query_tenant(req.uri().query());
    let action = if req.method() == axum::http::Method::GET {
        "read"
    } else {
        "change"
    };
    // Off the async threads: the session is looked up in the database.
    let who = {
        let (a, h) = (api.clone(), req.headers().clone());
        tokio::task::spawn_blocking(move || principal(&a, &h))
            .await
            .unwrap_or(None)
    };
    let (response, act) = match who {
        None => (
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "sign in: Authorization: Bearer <API token or session>",
            )
            .into_response(),
            Act {
                who: "anonymous".into(),
                action: "refused".into(),
                ..Act::default()
            },
        ),
        Some(p) if p.role == Role::Ingest => (
            ApiError::forbidden("an ingest token sends events; it reads nothing").into_response(),
            Act {
                who: p.who.clone(),
                role: p.role.name().into(),
                tenant: p.tenant.clone().unwrap_or_default(),
                action: "refused".into(),
                ..Act::default()
            },
        ),
        Some(p) => {
            let act = Act {
                who: p.who.clone(),
                role: p.role.name().into(),
                tenant: asked_tenant
                    .or_else(|| p.tenant.clone())
                    .unwrap_or_default(),
                action: action.into(),
                ..Act::default()
            };
            req.extensions_mut().insert(p);
            (next.run(req).await, act)
        }
    };
    let note = response.extensions().get::<AuditNote>().cloned();
    let mut act = Act {
        object,
        outcome: response.status().as_u16().to_string(),
        ..act
    };
    if let Some(n) = note {
        act.action = n.action.into();
        act.detail = n.detail;
        act.tenant = n.tenant;
    }
    let audit = api.clone();
    match blocking(move || audit.audit.append(act).map_err(ApiError::internal)).await {
        Ok(_) => response,
        Err(e) => {
            tracing::error!(target: "vakt::audit", "{}", e.message);
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the audit trail cannot be written: nothing is served until it can",
            )
            .into_response()
        }
    }
}

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`vakt token create`, or POST /api/v1/tokens) or a session from POST /api/v1/auth/login",
                    ))
                    .build(),
            ),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("vakt_session"))),
        );
    }
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "vakt API",
        description = "What vakt serve knows — events, alerts, incidents and their scope, intelligence, rules — to the right people only. Every request is in the audit trail; patients appear only as pseudonyms.",
        license(name = "Apache-2.0")
    ),
    servers((url = "/")),
    paths(
        data::events, data::event, data::alerts, data::alert, data::triage,
        data::incidents, data::incident, data::scope_run, data::scope_get, data::report,
        data::notification, data::reveal,
        service::status, service::tenants, service::me, service::login, service::once, service::session, service::logout,
        service::oidc_login, service::oidc_callback,
        service::rules, service::rules_check, service::rules_reload, service::detectors,
        service::intel_list, service::intel_add, service::hunts, service::hunt,
        service::sightings, service::users, service::user_add, service::user_disable,
        service::tokens, service::token_add, service::token_revoke, service::audit,
        respond::cases, respond::case_open, respond::case, respond::case_update,
        respond::case_note, respond::case_task_add, respond::case_task,
        respond::case_observable, respond::case_link, respond::case_clock_add,
        respond::case_clock_met, respond::case_template, respond::case_merge,
        respond::case_split, respond::case_audit, respond::case_scope,
        respond::case_containment, respond::case_contain, respond::case_misp,
        respond::templates, respond::template_add, respond::exceptions,
        respond::exception_add, respond::exception_revoke, respond::deliveries,
        respond::delivery_retry, respond::notify_settings,
        taxii::discovery, taxii::api_root, taxii::collections, taxii::collection_get,
        taxii::objects_get, taxii::manifest,
        views::hunt_history, views::alert_stats, views::ingest_stats, views::ehr_accesses,
    ),
    modifiers(&Security),
    security(("bearer" = []), ("session" = [])),
    tags(
        (name = "events", description = "Stored events"),
        (name = "alerts", description = "Alerts of every detector, and their triage"),
        (name = "incidents", description = "Incidents, their scope, report and notification list"),
        (name = "patients", description = "The audited reveal of a pseudonym"),
        (name = "cases", description = "Cases, templates, clocks, containment, notifications"),
        (name = "taxii", description = "TAXII 2.1: the CERT's indicators and sightings"),
        (name = "intel", description = "Indicators, retro-hunts and sightings"),
        (name = "rules", description = "Rules and detectors"),
        (name = "service", description = "Status, sign-in"),
        (name = "admin", description = "Users, tokens, the audit trail"),
    )
)]
pub struct ApiDoc;

/// The document as served.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

/// The routes under `/api/v1` (the ingest path `/api/v1/ingest` is the
/// ingest side's).
pub fn router(api: Arc<Api>) -> Router {
    let doc = Arc::new(openapi_json());
    Router::new()
        .route(
            "/api/v1/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], (*doc).clone()) }
            }),
        )
        .route("/api/v1/events", get(data::events))
        .route("/api/v1/events/{id}", get(data::event))
        .route("/api/v1/hunt", post(views::hunt_history))
        .route("/api/v1/stats/alerts", get(views::alert_stats))
        .route("/api/v1/stats/ingest", get(views::ingest_stats))
        .route("/api/v1/ehr/accesses", get(views::ehr_accesses))
        .route("/api/v1/alerts", get(data::alerts))
        .route("/api/v1/alerts/{key}", get(data::alert))
        .route("/api/v1/alerts/{key}/status", put(data::triage))
        .route("/api/v1/incidents", get(data::incidents))
        .route("/api/v1/incidents/{id}", get(data::incident))
        .route(
            "/api/v1/incidents/{id}/scope",
            get(data::scope_get).post(data::scope_run),
        )
        .route("/api/v1/incidents/{id}/report", get(data::report))
        .route(
            "/api/v1/incidents/{id}/notification",
            get(data::notification),
        )
        .route("/api/v1/patients/{pseudonym}/reveal", post(data::reveal))
        .route("/api/v1/status", get(service::status))
        .route("/api/v1/tenants", get(service::tenants))
        .route("/api/v1/auth/me", get(service::me))
        .route("/api/v1/auth/login", post(service::login))
        .route("/api/v1/auth/once", get(service::once))
        .route("/api/v1/auth/session", get(service::session))
        .route("/api/v1/auth/logout", post(service::logout))
        .route("/api/v1/auth/oidc/login", get(service::oidc_login))
        .route("/api/v1/auth/oidc/callback", get(service::oidc_callback))
        .route("/api/v1/rules", get(service::rules))
        .route("/api/v1/rules/check", get(service::rules_check))
        .route("/api/v1/rules/reload", post(service::rules_reload))
        .route("/api/v1/detectors", get(service::detectors))
        .route(
            "/api/v1/intel",
            get(service::intel_list).post(service::intel_add),
        )
        .route("/api/v1/intel/hunts", get(service::hunts))
        .route("/api/v1/intel/hunts/{id}", get(service::hunt))
        .route("/api/v1/intel/sightings", get(service::sightings))
        .route("/api/v1/users", get(service::users).post(service::user_add))
        .route(
            "/api/v1/users/{name}",
            axum::routing::delete(service::user_disable),
        )
        .route(
            "/api/v1/tokens",
            get(service::tokens).post(service::token_add),
        )
        .route(
            "/api/v1/tokens/{id}",
            axum::routing::delete(service::token_revoke),
        )
        .route("/api/v1/audit", get(service::audit))
        .route(
            "/api/v1/cases",
            get(respond::cases).post(respond::case_open),
        )
        .route(
            "/api/v1/cases/{id}",
            get(respond::case).patch(respond::case_update),
        )
        .route("/api/v1/cases/{id}/notes", post(respond::case_note))
        .route("/api/v1/cases/{id}/tasks", post(respond::case_task_add))
        .route(
            "/api/v1/cases/{id}/tasks/{item}",
            axum::routing::patch(respond::case_task),
        )
        .route(
            "/api/v1/cases/{id}/observables",
            post(respond::case_observable),
        )
        .route("/api/v1/cases/{id}/links", post(respond::case_link))
        .route("/api/v1/cases/{id}/clocks", post(respond::case_clock_add))
        .route(
            "/api/v1/cases/{id}/clocks/{item}/met",
            post(respond::case_clock_met),
        )
        .route("/api/v1/cases/{id}/template", post(respond::case_template))
        .route("/api/v1/cases/{id}/merge", post(respond::case_merge))
        .route("/api/v1/cases/{id}/split", post(respond::case_split))
        .route("/api/v1/cases/{id}/audit", get(respond::case_audit))
        .route("/api/v1/cases/{id}/scope", post(respond::case_scope))
        .route(
            "/api/v1/cases/{id}/containment",
            get(respond::case_containment).post(respond::case_contain),
        )
        .route("/api/v1/cases/{id}/misp", get(respond::case_misp))
        .route(
            "/api/v1/templates",
            get(respond::templates).post(respond::template_add),
        )
        .route(
            "/api/v1/exceptions",
            get(respond::exceptions).post(respond::exception_add),
        )
        .route(
            "/api/v1/exceptions/{id}",
            axum::routing::delete(respond::exception_revoke),
        )
        .route("/api/v1/deliveries", get(respond::deliveries))
        .route(
            "/api/v1/deliveries/{id}/retry",
            post(respond::delivery_retry),
        )
        .route("/api/v1/notify", get(respond::notify_settings))
        .route("/taxii2/", get(taxii::discovery))
        .route("/taxii2/api/", get(taxii::api_root))
        .route("/taxii2/api/collections/", get(taxii::collections))
        .route("/taxii2/api/collections/{id}/", get(taxii::collection_get))
        .route(
            "/taxii2/api/collections/{id}/objects/",
            get(taxii::objects_get),
        )
        .route(
            "/taxii2/api/collections/{id}/manifest/",
            get(taxii::manifest),
        )
        .fallback(|| async { ApiError::not_found("no such endpoint").into_response() })
        .layer(axum::middleware::from_fn_with_state(api.clone(), guard))
        .layer(axum::extract::DefaultBodyLimit::max(16 << 20))
        .with_state(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_number_shapes_are_masked_in_the_trail() {
        assert_eq!(
            masked("filter=patient.uid:01018012345&limit=10"),
            "filter=patient.uid:[11 digits]&limit=10"
        );
        assert_eq!(masked("limit=100&from=2018"), "limit=100&from=2018");
    }

    #[test]
    fn the_document_is_openapi_3_1_with_every_path() {
        let doc: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 25, "{}", paths.len());
        assert!(paths.contains_key("/api/v1/patients/{pseudonym}/reveal"));
    }
}
