//! Cases, templates, exceptions, deliveries and containment: the API of
//! [`crate::respond`]. Every change answers with what it did, and that
//! text is the audit record's detail.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{Api, ApiError, AuditNote, ErrorBody, J, Q, blocking, json};
use crate::access::respond::OpenCase;
use crate::access::{Need, Scoped};
use crate::auth::Principal;
use crate::respond::audit_detail;
use crate::respond::cases::{self, Case, CaseError, TaskChange};
use crate::respond::exceptions::{Exception, NewException};
use crate::respond::notify::{Delivery, Notice};
use crate::respond::templates::Template;

/// The answer to a change: the body, and the audit note naming the case.
fn changed(
    status: StatusCode,
    body: impl serde::Serialize,
    tenant: &str,
    what: String,
) -> Response {
    let mut r = (status, json(body)).into_response();
    r.extensions_mut().insert(AuditNote {
        action: "change",
        detail: audit_detail(&what),
        tenant: tenant.to_owned(),
    });
    r
}

/// [`changed`] for a case (its tenant on the audit record).
fn case_changed(status: StatusCode, case: Case, what: String) -> Response {
    let tenant = case.tenant.clone();
    changed(status, case, &tenant, what)
}

fn notice(api: &Arc<Api>, view: &Scoped, n: &Notice) {
    if let Ok(c) = view.notice_db() {
        api.respond.notice(&c, n);
    }
}

/// A case search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseParams {
    /// Only this tenant's.
    tenant: Option<String>,
    /// Only cases with this status.
    #[param(pattern = "^(new|triage|contained|eradicated|recovered|closed)$")]
    status: Option<String>,
    /// At most this many (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Lists cases, newest first.
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(CaseParams),
    responses(
        (status = 200, description = "Cases", body = Vec<Case>),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn cases(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<CaseParams>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(
        blocking(move || {
            view.cases(
                p.tenant.as_deref().filter(|t| !t.is_empty()),
                p.status.as_deref().filter(|t| !t.is_empty()),
                p.limit.unwrap_or(100),
            )
        })
        .await?,
    ))
}

/// Opens a case from an incident (its alerts, entities and indicators
/// taken over) or by hand; a template adds its tasks and clocks.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = OpenCase,
    responses(
        (status = 201, description = "The case", body = Case),
        (status = 400, description = "A bad request", body = ErrorBody),
        (status = 404, description = "No such incident or template, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_open(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    J(body): J<OpenCase>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let a = api.clone();
    blocking(move || {
        let template = match body.template.as_deref().filter(|t| !t.is_empty()) {
            Some(name) => Some(
                view.templates(&a.respond.templates_dir)?
                    .into_iter()
                    .find(|t| t.name == name)
                    .ok_or_else(|| ApiError::not_found(format!("no template `{name}`")))?,
            ),
            None => None,
        };
        let case = view.case_open(body, template)?;
        let what = format!(
            "case {} opened: {}",
            case.id,
            case.history
                .iter()
                .map(|h| h.what.as_str())
                .collect::<Vec<_>>()
                .join("; ")
        );
        notice(&a, &view, &Notice::case(&case, "opened"));
        let tenant = case.tenant.clone();
        Ok(changed(StatusCode::CREATED, case, &tenant, what))
    })
    .await
}

/// One case: status, tasks, notes, observables, clocks (with their state
/// now), containment requests, links and history.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.case(&id)).await?))
}

