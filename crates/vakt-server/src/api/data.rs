//! Events, alerts, incidents (scope, report, notification list) and the
//! reveal of a pseudonym.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use vakt_core::{Severity, Timestamp};

use super::{Api, ApiError, AuditNote, ErrorBody, J, Object, Q, blocking, json};
use crate::access::{AlertSearch, EventSearch, Need, Triage};
use crate::auth::Principal;

pub(super) fn time(t: &Option<String>, what: &str) -> Result<Option<i64>, ApiError> {
    t.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            Timestamp::parse(s)
                .map(|t| t.0)
                .map_err(|_| ApiError::bad_request(format!("`{what}` is not a time (RFC 3339)")))
        })
        .transpose()
}

fn severity(s: &Option<String>) -> Result<Option<Severity>, ApiError> {
    match s.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            let v = Severity::from_level(s);
            if v.name() == s.to_ascii_lowercase() {
                Ok(Some(v))
            } else {
                Err(ApiError::bad_request(
                    "severity is informational, low, medium, high or critical",
                ))
            }
        }
    }
}

/// A page of results.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PageBody {
    /// The results.
    items: Vec<Object>,
    /// The cursor of the next page (absent: no more).
    next: Option<String>,
}

/// An event search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventParams {
    /// Only this tenant's (a trust's own staff: their own only).
    tenant: Option<String>,
    /// From this time (RFC 3339, inclusive).
    from: Option<String>,
    /// Before this time (RFC 3339).
    to: Option<String>,
    /// Source kind (`zeek:conn`), or a family (`evtx:*`).
    source: Option<String>,
    /// `field=value` (common or native field, e.g. `src_ip=10.1.2.3`,
    /// `EventID=4624`); repeat for several (all must hold).
    #[param(explode = true)]
    #[serde(default)]
    filter: Vec<String>,
    /// At most this many (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Where the previous page ended (its `next`).
    cursor: Option<String>,
}

/// Searches stored events, oldest first, a page at a time.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", params(EventParams),
    responses(
        (status = 200, description = "Events (`id` names each; `common` and `fields` hold its fields)", body = PageBody),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed (another tenant, or the role)", body = ErrorBody),
    ))]
pub async fn events(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    axum::extract::RawQuery(raw): axum::extract::RawQuery,
) -> Result<Response, ApiError> {
    // Repeated `filter` keys: read the pairs in order.
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|_| ApiError::bad_request("bad query"))?;
    let mut p = EventParams {
        tenant: None,
        from: None,
        to: None,
        source: None,
        filter: Vec::new(),
        limit: None,
        cursor: None,
    };
    for (k, v) in pairs {
        match k.as_str() {
            "tenant" => p.tenant = Some(v),
            "from" => p.from = Some(v),
            "to" => p.to = Some(v),
            "source" => p.source = Some(v),
            "filter" => p.filter.push(v),
            "limit" => {
                p.limit = Some(
                    v.parse()
                        .map_err(|_| ApiError::bad_request("`limit` is a number"))?,
                )
            }
            "cursor" => p.cursor = Some(v),
            _ => {}
        }
    }
    let mut filters = Vec::new();
    for f in &p.filter {
        let (k, v) = f
            .split_once('=')
            .or_else(|| f.split_once(':'))
            .ok_or_else(|| ApiError::bad_request("a filter is `field=value`"))?;
        filters.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    let q = EventSearch {
        tenant: p.tenant,
        from: time(&p.from, "from")?,
        to: time(&p.to, "to")?,
        source: p.source,
        filters,
        limit: p.limit.unwrap_or(100),
        cursor: p.cursor,
    };
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.events(&q)).await?))
}

/// One stored event by its id (what an alert's `evidence_ids` name).
#[utoipa::path(get, path = "/api/v1/events/{id}", tag = "events",
    params(("id" = String, Path, description = "The event's id")),
    responses(
        (status = 200, description = "The event", body = Object),
        (status = 404, description = "No such event, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn event(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.event(&id)).await?))
}

/// An alert search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertParams {
    /// Only this tenant's.
    tenant: Option<String>,
    /// The detector (`sigma`, `intel`, `beacon`, `ehr-snooping`, …).
    detector: Option<String>,
    /// The rule id.
    rule: Option<String>,
    /// At least this severity.
    #[param(pattern = "^(informational|low|medium|high|critical)$")]
    severity: Option<String>,
    /// An entity: `host:ws-01`, `account:kari`, `ip:10.0.0.5`, or a bare name.
    entity: Option<String>,
    /// Triage status (`new`, `acknowledged`, …).
    status: Option<String>,
    /// First seen from (RFC 3339).
    from: Option<String>,
    /// First seen before (RFC 3339).
    to: Option<String>,
    /// At most this many (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Where the previous page ended.
    cursor: Option<String>,
}

