//! Single sign-on through OpenID Connect (`[server.oidc]`): `GET /api/v1/session/oidc/start`
//! sends the browser to the issuer (authorization code flow with state, nonce and PKCE S256,
//! kept here for [`PENDING_TTL_MS`]); `GET /api/v1/session/oidc/callback` exchanges the code,
//! verifies the ID token (RS256 against the issuer's JWKS; `iss`, `aud`, `exp`, `nonce`),
//! maps it to a role and opens a session like a password sign-in does.
//!
//! The endpoints not configured are read from the issuer's discovery document, kept for
//! [`KEEP_MS`]. The JWKS is kept as long, and read sooner when an ID token names a key it does
//! not hold (the provider rotated its keys); a key the provider withdrew is no longer trusted
//! once the kept JWKS is that old.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use parking_lot::Mutex;
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use switchboard_control::config_file::OidcSection;
use switchboard_router::Secret;
use switchboard_store::Role;

use super::AdminError;
use crate::state::AppState;

/// How long a started sign-in may take to come back.
pub const PENDING_TTL_MS: i64 = 10 * 60 * 1000;
/// Sign-ins in progress kept at most.
const PENDING_MAX: usize = 1000;
/// Leeway for the ID token's `exp` against this machine's clock.
const LEEWAY_MS: i64 = 60 * 1000;
/// How long a discovery document or a JWKS is used before it is read again.
pub const KEEP_MS: i64 = 60 * 60 * 1000;

/// The OpenID Connect provider in use, and the sign-ins in progress.
pub struct Oidc {
    cfg: OidcSection,
    client_secret: Option<Secret>,
    http: reqwest::Client,
    pending: Mutex<HashMap<String, Pending>>,
    /// The endpoints last discovered, and when (unused when all three are configured).
    discovered: Mutex<Option<(Endpoints, i64)>>,
    /// The provider's signing keys (the JWKS's `keys`) as last read, and when.
    jwks: Mutex<Option<(Arc<Vec<Value>>, i64)>>,
}

/// Where the provider's endpoints are.
#[derive(Clone)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

struct Pending {
    nonce: String,
    verifier: String,
    created_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("[server.oidc] {0}")]
    Config(String),
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

