//! The guard stack. Every request passes these checks, in this order, before routing and
//! before its body is read (SECURITY.md T1–T4, T11):
//!
//! 1. **Peer** — a non-loopback peer is refused unless remote mode is on (T4).
//! 2. **Host** — the `Host` header must name this machine (`localhost` or `127.0.0.1`, any
//!    case, any port; `[::1]` bare or with the port we listen on) or a configured extra name;
//!    otherwise 403 (DNS rebinding, T1).
//! 3. **Origin** — a foreign `Origin` or `Sec-Fetch-Site: cross-site` is refused (CSRF, T2).
//!    No response ever carries CORS headers (T3). A state-changing request carrying the
//!    session cookie must also *show* it is same-origin (an `Origin` that passed, or
//!    `Sec-Fetch-Site: same-origin`): a request without either is refused, so a cookie
//!    never authorises a request whose origin is unknown.
//! 4. **Credential** — `/v1/*` needs the access key (`Authorization: Bearer`, `x-api-key`,
//!    `x-goog-api-key` or `?key=`); `/api/*` and `/metrics` need the admin token, as
//!    `Authorization: Bearer` only (`/metrics` is open when `Options.open_metrics` says so);
//!    `/api/*` also accepts a signed-in user's session cookie (see `admin::session`; only
//!    `POST /api/v1/session`, signing in, is open). The request carries its [`Caller`]. A
//!    viewer's request that is not a read (`GET`/`HEAD`), or a read that reveals a secret
//!    (the access key), is refused with 403 in the admin API's error shape. Single sign-on's
//!    start and callback are open too (the callback alone may arrive cross-site: the
//!    identity provider's redirect; its one-time `state` is what it is checked by).
//!    Compared in constant time. `GET /health`, `HEAD /` and the dashboard's static files
//!    are open. A request that passes marks its connection authenticated (the listener never
//!    sheds it), and an access-key request carries its holder's [`Owner`] and client to the
//!    handler. An unknown, disabled or expired client key is refused alike.
//! 5. **Content type** — requests with a body must be JSON (415), so a cross-site "simple"
//!    `text/plain` POST never reaches a handler.
//! 6. **Body size** — a declared `Content-Length` over the limit is refused with 413 without
//!    reading it; handlers cap undeclared (chunked) bodies while reading.
//! 7. **Routing switch** — `/v1/*` while routing is switched off in the dashboard is a 503
//!    (`routing_off`) after the checks above; nothing goes upstream.
//!
//! Errors are written in the dialect of the path, so every client can read them.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use http::{HeaderMap, Method, header};
use switchboard_control::ClientEntry;
use switchboard_protocol::{ClientError, Dialect, ErrorKind};
use switchboard_router::conversations::Owner;
use switchboard_store::Role;

use crate::admin::AdminError;
use crate::admin::session::{Caller, session_cookie};
use crate::listener::Conn;
use crate::refused::Refusal;
use crate::state::{AppState, GuardConfig};

/// The dialect whose error shape a path's clients read.
pub fn dialect_of_path(path: &str) -> Dialect {
    if path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else if path.starts_with("/v1/responses") {
        Dialect::OpenaiResponses
    } else if path.starts_with("/v1beta/")
        || (path.starts_with("/v1/models/") && path.contains(':'))
    {
        Dialect::Gemini
    } else {
        Dialect::OpenaiChat
    }
}

/// An error answered before routing, in the client's dialect; marked as a [`Refusal`] so the
/// request log shows it (see `refused`).
pub fn error_response(dialect: Dialect, err: &ClientError) -> Response {
    let body = serde_json::to_vec(&err.to_body(dialect)).unwrap_or_default();
    let mut resp = Response::builder()
        .status(err.status())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default();
    resp.extensions_mut().insert(Refusal(err.message.clone()));
    resp
}

fn deny(path: &str, kind: ErrorKind, message: &str) -> Response {
    error_response(dialect_of_path(path), &ClientError::new(kind, message))
}

/// Whether `host` (a `Host` header value) names this machine. `[::1]` is accepted bare or
/// with `our_port` only (the port this connection reached; `None`: bare only).
pub fn is_loopback_name(host: &str, our_port: Option<u16>) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some(("::1", "")) => true,
            Some(("::1", tail)) => {
                our_port.is_some_and(|p| tail.strip_prefix(':') == Some(p.to_string().as_str()))
            }
            _ => false,
        };
    } else {
        match host.rsplit_once(':') {
            Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
            Some(_) => return false,
            None => host,
        }
    };
    name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1"
}