/// Lists alerts by first seen, a page at a time.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", params(AlertParams),
    responses(
        (status = 200, description = "Alerts, each with its `status` and `evidence_ids`", body = PageBody),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn alerts(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<AlertParams>,
) -> Result<Response, ApiError> {
    let q = AlertSearch {
        tenant: p.tenant,
        detector: p.detector,
        rule: p.rule,
        severity: severity(&p.severity)?,
        entity: p.entity,
        status: p.status,
        from: time(&p.from, "from")?,
        to: time(&p.to, "to")?,
        limit: p.limit.unwrap_or(100),
        cursor: p.cursor,
    };
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.alerts(&q)).await?))
}

/// One alert, with its evidence events.
#[utoipa::path(get, path = "/api/v1/alerts/{key}", tag = "alerts",
    params(("key" = String, Path, description = "The alert's key")),
    responses(
        (status = 200, description = "The alert with `evidence_events`", body = Object),
        (status = 404, description = "No such alert, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn alert(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.alert(&key)).await?))
}

/// A triage decision.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TriageBody {
    /// `new`, `acknowledged`, `in-progress`, `true-positive`, `false-positive`, `benign`, `closed`.
    status: String,
    /// Why.
    #[serde(default)]
    note: String,
}

/// Sets an alert's triage status (kept with who and when; audited).
#[utoipa::path(put, path = "/api/v1/alerts/{key}/status", tag = "alerts",
    params(("key" = String, Path, description = "The alert's key")),
    request_body = TriageBody,
    responses(
        (status = 200, description = "The status now", body = Triage),
        (status = 400, description = "An unknown status", body = ErrorBody),
        (status = 404, description = "No such alert, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn triage(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(key): Path<String>,
    J(body): J<TriageBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Triage)?;
    Ok(json(
        blocking(move || view.triage(&key, &body.status, &body.note)).await?,
    ))
}

/// An incident search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IncidentParams {
    /// Only this tenant's.
    tenant: Option<String>,
    /// At least this severity.
    #[param(pattern = "^(informational|low|medium|high|critical)$")]
    severity: Option<String>,
    /// Only this queue's: `cert` (intrusions and everything but EHR
    /// conduct) or `privacy` (EHR conduct with no intrusion joined: the
    /// privacy office's cases).
    #[param(pattern = "^(cert|privacy)$")]
    queue: Option<String>,
    /// At most this many (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Lists incidents, most severe and newest first.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentParams),
    responses(
        (status = 200, description = "Incidents (summary)", body = Vec<Object>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn incidents(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<IncidentParams>,
) -> Result<Response, ApiError> {
    let min = severity(&p.severity)?;
    if let Some(q) = &p.queue
        && q != "cert"
        && q != "privacy"
    {
        return Err(ApiError::bad_request(format!(
            "queue: {q:?} is neither \"cert\" nor \"privacy\""
        )));
    }
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(
        blocking(move || {
            view.incidents(
                p.tenant.as_deref(),
                min,
                p.queue.as_deref(),
                p.limit.unwrap_or(100),
            )
        })
        .await?,
    ))
}

/// One incident: entity graph (`nodes`, `edges`), ATT&CK `stages`,
/// `timeline`, `patient_zero`, its alerts.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The incident", body = Object),
        (status = 404, description = "No such incident, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn incident(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.incident(&id)).await?))
}

/// How to scope.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ScopeBody {
    /// The end of the window (containment; RFC 3339); default: the end of the stored history.
    #[serde(default)]
    until: Option<String>,
}

/// Scopes an incident now: the patients confirmed and possibly exposed, by
/// county, trust and category, and the notification clocks. Kept as the
/// incident's scope.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/scope", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    request_body(content = ScopeBody, description = "Optional: the window's end"),
    responses(
        (status = 200, description = "The scope (`confirmed`, `possible`, `by_county`, `by_trust`, `by_category`, `clocks`, `notification`: pseudonyms)", body = Object),
        (status = 400, description = "A bad time", body = ErrorBody),
        (status = 404, description = "No such incident, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn scope_run(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let b: ScopeBody = if body.iter().all(u8::is_ascii_whitespace) {
        ScopeBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("bad JSON body: {e}")))?
    };
    let until = time(&b.until, "until")?;
    let view = api.data.scoped(&who, Need::Scope)?;
    let a = api.clone();
    Ok(json(
        blocking(move || {
            let before = view.scope_kept(&id)?;
            let e = view.run_scope(&id, until)?;
            // The scope's size is told to whom the rules say (when it changed).
            if crate::respond::notify::Notice::scope_changed(before.as_ref(), &e)
                && let (Ok((i, t)), Ok(c)) = (view.incident_and_tenant(&id), view.notice_db())
            {
                a.respond
                    .notice(&c, &crate::respond::notify::Notice::scope(&i, &t, &e));
            }
            Ok(e)
        })
        .await?,
    ))
}

