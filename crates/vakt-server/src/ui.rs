//! The web UI: the files `build.rs` built from `ui/` (Vite), embedded in
//! the binary and served under `/ui/` with a strict Content-Security-Policy
//! — scripts, styles, images and requests from this server only, no
//! inline script or style, no framing. Everything the UI shows it reads
//! from `/api/v1` with the signed-in user's session, so its roles and
//! tenants are the API's.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

mod files {
    include!(concat!(env!("OUT_DIR"), "/ui_files.rs"));
}

/// The policy every UI response carries.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

/// An embedded file by its path under `/ui/`.
pub fn file(path: &str) -> Option<&'static [u8]> {
    files::FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, b)| *b)
}

fn mime(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn serve(path: &str) -> Response {
    let Some(body) = file(path) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime(path)));
    // Vite names built assets by their content: they never change.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secure(h);
    r
}

/// The headers of every UI page.
pub fn secure(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

/// Whether a `GET /` is a browser's (it asks for HTML): those go to the UI,
/// shippers asking Elasticsearch's `GET /` get its answer.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// To the UI.
pub fn redirect() -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, HeaderValue::from_static("/ui/"))],
    )
        .into_response()
}

/// The routes under `/ui/`.
pub fn router() -> Router {
    Router::new()
        .route("/ui", get(|| async { redirect() }))
        .route("/ui/", get(|| async { serve("index.html") }))
        .route(
            "/ui/{*path}",
            get(|Path(p): Path<String>| async move {
                // Client-side routes (no dot in the last part) get the page.
                if file(&p).is_none() && !p.rsplit('/').next().unwrap_or("").contains('.') {
                    serve("index.html")
                } else {
                    serve(&p)
                }
            }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_embedded_and_names_only_embedded_assets() {
        let page = std::str::from_utf8(file("index.html").expect("index.html")).unwrap();
        // Every asset the page loads is one of ours, under /ui/.
        for part in page.split("src=\"").chain(page.split("href=\"")).skip(1) {
            let url = part.split('"').next().unwrap();
            if let Some(path) = url.strip_prefix("/ui/") {
                assert!(file(path).is_some(), "{url} is not embedded");
            } else {
                assert!(!url.contains("://"), "the page loads {url}");
            }
        }
        assert!(!page.contains("<style"), "inline style breaks the policy");
    }

    #[test]
    fn browsers_are_sent_to_the_ui_and_shippers_are_not() {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_static("text/html,*/*"));
        assert!(wants_html(&h));
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        assert!(!wants_html(&h));
        assert!(!wants_html(&HeaderMap::new()));
    }
}
