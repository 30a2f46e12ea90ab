//! Elasticsearch's `_bulk`, as far as shippers use it: `index` and
//! `create` actions with their documents (NDJSON, gzip), `_index`, `_id`
//! and the old `_type` accepted, and the answer real clients read — per-item
//! status and error, `errors`, the `X-Elastic-Product` header the official
//! clients insist on. Each document's format is recognised on its own
//! (Winlogbeat/ECS documents are Windows events, Zeek and Suricata JSON,
//! FHIR AuditEvents; anything else with a timestamp is a JSON event).

use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Path, State as Extract};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value as Json, json};
use vakt_core::Locator;
use vakt_ingest::{Format, Sniffed};

use super::{Door, Refusal, State};
use crate::batch::{Batch, Part};

/// The version vakt answers as: what Beats, Logstash and the clients of
/// the 8 series accept.
const VERSION: &str = "8.17.0";

/// The headers of every answer on the Elasticsearch paths.
fn es(mut r: Response, headers: &HeaderMap) -> Response {
    r.headers_mut().insert(
        "x-elastic-product",
        HeaderValue::from_static("Elasticsearch"),
    );
    // A client that asked for a compatible media type gets it back.
    let compat = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.contains("vnd.elasticsearch+json"))
        .and_then(|v| HeaderValue::from_str(v.split(',').next().unwrap_or(v).trim()).ok());
    if let Some(v) = compat {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// `GET /`: who is answering.
pub async fn info(headers: HeaderMap) -> Response {
    if crate::ui::wants_html(&headers) {
        return crate::ui::redirect();
    }
    let body = json!({
        "name": "vakt",
        "cluster_name": "vakt",
        "cluster_uuid": "vakt-embedded",
        "version": {
            "number": VERSION,
            "build_flavor": "default",
            "build_type": "vakt",
            "lucene_version": "9.12.0",
            "minimum_wire_compatibility_version": "7.17.0",
            "minimum_index_compatibility_version": "7.0.0"
        },
        "tagline": "You Know, for Search"
    });
    es(axum::Json(body).into_response(), &headers)
}

/// `HEAD /`.
pub async fn info_head(headers: HeaderMap) -> Response {
    es(StatusCode::OK.into_response(), &headers)
}

/// `GET /_cat/health` (rsyslog's `omelasticsearch` asks before sending).
pub async fn cat_health(headers: HeaderMap) -> Response {
    let t = crate::now().0 / 1_000_000_000;
    es(
        format!("{t} 00:00:00 vakt green 1 1 0 0 0 0 0 0 - 100.0%\n").into_response(),
        &headers,
    )
}

/// An error in Elasticsearch's shape.
fn refusal(r: Refusal, headers: &HeaderMap) -> Response {
    let kind = match r.status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "security_exception",
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            "es_rejected_execution_exception"
        }
        StatusCode::PAYLOAD_TOO_LARGE => "content_too_long_exception",
        _ => "illegal_argument_exception",
    };
    let body = json!({
        "error": {"root_cause": [{"type": kind, "reason": r.reason}], "type": kind, "reason": r.reason},
        "status": r.status.as_u16()
    });
    let resp = r.headers((r.status, axum::Json(body)).into_response());
    es(resp, headers)
}

/// `POST /_bulk`.
pub async fn bulk(s: Extract<Arc<State>>, headers: HeaderMap, body: Body) -> Response {
    run(s.0, None, headers, body).await
}

/// `POST /{index}/_bulk`.
pub async fn bulk_index(
    s: Extract<Arc<State>>,
    Path(index): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    run(s.0, Some(index), headers, body).await
}

