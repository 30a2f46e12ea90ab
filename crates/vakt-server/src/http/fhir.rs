//! FHIR as an EHR's audit repository pushes it (IHE BALP / ATNA style):
//! `POST /fhir/AuditEvent` with one resource, and `POST /fhir` with a
//! `Bundle` of type `batch` (each entry stands alone) or `transaction`
//! (all entries or none). Answers are FHIR: `201 Created` with `Location`,
//! a `batch-response`/`transaction-response` Bundle, `OperationOutcome` for
//! what failed.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use vakt_core::Locator;
use vakt_ingest::Format;

use super::{Door, Refusal, State, origin};
use crate::batch::{Batch, Part};

/// The query (a client may name the tenant: it must be the token's).
#[derive(Debug, Deserialize)]
pub struct FhirQuery {
    tenant: Option<String>,
}

fn outcome(severity: &str, code: &str, text: &str) -> Json {
    json!({
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": text}]
    })
}

fn fhir(status: StatusCode, body: Json) -> Response {
    let mut r = (status, axum::Json(body)).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/fhir+json"),
    );
    r
}

fn refusal(r: Refusal) -> Response {
    let code = match r.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "security",
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => "throttled",
        StatusCode::PAYLOAD_TOO_LARGE => "too-costly",
        _ => "invalid",
    };
    let resp = fhir(r.status, outcome("error", code, &r.reason));
    r.headers(resp)
}

/// Admits the request and reads its body as a resource of `kind`; the
/// answer to send instead when it is not.
async fn admit_resource(
    s: &State,
    q: &FhirQuery,
    headers: &HeaderMap,
    body: Body,
    kind: &str,
) -> Result<(super::Admitted, Json), Response> {
    let admitted = Door::admit(s, headers, q.tenant.as_deref(), body)
        .await
        .map_err(refusal)?;
    let resource: Json = serde_json::from_slice(&admitted.body).map_err(|e| {
        fhir(
            StatusCode::BAD_REQUEST,
            outcome("error", "structure", &format!("not JSON: {e}")),
        )
    })?;
    if resource.get("resourceType").and_then(Json::as_str) != Some(kind) {
        return Err(fhir(
            StatusCode::BAD_REQUEST,
            outcome("error", "invalid", &format!("expected a {kind} resource")),
        ));
    }
    Ok((admitted, resource))
}

/// `POST /fhir/AuditEvent`.
pub async fn audit_event(
    s: Extract<Arc<State>>,
    Query(q): Query<FhirQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let s = s.0;
    let (admitted, resource) = match admit_resource(&s, &q, &headers, body, "AuditEvent").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let id = resource
        .get("id")
        .and_then(Json::as_str)
        .map_or_else(|| crate::now().0.to_string(), str::to_owned);
    let batch = Batch {
        tenant: Arc::from(admitted.grant.tenant.as_str()),
        origin: origin("fhir AuditEvent"),
        received: crate::now(),
        tail: None,
        parts: vec![Part {
            format: Some(Format::Fhir),
            body: admitted.body,
        }],
    };
    let (batch, parsed) = match State::parse(batch).await {
        Ok(x) => x,
        Err(r) => return refusal(r),
    };
    if parsed.events.is_empty() {
        let rejected: Vec<_> = parsed.rejected.iter().map(|(_, e)| e.clone()).collect();
        s.reject(&admitted.grant.tenant, &rejected);
        let why = rejected
            .first()
            .map_or("no AuditEvent read".to_owned(), |e| e.reason.clone());
        return fhir(StatusCode::BAD_REQUEST, outcome("error", "invalid", &why));
    }
    match s.submit(&batch, parsed, admitted.hold).await {
        Ok(_) => {
            let mut r = fhir(
                StatusCode::CREATED,
                outcome("information", "informational", "stored"),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("AuditEvent/{id}")) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Err(r) => refusal(r),
    }
}

/// `POST /fhir` with a Bundle.
pub async fn bundle(
    s: Extract<Arc<State>>,
    Query(q): Query<FhirQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let s = s.0;
    let (admitted, bundle) = match admit_resource(&s, &q, &headers, body, "Bundle").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let transaction = match bundle.get("type").and_then(Json::as_str) {
        Some("transaction") => true,
        Some("batch") | Some("collection") | Some("searchset") => false,
        other => {
            return fhir(
                StatusCode::BAD_REQUEST,
                outcome(
                    "error",
                    "invalid",
                    &format!("Bundle type {other:?}: expected batch or transaction"),
                ),
            );
        }
    };
    let entries: Vec<Json> = bundle
        .get("entry")
        .and_then(Json::as_array)
        .cloned()
        .unwrap_or_default();
    let batch = Batch {
        tenant: Arc::from(admitted.grant.tenant.as_str()),
        origin: origin("fhir Bundle"),
        received: crate::now(),
        tail: None,
        parts: vec![Part {
            format: Some(Format::Fhir),
            body: admitted.body,
        }],
    };
    let (batch, parsed) = match State::parse(batch).await {
        Ok(x) => x,
        Err(r) => return refusal(r),
    };
    let read: std::collections::BTreeSet<u64> = parsed
        .events
        .iter()
        .filter_map(|e| match e.origin.locator {
            Locator::Index(i) => Some(i),
            _ => None,
        })
        .collect();
    let problems: String = parsed
        .rejected
        .iter()
        .map(|(_, e)| e.reason.clone())
        .collect::<Vec<_>>()
        .join("; ");
    let statuses: Vec<Result<(), String>> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let kind = e
                .get("resource")
                .and_then(|r| r.get("resourceType"))
                .and_then(Json::as_str);
            if kind != Some("AuditEvent") {
                Err(format!(
                    "entry {}: only AuditEvent is taken, not {}",
                    i + 1,
                    kind.unwrap_or("an entry without a resource")
                ))
            } else if read.contains(&(i as u64 + 1)) {
                Ok(())
            } else {
                let mine = format!("entry {}:", i + 1);
                Err(problems
                    .split("; ")
                    .find(|p| p.contains(&mine))
                    .map_or_else(|| format!("{mine} not readable"), str::to_owned))
            }
        })
        .collect();
    let failed = statuses.iter().filter(|s| s.is_err()).count();
    let rejected: Vec<_> = parsed.rejected.iter().map(|(_, e)| e.clone()).collect();
    s.reject(&admitted.grant.tenant, &rejected);
    if transaction && failed > 0 {
        let all: Vec<String> = statuses.into_iter().filter_map(Result::err).collect();
        return fhir(
            StatusCode::BAD_REQUEST,
            outcome(
                "error",
                "invalid",
                &format!("transaction not taken: {}", all.join("; ")),
            ),
        );
    }
    if !parsed.events.is_empty()
        && let Err(r) = s.submit(&batch, parsed, admitted.hold).await
    {
        return refusal(r);
    }
    let answer: Vec<Json> = statuses
        .iter()
        .map(|st| match st {
            Ok(()) => json!({"response": {"status": "201 Created"}}),
            Err(why) => json!({"response": {
                "status": "400 Bad Request",
                "outcome": outcome("error", "invalid", why)
            }}),
        })
        .collect();
    fhir(
        StatusCode::OK,
        json!({
            "resourceType": "Bundle",
            "type": if transaction { "transaction-response" } else { "batch-response" },
            "entry": answer
        }),
    )
}