fn random(n: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// Why a sign-in was refused, for the log (never a token).
fn refused(why: &str) -> AdminError {
    tracing::info!(reason = why, "single sign-on refused");
    AdminError::new(
        StatusCode::UNAUTHORIZED,
        "Single sign-on failed; try again.",
    )
}

impl Oidc {
    /// The provider `cfg` names; the client secret from its `env:` reference.
    pub fn new(cfg: OidcSection) -> Result<Oidc, OidcError> {
        let client_secret = match cfg.client_secret.as_deref() {
            Some(r) => {
                let var = r.strip_prefix("env:").ok_or_else(|| {
                    OidcError::Config("client_secret must be `env:NAME`, never the secret".into())
                })?;
                let v = std::env::var(var)
                    .map_err(|_| OidcError::Config(format!("client_secret: {var} is not set")))?;
                Some(Secret::new(v))
            }
            None => std::env::var("SWITCHBOARD_OIDC_CLIENT_SECRET")
                .ok()
                .filter(|v| !v.is_empty())
                .map(Secret::new),
        };
        for (field, v) in [
            ("issuer", Some(&cfg.issuer)),
            ("redirect_url", Some(&cfg.redirect_url)),
            (
                "authorization_endpoint",
                cfg.authorization_endpoint.as_ref(),
            ),
            ("token_endpoint", cfg.token_endpoint.as_ref()),
            ("jwks_uri", cfg.jwks_uri.as_ref()),
        ] {
            if let Some(v) = v {
                url::Url::parse(v).map_err(|e| OidcError::Config(format!("{field}: {e}")))?;
            }
        }
        if cfg.role_claim.is_none() && cfg.allowed_emails.is_empty() {
            return Err(OidcError::Config(
                "name who may sign in: role_claim with admin_values/viewer_values, or allowed_emails with default_role".into(),
            ));
        }
        if !cfg.allowed_emails.is_empty() && cfg.default_role.is_none() {
            return Err(OidcError::Config(
                "allowed_emails needs default_role".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| OidcError::Config(format!("HTTP client: {e}")))?;
        Ok(Oidc {
            cfg,
            client_secret,
            http,
            pending: Mutex::default(),
            discovered: Mutex::default(),
            jwks: Mutex::default(),
        })
    }

    /// The provider's endpoints: the configured ones, the rest discovered (kept for
    /// [`KEEP_MS`]).
    async fn endpoints(&self, now_ms: i64) -> Result<Endpoints, AdminError> {
        let configured = (
            self.cfg.authorization_endpoint.clone(),
            self.cfg.token_endpoint.clone(),
            self.cfg.jwks_uri.clone(),
        );
        if let (Some(a), Some(t), Some(j)) = configured.clone() {
            return Ok(Endpoints {
                authorization_endpoint: a,
                token_endpoint: t,
                jwks_uri: j,
            });
        }
        let kept = self.discovered.lock().clone();
        let found = match kept {
            Some((e, at)) if (0..KEEP_MS).contains(&(now_ms - at)) => e,
            _ => {
                let d = self.discovery().await?;
                let e = Endpoints {
                    authorization_endpoint: d.authorization_endpoint,
                    token_endpoint: d.token_endpoint,
                    jwks_uri: d.jwks_uri,
                };
                *self.discovered.lock() = Some((e.clone(), now_ms));
                e
            }
        };
        Ok(Endpoints {
            authorization_endpoint: configured.0.unwrap_or(found.authorization_endpoint),
            token_endpoint: configured.1.unwrap_or(found.token_endpoint),
            jwks_uri: configured.2.unwrap_or(found.jwks_uri),
        })
    }

    /// Verifies `token` against the kept JWKS, reading it again first when it is
    /// [`KEEP_MS`] old or the token names a key it lacks (or names none that verifies): a
    /// rotation.
    async fn verify(
        &self,
        token: &str,
        jwks_uri: &str,
        now_ms: i64,
    ) -> Result<Value, &'static str> {
        let kid = token_kid(token)?;
        let kept = self.jwks.lock().clone();
        if let Some((keys, _)) = kept.filter(|(_, at)| (0..KEEP_MS).contains(&(now_ms - at))) {
            let known = kid
                .as_deref()
                .is_none_or(|k| keys.iter().any(|x| x["kid"].as_str() == Some(k)));
            if known {
                match verify_rs256(token, &keys) {
                    Ok(claims) => return Ok(claims),
                    // The named key is held: a bad signature, not a rotation.
                    Err(e) if kid.is_some() => return Err(e),
                    Err(_) => {}
                }
            }
        }
        let jwks: Value = self
            .http
            .get(jwks_uri)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|_| "cannot read the JWKS")?
            .json()
            .await
            .map_err(|_| "unreadable JWKS")?;
        let keys = Arc::new(jwks["keys"].as_array().cloned().ok_or("no keys")?);
        *self.jwks.lock() = Some((keys.clone(), now_ms));
        verify_rs256(token, &keys)
    }

    async fn discovery(&self) -> Result<Discovery, AdminError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.cfg.issuer.trim_end_matches('/')
        );
        let d: Discovery = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| {
                AdminError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("the identity provider's discovery document: {e}"),
                )
            })?
            .json()
            .await
            .map_err(|e| {
                AdminError::new(
                    StatusCode::BAD_GATEWAY,
                    format!("the identity provider's discovery document: {e}"),
                )
            })?;
        if d.issuer.trim_end_matches('/') != self.cfg.issuer.trim_end_matches('/') {
            return Err(AdminError::new(
                StatusCode::BAD_GATEWAY,
                "the identity provider names another issuer",
            ));
        }
        Ok(d)
    }

    /// The role `claims` give, or none (not allowed).
    fn role_of(&self, claims: &Value, email: &str) -> Option<Role> {
        if let Some(claim) = &self.cfg.role_claim {
            let values: Vec<&str> = match &claims[claim.as_str()] {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            let has = |wanted: &[String]| values.iter().any(|v| wanted.iter().any(|w| w == v));
            if has(&self.cfg.admin_values) {
                return Some(Role::Admin);
            }
            if has(&self.cfg.viewer_values) {
                return Some(Role::Viewer);
            }
        }
        let listed = self
            .cfg
            .allowed_emails
            .iter()
            .any(|e| e == "*" || e.eq_ignore_ascii_case(email));
        if listed { self.cfg.default_role } else { None }
    }
}

