//! What the web UI's screens read besides single objects: a hunt over the
//! stored history, alerts per detector over time, and each tenant's ingest
//! health (events per minute, silence).

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::data::time;
use super::{Api, ApiError, ErrorBody, J, Q, blocking, json};
use crate::access::views::{EhrQuery, Hunt, Look};
use crate::access::{Need, require};
use crate::auth::Principal;

/// A hunt: exactly one of `sigma`, `indicator` or `filter`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HuntBody {
    /// A Sigma rule (YAML).
    #[serde(default)]
    sigma: Option<String>,
    /// An indicator value: any field equal to it (a domain also matches
    /// its subdomains).
    #[serde(default)]
    indicator: Option<String>,
    /// `field=value` filters, all of which must hold.
    #[serde(default)]
    filter: Option<Vec<String>>,
    /// Only this tenant's.
    #[serde(default)]
    tenant: Option<String>,
    /// From (RFC 3339).
    #[serde(default)]
    from: Option<String>,
    /// Before (RFC 3339).
    #[serde(default)]
    to: Option<String>,
    /// Source kind (`zeek:conn`) or family (`evtx:*`).
    #[serde(default)]
    source: Option<String>,
    /// The most events returned (1–1000, default 200); every match is counted.
    #[serde(default)]
    limit: Option<usize>,
}

/// Hunts the stored history with a Sigma rule, an indicator or field
/// filters: the first matching events, a histogram of every match, what
/// was read.
#[utoipa::path(post, path = "/api/v1/hunt", tag = "events", request_body = HuntBody,
    responses(
        (status = 200, description = "`matched`, `scanned`, `seconds`, `truncated`, `rules` (per rule: `title`, `events`), `histogram` (`bucket_seconds`, `buckets`: `t`, `n`), `items` (events)", body = Object),
        (status = 400, description = "A bad rule, indicator, filter or time", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn hunt_history(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    J(b): J<HuntBody>,
) -> Result<Response, ApiError> {
    let look = match (b.sigma, b.indicator, b.filter) {
        (Some(s), None, None) if !s.trim().is_empty() => Look::Sigma(s),
        (None, Some(i), None) => Look::Indicator(i),
        (None, None, Some(f)) if !f.is_empty() => {
            let mut pairs = Vec::new();
            for x in f {
                let (k, v) = x
                    .split_once('=')
                    .ok_or_else(|| ApiError::bad_request("a filter is `field=value`"))?;
                pairs.push((k.trim().to_owned(), v.trim().to_owned()));
            }
            Look::Filters(pairs)
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of `sigma`, `indicator` or `filter`",
            ));
        }
    };
    let h = Hunt {
        tenant: b.tenant,
        from: time(&b.from, "from")?,
        to: time(&b.to, "to")?,
        source: b.source,
        look,
        limit: b.limit.unwrap_or(200),
    };
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.hunt_history(&h)).await?))
}

/// A tenant, optionally.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantParam {
    /// Only this tenant's.
    tenant: Option<String>,
}

/// Alerts per detector over time (by first seen): `times` (bucket starts),
/// `bucket_seconds`, `detectors` (`detector`, `counts` per bucket).
#[utoipa::path(get, path = "/api/v1/stats/alerts", tag = "alerts", params(TenantParam),
    responses(
        (status = 200, description = "The series", body = Object),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn alert_stats(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<TenantParam>,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(
        blocking(move || view.alert_histogram(p.tenant.as_deref())).await?,
    ))
}

/// How quiet is too quiet.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HealthParams {
    /// Minutes without events after which a tenant that was sending is
    /// `silent` (default 15).
    silence_minutes: Option<i64>,
}

