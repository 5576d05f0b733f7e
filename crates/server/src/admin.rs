//! The admin API under `/api/v1`: providers, keys (secrets write-only), routes, settings,
//! key health and its live events, the request log and its live tail, usage, and the local
//! access key. Behind the admin token (see `guard`). Documented as OpenAPI for the dashboard.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt};
use http::StatusCode;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use switchboard_router::health::{
    Availability, CooldownPolicy, HealthEntry, HealthEvent, HealthState, Scope,
};
use switchboard_router::log::RequestRecord;
use switchboard_router::model::{Invalid, ModelInfo, ModelSource};
use switchboard_router::snapshot::order_targets;
use switchboard_router::upstream::{models_url, request_headers};
use switchboard_router::{KeyInfo, Provider, Route, Secret, Settings};
use switchboard_store::{
    Bucket, GroupBy, KeyPatch, KeySecret, LocalToken, RequestFilter, StatusFilter, StoreError,
    UsageQuery,
};
use tokio_stream::wrappers::BroadcastStream;
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::host::UpdateNotice;
use crate::state::AppState;

type St = State<Arc<AppState>>;

/// An admin API error: status, message, and the offending field for validation errors.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl AdminError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        AdminError {
            status,
            message: message.into(),
            field: None,
        }
    }

    fn not_found(what: impl std::fmt::Display) -> Self {
        AdminError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        AdminError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{field}: {}", message.into()),
            field: Some(field),
        }
    }
}

impl From<Invalid> for AdminError {
    fn from(e: Invalid) -> Self {
        AdminError::invalid(e.field, e.message)
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid { field, message } => AdminError::invalid(field, message),
            StoreError::NotFound { what } => AdminError::not_found(what),
            StoreError::Conflict { what } => {
                AdminError::new(StatusCode::CONFLICT, format!("{what} already exists"))
            }
            other => {
                tracing::error!(error = %other, "store error in admin API");
                AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                message: self.message,
                field: self.field,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, AdminError>;

/// A JSON body whose errors name the field (`targets[0].weight: invalid type …`).
pub struct Body400<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body400<T> {
    type Rejection = AdminError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), 4 * 1024 * 1024)
            .await
            .map_err(|_| AdminError::new(StatusCode::PAYLOAD_TOO_LARGE, "body too large"))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(Body400)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." { "body".to_owned() } else { path };
                AdminError::invalid(field, e.into_inner().to_string())
            })
    }
}

// ---------------------------------------------------------------------------------------
// Status

#[derive(Serialize, ToSchema)]
pub struct Status {
    version: String,
    /// Base URL tools use (`…/v1`).
    endpoint: String,
    routing: bool,
    providers: usize,
    keys: usize,
    routes: usize,
    in_flight: u64,
    /// Where secrets are kept: `os_keychain`, `encrypted_file`.
    secret_store: String,
    /// Why secrets are not in the OS keychain, when the desktop app could not use it.
    secret_store_note: Option<String>,
    /// A verified update of the desktop app, waiting for `POST /api/v1/update/install`.
    update: Option<UpdateNotice>,
    started_at_ms: i64,
    keys_healthy: usize,
    keys_cooling: usize,
    keys_failed: usize,
}