fn host_allowed(host: &str, cfg: &GuardConfig, our_port: Option<u16>) -> bool {
    if is_loopback_name(host, our_port) {
        return true;
    }
    let name = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    cfg.extra_hosts.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// Which credential a path needs.
#[derive(Clone, Copy)]
enum Needs {
    Nothing,
    AccessKey,
    AdminToken,
}

fn needs(method: &Method, path: &str) -> Needs {
    if (path == "/api/v1/session" && method == Method::POST)
        || (path.starts_with("/api/v1/session/oidc/") && method == Method::GET)
    {
        // Signing in: the credential is in the body, or comes from the identity provider.
        Needs::Nothing
    } else if path.starts_with("/v1/") || path.starts_with("/v1beta/") {
        Needs::AccessKey
    } else if path.starts_with("/api/") || path == "/metrics" {
        Needs::AdminToken
    } else if path == "/health" || method == Method::HEAD || method == Method::GET {
        Needs::Nothing
    } else {
        Needs::AdminToken
    }
}

/// Where the identity provider sends the browser back after single sign-on.
const OIDC_CALLBACK: &str = "/api/v1/session/oidc/callback";

/// Admin API reads that reveal a secret: refused to viewers.
fn reveals_secret(path: &str) -> bool {
    path == "/api/v1/access-key"
}

/// A request that may change state (anything but a read).
fn is_read(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A refusal of the admin API (its `{error: {message}}` shape), marked for the request log.
fn deny_admin(status: http::StatusCode, message: &str) -> Response {
    let mut resp = axum::response::IntoResponse::into_response(AdminError::new(status, message));
    resp.extensions_mut().insert(Refusal(message.to_owned()));
    resp
}

/// The credential a client presented, in any of the ways the four dialects send it. An empty
/// credential is no credential: it never matches, so an empty access key (an empty
/// `access_keys` entry or `env:` variable in the config file) cannot turn auth off (T4).
fn presented(headers: &HeaderMap, query: Option<&str>) -> Option<Vec<u8>> {
    presented_any(headers, query).filter(|p| !p.is_empty())
}

/// The admin token, which is accepted only as `Authorization: Bearer …` (never `x-api-key`,
/// the query string or a bare `Authorization` value).
fn presented_bearer(headers: &HeaderMap) -> Option<Vec<u8>> {
    let v = headers.get(header::AUTHORIZATION)?.as_bytes();
    let scheme = v.get(..7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    Some(v[7..].trim_ascii().to_vec()).filter(|p| !p.is_empty())
}

fn presented_any(headers: &HeaderMap, query: Option<&str>) -> Option<Vec<u8>> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v.as_bytes();
        let token = v
            .strip_prefix(b"Bearer ")
            .or_else(|| v.strip_prefix(b"bearer "))
            .unwrap_or(v);
        return Some(token.trim_ascii().to_vec());
    }
    for name in ["x-api-key", "x-goog-api-key"] {
        if let Some(v) = headers.get(name) {
            return Some(v.as_bytes().trim_ascii().to_vec());
        }
    }
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
        .map(|k| k.as_bytes().to_vec())
}

/// What the credential check found, for the handler: the access key's holder and its
/// client, or the admin API's caller.
pub struct Checked {
    pub owner: Option<Owner>,
    pub client: Option<Arc<ClientEntry>>,
    pub caller: Option<Caller>,
}

impl Checked {
    /// Into the request's extensions, where the handlers axum serves read them.
    pub fn into_extensions(self, req: &mut Request) {
        if let Some(owner) = self.owner {
            req.extensions_mut().insert(owner);
        }
        if let Some(client) = self.client {
            req.extensions_mut().insert(client);
        }
        if let Some(caller) = self.caller {
            req.extensions_mut().insert(caller);
        }
    }
}

/// The checks this module lists, in order, then `next` with what they found. `conn` is the
/// connection the request arrived on; `path` the request's path, read once by the refusal
/// log that calls this.
pub async fn guard<F, Fut>(
    state: &AppState,
    conn: Option<&Conn>,
    path: &str,
    req: Request,
    next: F,
) -> Response
where
    F: FnOnce(Request, Checked) -> Fut,
    Fut: Future<Output = Response>,
{
    // 1. Peer.
    let peer_ok = conn.is_none_or(|c| c.peer.ip().is_loopback() || state.guard.remote);
    if !peer_ok {
        return deny(
            path,
            ErrorKind::PermissionDenied,
            "Remote clients are not accepted: remote mode is off.",
        );
    }
    // 2. Host.
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    let our_port = conn.and_then(|c| c.local).map(|a| a.port());
    if !host.is_some_and(|h| host_allowed(h, &state.guard, our_port)) {
        return deny(path, ErrorKind::PermissionDenied, "Host not allowed.");
    }
    // 3. Origin.
    let headers = req.headers();
    // The identity provider sends the browser back across sites; its `state` is the check.
    let sso_return = path == OIDC_CALLBACK && req.method() == Method::GET;
    if !sso_return
        && headers
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return deny(
            path,
            ErrorKind::PermissionDenied,
            "Cross-site requests are not allowed.",
        );
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = origin
            .to_str()
            .ok()
            .and_then(|o| {
                o.strip_prefix("http://")
                    .or_else(|| o.strip_prefix("https://"))
            })
            .is_some_and(|h| host_allowed(h, &state.guard, our_port) && Some(h) == host);
        // Tauri's webview loads the dashboard from its own scheme and talks to us from there.
        let desktop = origin.as_bytes() == b"tauri://localhost"
            || origin.as_bytes() == b"http://tauri.localhost";
        if !same && !desktop {
            return deny(
                path,
                ErrorKind::PermissionDenied,
                "Requests from other origins are not allowed.",
            );
        }
    }
    let method = req.method().clone();
    let cookie = if path.starts_with("/api/") && presented_bearer(headers).is_none() {
        session_cookie(headers)
    } else {
        None
    };
    if cookie.is_some() && !is_read(&method) {
        // The Origin (if any) passed above; without one, the fetch metadata must say so.
        let shown_same_origin = headers.contains_key(header::ORIGIN)
            || headers
                .get("sec-fetch-site")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"));
        if !shown_same_origin {
            return deny(
                path,
                ErrorKind::PermissionDenied,
                "Cross-site requests are not allowed.",
            );
        }
    }
    // 4. Credential.
    let mut caller = None;
    // The access key's holder, for what is theirs alone (stored conversations).
    let mut owner = None;
    // The client holding the key (an unknown, disabled or expired one is no client).
    let mut client = None;
    // `Some(true)`: a credential was checked and matched; `None`: none was needed.
    let need = needs(&method, path);
    let verified = match need {
        Needs::Nothing => None,
        Needs::AdminToken if state.guard.open_metrics && path == "/metrics" => None,
        Needs::AccessKey => Some(presented(headers, req.uri().query()).is_some_and(|p| {
            // Looked up by the key's SHA-256 digest: timing reveals nothing of the key.
            client = state.control.clients().resolve(&p);
            owner = client.is_some().then(|| Owner::of(&p));
            client.is_some()
        })),
        Needs::AdminToken => match (presented_bearer(headers), &cookie) {
            (Some(p), _) => {
                let ok = state.admin_token.read().ct_eq(&p);
                caller = ok.then_some(Caller::Token);
                Some(ok)
            }
            (None, Some(c)) => match state.control.session(c).await {
                Ok(user) => {
                    caller = user.map(Caller::User);
                    Some(caller.is_some())
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read sessions");
                    return deny_admin(
                        http::StatusCode::SERVICE_UNAVAILABLE,
                        "Sessions cannot be checked right now (the database is unreachable).",
                    );
                }
            },
            (None, None) => Some(false),
        },
    };
    if verified == Some(true) {
        // Its connection is no longer a candidate for shedding when the server is full.
        if let Some(conn) = conn {
            conn.mark_authenticated();
        }
    }
    let ok = verified != Some(false);
    if !ok {
        let message = match need {
            Needs::AdminToken if cookie.is_some() => "Not signed in, or the session has ended.",
            Needs::AdminToken => "Missing or wrong admin token.",
            _ => {
                "Missing or wrong access key. Send the Switchboard access key as `Authorization: Bearer …` or `x-api-key`."
            }
        };
        return deny(path, ErrorKind::Authentication, message);
    }
    if let Some(c) = &caller
        && c.role() == Role::Viewer
        && path != "/api/v1/session"
    {
        if !is_read(&method) {
            return deny_admin(
                http::StatusCode::FORBIDDEN,
                "Viewers cannot change anything; ask an admin.",
            );
        }
        if reveals_secret(path) {
            return deny_admin(
                http::StatusCode::FORBIDDEN,
                "Viewers cannot see secrets; ask an admin.",
            );
        }
    }
    // 5. Content type.
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        let declared_len = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        // HTTP/1.1: a request has a body only with a non-zero Content-Length or chunked encoding.
        let has_body =
            declared_len.is_some_and(|n| n > 0) || headers.contains_key(header::TRANSFER_ENCODING);
        let json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| accepted_content_type(ct, path));
        if has_body && !json {
            return deny(
                path,
                ErrorKind::UnsupportedMediaType,
                "Request bodies must be JSON (Content-Type: application/json).",
            );
        }
        // 6. Body size.
        let limit = state.engine.snapshot().settings.body_limit_bytes;
        if declared_len.is_some_and(|n| n > limit) {
            return deny(
                path,
                ErrorKind::PayloadTooLarge,
                &format!("Request body is larger than the limit of {limit} bytes."),
            );
        }
    }
    // 7. The routing switch: `/v1/*` while routing is switched off in the dashboard is a clear
    // 503, and nothing goes upstream.
    if matches!(need, Needs::AccessKey) && !state.control.routing_enabled() {
        return error_response(
            dialect_of_path(path),
            &ClientError::new(
                ErrorKind::Unavailable,
                "Routing is switched off in Switchboard.",
            )
            .with_code("routing_off"),
        );
    }
    next(
        req,
        Checked {
            owner,
            client,
            caller,
        },
    )
    .await
}