/// One action of a request.
struct Item {
    op: String,
    index: String,
    id: String,
    /// The failure, or `None` while it stands.
    error: Option<(u16, &'static str, String)>,
    /// Its document's part and line there.
    at: Option<(usize, u64)>,
}

/// Splits the request into items and the parts of one format each.
fn items(
    body: &[u8],
    default_index: &str,
    origin_ns: &str,
    max_doc: usize,
) -> (Vec<Item>, Vec<Part>) {
    let mut items: Vec<Item> = Vec::new();
    let mut parts: Vec<Part> = Vec::new();
    let mut lines = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    while let Some(action) = lines.next() {
        let n = items.len();
        let parsed: Option<(String, Json)> =
            serde_json::from_slice::<Json>(action)
                .ok()
                .and_then(|j| match j {
                    Json::Object(m) if m.len() == 1 => m.into_iter().next(),
                    _ => None,
                });
        let Some((op, meta)) = parsed else {
            items.push(Item {
                op: "index".into(),
                index: default_index.into(),
                id: String::new(),
                error: Some((
                    400,
                    "illegal_argument_exception",
                    format!("action line {} is not an action", n + 1),
                )),
                at: None,
            });
            continue;
        };
        let text = |k: &str| meta.get(k).and_then(Json::as_str).map(str::to_owned);
        let mut item = Item {
            index: text("_index").unwrap_or_else(|| default_index.to_owned()),
            id: text("_id").unwrap_or_else(|| format!("{origin_ns}-{n}")),
            op: op.clone(),
            error: None,
            at: None,
        };
        match op.as_str() {
            "index" | "create" => {
                let Some(doc) = lines.next() else {
                    item.error = Some((400, "illegal_argument_exception", "no document".into()));
                    items.push(item);
                    break;
                };
                if doc.len() > max_doc {
                    item.error = Some((
                        400,
                        "document_parsing_exception",
                        format!("the document is larger than {max_doc} bytes (max_line_bytes)"),
                    ));
                    items.push(item);
                    continue;
                }
                match vakt_ingest::sniff(doc, true, "_bulk", None) {
                    Sniffed::Format(f) if f != Format::Evtx => {
                        if parts.last().is_none_or(|p| p.format != Some(f)) {
                            parts.push(Part {
                                format: Some(f),
                                body: Vec::new(),
                            });
                        }
                        let i = parts.len() - 1;
                        let p = &mut parts[i];
                        let line = 1 + p.body.iter().filter(|b| **b == b'\n').count() as u64;
                        p.body.extend_from_slice(doc);
                        p.body.push(b'\n');
                        item.at = Some((i, line));
                    }
                    Sniffed::Format(_) | Sniffed::NeedWhole => {
                        item.error = Some((
                            400,
                            "document_parsing_exception",
                            "not a JSON document".into(),
                        ))
                    }
                    Sniffed::Skip(why) => {
                        item.error = Some((
                            400,
                            "document_parsing_exception",
                            format!("not an event vakt reads: {why}"),
                        ))
                    }
                }
            }
            "update" => {
                lines.next();
                item.error = Some((
                    400,
                    "action_request_validation_exception",
                    "vakt keeps events as they came: update is not supported".into(),
                ));
            }
            "delete" => {
                item.error = Some((
                    400,
                    "action_request_validation_exception",
                    "vakt keeps events as they came: delete is not supported".into(),
                ));
            }
            other => {
                item.error = Some((
                    400,
                    "illegal_argument_exception",
                    format!("unknown action `{other}`"),
                ));
            }
        }
        items.push(item);
    }
    (items, parts)
}

async fn run(s: Arc<State>, index: Option<String>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let asked = headers
        .get("x-vakt-tenant")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let admitted = match Door::admit(&s, &headers, asked.as_deref(), body).await {
        Ok(a) => a,
        Err(r) => return refusal(r, &headers),
    };
    let default_index = index.unwrap_or_else(|| "vakt".into());
    let ns = crate::now().0.to_string();
    let (mut items, parts) = items(&admitted.body, &default_index, &ns, s.cfg.max_line_bytes);
    let batch = Batch {
        tenant: Arc::from(admitted.grant.tenant.as_str()),
        origin: format!("_bulk {default_index} @{ns}"),
        received: crate::now(),
        tail: None,
        parts,
    };
    let (batch, parsed) = match State::parse(batch).await {
        Ok(x) => x,
        Err(r) => return refusal(r, &headers),
    };
    // Records a reader refused fail their item.
    let mut rejected = Vec::new();
    for (part, e) in &parsed.rejected {
        if let Locator::Line(line) = e.locator
            && let Some(item) = items.iter_mut().find(|i| i.at == Some((*part, line)))
        {
            item.error = Some((400, "document_parsing_exception", e.reason.clone()));
        }
        rejected.push(e.clone());
    }
    s.reject(&admitted.grant.tenant, &rejected);
    let mut seq = 0;
    if !parsed.events.is_empty() {
        match s.submit(&batch, parsed, admitted.hold).await {
            Ok(n) => seq = n,
            Err(r) => return refusal(r, &headers),
        }
    }
    let errors = items.iter().any(|i| i.error.is_some());
    // Written out directly: a thousand items as JSON values cost more than
    // parsing their documents.
    let mut out = String::with_capacity(64 + items.len() * 200);
    let _ = write!(
        out,
        "{{\"took\":{},\"errors\":{errors},\"items\":[",
        started.elapsed().as_millis()
    );
    for (n, i) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        let (op, index, id) = (quoted(&i.op), quoted(&i.index), quoted(&i.id));
        match &i.error {
            None => {
                let _ = write!(
                    out,
                    "{{{op}:{{\"_index\":{index},\"_id\":{id},\"_version\":1,\"result\":\"created\",\"_shards\":{{\"total\":1,\"successful\":1,\"failed\":0}},\"_seq_no\":{},\"_primary_term\":1,\"status\":201}}}}",
                    seq.saturating_mul(100_000).saturating_add(n as u64)
                );
            }
            Some((status, kind, reason)) => {
                let _ = write!(
                    out,
                    "{{{op}:{{\"_index\":{index},\"_id\":{id},\"status\":{status},\"error\":{{\"type\":\"{kind}\",\"reason\":{}}}}}}}",
                    quoted(reason)
                );
            }
        }
    }
    out.push_str("]}");
    let mut r = out.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    es(r, &headers)
}

/// A JSON string.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_documents_and_bad_lines_become_items() {
        let body = br#"{"index":{"_index":"winlogbeat-8","_type":"_doc"}}
{"@timestamp":"2024-01-01T00:00:00Z","winlog":{"event_id":4624,"channel":"Security","computer_name":"ws1"}}
{"create":{"_id":"x1"}}
{"ts":1700000000.5,"uid":"C1","id.orig_h":"10.0.0.1","id.resp_h":"8.8.8.8","_path":"conn"}
not json
{"delete":{"_id":"x"}}
{"index":{}}
{"no":"timestamp here"}
"#;
        let (items, parts) = items(body, "logs", "1", 1 << 20);
        let (big, _) = super::items(
            b"{\"index\":{}}\n{\"ts\":1,\"uid\":\"C1\",\"_path\":\"conn\"}\n",
            "l",
            "1",
            10,
        );
        assert!(
            big[0]
                .error
                .as_ref()
                .is_some_and(|e| e.2.contains("max_line_bytes"))
        );
        assert_eq!(items.len(), 5);
        assert_eq!(items[0].index, "winlogbeat-8");
        assert!(items[0].error.is_none() && items[1].error.is_none());
        assert_eq!(items[1].id, "x1");
        assert!(items[2].error.is_some(), "a line that is not an action");
        assert!(items[3].error.is_some(), "delete");
        assert!(items[4].error.is_some(), "no event");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].format, Some(Format::EvtxJson));
        assert_eq!(parts[1].format, Some(Format::Zeek));
    }
}
