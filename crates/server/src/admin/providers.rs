//! `/api/v1/providers`: list, read, create or replace, delete, discover models.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use switchboard_control::KeyTest;
use switchboard_router::Provider;

use super::{AdminError, ApiResult, Body400, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

#[utoipa::path(get, path = "/api/v1/providers", responses((status = 200, body = Vec<Provider>)))]
pub async fn list_providers(State(s): St) -> ApiResult<Vec<Provider>> {
    Ok(Json(s.control.providers().await?))
}

#[utoipa::path(get, path = "/api/v1/providers/{name}", responses((status = 200, body = Provider), (status = 404, body = ErrorBody)))]
pub async fn get_provider(State(s): St, Path(name): Path<String>) -> ApiResult<Provider> {
    Ok(Json(s.control.provider(&name).await?))
}

/// Creates a provider, or replaces the one with the same name.
#[utoipa::path(post, path = "/api/v1/providers", request_body = Provider, responses((status = 200, body = Provider), (status = 400, body = ErrorBody)))]
pub async fn put_provider(State(s): St, Body400(p): Body400<Provider>) -> ApiResult<Provider> {
    Ok(Json(s.control.put_provider(p).await?))
}

#[utoipa::path(put, path = "/api/v1/providers/{name}", request_body = Provider, responses((status = 200, body = Provider), (status = 400, body = ErrorBody)))]
pub async fn update_provider(
    State(s): St,
    Path(name): Path<String>,
    Body400(p): Body400<Provider>,
) -> ApiResult<Provider> {
    if p.name != name {
        return Err(AdminError::invalid(
            "name",
            "must match the provider in the path (renaming is not supported)",
        ));
    }
    Ok(Json(s.control.put_provider(p).await?))
}

#[utoipa::path(delete, path = "/api/v1/providers/{name}", responses((status = 204)))]
pub async fn delete_provider(
    State(s): St,
    Path(name): Path<String>,
) -> Result<StatusCode, AdminError> {
    s.control.delete_provider(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads the provider's model list with its first enabled key and caches it (manual
/// entries are kept).
#[utoipa::path(post, path = "/api/v1/providers/{name}/discover", responses((status = 200, body = Provider), (status = 502, body = ErrorBody)))]
pub async fn discover_models(State(s): St, Path(name): Path<String>) -> ApiResult<Provider> {
    Ok(Json(s.control.discover_models(&name).await?))
}

/// Tests every enabled key of a provider now ("test connection"): each key's standing after
/// its probe and what the provider answered.
#[utoipa::path(post, path = "/api/v1/providers/{name}/test", responses((status = 200, body = Vec<KeyTest>), (status = 404, body = ErrorBody)))]
pub async fn test_provider(State(s): St, Path(name): Path<String>) -> ApiResult<Vec<KeyTest>> {
    Ok(Json(s.control.test_provider(&name).await?))
}
