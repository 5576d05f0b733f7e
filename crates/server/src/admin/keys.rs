//! `/api/v1/keys`: keys with their standing; add, edit, delete, clear, probe.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use http::StatusCode;
use serde::Deserialize;
use switchboard_control::{KeyTest, KeyUpdate, KeyView, NewKey};
use switchboard_router::KeyInfo;
use utoipa::IntoParams;

use super::{AdminError, ApiResult, Body400, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

#[derive(Deserialize, IntoParams)]
pub struct KeysQuery {
    provider: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/keys", params(KeysQuery), responses((status = 200, body = Vec<KeyView>)))]
pub async fn list_keys(State(s): St, Query(q): Query<KeysQuery>) -> Json<Vec<KeyView>> {
    Json(s.control.key_views(q.provider.as_deref()))
}

#[utoipa::path(post, path = "/api/v1/keys", request_body = NewKey, responses((status = 200, body = KeyInfo), (status = 400, body = ErrorBody)))]
pub async fn add_key(State(s): St, Body400(k): Body400<NewKey>) -> ApiResult<KeyInfo> {
    Ok(Json(s.control.add_key(k).await?))
}

/// Edits a key. Any edit clears its health (the user may have fixed it).
#[utoipa::path(patch, path = "/api/v1/keys/{id}", request_body = KeyUpdate, responses((status = 200, body = KeyInfo)))]
pub async fn update_key(
    State(s): St,
    Path(id): Path<i64>,
    Body400(u): Body400<KeyUpdate>,
) -> ApiResult<KeyInfo> {
    Ok(Json(s.control.update_key(id, u).await?))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", responses((status = 204)))]
pub async fn delete_key(State(s): St, Path(id): Path<i64>) -> Result<StatusCode, AdminError> {
    s.control.delete_key(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Clears a key's cooldowns and errors now.
#[utoipa::path(post, path = "/api/v1/keys/{id}/clear", responses((status = 200, body = KeyView)))]
pub async fn clear_key(State(s): St, Path(id): Path<i64>) -> ApiResult<KeyView> {
    Ok(Json(s.control.clear_key(id).await?))
}

/// Probes a key now (the model list), and updates its health from the answer.
#[utoipa::path(post, path = "/api/v1/keys/{id}/probe", responses((status = 200, body = KeyView)))]
pub async fn probe_key(State(s): St, Path(id): Path<i64>) -> ApiResult<KeyView> {
    Ok(Json(s.control.probe_key(id).await?.key))
}

/// Tests a key now ("test connection"): probes it, updates its health and returns what the
/// provider answered, in its own words (scrubbed of secrets).
#[utoipa::path(post, path = "/api/v1/keys/{id}/test", responses((status = 200, body = KeyTest), (status = 404, body = ErrorBody)))]
pub async fn test_key(State(s): St, Path(id): Path<i64>) -> ApiResult<KeyTest> {
    Ok(Json(s.control.probe_key(id).await?))
}
