//! An ingest node: `POST /api/v1/ingest[?format=…]` as on `vakt serve`
//! (the same readers, the same token → tenant rule), but the batch goes to
//! JetStream instead of a local log: its events are split by partition,
//! published with message ids, and the request is answered 2xx only after
//! JetStream has acknowledged every message (stored, on every replica the
//! stream has). A failure anywhere is a 503: nothing acknowledged is lost,
//! and a client retry with the same `Idempotency-Key` within two minutes
//! is dropped by JetStream as a duplicate.
//!
//! `vakt serve`'s shippers' endpoints (`_bulk`, FHIR, syslog) run here as
//! its own handlers; their log queue goes to [`publisher`], which answers
//! each batch once JetStream acknowledged it. Tokens are the API's
//! (PostgreSQL's `tokens`, role ingest) for every endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use vakt_ingest::Format;
use vakt_server::batch::{Batch, Part};

use crate::Node;
use crate::bus;

/// The query.
#[derive(Debug, Deserialize)]
pub struct IngestQuery {
    /// The input format (`evtx`, `evtx-json`, `zeek`, `eve`, `fhir`, `jsonl`); sniffed if absent.
    format: Option<String>,
    /// The tenant, if the client names it: must be the token's.
    tenant: Option<String>,
}

fn refuse(status: StatusCode, why: impl Into<String>) -> Response {
    let why = why.into();
    (
        status,
        axum::Json(json!({"error": why, "status": status.as_u16()})),
    )
        .into_response()
}

/// The handler.
pub async fn ingest(
    State(n): State<Arc<Node>>,
    Query(q): Query<IngestQuery>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    n.metrics.ingest_requests.fetch_add(1, Relaxed);
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "an ingest token is needed (Authorization: Bearer …)",
        );
    };
    let tenant = match n.tenant_of(token.trim()).await {
        Ok(Some(t)) => t,
        Ok(None) => return refuse(StatusCode::UNAUTHORIZED, "unknown token"),
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, format!("not stored: {e}")),
    };
    if q.tenant.as_deref().is_some_and(|t| t != tenant) {
        return refuse(StatusCode::FORBIDDEN, "the token is for another tenant");
    }
    let format = match q.format.as_deref().map(str::parse::<Format>).transpose() {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let bytes = match axum::body::to_bytes(body, n.cfg.max_body_bytes).await {
        Ok(b) => b.to_vec(),
        Err(_) => {
            return refuse(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is over {} bytes", n.cfg.max_body_bytes),
            );
        }
    };
    let idem = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && k.len() <= 128 && k.chars().all(crate::config::token_char))
        .map(str::to_owned);
    let tenant: Arc<str> = Arc::from(tenant.as_str());
    let batch = Batch {
        tenant: tenant.clone(),
        origin: vakt_server::http::origin(&format!("ingest {}", n.cfg.node)),
        received: vakt_server::now(),
        tail: None,
        parts: vec![Part {
            format,
            body: bytes,
        }],
    };
    // Parsing is work for a CPU, not for the runtime's threads.
    let Ok(parsed) = tokio::task::spawn_blocking(move || vakt_server::batch::parse(&batch)).await
    else {
        return refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the batch could not be parsed",
        );
    };
    let rejected: Vec<vakt_ingest::RecordError> =
        parsed.rejected.into_iter().map(|(_, e)| e).collect();
    if !rejected.is_empty() {
        let kept = {
            let mut db = n.db.lock().await;
            crate::pg::quarantine(&mut db, &n.cfg.node, &tenant, &rejected).await
        };
        if let Err(e) = kept {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not stored: quarantine: {e}"),
            );
        }
        n.metrics
            .ingest_rejected
            .fetch_add(rejected.len() as u64, Relaxed);
    }
    let errors: Vec<_> = rejected
        .iter()
        .take(100)
        .map(|e| json!({"at": e.locator.to_string(), "source": &*e.source, "reason": e.reason}))
        .collect();
    let events = parsed.events.len();
    if events == 0 {
        let (status, why) = if rejected.is_empty() {
            let why: Vec<&str> = parsed.skipped.iter().map(|(_, r)| r.as_str()).collect();
            (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("no events in the body: {}", why.join("; ")),
            )
        } else {
            (
                StatusCode::BAD_REQUEST,
                "every record was rejected".to_owned(),
            )
        };
        return (
            status,
            axum::Json(
                json!({"accepted": 0, "rejected": rejected.len(), "errors": errors, "error": why}),
            ),
        )
            .into_response();
    }
    let published = match send(&n, &tenant, parsed.events, idem.as_deref()).await {
        Ok(p) => p,
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, format!("not stored: {e}")),
    };
    n.metrics.ingest_events.fetch_add(events as u64, Relaxed);
    axum::Json(json!({
        "accepted": events,
        "rejected": rejected.len(),
        "errors": errors,
        "messages": published,
    }))
    .into_response()
}

