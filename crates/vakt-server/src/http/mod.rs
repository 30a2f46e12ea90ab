//! The HTTP side: the ingest paths, health and metrics.
//!
//! Every ingest path goes the same way ([`Door::admit`], then
//! [`State::submit`]): the token names the tenant (a request that names
//! another is refused), room for the body is reserved before it is read
//! (else 429 with `Retry-After`), the body is read within its limit and
//! decompressed within another, parsed off the async threads, its bad
//! records answered and quarantined, and the batch handed to the log
//! thread; the answer waits until the batch is durable.

mod bulk;
mod fhir;
mod ingest;

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use vakt_detect::quarantine::Quarantine;
use vakt_ingest::RecordError;

use crate::ServeConfig;
use crate::batch::{Batch, Parsed};
use crate::live::{Append, Reservation};
use crate::metrics::{self, Metrics};
use crate::tokens::{Grant, Tokens};

/// What the handlers share.
pub struct State {
    /// Settings.
    pub cfg: ServeConfig,
    /// Who may send.
    pub tokens: Tokens,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The log thread.
    pub to_log: SyncSender<Append>,
    /// Rejected records.
    pub quarantine: Mutex<Quarantine>,
    /// Startup (replay) is over.
    pub ready: AtomicBool,
    /// The service is stopping: nothing new is taken.
    pub stopping: AtomicBool,
}

impl State {
    /// Is the service stopping?
    pub fn to_log_closed(&self) -> bool {
        self.stopping.load(Relaxed)
    }
}

/// The routes.
pub fn router(state: Arc<State>) -> Router {
    let limit = state.cfg.max_body_bytes;
    shipper_router(state.clone()).merge(
        Router::new()
            .route("/api/v1/ingest", post(ingest::ingest))
            .route("/healthz", get(|| async { "ok\n" }))
            .route("/metrics", get(metrics_text))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(state),
    )
}

/// The shippers' endpoints: Elasticsearch's (`/`, `_cat/health`, `_bulk`)
/// and FHIR's (AuditEvent, Bundle), and readiness — what a cluster's
/// ingest node serves beside its own ingest API, with its log queue
/// publishing to JetStream.
pub fn shipper_router(state: Arc<State>) -> Router {
    let limit = state.cfg.max_body_bytes;
    Router::new()
        .route("/", get(bulk::info).head(bulk::info_head))
        .route("/_cat/health", get(bulk::cat_health))
        .route("/_bulk", post(bulk::bulk).put(bulk::bulk))
        .route(
            "/{index}/_bulk",
            post(bulk::bulk_index).put(bulk::bulk_index),
        )
        .route("/fhir/AuditEvent", post(fhir::audit_event))
        .route("/fhir", post(fhir::bundle))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn readyz(axum::extract::State(s): axum::extract::State<Arc<State>>) -> Response {
    if s.ready.load(Relaxed) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "replaying the write-ahead log\n",
        )
            .into_response()
    }
}

async fn metrics_text(axum::extract::State(s): axum::extract::State<Arc<State>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(),
    )
        .into_response()
}

/// A refusal, in the shape the path's clients expect.
#[derive(Debug)]
pub struct Refusal {
    /// The status.
    pub status: StatusCode,
    /// Why, for a person.
    pub reason: String,
    /// Seconds to wait before trying again (429/503).
    pub retry_after: Option<u32>,
}

impl Refusal {
    fn new(status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            status,
            reason: reason.into(),
            retry_after: None,
        }
    }

    fn busy(status: StatusCode, reason: impl Into<String>) -> Refusal {
        Refusal {
            retry_after: Some(1),
            ..Refusal::new(status, reason)
        }
    }

    /// With the headers every refusal carries.
    pub fn headers(&self, mut r: Response) -> Response {
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"vakt\", ApiKey, Basic realm=\"vakt\""),
            );
        }
        r
    }
}

/// An admitted request: who sent it, its body, and the room it holds.
pub struct Admitted {
    /// The token's grant.
    pub grant: Grant,
    /// The body, decompressed.
    pub body: Vec<u8>,
    /// The room reserved for it.
    pub hold: Reservation,
}

/// The door every ingest path goes through.
pub struct Door;