#[utoipa::path(get, path = "/api/v1/status", responses((status = 200, body = Status)))]
pub async fn status(State(s): St, headers: http::HeaderMap) -> ApiResult<Status> {
    let snap = s.engine.snapshot();
    let keys = s.store.list_keys(None).await?;
    let states = key_states(&s, &keys);
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    Ok(Json(Status {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        endpoint: format!("http://{host}/v1"),
        routing: s.routing.load(std::sync::atomic::Ordering::Relaxed),
        providers: snap.providers.len(),
        keys: keys.len(),
        routes: snap.routes.len(),
        in_flight: s.engine.in_flight(),
        secret_store: s.store.secret_store_kind().as_str().to_owned(),
        secret_store_note: s.host_app.secret_store_note(),
        update: s.host_app.update(),
        started_at_ms: s.started_at_ms,
        keys_healthy: states
            .iter()
            .filter(|k| k.state == HealthState::Healthy)
            .count(),
        keys_cooling: states
            .iter()
            .filter(|k| matches!(k.state, HealthState::Cooling | HealthState::Probing))
            .count(),
        keys_failed: states
            .iter()
            .filter(|k| k.state == HealthState::AuthError)
            .count(),
    }))
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Routing {
    enabled: bool,
}

/// Turns routing on or off: when off, `/v1/*` answers 503 and nothing is sent upstream.
#[utoipa::path(put, path = "/api/v1/routing", request_body = Routing, responses((status = 200, body = Routing)))]
pub async fn set_routing(State(s): St, Body400(r): Body400<Routing>) -> ApiResult<Routing> {
    s.routing
        .store(r.enabled, std::sync::atomic::Ordering::Relaxed);
    s.store
        .put_value("routing_enabled", &serde_json::json!(r.enabled))
        .await?;
    Ok(Json(r))
}

/// Installs the update the desktop app announced in `status.update` (it verified the
/// signature; it verifies again, installs and restarts). 409 when no update is waiting,
/// always so on a headless server.
#[utoipa::path(post, path = "/api/v1/update/install", responses((status = 202, body = UpdateNotice), (status = 409, body = ErrorBody)))]
pub async fn install_update(State(s): St) -> Result<(StatusCode, Json<UpdateNotice>), AdminError> {
    let update = s.host_app.request_install().ok_or_else(|| {
        AdminError::new(
            StatusCode::CONFLICT,
            "no verified update is waiting (updates are installed by the desktop app)",
        )
    })?;
    tracing::info!(version = %update.version, "update install requested from the dashboard");
    Ok((StatusCode::ACCEPTED, Json(update)))
}

// ---------------------------------------------------------------------------------------
// Providers

#[utoipa::path(get, path = "/api/v1/providers", responses((status = 200, body = Vec<Provider>)))]
pub async fn list_providers(State(s): St) -> ApiResult<Vec<Provider>> {
    Ok(Json(s.store.list_providers().await?))
}

#[utoipa::path(get, path = "/api/v1/providers/{name}", responses((status = 200, body = Provider), (status = 404, body = ErrorBody)))]
pub async fn get_provider(State(s): St, Path(name): Path<String>) -> ApiResult<Provider> {
    s.store
        .get_provider(&name)
        .await?
        .map(Json)
        .ok_or_else(|| AdminError::not_found(format!("provider `{name}`")))
}

/// Creates a provider, or replaces the one with the same name.
#[utoipa::path(post, path = "/api/v1/providers", request_body = Provider, responses((status = 200, body = Provider), (status = 400, body = ErrorBody)))]
pub async fn put_provider(State(s): St, Body400(p): Body400<Provider>) -> ApiResult<Provider> {
    p.validate()?;
    let _edit = s.edits.lock().await;
    s.store.upsert_provider(&p).await?;
    s.reload().await?;
    Ok(Json(p))
}

#[utoipa::path(put, path = "/api/v1/providers/{name}", request_body = Provider, responses((status = 200, body = Provider), (status = 400, body = ErrorBody)))]
pub async fn update_provider(
    state: St,
    Path(name): Path<String>,
    Body400(p): Body400<Provider>,
) -> ApiResult<Provider> {
    if p.name != name {
        return Err(AdminError::invalid(
            "name",
            "must match the provider in the path (renaming is not supported)",
        ));
    }
    put_provider(state, Body400(p)).await
}

#[utoipa::path(delete, path = "/api/v1/providers/{name}", responses((status = 204)))]
pub async fn delete_provider(
    State(s): St,
    Path(name): Path<String>,
) -> Result<StatusCode, AdminError> {
    let _edit = s.edits.lock().await;
    s.store.delete_provider(&name).await?;
    s.reload().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads the provider's model list with its first enabled key and caches it (manual
/// entries are kept).
#[utoipa::path(post, path = "/api/v1/providers/{name}/discover", responses((status = 200, body = Provider), (status = 502, body = ErrorBody)))]
pub async fn discover_models(State(s): St, Path(name): Path<String>) -> ApiResult<Provider> {
    let snap = s.engine.snapshot();
    let prov = snap
        .providers
        .get(&name)
        .ok_or_else(|| AdminError::not_found(format!("provider `{name}`")))?;
    let key = prov.keys.first().ok_or_else(|| {
        AdminError::invalid(
            "keys",
            "the provider has no enabled key to list models with",
        )
    })?;
    let found = fetch_models(&prov.provider, &key.secret).await?;
    let _edit = s.edits.lock().await;
    let mut p = s
        .store
        .get_provider(&name)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("provider `{name}`")))?;
    let manual: Vec<ModelInfo> = p
        .models
        .iter()
        .filter(|m| m.source == ModelSource::Manual)
        .cloned()
        .collect();
    p.models = manual.clone();
    p.models.extend(
        found
            .into_iter()
            .filter(|m| !manual.iter().any(|x| x.id == m.id)),
    );
    s.store.upsert_provider(&p).await?;
    s.reload().await?;
    Ok(Json(p))
}

