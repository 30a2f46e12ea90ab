//! `POST /api/v1/ingest[?format=…]`: any input vakt reads, as a file would
//! be — NDJSON or a batch of lines, Zeek TSV, Suricata EVE, FHIR, an EVTX
//! file as the body, gzip or zip — sniffed unless `format` says.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vakt_ingest::Format;

use super::{Door, Refusal, State, origin};
use crate::batch::{Batch, Part};

/// The query.
#[derive(Debug, Deserialize)]
pub struct IngestQuery {
    /// The input format (`evtx`, `evtx-json`, `zeek`, `eve`, `fhir`, `jsonl`).
    format: Option<String>,
    /// The tenant, if the client names it: must be the token's.
    tenant: Option<String>,
}

/// A refusal as JSON.
pub fn refusal(r: Refusal) -> Response {
    let body = json!({"error": r.reason, "status": r.status.as_u16()});
    r.headers((r.status, axum::Json(body)).into_response())
}

/// The handler.
pub async fn ingest(
    s: Extract<Arc<State>>,
    Query(q): Query<IngestQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let s = s.0;
    let format = match q.format.as_deref().map(str::parse::<Format>).transpose() {
        Ok(f) => f,
        Err(e) => return refusal(Refusal::new(StatusCode::BAD_REQUEST, e)),
    };
    let admitted = match Door::admit(&s, &headers, q.tenant.as_deref(), body).await {
        Ok(a) => a,
        Err(r) => return refusal(r),
    };
    let batch = Batch {
        tenant: Arc::from(admitted.grant.tenant.as_str()),
        origin: origin("ingest"),
        received: crate::now(),
        tail: None,
        parts: vec![Part {
            format,
            body: admitted.body,
        }],
    };
    let (batch, parsed) = match State::parse(batch).await {
        Ok(x) => x,
        Err(r) => return refusal(r),
    };
    let rejected: Vec<_> = parsed.rejected.iter().map(|(_, e)| e.clone()).collect();
    s.reject(&admitted.grant.tenant, &rejected);
    let errors: Vec<_> = rejected
        .iter()
        .take(100)
        .map(|e| json!({"at": e.locator.to_string(), "source": &*e.source, "reason": e.reason}))
        .collect();
    if parsed.events.is_empty() {
        let status = if rejected.is_empty() {
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        } else {
            StatusCode::BAD_REQUEST
        };
        let why: Vec<&str> = parsed.skipped.iter().map(|(_, r)| r.as_str()).collect();
        return (
            status,
            axum::Json(json!({
                "accepted": 0,
                "rejected": rejected.len(),
                "errors": errors,
                "error": if rejected.is_empty() {
                    format!("no events in the body: {}", why.join("; "))
                } else {
                    "every record was rejected".to_owned()
                },
            })),
        )
            .into_response();
    }
    let n = parsed.events.len();
    match s.submit(&batch, parsed, admitted.hold).await {
        Ok(seq) => axum::Json(json!({
            "accepted": n,
            "rejected": rejected.len(),
            "errors": errors,
            "seq": seq,
        }))
        .into_response(),
        Err(r) => refusal(r),
    }
}