/// A change of a case's fields or status.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseUpdate {
    /// `new`, `triage`, `contained`, `eradicated`, `recovered`, `closed`:
    /// forward; back only with a `reason`; `closed` needs a `resolution`
    /// and every task done or skipped. Reaching `contained` records the
    /// containment time (`at`, default now), which closes the scope window.
    #[serde(default)]
    status: Option<String>,
    /// Why (going back, or any change).
    #[serde(default)]
    reason: Option<String>,
    /// `true-positive`, `false-positive`, `benign`, `duplicate` (closing).
    #[serde(default)]
    resolution: Option<String>,
    /// When the status change happened (RFC 3339; default now).
    #[serde(default)]
    at: Option<String>,
    /// Title.
    #[serde(default)]
    title: Option<String>,
    /// Description.
    #[serde(default)]
    description: Option<String>,
    /// Assignee.
    #[serde(default)]
    assignee: Option<String>,
    /// Severity.
    #[serde(default)]
    severity: Option<String>,
    /// TLP.
    #[serde(default)]
    tlp: Option<String>,
    /// PAP.
    #[serde(default)]
    pap: Option<String>,
    /// Tags (replace).
    #[serde(default)]
    tags: Option<Vec<String>>,
    /// Custom fields (merged; a null removes one).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    fields: Option<BTreeMap<String, serde_json::Value>>,
}

fn apply_update(k: &mut Case, u: CaseUpdate) -> Result<String, CaseError> {
    let mut said = Vec::new();
    if let Some(t) = u.title {
        let t = t.trim().to_owned();
        if t.is_empty() {
            return Err(CaseError::Bad("the title is empty".into()));
        }
        k.title = t.chars().take(300).collect();
        said.push("title".to_owned());
    }
    if let Some(d) = u.description {
        k.description = d.chars().take(20_000).collect();
        said.push("description".into());
    }
    if let Some(a) = u.assignee {
        said.push(format!("assignee {a}"));
        k.assignee = Some(a).filter(|a| !a.trim().is_empty());
    }
    if let Some(s) = u.severity {
        k.severity = cases::severity(&s)?;
        said.push(format!("severity {}", k.severity.name()));
    }
    if let Some(t) = u.tlp {
        k.tlp = cases::tlp(&t)?;
        said.push(format!("TLP {}", k.tlp));
    }
    if let Some(p) = u.pap {
        k.pap = cases::pap(&p)?;
        said.push(format!("PAP {}", k.pap));
    }
    if let Some(t) = u.tags {
        k.tags = t
            .into_iter()
            .filter(|t| !t.trim().is_empty())
            .take(50)
            .collect();
        said.push(format!("tags {}", k.tags.join(", ")));
    }
    if let Some(f) = u.fields {
        for (name, v) in f {
            if v.is_null() {
                k.fields.remove(&name);
            } else {
                k.fields.insert(name.clone(), v);
            }
            said.push(format!("field {name}"));
        }
        if k.fields.len() > 100 {
            return Err(CaseError::Bad("at most 100 custom fields".into()));
        }
    }
    if let Some(s) = u.status {
        let at = u.at.as_deref().map(cases::parse_time).transpose()?;
        said.push(cases::set_status(
            k,
            &s,
            u.reason.as_deref(),
            u.resolution.as_deref(),
            at,
        )?);
    } else if let Some(r) = u.reason.as_deref().filter(|r| !r.trim().is_empty()) {
        said.push(format!("({r})"));
    }
    if said.is_empty() {
        return Err(CaseError::Bad("nothing to change".into()));
    }
    Ok(said.join(", "))
}

