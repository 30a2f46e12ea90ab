//! The CERT's TAXII 2.1 server (`/taxii2/`): a discovery, one API root,
//! two read-only collections — the CERT's indicators (case observables
//! marked as indicators, and the indicators vakt holds; TLP:RED never) and
//! its sightings (what was seen in the tenants the reader may see). Signed
//! in as for the rest of the API (a partner CERT gets the `partner` role:
//! these collections and nothing else).

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{Api, ApiError, ErrorBody, Q, blocking};
use crate::access::{Need, Scoped};
use crate::auth::Principal;
use crate::respond::taxii::{STIX, TAXII};

/// The indicators collection.
pub const INDICATORS: &str = "5f1c2f0e-2c6b-4f7e-9a1d-3b1f6a0c7e21";
/// The sightings collection.
pub const SIGHTINGS: &str = "9c2d4e6f-8a1b-4c3d-9e5f-7a6b5c4d3e2f";

fn taxii(v: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, TAXII)], v.to_string()).into_response()
}

fn collection(id: &str) -> Option<serde_json::Value> {
    let (title, description) = match id {
        INDICATORS => (
            "vakt indicators",
            "Indicators the CERT holds and the indicators of its cases (never TLP:RED)",
        ),
        SIGHTINGS => (
            "vakt sightings",
            "Where the CERT's and its partners' indicators were seen",
        ),
        _ => return None,
    };
    Some(serde_json::json!({
        "id": id, "title": title, "description": description,
        "can_read": true, "can_write": false, "media_types": [STIX],
    }))
}

