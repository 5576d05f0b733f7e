//! The dashboard: the single-page app built from `ui/` into `ui/dist`, served at `/` and, for
//! client-side routes, at any other GET path outside `/v1`, `/v1beta` and `/api` (the SPA
//! fallback to `index.html`).
//!
//! Release builds embed `ui/dist` in the binary (rust-embed); debug builds read it from disk.
//! When `ui/dist` did not exist at build time (a fresh clone), a short page says how to build
//! it. HTML is sent with a strict Content-Security-Policy: no inline scripts or styles, no
//! eval, nothing from other origins (SECURITY.md T9). Hashed assets are cached for good;
//! `index.html` is revalidated on every load so an upgrade is picked up at once.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

/// The policy on every HTML page the router serves.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                       font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// Whether a GET for `path` belongs to the dashboard (everything but the APIs).
pub fn serves(path: &str) -> bool {
    let api = |prefix: &str| path == prefix || path.starts_with(&format!("{prefix}/"));
    !(api("/v1") || api("/v1beta") || api("/api") || path == "/health" || path == "/metrics")
}

/// The response for a dashboard GET: the file at `path`, or `index.html` for app routes.
pub fn page(path: &str) -> Response {
    let rel = path.trim_start_matches('/');
    if !rel.is_empty()
        && let Some(bytes) = assets::get(rel)
    {
        return file_response(rel, bytes);
    }
    // A missing asset is a 404, not the app: a stale page asking for an old hashed file must
    // not get HTML back as JavaScript.
    if rel.starts_with("assets/") || rel.contains("..") {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    match assets::get("index.html") {
        Some(bytes) => file_response("index.html", bytes),
        None => html(StatusCode::OK, NOT_BUILT.as_bytes().to_vec().into()),
    }
}

fn file_response(rel: &str, bytes: std::borrow::Cow<'static, [u8]>) -> Response {
    let ext = rel.rsplit_once('.').map_or("", |(_, e)| e);
    if ext == "html" {
        return html(StatusCode::OK, bytes);
    }
    let cache = if rel.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut resp = Response::new(Body::from(bytes));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(ext)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    common_headers(h);
    resp
}

fn html(status: StatusCode, bytes: std::borrow::Cow<'static, [u8]>) -> Response {
    let mut resp = Response::new(Body::from(bytes));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    common_headers(h);
    resp
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    let mut resp = Response::new(Body::from(text));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    common_headers(resp.headers_mut());
    resp
}

fn common_headers(h: &mut http::HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

fn content_type(ext: &str) -> &'static str {
    match ext {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

const NOT_BUILT: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Switchboard</title></head>\n<body>\
<h1>Switchboard is running</h1>\n<p>The dashboard was not built: run \
<code>npm --prefix ui ci &amp;&amp; npm --prefix ui run build</code> in the source tree, then rebuild the router.</p>\n\
<p>The API is available under <code>/v1</code> and the admin API under <code>/api/v1</code>.</p>\n</body></html>\n";

#[cfg(switchboard_ui_dist)]
mod assets {
    #[derive(rust_embed::RustEmbed)]
    #[folder = "$CARGO_MANIFEST_DIR/../../ui/dist"]
    struct Dist;

    pub fn get(path: &str) -> Option<std::borrow::Cow<'static, [u8]>> {
        Dist::get(path).map(|f| f.data)
    }
}

#[cfg(not(switchboard_ui_dist))]
mod assets {
    pub fn get(_path: &str) -> Option<std::borrow::Cow<'static, [u8]>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_not_the_dashboard() {
        for p in [
            "/v1",
            "/v1/models",
            "/v1beta/models/x",
            "/api",
            "/api/v1/nope",
            "/health",
            "/metrics",
        ] {
            assert!(!serves(p), "{p}");
        }
        for p in [
            "/",
            "/providers",
            "/routes/gpt-5.5",
            "/assets/index-abc.js",
            "/v1x",
            "/apis",
        ] {
            assert!(serves(p), "{p}");
        }
    }

    #[test]
    fn html_carries_the_policy() {
        let resp = page("/requests");
        assert_eq!(
            resp.headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .and_then(|v| v.to_str().ok()),
            Some(CSP)
        );
        assert!(!CSP.contains("unsafe"));
    }
}