async fn fetch_models(provider: &Provider, key: &Secret) -> Result<Vec<ModelInfo>, AdminError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let resp = client
        .get(models_url(provider))
        .headers(request_headers(provider, key, &[]))
        .send()
        .await
        .map_err(|_| {
            AdminError::new(
                StatusCode::BAD_GATEWAY,
                format!("provider `{}` could not be reached", provider.name),
            )
        })?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    if !status.is_success() {
        return Err(AdminError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "provider `{}` answered {status} to the model list",
                provider.name
            ),
        ));
    }
    let list = body
        .get("data")
        .or_else(|| body.get("models"))
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    Ok(list
        .iter()
        .filter_map(|m| {
            let id = m.get("id").or_else(|| m.get("name"))?.as_str()?;
            let id = id.strip_prefix("models/").unwrap_or(id).to_owned();
            let window = [
                "context_window",
                "context_length",
                "inputTokenLimit",
                "max_context_length",
            ]
            .iter()
            .find_map(|k| m.get(*k).and_then(serde_json::Value::as_u64));
            Some(ModelInfo {
                id,
                context_window: window,
                source: ModelSource::Discovered,
                input_price: None,
                output_price: None,
            })
        })
        .collect())
}

// ---------------------------------------------------------------------------------------
// Keys

#[derive(Deserialize, IntoParams)]
pub struct KeysQuery {
    provider: Option<String>,
}

/// A key with its current health.
#[derive(Serialize, ToSchema)]
pub struct KeyView {
    #[serde(flatten)]
    key: KeyInfo,
    state: HealthState,
    reason: Option<switchboard_router::health::CoolReason>,
    /// `key` or `key_model` (the worst scope shown).
    scope: Option<String>,
    model: Option<String>,
    until_ms: Option<i64>,
}

fn key_states(s: &AppState, keys: &[KeyInfo]) -> Vec<KeyView> {
    let entries = s.engine.health.entries();
    keys.iter()
        .map(|k| {
            if !k.enabled {
                return KeyView {
                    key: k.clone(),
                    state: HealthState::Disabled,
                    reason: None,
                    scope: None,
                    model: None,
                    until_ms: None,
                };
            }
            // The key-wide entry wins over a per-model one; among per-model ones, the latest recovery.
            let mine: Vec<&HealthEntry> = entries
                .iter()
                .filter(|e| e.scope.key_id() == Some(k.id))
                .collect();
            let worst = mine
                .iter()
                .find(|e| matches!(e.scope, Scope::Key { .. }))
                .or_else(|| mine.iter().max_by_key(|e| e.until_ms.unwrap_or(i64::MAX)));
            match worst {
                None => KeyView {
                    key: k.clone(),
                    state: HealthState::Healthy,
                    reason: None,
                    scope: None,
                    model: None,
                    until_ms: None,
                },
                Some(e) => KeyView {
                    key: k.clone(),
                    state: e.state,
                    reason: e.reason,
                    scope: Some(match &e.scope {
                        Scope::Key { .. } => "key".into(),
                        Scope::KeyModel { .. } => "key_model".into(),
                        Scope::Provider { .. } => "provider".into(),
                    }),
                    model: match &e.scope {
                        Scope::KeyModel { model, .. } => Some(model.clone()),
                        _ => None,
                    },
                    until_ms: e.until_ms,
                },
            }
        })
        .collect()
}

#[utoipa::path(get, path = "/api/v1/keys", params(KeysQuery), responses((status = 200, body = Vec<KeyView>)))]
pub async fn list_keys(State(s): St, Query(q): Query<KeysQuery>) -> ApiResult<Vec<KeyView>> {
    let keys = s.store.list_keys(q.provider.as_deref()).await?;
    Ok(Json(key_states(&s, &keys)))
}

