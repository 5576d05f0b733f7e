//! `/api/v1/session`: signing in with a name and password (a session cookie), signing out,
//! and who the caller is. The guard resolves the cookie on every `/api/*` request (see
//! `guard`); this module owns the cookie's shape and the failed-attempt limit.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use switchboard_control::users::SESSION_TTL_MS;
use switchboard_router::Secret;
use switchboard_store::{Role, SessionUser};
use utoipa::ToSchema;

use super::{AdminError, Body400, ErrorBody};
use crate::listener::Conn;
use crate::state::AppState;

type St = State<Arc<AppState>>;

/// The session cookie's name.
pub const COOKIE: &str = "sb_session";
/// Failed sign-ins allowed per name from one peer address, and per peer address for any
/// name, within [`FAIL_WINDOW_MS`].
pub const MAX_FAILURES: u32 = 10;
/// Failed sign-ins allowed per name from all addresses together within [`FAIL_WINDOW_MS`]:
/// high enough that one address cannot lock a user out (its own limit stops it first), low
/// enough to slow guessing spread over many addresses.
pub const MAX_NAME_FAILURES: u32 = 100;
pub const FAIL_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Names and addresses tracked at most (the table cannot grow without bound).
const TRACKED_MAX: usize = 10_000;

/// Who made an admin API request; set by the guard.
#[derive(Debug, Clone)]
pub enum Caller {
    /// The admin token (automation): an admin.
    Token,
    /// A signed-in user, through the session cookie.
    User(SessionUser),
}

impl Caller {
    pub fn role(&self) -> Role {
        match self {
            Caller::Token => Role::Admin,
            Caller::User(u) => u.role,
        }
    }
}

/// The session cookie's value in `headers`, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<Vec<u8>> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let (name, value) = pair.split_at(pair.iter().position(|b| *b == b'=')?);
            (name == COOKIE.as_bytes()).then(|| value[1..].to_vec())
        })
        .filter(|v| !v.is_empty())
}

/// Whether the request reached us over https (directly or through a proxy that says so):
/// the cookie is then marked `Secure`.
fn over_https(headers: &HeaderMap) -> bool {
    let says = |name: &str, prefix: &[u8]| {
        headers
            .get(name)
            .is_some_and(|v| v.as_bytes().to_ascii_lowercase().starts_with(prefix))
    };
    says("x-forwarded-proto", b"https") || says("origin", b"https://")
}

/// `Set-Cookie` for `value` living `max_age_s` seconds: scoped to this origin (no `Domain`),
/// every path, not readable by scripts, never sent on a cross-site request.
pub fn set_cookie(value: &str, max_age_s: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Max-Age={max_age_s}; Path=/; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

/// A sign-in: the session cookie and who signed in.
pub fn signed_in(headers: &HeaderMap, token: &Secret, user: &SessionUser) -> Response {
    let mut resp = Json(SessionView::of_user(user)).into_response();
    if let Some(c) = set_cookie(token.expose(), SESSION_TTL_MS / 1000, over_https(headers)) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// Failed sign-ins per name and peer, per peer, and per name, in fixed windows. A name is
/// refused to everyone only after [`MAX_NAME_FAILURES`], so failing on purpose from one
/// address locks out that address, not the user.
#[derive(Default)]
pub struct SignInLimiter {
    failures: Mutex<HashMap<String, (i64, u32)>>,
}

impl SignInLimiter {
    /// The windows an attempt counts in, each with its limit.
    fn keys(name: &str, peer: Option<IpAddr>) -> [(String, u32); 3] {
        let peer = peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
        [
            (format!("name:{name} peer:{peer}"), MAX_FAILURES),
            (format!("peer:{peer}"), MAX_FAILURES),
            (format!("name:{name}"), MAX_NAME_FAILURES),
        ]
    }

    /// Whether another attempt for `name` from `peer` may be checked now.
    fn allows(&self, name: &str, peer: Option<IpAddr>, now_ms: i64) -> bool {
        let f = self.failures.lock();
        Self::keys(name, peer).iter().all(|(k, max)| {
            f.get(k)
                .is_none_or(|(start, n)| now_ms - start >= FAIL_WINDOW_MS || n < max)
        })
    }

    fn failed(&self, name: &str, peer: Option<IpAddr>, now_ms: i64) {
        let mut f = self.failures.lock();
        if f.len() >= TRACKED_MAX {
            f.retain(|_, (start, _)| now_ms - *start < FAIL_WINDOW_MS);
        }
        for (k, _) in Self::keys(name, peer) {
            if f.len() >= TRACKED_MAX && !f.contains_key(&k) {
                // Full of live windows: the entries already tracked still count.
                continue;
            }
            let e = f.entry(k).or_insert((now_ms, 0));
            if now_ms - e.0 >= FAIL_WINDOW_MS {
                *e = (now_ms, 0);
            }
            e.1 += 1;
        }
    }

    /// A right password from `peer` clears that name's failures from there.
    fn succeeded(&self, name: &str, peer: Option<IpAddr>) {
        let [(own, _), ..] = Self::keys(name, peer);
        self.failures.lock().remove(&own);
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    name: String,
    password: String,
}

/// Who is calling: a signed-in user, or the admin token.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    /// The user's name; `null` for the admin token.
    name: Option<String>,
    #[schema(value_type = String, example = "viewer")]
    role: Role,
    /// `session` (a password or single sign-on), or `token` for the admin token.
    via: &'static str,
    /// When the session ends (Unix ms); `null` for the admin token.
    expires_at_ms: Option<i64>,
}

impl SessionView {
    fn of_user(u: &SessionUser) -> SessionView {
        SessionView {
            name: Some(u.name.clone()),
            role: u.role,
            via: "session",
            expires_at_ms: Some(u.expires_at_ms),
        }
    }
}

/// Signs in with a name and password; the answer sets the session cookie. A wrong name and
/// a wrong password get the same 401; too many failures for a name or from an address get
/// 429 for a while.
#[utoipa::path(post, path = "/api/v1/session", request_body = SignIn, responses((status = 200, body = SessionView), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn sign_in(
    State(s): St,
    conn: Option<Extension<Conn>>,
    headers: HeaderMap,
    Body400(body): Body400<SignIn>,
) -> Result<Response, AdminError> {
    let peer = conn.map(|Extension(c)| c.peer.ip());
    let now = s.engine.health.now_ms();
    if !s.sign_ins.allows(&body.name, peer, now) {
        return Err(AdminError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins; wait a few minutes.",
        ));
    }
    let opened = s
        .control
        .sign_in_password(&body.name, Secret::new(body.password))
        .await?;
    let Some(opened) = opened else {
        s.sign_ins.failed(&body.name, peer, now);
        tracing::info!("sign-in refused: wrong name or password");
        return Err(AdminError::new(
            StatusCode::UNAUTHORIZED,
            "Wrong name or password.",
        ));
    };
    s.sign_ins.succeeded(&body.name, peer);
    Ok(signed_in(&headers, &opened.token, &opened.user))
}