/// The incident's last scope (worked out now if it has none).
#[utoipa::path(get, path = "/api/v1/incidents/{id}/scope", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id")),
    responses(
        (status = 200, description = "The scope", body = Object),
        (status = 404, description = "No such incident, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn scope_get(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.scope(&id)).await?))
}

/// A report's or list's format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatParams {
    /// `json` (default), `html` (report) or `csv` (notification list).
    #[param(pattern = "^(json|html|csv)$")]
    format: Option<String>,
}

/// The incident's report: a self-contained HTML page, or JSON.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/report", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id"), FormatParams),
    responses(
        (status = 200, description = "The report", content(
            (Object = "application/json"),
            (String = "text/html"),
        )),
        (status = 400, description = "An unknown format", body = ErrorBody),
        (status = 404, description = "No such incident, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn report(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Q(f): Q<FormatParams>,
) -> Result<Response, ApiError> {
    let html = match f.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(_) => return Err(ApiError::bad_request("format is json or html")),
    };
    let view = api.data.scoped(&who, Need::Read)?;
    let text = blocking(move || view.report(&id, html)).await?;
    let kind = if html {
        "text/html; charset=utf-8"
    } else {
        "application/json"
    };
    Ok(([(header::CONTENT_TYPE, kind)], text).into_response())
}

/// The notification list: one row per patient confirmed exposed
/// (pseudonym), with the trust that must notify, county, categories.
#[utoipa::path(get, path = "/api/v1/incidents/{id}/notification", tag = "incidents",
    params(("id" = String, Path, description = "The incident's id"), FormatParams),
    responses(
        (status = 200, description = "The list", content(
            (Vec<Object> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "An unknown format", body = ErrorBody),
        (status = 404, description = "No such incident, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn notification(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Q(f): Q<FormatParams>,
) -> Result<Response, ApiError> {
    let csv = match f.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::bad_request("format is json or csv")),
    };
    let view = api.data.scoped(&who, Need::Read)?;
    let e = blocking(move || view.scope(&id)).await?;
    Ok(if csv {
        (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            vakt_incident::report::notification_csv(&e),
        )
            .into_response()
    } else {
        json(&e.notification)
    })
}

/// Why a pseudonym is revealed.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevealBody {
    /// Why (kept in the audit trail): what it is for, which case.
    reason: String,
    /// The tenant the pseudonym is of (default: your own).
    #[serde(default)]
    tenant: Option<String>,
}

/// Reveals the identity number behind a pseudonym — privacy officers only,
/// with a reason; every reveal, granted or not, is in the audit trail.
#[utoipa::path(post, path = "/api/v1/patients/{pseudonym}/reveal", tag = "patients",
    params(("pseudonym" = String, Path, description = "The pseudonym (`pt-…`)")),
    request_body = RevealBody,
    responses(
        (status = 200, description = "`identity_number` (else `record_id`)", body = Object),
        (status = 400, description = "No reason, or no tenant", body = ErrorBody),
        (status = 404, description = "Unknown pseudonym", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not a privacy officer, or another tenant", body = ErrorBody),
    ))]
pub async fn reveal(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(pseudonym): Path<String>,
    J(body): J<RevealBody>,
) -> Response {
    let note = AuditNote {
        action: "reveal",
        detail: format!(
            "reason: {}",
            body.reason.chars().take(500).collect::<String>()
        ),
        tenant: body
            .tenant
            .clone()
            .or_else(|| who.tenant.clone())
            .unwrap_or_default(),
    };
    let answer = async {
        let view = api.data.scoped(&who, Need::Reveal)?;
        blocking(move || view.reveal(&pseudonym, body.tenant.as_deref(), &body.reason)).await
    }
    .await;
    let mut r = match answer {
        Ok(v) => json(v),
        Err(e) => e.into_response(),
    };
    r.extensions_mut().insert(note);
    r
}