/// Publishes a tenant's events: split by partition, published with
/// message ids (from `idem`, a client's idempotency key, when there is one),
/// every acknowledgement awaited. Returns the messages published.
pub async fn send(
    n: &Arc<Node>,
    tenant: &str,
    events: Vec<vakt_core::Event>,
    idem: Option<&str>,
) -> Result<usize, String> {
    let shards = n.cfg.shards;
    // Encoding is work for a CPU, not for the runtime's threads.
    let messages = tokio::task::spawn_blocking(move || {
        let mut parts: BTreeMap<i32, (u32, Vec<u8>)> = BTreeMap::new();
        let mut messages: Vec<(i32, u32, Vec<u8>)> = Vec::new();
        for e in &events {
            let s = bus::shard(e, shards);
            let (count, body) = parts.entry(s).or_default();
            crate::codec::put(body, e);
            *count += 1;
            if body.len() >= bus::MAX_MESSAGE - (64 << 10) {
                messages.push((s, *count, std::mem::take(body)));
                *count = 0;
            }
        }
        for (s, (count, body)) in parts {
            if count > 0 {
                messages.push((s, count, body));
            }
        }
        messages
    })
    .await
    .map_err(|e| format!("encoding the batch failed: {e}"))?;
    let batch_no = n.batch_no.fetch_add(1, Relaxed);
    let mut acks = Vec::with_capacity(messages.len());
    let mut chunk: BTreeMap<i32, u32> = BTreeMap::new();
    for (s, count, body) in messages {
        n.known(tenant, s).await?;
        let c = chunk.entry(s).or_default();
        let id = match idem {
            Some(k) => format!("{tenant}.{k}.{s}.{c}"),
            None => format!("{}.{}.{batch_no}.{s}.{c}", n.cfg.node, n.boot),
        };
        *c += 1;
        let payload = crate::codec::message(count, &body);
        n.metrics
            .published_bytes
            .fetch_add(payload.len() as u64, Relaxed);
        let subject = bus::subject(tenant, s);
        acks.push(publish(&n.js, subject, id, payload.into()));
    }
    let published = acks.len();
    for r in futures_util::future::join_all(acks).await {
        if let Err(e) = r {
            n.metrics.publish_failures.fetch_add(1, Relaxed);
            return Err(e);
        }
    }
    n.metrics
        .published_messages
        .fetch_add(published as u64, Relaxed);
    Ok(published)
}

/// Takes the batches of `vakt serve`'s other endpoints (Elasticsearch
/// `_bulk`, FHIR AuditEvent and Bundle, syslog) from their log queue and
/// publishes them; each is answered once JetStream acknowledged it all (the
/// answer is what the endpoint's client is given: 2xx only then).
pub fn publisher(n: Arc<Node>, queue: std::sync::mpsc::Receiver<vakt_server::live::Append>) {
    for a in queue {
        let n = n.clone();
        n.rt.clone().spawn(async move {
            n.metrics.ingest_requests.fetch_add(1, Relaxed);
            let count = a.events.len() as u64;
            let mut by_tenant: BTreeMap<Arc<str>, Vec<vakt_core::Event>> = BTreeMap::new();
            for e in a.events {
                by_tenant.entry(e.tenant.clone()).or_default().push(e);
            }
            let mut answer = Ok(0u64);
            for (tenant, events) in by_tenant {
                match send(&n, &tenant, events, None).await {
                    Ok(m) => {
                        if let Ok(total) = &mut answer {
                            *total += m as u64;
                        }
                    }
                    Err(e) => {
                        answer = Err(e);
                        break;
                    }
                }
            }
            if answer.is_ok() {
                n.metrics.ingest_events.fetch_add(count, Relaxed);
            }
            let _ = a.reply.send(answer);
            drop(a.hold);
        });
    }
}

/// The serve side of an ingest node (blocking: it reads the tokens).
pub fn shipper_state(
    cfg: &crate::ClusterConfig,
    to_log: std::sync::mpsc::SyncSender<vakt_server::live::Append>,
) -> Result<Arc<vakt_server::http::State>, String> {
    let dir = cfg.shared_dir.join("nodes").join(&cfg.node);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let db = vakt_server::sql::Database::Postgres {
        pool: Arc::new(vakt_server::sql::PgPool::new(&cfg.postgres)),
        dir: dir.clone(),
    };
    let tokens = vakt_server::tokens::Tokens::new(db.connect().map_err(|e| e.to_string())?);
    let quarantine = vakt_detect::quarantine::Quarantine::create(&dir.join("quarantine"))
        .map_err(|e| format!("quarantine: {e}"))?;
    Ok(Arc::new(vakt_server::http::State {
        cfg: vakt_server::ServeConfig {
            dir,
            max_body_bytes: cfg.max_body_bytes,
            syslog: cfg.syslog.clone(),
            ..vakt_server::ServeConfig::default()
        },
        tokens,
        metrics: Arc::default(),
        to_log,
        quarantine: std::sync::Mutex::new(quarantine),
        ready: std::sync::atomic::AtomicBool::new(true),
        stopping: std::sync::atomic::AtomicBool::new(false),
    }))
}

/// Publishes one message and waits for JetStream's acknowledgement,
/// trying again (same message id: never stored twice) on a timeout.
async fn publish(
    js: &async_nats::jetstream::Context,
    subject: String,
    id: String,
    payload: bytes::Bytes,
) -> Result<u64, String> {
    let mut last = String::new();
    for attempt in 0..4u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
        }
        let sent = js
            .send_publish(
                subject.clone(),
                async_nats::jetstream::message::PublishMessage::build()
                    .payload(payload.clone())
                    .message_id(&id),
            )
            .await;
        match sent {
            Ok(ack) => match ack.await {
                Ok(a) => return Ok(a.sequence),
                Err(e) => last = format!("JetStream did not acknowledge: {e}"),
            },
            Err(e) => last = format!("JetStream: {e}"),
        }
    }
    Err(last)
}