/// A JWT's header.
fn jwt_header(token: &str) -> Result<Value, &'static str> {
    let h = token.split('.').next().ok_or("not a JWT")?;
    B64.decode(h)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("unreadable header")
}

/// The key id an RS256 JWT's header names, if any.
fn token_kid(token: &str) -> Result<Option<String>, &'static str> {
    let header = jwt_header(token)?;
    if header["alg"] != "RS256" {
        return Err("not RS256");
    }
    Ok(header["kid"].as_str().map(str::to_owned))
}

/// Verifies an RS256 JWT against `keys` (a JWKS's); its claims.
fn verify_rs256(token: &str, keys: &[Value]) -> Result<Value, &'static str> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a JWT");
    };
    let header = jwt_header(token)?;
    if header["alg"] != "RS256" {
        return Err("not RS256");
    }
    let kid = header["kid"].as_str();
    let sig = B64.decode(s).map_err(|_| "unreadable signature")?;
    let signed = &token.as_bytes()[..h.len() + 1 + p.len()];
    let ok = keys
        .iter()
        .filter(|k| k["kty"] == "RSA" && (kid.is_none() || k["kid"].as_str() == kid))
        .any(|k| {
            let (Some(n), Some(e)) = (
                k["n"].as_str().and_then(|n| B64.decode(n).ok()),
                k["e"].as_str().and_then(|e| B64.decode(e).ok()),
            ) else {
                return false;
            };
            ring::signature::RsaPublicKeyComponents { n, e }
                .verify(&ring::signature::RSA_PKCS1_2048_8192_SHA256, signed, &sig)
                .is_ok()
        });
    if !ok {
        return Err("bad signature");
    }
    B64.decode(p)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or("unreadable claims")
}

fn oidc_of(s: &AppState) -> Result<&Oidc, AdminError> {
    s.oidc
        .as_deref()
        .ok_or_else(|| AdminError::not_found("single sign-on (not configured)"))
}

/// Whether single sign-on is offered (the sign-in page shows its button).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct SsoOptions {
    enabled: bool,
}

/// Whether single sign-on is configured (open: the sign-in page asks before signing in).
#[utoipa::path(get, path = "/api/v1/session/oidc/options", responses((status = 200, body = SsoOptions)))]
pub async fn oidc_options(State(s): State<Arc<AppState>>) -> axum::Json<SsoOptions> {
    axum::Json(SsoOptions {
        enabled: s.oidc.is_some(),
    })
}

/// Starts a single sign-on: a redirect to the identity provider.
#[utoipa::path(get, path = "/api/v1/session/oidc/start", responses((status = 303), (status = 404, body = super::ErrorBody)))]
pub async fn oidc_start(State(s): State<Arc<AppState>>) -> Result<Response, AdminError> {
    let oidc = oidc_of(&s)?;
    let now = s.engine.health.now_ms();
    let d = oidc.endpoints(now).await?;
    let state = random(32);
    let nonce = random(32);
    let verifier = random(64);
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    {
        let mut p = oidc.pending.lock();
        p.retain(|_, v| now - v.created_ms < PENDING_TTL_MS);
        if p.len() >= PENDING_MAX {
            return Err(AdminError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many sign-ins in progress; try again in a few minutes.",
            ));
        }
        p.insert(
            state.clone(),
            Pending {
                nonce: nonce.clone(),
                verifier,
                created_ms: now,
            },
        );
    }
    let url = url::Url::parse_with_params(
        &d.authorization_endpoint,
        &[
            ("response_type", "code"),
            ("client_id", oidc.cfg.client_id.as_str()),
            ("redirect_uri", oidc.cfg.redirect_url.as_str()),
            ("scope", "openid email profile"),
            ("state", state.as_str()),
            ("nonce", nonce.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ],
    )
    .map_err(|e| {
        AdminError::new(
            StatusCode::BAD_GATEWAY,
            format!("the authorization endpoint: {e}"),
        )
    })?;
    let mut resp = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(url.as_str()) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
}