/// Signs out: the session ends and the cookie is cleared.
#[utoipa::path(delete, path = "/api/v1/session", responses((status = 204)))]
pub async fn sign_out(State(s): St, headers: HeaderMap) -> Result<Response, AdminError> {
    if let Some(token) = session_cookie(&headers) {
        s.control.sign_out(&token).await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Some(c) = set_cookie("", 0, over_https(&headers)) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// Who the caller is and their role.
#[utoipa::path(get, path = "/api/v1/session", responses((status = 200, body = SessionView), (status = 401, body = ErrorBody)))]
pub async fn whoami(caller: Option<Extension<Caller>>) -> Result<Json<SessionView>, AdminError> {
    match caller.map(|Extension(c)| c) {
        Some(Caller::User(u)) => Ok(Json(SessionView::of_user(&u))),
        Some(Caller::Token) => Ok(Json(SessionView {
            name: None,
            role: Role::Admin,
            via: "token",
            expires_at_ms: None,
        })),
        None => Err(AdminError::new(StatusCode::UNAUTHORIZED, "Not signed in.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "a=1; sb_session=sbses-x; b=2".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h), Some(b"sbses-x".to_vec()));
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            "sb_session_other=1; sb_session=".parse().unwrap(),
        );
        assert_eq!(session_cookie(&h), None);
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie("v", 60, false).unwrap();
        assert_eq!(
            c.to_str().unwrap(),
            "sb_session=v; Max-Age=60; Path=/; HttpOnly; SameSite=Strict"
        );
        assert!(
            set_cookie("v", 60, true)
                .unwrap()
                .to_str()
                .unwrap()
                .ends_with("; Secure")
        );
    }

    #[test]
    fn failures_are_limited_per_name_and_peer() {
        let l = SignInLimiter::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..MAX_FAILURES {
            assert!(l.allows("alice", Some(a), 0));
            l.failed("alice", Some(a), 0);
        }
        assert!(!l.allows("alice", Some(a), 1));
        assert!(!l.allows("bob", Some(a), 1), "per address, for any name");
        assert!(
            l.allows("alice", Some(b), 1),
            "failures from one address do not lock the user out elsewhere"
        );
        assert!(l.allows("bob", Some(b), 1));
        assert!(
            l.allows("alice", Some(a), FAIL_WINDOW_MS),
            "the window passes"
        );
    }

    #[test]
    fn failures_spread_over_many_addresses_stop_at_the_names_limit() {
        let l = SignInLimiter::default();
        let mut n = 0;
        for host in 0..=255u8 {
            let peer: IpAddr = [10, 1, 0, host].into();
            for _ in 0..MAX_FAILURES / 2 {
                if n < MAX_NAME_FAILURES {
                    assert!(l.allows("alice", Some(peer), 0));
                    l.failed("alice", Some(peer), 0);
                    n += 1;
                }
            }
        }
        let fresh: IpAddr = [10, 2, 0, 1].into();
        assert!(!l.allows("alice", Some(fresh), 1), "the name's own limit");
        assert!(l.allows("bob", Some(fresh), 1));
    }
}