/// A new key. Give `secret` (stored encrypted or in the OS keychain, never shown again) or
/// `env` (the name of an environment variable read at start).
#[derive(Deserialize, ToSchema)]
pub struct NewKey {
    provider: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    env: Option<String>,
    #[serde(default = "one")]
    weight: u32,
    #[serde(default = "yes")]
    enabled: bool,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

#[utoipa::path(post, path = "/api/v1/keys", request_body = NewKey, responses((status = 200, body = KeyInfo), (status = 400, body = ErrorBody)))]
pub async fn add_key(State(s): St, Body400(k): Body400<NewKey>) -> ApiResult<KeyInfo> {
    let secret = match (k.secret, k.env) {
        (Some(v), None) if !v.trim().is_empty() => KeySecret::Literal(Secret::new(v.trim())),
        (None, Some(e)) if !e.trim().is_empty() => KeySecret::Env(e.trim().to_owned()),
        _ => {
            return Err(AdminError::invalid(
                "secret",
                "give exactly one of `secret` or `env`",
            ));
        }
    };
    let _edit = s.edits.lock().await;
    let label = if k.label.trim().is_empty() {
        "key".to_owned()
    } else {
        k.label
    };
    let info = s
        .store
        .add_key(&k.provider, &label, secret, k.weight, k.enabled)
        .await?;
    s.reload().await?;
    Ok(Json(info))
}

#[derive(Deserialize, ToSchema)]
pub struct KeyUpdate {
    label: Option<String>,
    weight: Option<u32>,
    enabled: Option<bool>,
    /// Replaces the secret (write-only).
    secret: Option<String>,
}

/// Edits a key. Any edit clears its health (the user may have fixed it).
#[utoipa::path(patch, path = "/api/v1/keys/{id}", request_body = KeyUpdate, responses((status = 200, body = KeyInfo)))]
pub async fn update_key(
    State(s): St,
    Path(id): Path<i64>,
    Body400(u): Body400<KeyUpdate>,
) -> ApiResult<KeyInfo> {
    let patch = KeyPatch {
        label: u.label,
        weight: u.weight,
        enabled: u.enabled,
        secret: u
            .secret
            .filter(|v| !v.trim().is_empty())
            .map(|v| KeySecret::Literal(Secret::new(v.trim()))),
    };
    let _edit = s.edits.lock().await;
    let info = s.store.update_key(id, patch).await?;
    s.engine.health.clear_key(id);
    s.reload().await?;
    Ok(Json(info))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", responses((status = 204)))]
pub async fn delete_key(State(s): St, Path(id): Path<i64>) -> Result<StatusCode, AdminError> {
    let _edit = s.edits.lock().await;
    s.store.delete_key(id).await?;
    s.reload().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Clears a key's cooldowns and errors now.
#[utoipa::path(post, path = "/api/v1/keys/{id}/clear", responses((status = 200, body = KeyView)))]
pub async fn clear_key(State(s): St, Path(id): Path<i64>) -> ApiResult<KeyView> {
    let info = s
        .store
        .get_key(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("key {id}")))?;
    s.engine.health.clear_key(id);
    Ok(Json(key_states(&s, &[info]).remove(0)))
}

/// Probes a key now (the model list), and updates its health from the answer.
#[utoipa::path(post, path = "/api/v1/keys/{id}/probe", responses((status = 200, body = KeyView)))]
pub async fn probe_key(State(s): St, Path(id): Path<i64>) -> ApiResult<KeyView> {
    let info = s
        .store
        .get_key(id)
        .await?
        .ok_or_else(|| AdminError::not_found(format!("key {id}")))?;
    let entry = HealthEntry {
        scope: Scope::Key { key_id: id },
        provider: info.provider.clone(),
        state: HealthState::Probing,
        reason: None,
        until_ms: None,
        failures: 0,
    };
    s.engine.probe(&entry).await;
    Ok(Json(key_states(&s, &[info]).remove(0)))
}

// ---------------------------------------------------------------------------------------
// Routes

#[utoipa::path(get, path = "/api/v1/routes", responses((status = 200, body = Vec<Route>)))]
pub async fn list_routes(State(s): St) -> ApiResult<Vec<Route>> {
    Ok(Json(s.store.list_routes().await?))
}

#[utoipa::path(post, path = "/api/v1/routes", request_body = Route, responses((status = 200, body = Route), (status = 400, body = ErrorBody)))]
pub async fn put_route(State(s): St, Body400(r): Body400<Route>) -> ApiResult<Route> {
    r.validate()?;
    let providers = s.store.list_providers().await?;
    for (i, t) in r.targets.iter().enumerate() {
        if !providers.iter().any(|p| p.name == t.provider) {
            return Err(AdminError::invalid(
                format!("targets[{i}].provider"),
                format!("no provider named `{}`", t.provider),
            ));
        }
    }
    let _edit = s.edits.lock().await;
    s.store.upsert_route(&r).await?;
    s.reload().await?;
    Ok(Json(r))
}

#[utoipa::path(put, path = "/api/v1/routes/{alias}", request_body = Route, responses((status = 200, body = Route)))]
pub async fn update_route(
    state: St,
    Path(alias): Path<String>,
    Body400(r): Body400<Route>,
) -> ApiResult<Route> {
    if r.alias != alias {
        return Err(AdminError::invalid(
            "alias",
            "must match the route in the path",
        ));
    }
    put_route(state, Body400(r)).await
}

#[utoipa::path(delete, path = "/api/v1/routes/{alias}", responses((status = 204)))]
pub async fn delete_route(
    State(s): St,
    Path(alias): Path<String>,
) -> Result<StatusCode, AdminError> {
    let _edit = s.edits.lock().await;
    s.store.delete_route(&alias).await?;
    s.reload().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One step of a route's flow right now.
#[derive(Serialize, ToSchema)]
pub struct FlowStep {
    provider: String,
    model: String,
    key_id: Option<i64>,
    key_label: Option<String>,
    /// `would_try`, `skipped`.
    verdict: String,
    /// Why a step is skipped: `provider_disabled`, `no_keys`, `cooling`, `auth_error`,
    /// `probing`, `unknown_provider`.
    reason: Option<String>,
    until_ms: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct FlowPlan {
    alias: String,
    strategy: String,
    /// Whether the alias is a configured route or a model served by one provider.
    inferred: bool,
    steps: Vec<FlowStep>,
}

/// How a request for `alias` would flow now, given current health (no side effects).
#[utoipa::path(get, path = "/api/v1/routes/{alias}/plan", responses((status = 200, body = FlowPlan), (status = 404, body = ErrorBody)))]
pub async fn route_plan(State(s): St, Path(alias): Path<String>) -> ApiResult<FlowPlan> {
    let snap = s.engine.snapshot();
    let route = snap
        .resolve(&alias)
        .map_err(|_| AdminError::not_found(format!("route `{alias}`")))?;
    let mut steps = Vec::new();
    for t in order_targets(&route, &snap, &Default::default(), false) {
        let skipped = |reason: &str| FlowStep {
            provider: t.provider.clone(),
            model: t.model.clone(),
            key_id: None,
            key_label: None,
            verdict: "skipped".into(),
            reason: Some(reason.into()),
            until_ms: None,
        };
        let Some(p) = snap.providers.get(&t.provider) else {
            steps.push(skipped("unknown_provider"));
            continue;
        };
        if !p.provider.enabled {
            steps.push(skipped("provider_disabled"));
            continue;
        }
        if p.keys.is_empty() {
            steps.push(skipped("no_keys"));
            continue;
        }
        for k in &p.keys {
            let (verdict, reason, until) =
                match s.engine.health.peek(&t.provider, k.info.id, &t.model) {
                    Availability::Usable => ("would_try", None, None),
                    Availability::Probe => ("would_try", Some("probing"), None),
                    Availability::Blocked { until_ms: Some(u) } => {
                        ("skipped", Some("cooling"), Some(u))
                    }
                    Availability::Blocked { until_ms: None } => {
                        ("skipped", Some("auth_error"), None)
                    }
                };
            steps.push(FlowStep {
                provider: t.provider.clone(),
                model: t.model.clone(),
                key_id: Some(k.info.id),
                key_label: Some(k.info.label.clone()),
                verdict: verdict.into(),
                reason: reason.map(Into::into),
                until_ms: until,
            });
        }
    }
    let strategy = serde_json::to_value(route.route.strategy)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(Json(FlowPlan {
        alias,
        strategy,
        inferred: route.inferred,
        steps,
    }))
}

// ---------------------------------------------------------------------------------------
// Settings

#[utoipa::path(get, path = "/api/v1/settings", responses((status = 200, body = Settings)))]
pub async fn get_settings(State(s): St) -> ApiResult<Settings> {
    Ok(Json(s.store.get_settings().await?))
}

#[utoipa::path(put, path = "/api/v1/settings", request_body = Settings, responses((status = 200, body = Settings), (status = 400, body = ErrorBody)))]
pub async fn put_settings(
    State(s): St,
    Body400(settings): Body400<Settings>,
) -> ApiResult<Settings> {
    if settings.attempt_budget == 0 {
        return Err(AdminError::invalid("attempt_budget", "must be at least 1"));
    }
    if settings.body_limit_bytes < 1024 {
        return Err(AdminError::invalid(
            "body_limit_bytes",
            "must be at least 1024",
        ));
    }
    let _edit = s.edits.lock().await;
    s.store.put_settings(&settings).await?;
    s.reload().await?;
    Ok(Json(settings))
}

pub const COOLDOWNS: &str = "cooldown_policy";

#[utoipa::path(get, path = "/api/v1/settings/cooldowns", responses((status = 200, body = CooldownPolicy)))]
pub async fn get_cooldowns(State(s): St) -> ApiResult<CooldownPolicy> {
    Ok(Json(s.engine.health.policy()))
}

#[utoipa::path(put, path = "/api/v1/settings/cooldowns", request_body = CooldownPolicy, responses((status = 200, body = CooldownPolicy)))]
pub async fn put_cooldowns(
    State(s): St,
    Body400(p): Body400<CooldownPolicy>,
) -> ApiResult<CooldownPolicy> {
    let v = serde_json::to_value(p)
        .map_err(|e| AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    s.store.put_value(COOLDOWNS, &v).await?;
    s.engine.health.set_policy(p);
    Ok(Json(p))
}

#[derive(Serialize, ToSchema)]
pub struct AccessKey {
    access_key: String,
}

/// The local access key AI tools use (admin only).
#[utoipa::path(get, path = "/api/v1/access-key", responses((status = 200, body = AccessKey)))]
pub async fn access_key(State(s): St) -> ApiResult<AccessKey> {
    let key = s
        .access_key()
        .ok_or_else(|| AdminError::not_found("access key"))?;
    Ok(Json(AccessKey {
        access_key: key.expose().to_owned(),
    }))
}

/// Replaces the access key; tools configured with the old one must be reconfigured.
#[utoipa::path(post, path = "/api/v1/access-key/rotate", responses((status = 200, body = AccessKey)))]
pub async fn rotate_access_key(State(s): St) -> ApiResult<AccessKey> {
    let key = s.store.rotate_local_token(LocalToken::AccessKey).await?;
    *s.access_keys.write() = vec![key.clone()].into();
    Ok(Json(AccessKey {
        access_key: key.expose().to_owned(),
    }))
}

// ---------------------------------------------------------------------------------------
// Health

#[derive(Serialize, ToSchema)]
pub struct HealthView {
    keys: Vec<KeyView>,
    entries: Vec<HealthEntry>,
}

#[utoipa::path(get, path = "/api/v1/health", responses((status = 200, body = HealthView)))]
pub async fn health(State(s): St) -> ApiResult<HealthView> {
    let keys = s.store.list_keys(None).await?;
    Ok(Json(HealthView {
        keys: key_states(&s, &keys),
        entries: s.engine.health.entries(),
    }))
}

/// Health transitions as server-sent events (`event: health`, data: a `HealthEvent`).
#[utoipa::path(get, path = "/api/v1/health/events", responses((status = 200, description = "text/event-stream of HealthEvent", body = HealthEvent)))]
pub async fn health_events(State(s): St) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    sse(BroadcastStream::new(s.engine.health.subscribe()), "health")
}

fn sse<T: Serialize + Clone + Send + 'static>(
    rx: BroadcastStream<T>,
    name: &'static str,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = rx.filter_map(move |item| async move {
        match item {
            Ok(v) => Event::default().event(name).json_data(v).ok().map(Ok),
            // A slow reader missed events: tell it to refetch.
            Err(_) => Some(Ok(Event::default().event("lagged").data("{}"))),
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

// ---------------------------------------------------------------------------------------
// Request log and usage

#[derive(Deserialize, IntoParams)]
pub struct RequestsQuery {
    alias: Option<String>,
    provider: Option<String>,
    /// Exact status (`429`) or class (`5xx`, `4xx`, `error`).
    status: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    /// Cursor: the last id of the previous page.
    before: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/requests", params(RequestsQuery), responses((status = 200, body = Vec<RequestRecord>)))]
pub async fn requests(
    State(s): St,
    Query(q): Query<RequestsQuery>,
) -> ApiResult<Vec<RequestRecord>> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(v) => Some(StatusFilter::parse(v).ok_or_else(|| {
            AdminError::invalid("status", "use a status code, 4xx, 5xx or error")
        })?),
    };
    s.log.flush().await;
    let filter = RequestFilter {
        alias: q.alias.filter(|v| !v.is_empty()),
        provider: q.provider.filter(|v| !v.is_empty()),
        status,
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        before_id: q.before,
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(s.store.query_requests(&filter).await?))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", responses((status = 200, body = RequestRecord), (status = 404, body = ErrorBody)))]
pub async fn request(State(s): St, Path(id): Path<String>) -> ApiResult<RequestRecord> {
    s.log.flush().await;
    s.store
        .get_request(&id)
        .await?
        .map(Json)
        .ok_or_else(|| AdminError::not_found(format!("request {id}")))
}

/// Finished requests as they happen (`event: request`, data: a `RequestRecord`).
#[utoipa::path(get, path = "/api/v1/requests/live", responses((status = 200, description = "text/event-stream of RequestRecord", body = RequestRecord)))]
pub async fn requests_live(State(s): St) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    sse(BroadcastStream::new(s.live.subscribe()), "request")
}

#[derive(Deserialize, IntoParams)]
pub struct UsageParams {
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    /// `day` or `hour`.
    bucket: Option<String>,
    /// `provider`, `model`, `key`, `alias` or `none`.
    group_by: Option<String>,
    utc_offset_ms: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UsagePoint {
    bucket_start_ms: i64,
    group: Option<String>,
    requests: u64,
    errors: u64,
    tokens_in: u64,
    tokens_out: u64,
    tokens_cached: u64,
    tokens_reasoning: u64,
    p50_latency_ms: Option<u64>,
    p95_latency_ms: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/usage", params(UsageParams), responses((status = 200, body = Vec<UsagePoint>)))]
pub async fn usage(State(s): St, Query(q): Query<UsageParams>) -> ApiResult<Vec<UsagePoint>> {
    let bucket = match q.bucket.as_deref() {
        None | Some("day") => Bucket::Day,
        Some("hour") => Bucket::Hour,
        Some(_) => return Err(AdminError::invalid("bucket", "use day or hour")),
    };
    let group_by = match q.group_by.as_deref() {
        None | Some("none") => GroupBy::None,
        Some("provider") => GroupBy::Provider,
        Some("model") => GroupBy::Model,
        Some("key") => GroupBy::Key,
        Some("alias") => GroupBy::Alias,
        Some(_) => {
            return Err(AdminError::invalid(
                "group_by",
                "use provider, model, key, alias or none",
            ));
        }
    };
    let since_ms = q
        .since_ms
        .unwrap_or_else(|| switchboard_store::now_ms() - 30 * 86_400_000);
    s.log.flush().await;
    let rows = s
        .store
        .usage_stats(&UsageQuery {
            since_ms,
            until_ms: q.until_ms,
            bucket,
            group_by,
            utc_offset_ms: q.utc_offset_ms.unwrap_or(0),
        })
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| UsagePoint {
                bucket_start_ms: r.bucket_start_ms,
                group: r.group,
                requests: r.requests,
                errors: r.errors,
                tokens_in: r.tokens_in,
                tokens_out: r.tokens_out,
                tokens_cached: r.tokens_cached,
                tokens_reasoning: r.tokens_reasoning,
                p50_latency_ms: r.p50_latency_ms,
                p95_latency_ms: r.p95_latency_ms,
            })
            .collect(),
    ))
}

pub async fn openapi() -> Response {
    let mut resp = Response::new(Body::from(crate::state::openapi_json()));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

/// Provider presets the dashboard offers (name, dialect, base URL).
#[derive(Serialize, ToSchema)]
pub struct Preset {
    id: &'static str,
    name: &'static str,
    kind: &'static str,
    base_url: &'static str,
    /// Whether a key is needed (local servers usually take none).
    needs_key: bool,
}

const PRESETS: &[Preset] = &[
    Preset {
        id: "openai",
        name: "OpenAI",
        kind: "openai_chat",
        base_url: "https://api.openai.com/v1",
        needs_key: true,
    },
    Preset {
        id: "openai-responses",
        name: "OpenAI (Responses API)",
        kind: "openai_responses",
        base_url: "https://api.openai.com/v1",
        needs_key: true,
    },
    Preset {
        id: "anthropic",
        name: "Anthropic",
        kind: "anthropic",
        base_url: "https://api.anthropic.com/v1",
        needs_key: true,
    },
    Preset {
        id: "gemini",
        name: "Google Gemini",
        kind: "gemini",
        base_url: "https://generativelanguage.googleapis.com/v1beta",
        needs_key: true,
    },
    Preset {
        id: "deepseek",
        name: "DeepSeek",
        kind: "openai_chat",
        base_url: "https://api.deepseek.com/v1",
        needs_key: true,
    },
    Preset {
        id: "openrouter",
        name: "OpenRouter",
        kind: "openai_chat",
        base_url: "https://openrouter.ai/api/v1",
        needs_key: true,
    },
    Preset {
        id: "groq",
        name: "Groq",
        kind: "openai_chat",
        base_url: "https://api.groq.com/openai/v1",
        needs_key: true,
    },
    Preset {
        id: "mistral",
        name: "Mistral",
        kind: "openai_chat",
        base_url: "https://api.mistral.ai/v1",
        needs_key: true,
    },
    Preset {
        id: "mimo",
        name: "Xiaomi MiMo",
        kind: "openai_chat",
        base_url: "https://api.xiaomimimo.com/v1",
        needs_key: true,
    },
    Preset {
        id: "together",
        name: "Together AI",
        kind: "openai_chat",
        base_url: "https://api.together.xyz/v1",
        needs_key: true,
    },
    Preset {
        id: "ollama",
        name: "Ollama (local)",
        kind: "openai_chat",
        base_url: "http://127.0.0.1:11434/v1",
        needs_key: false,
    },
    Preset {
        id: "lmstudio",
        name: "LM Studio (local)",
        kind: "openai_chat",
        base_url: "http://127.0.0.1:1234/v1",
        needs_key: false,
    },
    Preset {
        id: "vllm",
        name: "vLLM (local)",
        kind: "openai_chat",
        base_url: "http://127.0.0.1:8000/v1",
        needs_key: false,
    },
    Preset {
        id: "custom",
        name: "Custom OpenAI-compatible",
        kind: "openai_chat",
        base_url: "https://",
        needs_key: true,
    },
];

#[utoipa::path(get, path = "/api/v1/presets", responses((status = 200, body = Vec<Preset>)))]
pub async fn presets() -> Json<&'static [Preset]> {
    Json(PRESETS)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchboard admin API",
        description = "Providers, keys, routes, settings, health and the request log."
    ),
    paths(
        status,
        set_routing,
        install_update,
        list_providers,
        get_provider,
        put_provider,
        update_provider,
        delete_provider,
        discover_models,
        list_keys,
        add_key,
        update_key,
        delete_key,
        clear_key,
        probe_key,
        list_routes,
        put_route,
        update_route,
        delete_route,
        route_plan,
        get_settings,
        put_settings,
        get_cooldowns,
        put_cooldowns,
        access_key,
        rotate_access_key,
        health,
        health_events,
        requests,
        request,
        requests_live,
        usage,
        presets,
        crate::integrations_api::list_tools,
        crate::integrations_api::preview_tool,
        crate::integrations_api::apply_tool,
        crate::integrations_api::undo_tool,
        crate::integrations_api::export_config,
        crate::integrations_api::import_plan,
        crate::integrations_api::import_apply,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        Status,
        UpdateNotice,
        Routing,
        Provider,
        KeyInfo,
        KeyView,
        NewKey,
        KeyUpdate,
        Route,
        FlowPlan,
        FlowStep,
        Settings,
        CooldownPolicy,
        AccessKey,
        HealthView,
        HealthEntry,
        HealthEvent,
        RequestRecord,
        UsagePoint,
        Preset
    ))
)]
pub struct ApiDoc;