impl Door {
    /// Checks the token and the tenant, reserves room, reads and
    /// decompresses the body within the limits.
    pub async fn admit(
        s: &State,
        headers: &HeaderMap,
        tenant_asked: Option<&str>,
        body: Body,
    ) -> Result<Admitted, Refusal> {
        let auth = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let Some(grant) = s.tokens.grant(auth) else {
            s.metrics.refused.fetch_add(1, Relaxed);
            return Err(Refusal::new(
                StatusCode::UNAUTHORIZED,
                "no valid ingest token (Authorization: Bearer <token>, ApiKey, or Basic with the token as password)",
            ));
        };
        let header_tenant = headers.get("x-vakt-tenant").and_then(|v| v.to_str().ok());
        for asked in [tenant_asked, header_tenant].into_iter().flatten() {
            if asked != grant.tenant {
                s.metrics.refused.fetch_add(1, Relaxed);
                return Err(Refusal::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "this token writes for tenant `{}` only, not `{asked}`",
                        grant.tenant
                    ),
                ));
            }
        }
        if grant.role != "ingest" {
            s.metrics.refused.fetch_add(1, Relaxed);
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                "this token may not ingest",
            ));
        }
        let max = s.cfg.max_body_bytes;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > max) {
            return Err(Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body is larger than {max} bytes (max_body_bytes)"),
            ));
        }
        let Some(mut hold) = Reservation::take(
            &s.metrics,
            declared.unwrap_or(max),
            s.cfg.max_inflight_bytes,
        ) else {
            s.metrics.throttled.fetch_add(1, Relaxed);
            return Err(Refusal::busy(
                StatusCode::TOO_MANY_REQUESTS,
                "vakt is taking in as much as it can hold; retry shortly",
            ));
        };
        let raw: Bytes = axum::body::to_bytes(body, max).await.map_err(|e| {
            Refusal::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body could not be read within {max} bytes: {e}"),
            )
        })?;
        let gzip = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        let body = if gzip {
            let limit = s.cfg.max_decompressed_bytes;
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&raw[..])
                .take(limit as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    Refusal::new(StatusCode::BAD_REQUEST, format!("bad gzip body: {e}"))
                })?;
            if out.len() > limit {
                return Err(Refusal::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the body is larger than {limit} bytes decompressed (max_decompressed_bytes)"
                    ),
                ));
            }
            hold = Reservation::take(&s.metrics, out.len(), s.cfg.max_inflight_bytes).ok_or_else(
                || {
                    s.metrics.throttled.fetch_add(1, Relaxed);
                    Refusal::busy(
                        StatusCode::TOO_MANY_REQUESTS,
                        "vakt is taking in as much as it can hold; retry shortly",
                    )
                },
            )?;
            out
        } else {
            if declared.is_none() {
                // Hold what the body is, not the most it could have been.
                drop(hold);
                hold = Reservation::take(&s.metrics, raw.len(), usize::MAX)
                    .ok_or_else(|| Refusal::busy(StatusCode::TOO_MANY_REQUESTS, "retry shortly"))?;
            }
            raw.to_vec()
        };
        Ok(Admitted { grant, body, hold })
    }
}

impl State {
    /// Keeps the rejected records and counts them.
    pub fn reject(&self, tenant: &str, rejected: &[RecordError]) {
        if rejected.is_empty() {
            return;
        }
        metrics::add(
            &self.metrics.rejected,
            tenant.to_owned(),
            rejected.len() as u64,
        );
        for r in rejected {
            tracing::warn!(target: "vakt::input", "rejected: {r}");
        }
        let mut q = self.quarantine.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = q.write(rejected).and_then(|()| q.flush()) {
            tracing::error!(target: "vakt::serve", "quarantine: {e}");
        }
    }

    /// Parses a batch off the async threads. A reader that failed is the
    /// service's fault, answered 500: nothing of the batch is taken, so the
    /// client sends it again rather than believe it stored.
    pub async fn parse(batch: Batch) -> Result<(Batch, Parsed), Refusal> {
        tokio::task::spawn_blocking(move || {
            let p = crate::batch::parse(&batch);
            (batch, p)
        })
        .await
        .map_err(|e| {
            tracing::error!(target: "vakt::serve", "reading a batch failed: {e}");
            Refusal::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the batch could not be read; nothing of it was taken",
            )
        })
    }

    /// Writes the batch to the log with its events; returns its sequence
    /// number once durable.
    pub async fn submit(
        &self,
        batch: &Batch,
        parsed: Parsed,
        hold: Reservation,
    ) -> Result<u64, Refusal> {
        let n = parsed.events.len() as u64;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let append = Append {
            payload: batch.encode(),
            events: parsed.events,
            hold,
            tail: batch.tail.clone(),
            reply,
        };
        match self.to_log.try_send(append) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.metrics.throttled.fetch_add(1, Relaxed);
                return Err(Refusal::busy(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the write-ahead log queue is full; retry shortly",
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(Refusal::busy(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "vakt is shutting down",
                ));
            }
        }
        match answer.await {
            Ok(Ok(seq)) => {
                self.metrics.accept(&batch.tenant, n);
                Ok(seq)
            }
            Ok(Err(e)) => Err(Refusal::busy(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not stored: {e}"),
            )),
            Err(_) => Err(Refusal::busy(
                StatusCode::SERVICE_UNAVAILABLE,
                "vakt is shutting down",
            )),
        }
    }
}

/// A request's origin name: the path and the moment it came (unique, and
/// the same when the batch is replayed).
pub fn origin(what: &str) -> String {
    format!("{what} @{}", crate::now().0)
}