/// Changes a case: fields, or its status along the workflow.
#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    request_body = CaseUpdate,
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 400, description = "A bad value", body = ErrorBody),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 409, description = "Not now (open tasks, going back without a reason, merged)", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_update(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(body): J<CaseUpdate>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let a = api.clone();
    blocking(move || {
        let status_change = body.status.is_some();
        let (case, what) = view.case_change(&id, |k| apply_update(k, body))?;
        if status_change {
            notice(&a, &view, &Notice::case(&case, &what));
        }
        Ok(case_changed(
            StatusCode::OK,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// A note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The text.
    text: String,
}

/// Adds a note.
#[utoipa::path(post, path = "/api/v1/cases/{id}/notes", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    request_body = NoteBody,
    responses(
        (status = 201, description = "The case", body = Case),
        (status = 400, description = "An empty note", body = ErrorBody),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 409, description = "The case was merged", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_note(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(body): J<NoteBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let by = who.who.clone();
    blocking(move || {
        let (case, what) = view.case_change(&id, |k| cases::add_note(k, &by, &body.text))?;
        Ok(case_changed(
            StatusCode::CREATED,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// A new task.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskBody {
    /// What to do.
    title: String,
    /// How.
    #[serde(default)]
    description: String,
    /// Who does it.
    #[serde(default)]
    owner: Option<String>,
    /// Due (RFC 3339).
    #[serde(default)]
    due: Option<String>,
}

/// Adds a task.
#[utoipa::path(post, path = "/api/v1/cases/{id}/tasks", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    request_body = TaskBody,
    responses(
        (status = 201, description = "The case", body = Case),
        (status = 400, description = "A bad task", body = ErrorBody),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 409, description = "The case was merged", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_task_add(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(b): J<TaskBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    blocking(move || {
        let (case, what) = view.case_change(&id, |k| {
            cases::add_task(k, &b.title, &b.description, b.owner, b.due.as_deref())
        })?;
        Ok(case_changed(
            StatusCode::CREATED,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// A task's change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskUpdate {
    /// `open`, `done` (meets the task's clock), `skipped` (needs a note).
    #[serde(default)]
    status: Option<String>,
    /// Who does it.
    #[serde(default)]
    owner: Option<String>,
    /// Due (RFC 3339).
    #[serde(default)]
    due: Option<String>,
    /// The result, or why it was skipped.
    #[serde(default)]
    note: Option<String>,
    /// When it was done (RFC 3339; default now).
    #[serde(default)]
    at: Option<String>,
}

/// Changes a task (done, skipped, reassigned); a task done meets its clock.
#[utoipa::path(patch, path = "/api/v1/cases/{id}/tasks/{item}", tag = "cases",
    params(("id" = String, Path, description = "The case's id"), ("item" = u32, Path, description = "The task's number")),
    request_body = TaskUpdate,
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 400, description = "A bad change", body = ErrorBody),
        (status = 404, description = "No such case or task, or not one you may see", body = ErrorBody),
        (status = 409, description = "The case was merged, or the clock is met already", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_task(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path((id, item)): Path<(String, String)>,
    J(b): J<TaskUpdate>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let item: u32 = item
        .parse()
        .map_err(|_| ApiError::not_found("no such task"))?;
    let by = who.who.clone();
    blocking(move || {
        let at =
            b.at.as_deref()
                .map(cases::parse_time)
                .transpose()
                .map_err(crate::access::respond::case_err)?;
        let (case, what) = view.case_change(&id, |k| {
            cases::change_task(
                k,
                item,
                &by,
                TaskChange {
                    status: b.status,
                    owner: b.owner,
                    due: b.due,
                    note: b.note,
                    at,
                },
            )
        })?;
        Ok(case_changed(
            StatusCode::OK,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// An observable.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservableBody {
    /// `host`, `account`, `ip`, `domain`, `url`, `md5`, `sha1`, `sha256`, `email`.
    kind: String,
    /// The value.
    value: String,
    /// Its TLP (default: the case's).
    #[serde(default)]
    tlp: Option<String>,
    /// An indicator of compromise (exported for blocking and sharing).
    #[serde(default)]
    ioc: bool,
    /// Why it is here.
    #[serde(default)]
    note: String,
}

/// Adds an observable.
#[utoipa::path(post, path = "/api/v1/cases/{id}/observables", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    request_body = ObservableBody,
    responses(
        (status = 201, description = "The case", body = Case),
        (status = 400, description = "A bad kind or value", body = ErrorBody),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 409, description = "There already, or the case was merged", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_observable(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(b): J<ObservableBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let by = who.who.clone();
    blocking(move || {
        let (case, what) = view.case_change(&id, |k| {
            cases::add_observable(k, &by, &b.kind, &b.value, b.tlp.as_deref(), b.ioc, &b.note)
        })?;
        Ok(case_changed(
            StatusCode::CREATED,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// Alerts and incidents to link.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// Alert keys.
    #[serde(default)]
    alerts: Vec<String>,
    /// Incident ids.
    #[serde(default)]
    incidents: Vec<String>,
}

/// Links alerts and incidents of the case's tenant.
#[utoipa::path(post, path = "/api/v1/cases/{id}/links", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    request_body = LinkBody,
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 400, description = "Another tenant's", body = ErrorBody),
        (status = 404, description = "No such case, alert or incident, or not one you may see", body = ErrorBody),
        (status = 409, description = "Linked already", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_link(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(b): J<LinkBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    blocking(move || {
        let (case, what) = view.case_link(&id, b.alerts, b.incidents)?;
        Ok(case_changed(
            StatusCode::OK,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// The operator's own clock.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClockBody {
    /// Its id in the case.
    id: String,
    /// What is due.
    name: String,
    /// Due this many hours after awareness.
    hours: f64,
    /// Warn this many hours before (default 6).
    #[serde(default)]
    warn_hours: Option<f64>,
}

/// Adds a clock (the operator's own), from the case's awareness.
#[utoipa::path(post, path = "/api/v1/cases/{id}/clocks", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    request_body = ClockBody,
    responses(
        (status = 201, description = "The case", body = Case),
        (status = 400, description = "A bad clock", body = ErrorBody),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 409, description = "A clock of that id is there", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_clock_add(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(b): J<ClockBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    blocking(move || {
        let spec = crate::respond::templates::ClockSpec {
            id: b.id.clone(),
            name: b.name.clone(),
            hours: Some(b.hours),
            months: None,
            warn_hours: b.warn_hours.unwrap_or(6.0),
        };
        let t = Template {
            name: "x".into(),
            description: String::new(),
            severity: None,
            tags: Vec::new(),
            clocks: vec![spec.clone()],
            tasks: Vec::new(),
            builtin: false,
        };
        t.check().map_err(ApiError::bad_request)?;
        let (case, what) = view.case_change(&id, |k| {
            if k.clocks.iter().any(|c| c.id == spec.id) {
                return Err(CaseError::Conflict(format!(
                    "a clock `{}` is there",
                    spec.id
                )));
            }
            let aware = cases::parse_time(&k.awareness)?;
            let clock = cases::make_clock(&spec, aware)?;
            let what = format!("clock {} ({}) due {}", clock.id, clock.name, clock.due);
            k.clocks.push(clock);
            Ok(what)
        })?;
        Ok(case_changed(
            StatusCode::CREATED,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// A clock met.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetBody {
    /// When (RFC 3339; default now).
    #[serde(default)]
    at: Option<String>,
}

/// Records a clock met (the notification sent, the report filed).
#[utoipa::path(post, path = "/api/v1/cases/{id}/clocks/{item}/met", tag = "cases",
    params(("id" = String, Path, description = "The case's id"), ("item" = String, Path, description = "The clock's id")),
    request_body = MetBody,
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 400, description = "A bad time", body = ErrorBody),
        (status = 404, description = "No such case or clock, or not one you may see", body = ErrorBody),
        (status = 409, description = "Met already", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_clock_met(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path((id, item)): Path<(String, String)>,
    J(b): J<MetBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let by = who.who.clone();
    blocking(move || {
        let (case, what) =
            view.case_change(&id, |k| cases::meet_clock(k, &item, &by, b.at.as_deref()))?;
        Ok(case_changed(
            StatusCode::OK,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// A template to apply.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyBody {
    /// Its name.
    template: String,
}

/// Applies a template to a case (its tasks and clocks).
#[utoipa::path(post, path = "/api/v1/cases/{id}/template", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    request_body = ApplyBody,
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 404, description = "No such case or template, or not one you may see", body = ErrorBody),
        (status = 409, description = "Applied already", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_template(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(b): J<ApplyBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let a = api.clone();
    let by = who.who.clone();
    blocking(move || {
        let t = view
            .templates(&a.respond.templates_dir)?
            .into_iter()
            .find(|t| t.name == b.template)
            .ok_or_else(|| ApiError::not_found(format!("no template `{}`", b.template)))?;
        let (case, what) = view.case_change(&id, |k| k.apply(&t, &by))?;
        Ok(case_changed(
            StatusCode::OK,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// Cases to merge in.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The cases merged into this one (same tenant).
    from: Vec<String>,
}

/// Merges cases into this one; they are closed as duplicates.
#[utoipa::path(post, path = "/api/v1/cases/{id}/merge", tag = "cases",
    params(("id" = String, Path, description = "The case merged into")),
    request_body = MergeBody,
    responses(
        (status = 200, description = "The case", body = Case),
        (status = 400, description = "Another tenant's, or itself", body = ErrorBody),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 409, description = "Closed or merged already", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_merge(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(b): J<MergeBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    if b.from.is_empty() || b.from.len() > 100 {
        return Err(ApiError::bad_request("name 1 to 100 cases to merge"));
    }
    blocking(move || {
        let (case, what) = view.case_merge(&id, &b.from)?;
        Ok(case_changed(
            StatusCode::OK,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// What moves to a new case.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitBody {
    /// The new case's title.
    title: String,
    /// Incidents.
    #[serde(default)]
    incidents: Vec<String>,
    /// Alert keys.
    #[serde(default)]
    alerts: Vec<String>,
    /// Observable numbers.
    #[serde(default)]
    observables: Vec<u32>,
    /// Task numbers.
    #[serde(default)]
    tasks: Vec<u32>,
}

/// Splits a case: what is named moves to a new case (same tenant,
/// awareness, clocks); answers with the new case.
#[utoipa::path(post, path = "/api/v1/cases/{id}/split", tag = "cases",
    params(("id" = String, Path, description = "The case split")),
    request_body = SplitBody,
    responses(
        (status = 201, description = "The new case", body = Case),
        (status = 400, description = "Something named is not in the case", body = ErrorBody),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 409, description = "Closed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_split(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(b): J<SplitBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    blocking(move || {
        let (_, new, what) = view.case_split(
            &id,
            cases::Split {
                title: b.title,
                incidents: b.incidents,
                alerts: b.alerts,
                observables: b.observables,
                tasks: b.tasks,
            },
        )?;
        let tenant = new.tenant.clone();
        Ok(changed(
            StatusCode::CREATED,
            new,
            &tenant,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// The audit trail of a case: every request that named it, and what the
/// service did to it (clock warnings and misses).
#[utoipa::path(get, path = "/api/v1/cases/{id}/audit", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, description = "Audit records, oldest first", body = Vec<crate::audit::AuditRecord>),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_audit(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    let a = api.clone();
    Ok(json(
        blocking(move || {
            let case = view.case(&id)?;
            a.audit
                .query(&crate::audit::AuditQuery {
                    mentions: Some(case.id.clone()),
                    limit: 10_000,
                    ..Default::default()
                })
                .map(|v| {
                    v.into_iter()
                        .filter(|r| {
                            // `CASE-0001` must not match `CASE-00012`.
                            let named = |t: &str| {
                                t.match_indices(&case.id).any(|(i, m)| {
                                    !t[i + m.len()..].starts_with(|c: char| c.is_ascii_digit())
                                })
                            };
                            // Only acts on this tenant (or CERT-wide ones): another
                            // tenant's staff asking for it is theirs to see, not this one's.
                            (r.act.tenant == case.tenant || r.act.tenant.is_empty())
                                && (named(&r.act.object) || named(&r.act.detail))
                        })
                        .collect::<Vec<_>>()
                })
                .map_err(ApiError::internal)
        })
        .await?,
    ))
}

/// Scopes every incident of the case up to its containment time.
#[utoipa::path(post, path = "/api/v1/cases/{id}/scope", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, description = "One scope per linked incident (window up to containment)", body = Vec<Object>),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_scope(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Scope)?;
    let a = api.clone();
    Ok(json(
        blocking(move || {
            let scopes = view.case_scope(&id)?;
            for (e, changed) in &scopes {
                if *changed && let Ok((i, t)) = view.incident_and_tenant(&e.incident) {
                    notice(&a, &view, &Notice::scope(&i, &t, e));
                }
            }
            Ok(scopes.into_iter().map(|(e, _)| e).collect::<Vec<_>>())
        })
        .await?,
    ))
}

/// An export format.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportParams {
    /// `suricata-ip`, `suricata-dns`, `suricata-sha256`, `suricata-md5`,
    /// `suricata-rules`, `zeek`, `edl`, `edl-ip`, `edl-domain`.
    format: Option<String>,
}

/// What the trust's defences read, from the case's indicators (never TLP:RED).
#[utoipa::path(get, path = "/api/v1/cases/{id}/containment", tag = "cases",
    params(("id" = String, Path, description = "The case's id"), ExportParams),
    responses(
        (status = 200, description = "The file (text/plain)", body = String, content_type = "text/plain"),
        (status = 400, description = "An unknown format", body = ErrorBody),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_containment(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Q(p): Q<ExportParams>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    let format = p.format.unwrap_or_else(|| "edl".into());
    let case = blocking(move || view.case(&id)).await?;
    let body = crate::respond::contain::export(&case, &format).map_err(ApiError::bad_request)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"{}\"",
                    match format.as_str() {
                        "suricata-rules" => format!("vakt-{}.rules", case.id.to_ascii_lowercase()),
                        "zeek" => format!("vakt-{}.intel", case.id.to_ascii_lowercase()),
                        f if f.starts_with("suricata-") => format!(
                            "{}.lst",
                            crate::respond::contain::dataset(
                                &case,
                                f.trim_start_matches("suricata-")
                            )
                        ),
                        f => format!("vakt-{}-{f}.txt", case.id.to_ascii_lowercase()),
                    }
                ),
            ),
        ],
        body,
    )
        .into_response())
}

/// A containment request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestBody {
    /// `disable-account`, `isolate-host`, `block`.
    action: String,
    /// The observable's value (an account, a host, an address or domain).
    target: String,
    /// Why.
    #[serde(default)]
    note: String,
}

/// Asks the IT provider to contain (by the containment webhooks): disable
/// an account, isolate a host, block an address or domain — one of the
/// case's observables.
#[utoipa::path(post, path = "/api/v1/cases/{id}/containment", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    request_body = RequestBody,
    responses(
        (status = 202, description = "The case (the request is in `containment`, with its deliveries)", body = Case),
        (status = 400, description = "An unknown action, or the target is not an observable of the case", body = ErrorBody),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 409, description = "No containment channel is set", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_contain(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    J(b): J<RequestBody>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let kinds: &[&str] = match b.action.as_str() {
        "disable-account" => &["account"],
        "isolate-host" => &["host", "ip"],
        "block" => &["ip", "domain", "url"],
        _ => {
            return Err(ApiError::bad_request(
                "action is disable-account, isolate-host or block",
            ));
        }
    };
    if api.respond.cfg.containment_channels.is_empty() {
        return Err(ApiError::new_status(
            StatusCode::CONFLICT,
            "no containment channel is set (respond.containment_channels)",
        ));
    }
    let a = api.clone();
    let by = who.who.clone();
    blocking(move || {
        let case = view.case(&id)?;
        let target = b.target.trim().to_owned();
        if !case
            .observables
            .iter()
            .any(|o| kinds.contains(&o.kind.as_str()) && o.value.eq_ignore_ascii_case(&target))
        {
            return Err(ApiError::bad_request(format!(
                "`{target}` is not a {} observable of {id}: add it first",
                kinds.join(" or ")
            )));
        }
        let c = view.notice_db()?;
        let deliveries = a
            .respond
            .notice(&c, &Notice::containment(&case, &b.action, &target, &b.note));
        let (case, what) = view.case_change(&id, |k| {
            let n = k.containment.iter().map(|x| x.id).max().unwrap_or(0) + 1;
            k.containment.push(cases::Containment {
                id: n,
                action: b.action.clone(),
                target: target.clone(),
                by: by.clone(),
                at: crate::now().to_rfc3339(),
                deliveries: deliveries.clone(),
                note: b.note.chars().take(2000).collect(),
            });
            Ok(format!(
                "containment request {n}: {} {target} (deliveries {:?})",
                b.action, deliveries
            ))
        })?;
        Ok(case_changed(
            StatusCode::ACCEPTED,
            case,
            format!("case {id}: {what}"),
        ))
    })
    .await
}

/// The case's observables as a MISP event (what MISP imports; TLP:RED left out).
#[utoipa::path(get, path = "/api/v1/cases/{id}/misp", tag = "cases",
    params(("id" = String, Path, description = "The case's id")),
    responses(
        (status = 200, description = "A MISP event (`{\"Event\": …}`)", body = Object),
        (status = 404, description = "No such case, or not one you may see", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn case_misp(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    let case = blocking(move || view.case(&id)).await?;
    let attrs: Vec<vakt_intel::export::MispAttribute> = case
        .observables
        .iter()
        .filter(|o| o.tlp != "red")
        .map(|o| vakt_intel::export::MispAttribute {
            kind: o.kind.clone(),
            value: o.value.clone(),
            to_ids: o.ioc,
            comment: o.note.clone(),
        })
        .collect();
    let aware = crate::respond::ts(&case.awareness).unwrap_or_else(crate::now);
    Ok(json(vakt_intel::export::misp_event(
        &format!("{}: {}", case.id, case.title),
        &format!("vakt|{}", case.id),
        aware.to_rfc3339().get(..10).unwrap_or("1970-01-01"),
        crate::respond::unix_now(),
        &case.tlp,
        &attrs,
    )))
}

/// The case templates: the shipped health-data-breach template and the operator's.
#[utoipa::path(get, path = "/api/v1/templates", tag = "cases",
    responses(
        (status = 200, description = "Templates", body = Vec<Template>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn templates(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    let dir = api.respond.templates_dir.clone();
    Ok(json(blocking(move || view.templates(&dir)).await?))
}

/// Adds (or replaces) an operator's template.
#[utoipa::path(post, path = "/api/v1/templates", tag = "cases", request_body = Template,
    responses(
        (status = 201, description = "The template", body = Template),
        (status = 400, description = "A template that cannot be applied", body = ErrorBody),
        (status = 409, description = "The name of a shipped template", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn template_add(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    J(mut t): J<Template>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Operate)?;
    t.builtin = false;
    blocking(move || {
        view.template_add(&t)?;
        let what = format!(
            "template `{}` saved: {} tasks, {} clocks",
            t.name,
            t.tasks.len(),
            t.clocks.len()
        );
        Ok(changed(StatusCode::CREATED, t, "", what))
    })
    .await
}

/// Lists the exceptions (active, expired, revoked) of your tenants.
#[utoipa::path(get, path = "/api/v1/exceptions", tag = "alerts",
    responses(
        (status = 200, description = "Exceptions, newest first", body = Vec<Exception>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn exceptions(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.exceptions()).await?))
}

/// Makes an exception: alerts it covers (tenant; detector or rule; entity
/// or a field condition) are silenced — live from now on, and the stored
/// ones now — until it expires or is revoked.
#[utoipa::path(post, path = "/api/v1/exceptions", tag = "alerts", request_body = NewException,
    responses(
        (status = 201, description = "The exception (`applied`: stored alerts it silenced)", body = Exception),
        (status = 400, description = "Too broad, no reason, a bad expiry", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed, or another tenant", body = ErrorBody),
    ))]
pub async fn exception_add(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    J(n): J<NewException>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let a = api.clone();
    blocking(move || {
        let x = view.exception_add(n)?;
        a.respond
            .exceptions_changed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let what = format!(
            "exception {} made: {} (silenced {} stored alerts)",
            x.id, x.reason, x.applied
        );
        let tenant = x.tenant.clone();
        Ok(changed(StatusCode::CREATED, x, &tenant, what))
    })
    .await
}

/// Revokes an exception: the alerts it silenced go back to triage.
#[utoipa::path(delete, path = "/api/v1/exceptions/{id}", tag = "alerts",
    params(("id" = String, Path, description = "The exception's id")),
    responses(
        (status = 200, description = "The exception", body = Exception),
        (status = 404, description = "No such exception, or not one you may see", body = ErrorBody),
        (status = 409, description = "Revoked already", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn exception_revoke(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let a = api.clone();
    blocking(move || {
        let (x, back) = view.exception_revoke(&id)?;
        a.respond
            .exceptions_changed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tenant = x.tenant.clone();
        Ok(changed(
            StatusCode::OK,
            x,
            &tenant,
            format!("exception {id} revoked: {back} alerts back to triage"),
        ))
    })
    .await
}

/// A delivery search.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    /// `pending`, `delivered`, `failed`.
    #[param(pattern = "^(pending|delivered|failed)$")]
    status: Option<String>,
    /// At most this many (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
}

/// Notifications queued, delivered and failed (each try counted, the last
/// error kept).
#[utoipa::path(get, path = "/api/v1/deliveries", tag = "cases", params(DeliveryParams),
    responses(
        (status = 200, description = "Deliveries, newest first", body = Vec<Delivery>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn deliveries(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<DeliveryParams>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(
        blocking(move || {
            view.deliveries(
                p.status.as_deref().filter(|s| !s.is_empty()),
                p.limit.unwrap_or(100),
            )
        })
        .await?,
    ))
}

/// Sends a failed delivery again (now, with a fresh count of tries).
#[utoipa::path(post, path = "/api/v1/deliveries/{id}/retry", tag = "cases",
    params(("id" = i64, Path, description = "The delivery's id")),
    responses(
        (status = 200, description = "The delivery", body = Delivery),
        (status = 404, description = "No such delivery, or not one you may see", body = ErrorBody),
        (status = 409, description = "It was delivered", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn delivery_retry(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Respond)?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::not_found("no such delivery"))?;
    let a = api.clone();
    blocking(move || {
        let d = view.delivery_retry(id)?;
        a.respond.poke();
        let tenant = d.tenant.clone();
        Ok(changed(
            StatusCode::OK,
            d,
            &tenant,
            format!("delivery {id} retried"),
        ))
    })
    .await
}

/// The notification rules and channels (no secrets).
#[utoipa::path(get, path = "/api/v1/notify", tag = "cases",
    responses(
        (status = 200, description = "`channels` (name, kind, where) and `rules`", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn notify_settings(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
) -> Result<Response, ApiError> {
    crate::access::require(&who, Need::Operate)?;
    let cfg = &api.respond.cfg;
    Ok(json(serde_json::json!({
        "channels": cfg.channels.iter().map(|c| match (&c.webhook, &c.email) {
            (Some(w), _) => serde_json::json!({"name": c.name, "kind": "webhook", "url": w.url}),
            (None, Some(e)) => serde_json::json!({"name": c.name, "kind": "email", "smtp": e.smtp, "tls": e.tls, "to": e.to}),
            _ => serde_json::json!({"name": c.name}),
        }).collect::<Vec<_>>(),
        "rules": cfg.rules,
        "containment_channels": cfg.containment_channels,
        "taxii": cfg.taxii.iter().map(|t| serde_json::json!({"name": t.name, "api_root": t.api_root, "collection": t.collection, "every_minutes": t.every_minutes})).collect::<Vec<_>>(),
        "tick_seconds": cfg.tick_seconds,
        "retry": {"first_seconds": cfg.retry_first_seconds, "max_seconds": cfg.retry_max_seconds, "attempts": cfg.retry_attempts},
    })))
}