/// Where the identity provider sends the browser back: the code is exchanged, the ID token
/// verified, and a session opened.
#[utoipa::path(get, path = "/api/v1/session/oidc/callback", responses((status = 200, description = "Signed in; the page continues to the dashboard"), (status = 401, body = super::ErrorBody)))]
pub async fn oidc_callback(
    State(s): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Result<Response, AdminError> {
    let oidc = oidc_of(&s)?;
    let now = s.engine.health.now_ms();
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(refused("no code or state"));
    };
    let pending = oidc
        .pending
        .lock()
        .remove(&state)
        .filter(|p| now - p.created_ms < PENDING_TTL_MS)
        .ok_or_else(|| refused("unknown or expired state"))?;
    let d = oidc.endpoints(now).await?;
    // Built in a block: the serializer is not `Send` and must not live across an await.
    let form = {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", &oidc.cfg.redirect_url)
            .append_pair("client_id", &oidc.cfg.client_id)
            .append_pair("code_verifier", &pending.verifier);
        if let Some(secret) = &oidc.client_secret {
            form.append_pair("client_secret", secret.expose());
        }
        form.finish()
    };
    let tokens: Value = oidc
        .http
        .post(&d.token_endpoint)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|_| refused("the token endpoint refused the code"))?
        .json()
        .await
        .map_err(|_| refused("unreadable token answer"))?;
    let id_token = tokens["id_token"]
        .as_str()
        .ok_or_else(|| refused("no ID token"))?;
    let claims = oidc
        .verify(id_token, &d.jwks_uri, now)
        .await
        .map_err(refused)?;
    if claims["iss"].as_str().map(|i| i.trim_end_matches('/'))
        != Some(oidc.cfg.issuer.trim_end_matches('/'))
    {
        return Err(refused("wrong issuer"));
    }
    let aud_ok = match &claims["aud"] {
        Value::String(a) => *a == oidc.cfg.client_id,
        Value::Array(a) => a.iter().any(|v| v.as_str() == Some(&oidc.cfg.client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(refused("wrong audience"));
    }
    let exp_ms = claims["exp"].as_i64().ok_or_else(|| refused("no expiry"))? * 1000;
    if exp_ms + LEEWAY_MS <= now {
        return Err(refused("expired ID token"));
    }
    if claims["nonce"].as_str() != Some(pending.nonce.as_str()) {
        return Err(refused("wrong nonce"));
    }
    let email = claims["email"]
        .as_str()
        .filter(|_| claims["email_verified"].as_bool() != Some(false))
        .ok_or_else(|| refused("no verified email"))?;
    let role = oidc
        .role_of(&claims, email)
        .ok_or_else(|| refused("not allowed"))?;
    let opened = s
        .control
        .sign_in_external(email, Some(role))
        .await?
        .ok_or_else(|| refused("user disabled"))?;
    // The cookie is set on this page, which then opens the dashboard itself: a SameSite=Strict
    // cookie is not sent on the redirect chain that started at the identity provider.
    let mut resp = super::session::signed_in(&headers, &opened.token, &opened.user);
    *resp.body_mut() = axum::body::Body::from(
        "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=\"0;url=/\"><title>Signed in</title><a href=\"/\">Continue to Switchboard</a>",
    );
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    Ok(resp)
}