/// The TAXII discovery.
#[utoipa::path(get, path = "/taxii2/", tag = "taxii",
    responses(
        (status = 200, description = "Discovery (application/taxii+json;version=2.1)", body = Object, content_type = "application/taxii+json;version=2.1"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn discovery(Extension(who): Extension<Principal>) -> Result<Response, ApiError> {
    crate::access::require(&who, Need::Share)?;
    Ok(taxii(serde_json::json!({
        "title": "vakt TAXII 2.1",
        "description": "The CERT's indicators and sightings",
        "default": "/taxii2/api/",
        "api_roots": ["/taxii2/api/"],
    })))
}

/// The API root.
#[utoipa::path(get, path = "/taxii2/api/", tag = "taxii",
    responses(
        (status = 200, description = "API root information", body = Object, content_type = "application/taxii+json;version=2.1"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn api_root(Extension(who): Extension<Principal>) -> Result<Response, ApiError> {
    crate::access::require(&who, Need::Share)?;
    Ok(taxii(serde_json::json!({
        "title": "vakt",
        "versions": [TAXII],
        "max_content_length": 16 << 20,
    })))
}

/// The collections.
#[utoipa::path(get, path = "/taxii2/api/collections/", tag = "taxii",
    responses(
        (status = 200, description = "Collections", body = Object, content_type = "application/taxii+json;version=2.1"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn collections(Extension(who): Extension<Principal>) -> Result<Response, ApiError> {
    crate::access::require(&who, Need::Share)?;
    Ok(taxii(serde_json::json!({
        "collections": [collection(INDICATORS), collection(SIGHTINGS)],
    })))
}

/// One collection.
#[utoipa::path(get, path = "/taxii2/api/collections/{id}/", tag = "taxii",
    params(("id" = String, Path, description = "The collection's id")),
    responses(
        (status = 200, description = "The collection", body = Object, content_type = "application/taxii+json;version=2.1"),
        (status = 404, description = "No such collection", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn collection_get(
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    crate::access::require(&who, Need::Share)?;
    collection(&id)
        .map(taxii)
        .ok_or_else(|| ApiError::not_found("no such collection"))
}

/// Paging and filters of objects and manifests.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ObjectParams {
    /// Only objects added after this time (RFC 3339).
    added_after: Option<String>,
    /// At most this many (1–1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// Where the next page starts (from the last answer's `next`).
    next: Option<String>,
    /// Only these types (comma-separated).
    #[serde(rename = "match[type]")]
    #[param(rename = "match[type]")]
    match_type: Option<String>,
    /// Only these ids (comma-separated).
    #[serde(rename = "match[id]")]
    #[param(rename = "match[id]")]
    match_id: Option<String>,
}

/// The objects of a collection, each with when it was added (its `created`).
fn objects(view: &Scoped, id: &str) -> Result<Vec<(String, serde_json::Value)>, ApiError> {
    let now = crate::now().0;
    let mut out: Vec<serde_json::Value> = Vec::new();
    match id {
        INDICATORS => {
            out.push(vakt_intel::export::identity_object());
            let mut seen = std::collections::BTreeSet::new();
            for i in view.indicators().indicators.iter().filter(|i| {
                i.tlp
                    .as_deref()
                    .is_none_or(|t| !t.eq_ignore_ascii_case("red"))
            }) {
                let o = vakt_intel::export::indicator_object(i, 0);
                if seen.insert(o["id"].as_str().unwrap_or("").to_owned()) {
                    out.push(o);
                }
            }
            for (case, obs) in view.shared_observables()? {
                for o in obs {
                    let kind = match o.kind.as_str() {
                        "ip" => vakt_intel::Kind::Ip,
                        "domain" => vakt_intel::Kind::Domain,
                        "url" => vakt_intel::Kind::Url,
                        "md5" => vakt_intel::Kind::Md5,
                        "sha1" => vakt_intel::Kind::Sha1,
                        "sha256" => vakt_intel::Kind::Sha256,
                        "email" => vakt_intel::Kind::Email,
                        _ => continue,
                    };
                    let at = crate::respond::ts(&o.at).map_or(now, |t| t.0);
                    let ind = vakt_intel::Indicator {
                        kind,
                        value: o.value.clone(),
                        source: Arc::from("vakt"),
                        id: String::new(),
                        name: format!("{} {} ({})", o.kind, o.value, case.id),
                        confidence: None,
                        valid: (Some(at), None),
                        tlp: Some(o.tlp.clone()),
                        kill_chain: Vec::new(),
                        to_ids: true,
                        warning: None,
                        sightings: 0,
                    };
                    let v = vakt_intel::export::indicator_object(&ind, at);
                    if seen.insert(v["id"].as_str().unwrap_or("").to_owned()) {
                        out.push(v);
                    }
                }
            }
        }
        SIGHTINGS => {
            let recs = super::service::recorded_sightings(view, None)?;
            let b = vakt_intel::export::stix_bundle(&recs, now);
            if let Some(a) = b["objects"].as_array() {
                out.extend(a.iter().cloned());
            }
        }
        _ => return Err(ApiError::not_found("no such collection")),
    }
    let mut v: Vec<(String, serde_json::Value)> = out
        .into_iter()
        .map(|o| (o["created"].as_str().unwrap_or("").to_owned(), o))
        .collect();
    v.sort_by(|a, b| {
        a.0.cmp(&b.0)
            .then_with(|| a.1["id"].as_str().cmp(&b.1["id"].as_str()))
    });
    Ok(v)
}

/// Objects of a collection with when each was added.
type Dated = Vec<(String, serde_json::Value)>;

/// A page of a collection: (items, more, next), after the filters.
fn page(
    all: Vec<(String, serde_json::Value)>,
    p: &ObjectParams,
) -> Result<(Dated, bool, Option<String>), ApiError> {
    let after = match p.added_after.as_deref().filter(|s| !s.is_empty()) {
        Some(a) => Some(
            crate::respond::ts(a)
                .ok_or_else(|| ApiError::bad_request("added_after is an RFC 3339 time"))?,
        ),
        None => None,
    };
    let types: Option<Vec<&str>> = p.match_type.as_deref().map(|t| t.split(',').collect());
    let ids: Option<Vec<&str>> = p.match_id.as_deref().map(|t| t.split(',').collect());
    let start: usize = match p.next.as_deref().filter(|s| !s.is_empty()) {
        Some(n) => n
            .parse()
            .map_err(|_| ApiError::bad_request("next is not one this server gave"))?,
        None => 0,
    };
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let kept: Vec<(String, serde_json::Value)> = all
        .into_iter()
        .filter(|(added, o)| {
            after.is_none_or(|a| crate::respond::ts(added).is_some_and(|t| t > a))
                && types
                    .as_ref()
                    .is_none_or(|t| t.contains(&o["type"].as_str().unwrap_or("")))
                && ids
                    .as_ref()
                    .is_none_or(|t| t.contains(&o["id"].as_str().unwrap_or("")))
        })
        .collect();
    let total = kept.len();
    let items: Vec<_> = kept.into_iter().skip(start).take(limit).collect();
    let more = start + items.len() < total;
    Ok((items, more, more.then(|| (start + limit).to_string())))
}

/// A page of a collection as a TAXII envelope, each object as `show`
/// makes it, with the page's first and last `date_added` in the headers.
async fn envelope(
    api: Arc<Api>,
    who: Principal,
    id: String,
    p: ObjectParams,
    show: fn(&str, &serde_json::Value) -> serde_json::Value,
) -> Result<Response, ApiError> {
    let view = api.data.scoped(&who, Need::Share)?;
    let (items, more, next) = blocking(move || page(objects(&view, &id)?, &p)).await?;
    let mut env = serde_json::json!({
        "more": more,
        "objects": items.iter().map(|(added, o)| show(added, o)).collect::<Vec<_>>(),
    });
    if let Some(n) = next {
        env["next"] = n.into();
    }
    let mut r = taxii(env);
    if let (Some(f), Some(l)) = (items.first(), items.last()) {
        for (h, v) in [
            ("x-taxii-date-added-first", &f.0),
            ("x-taxii-date-added-last", &l.0),
        ] {
            if let Ok(v) = header::HeaderValue::from_str(v) {
                r.headers_mut().insert(h, v);
            }
        }
    }
    Ok(r)
}

/// The objects of a collection (an envelope: `more`, `next`, `objects`).
#[utoipa::path(get, path = "/taxii2/api/collections/{id}/objects/", tag = "taxii",
    params(("id" = String, Path, description = "The collection's id"), ObjectParams),
    responses(
        (status = 200, description = "An envelope", body = Object, content_type = "application/taxii+json;version=2.1"),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 404, description = "No such collection", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn objects_get(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Q(p): Q<ObjectParams>,
) -> Result<Response, ApiError> {
    envelope(api, who, id, p, |_, o| o.clone()).await
}

/// The manifest of a collection.
#[utoipa::path(get, path = "/taxii2/api/collections/{id}/manifest/", tag = "taxii",
    params(("id" = String, Path, description = "The collection's id"), ObjectParams),
    responses(
        (status = 200, description = "A manifest", body = Object, content_type = "application/taxii+json;version=2.1"),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 404, description = "No such collection", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not allowed", body = ErrorBody),
    ))]
pub async fn manifest(
    State(api): State<Arc<Api>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    Q(p): Q<ObjectParams>,
) -> Result<Response, ApiError> {
    envelope(api, who, id, p, |added, o| {
        serde_json::json!({
            "id": o["id"], "date_added": added, "version": o["modified"], "media_type": STIX,
        })
    })
    .await
}