/// Each tenant's ingest since the service started: events accepted,
/// events per minute over the last hour, when the last came, and its
/// state — `flowing`, `quiet` (nothing for 5 minutes), `silent` (nothing
/// for `silence_minutes`: a trust that went quiet is itself a finding),
/// `never` (a tenant with ingest tokens that has sent nothing).
#[utoipa::path(get, path = "/api/v1/stats/ingest", tag = "service", params(HealthParams),
    responses(
        (status = 200, description = "Per tenant: `tenant`, `accepted`, `rejected`, `per_minute` (60, oldest first), `last`, `silent_seconds`, `state`", body = Vec<Object>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn ingest_stats(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<HealthParams>,
) -> Result<Response, ApiError> {
    require(&who, Need::Status)?;
    let silence = p.silence_minutes.unwrap_or(15).clamp(1, 7 * 24 * 60) * 60;
    let db = api.db.clone();
    let mut tenants: std::collections::BTreeSet<String> = blocking(move || {
        let c = db.connect().map_err(super::db_err)?;
        let mut q = c
            .prepare("SELECT DISTINCT tenant FROM tokens WHERE role = 'ingest'")
            .map_err(super::db_err)?;
        let rows = q
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(super::db_err)?;
        rows.collect::<crate::sql::Result<std::collections::BTreeSet<String>>>()
            .map_err(super::db_err)
    })
    .await?;
    let m = &api.ingest.metrics;
    let flow = m.flow.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let accepted = m.accepted.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let rejected = m.rejected.lock().unwrap_or_else(|e| e.into_inner()).clone();
    tenants.extend(flow.keys().cloned());
    let now = crate::now().0.div_euclid(1_000_000_000);
    let out: Vec<serde_json::Value> = tenants
        .into_iter()
        .filter(|t| !t.is_empty() && who.sees(t))
        .map(|t| {
            let f = flow.get(&t);
            let per_minute = f.map(|f| f.per_minute(now)).unwrap_or_else(|| vec![0; 60]);
            let last = f.map(|f| f.last);
            let quiet = last.map(|l| now - l);
            let state = match quiet {
                None => "never",
                Some(q) if q >= silence => "silent",
                Some(q) if q >= 300 => "quiet",
                Some(_) => "flowing",
            };
            serde_json::json!({
                "tenant": t,
                "accepted": accepted.get(&t).copied().unwrap_or(0),
                "rejected": rejected.get(&t).copied().unwrap_or(0),
                "per_minute": per_minute,
                "last": last.map(|l| vakt_core::Timestamp(l * 1_000_000_000)),
                "silent_seconds": quiet,
                "state": state,
            })
        })
        .collect();
    Ok(json(out))
}

/// A privacy report.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EhrParams {
    /// Who read this patient's record (the pseudonym) …
    patient: Option<String>,
    /// … or what this employee read (the user name).
    account: Option<String>,
    /// Only this tenant's.
    tenant: Option<String>,
    /// From (RFC 3339).
    from: Option<String>,
    /// Before (RFC 3339).
    to: Option<String>,
    /// The most accesses listed (1–5000, default 1000); all are counted.
    limit: Option<usize>,
}

/// The privacy officer's reports from the stored EHR audit events: who
/// read a patient's record, or what an employee read — each access with
/// the employee's user name, the patient as a pseudonym.
#[utoipa::path(get, path = "/api/v1/ehr/accesses", tag = "patients", params(EhrParams),
    responses(
        (status = 200, description = "`accesses`, `patients` (distinct), `accounts`, `items` (events, each with `account`)", body = Object),
        (status = 400, description = "Neither or both of `patient` and `account`", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn ehr_accesses(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Q(p): Q<EhrParams>,
) -> Result<Response, ApiError> {
    let q = EhrQuery {
        patient: p
            .patient
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned()),
        account: p
            .account
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned()),
        tenant: p.tenant,
        from: time(&p.from, "from")?,
        to: time(&p.to, "to")?,
        limit: p.limit.unwrap_or(1000),
    };
    let view = api.data.scoped(&who, Need::Read)?;
    Ok(json(blocking(move || view.ehr_accesses(&q)).await?))
}