/// Whether a body of content type `ct` may be sent to `path`: JSON (`application/json` or a
/// `+json` type, any case, any parameters), or a form where the path takes one.
fn accepted_content_type(ct: &str, path: &str) -> bool {
    let mime = ct.split(';').next().unwrap_or("").trim().as_bytes();
    mime.eq_ignore_ascii_case(b"application/json")
        || mime
            .len()
            .checked_sub(5)
            .is_some_and(|at| mime[at..].eq_ignore_ascii_case(b"+json"))
        || (mime.eq_ignore_ascii_case(b"multipart/form-data") && crate::ingress::takes_form(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_forms_where_taken_are_the_accepted_content_types() {
        let chat = "/v1/chat/completions";
        assert!(accepted_content_type("application/json", chat));
        assert!(accepted_content_type(
            " Application/JSON ; charset=utf-8",
            chat
        ));
        assert!(accepted_content_type("application/merge-patch+JSON", chat));
        assert!(!accepted_content_type("text/plain", chat));
        assert!(!accepted_content_type("json", chat));
        assert!(!accepted_content_type("application/jsonx", chat));
        assert!(!accepted_content_type(
            "multipart/form-data; boundary=x",
            chat
        ));
        assert!(accepted_content_type(
            "Multipart/Form-Data; boundary=x",
            "/v1/audio/transcriptions"
        ));
        assert!(!accepted_content_type(
            "text/plain",
            "/v1/audio/transcriptions"
        ));
    }

    #[test]
    fn loopback_names() {
        for ok in [
            "localhost",
            "LOCALHOST:9911",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:9911",
            "LocalHost",
        ] {
            assert!(is_loopback_name(ok, Some(9911)), "{ok}");
        }
        for bad in [
            "evil.example:9911",
            "127.0.0.1.nip.io",
            "localhost.evil.example",
            "0.0.0.0:9911",
            "[::1]x",
            "[::1]:",
            "[::1]:80",
            "[::1]:99110",
            "[::1]:09911",
            "[::2]:9911",
            "127.0.0.2",
            "",
        ] {
            assert!(!is_loopback_name(bad, Some(9911)), "{bad}");
        }
        assert!(is_loopback_name("[::1]", None));
        assert!(!is_loopback_name("[::1]:9911", None));
    }

    #[test]
    fn admin_token_only_as_bearer() {
        let with = |name: &str, value: &str| {
            let mut h = HeaderMap::new();
            h.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
            presented_bearer(&h)
        };
        assert_eq!(with("authorization", "Bearer tok"), Some(b"tok".to_vec()));
        assert_eq!(with("authorization", "bearer tok "), Some(b"tok".to_vec()));
        assert_eq!(with("authorization", "tok"), None);
        assert_eq!(with("authorization", "Basic tok"), None);
        assert_eq!(with("authorization", "Bearer "), None);
        assert_eq!(with("x-api-key", "tok"), None);
        assert_eq!(with("x-goog-api-key", "tok"), None);
    }

    #[test]
    fn dialect_by_path() {
        assert_eq!(dialect_of_path("/v1/messages"), Dialect::Anthropic);
        assert_eq!(dialect_of_path("/v1/responses"), Dialect::OpenaiResponses);
        assert_eq!(
            dialect_of_path("/v1beta/models/g:generateContent"),
            Dialect::Gemini
        );
        assert_eq!(
            dialect_of_path("/v1/models/g:streamGenerateContent"),
            Dialect::Gemini
        );
        assert_eq!(dialect_of_path("/v1/models"), Dialect::OpenaiChat);
    }
}
