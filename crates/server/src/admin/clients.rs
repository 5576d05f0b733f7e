//! `/api/v1/clients`: named access keys with their allow-list, limits and budgets (dollars
//! here, micro-dollars in storage). A key is returned once, when it is created.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use switchboard_control::{ClientInput, ClientView, NewClientSecret};

use super::{AdminError, ApiResult, Body400, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

#[utoipa::path(get, path = "/api/v1/clients", responses((status = 200, body = Vec<ClientView>)))]
pub async fn list_clients(State(s): St) -> ApiResult<Vec<ClientView>> {
    Ok(Json(s.control.client_views().await?))
}

#[utoipa::path(get, path = "/api/v1/clients/{name}", responses((status = 200, body = ClientView), (status = 404, body = ErrorBody)))]
pub async fn get_client(State(s): St, Path(name): Path<String>) -> ApiResult<ClientView> {
    Ok(Json(s.control.client_view(&name).await?))
}

/// Creates a client with one access key, returned in the answer and never again.
#[utoipa::path(post, path = "/api/v1/clients", request_body = ClientInput, responses((status = 200, body = NewClientSecret), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_client(
    State(s): St,
    Body400(input): Body400<ClientInput>,
) -> ApiResult<NewClientSecret> {
    Ok(Json(s.control.create_client(input).await?))
}

/// Replaces a client's settings (every field; the name in the path is kept).
#[utoipa::path(put, path = "/api/v1/clients/{name}", request_body = ClientInput, responses((status = 200, body = ClientView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_client(
    State(s): St,
    Path(name): Path<String>,
    Body400(input): Body400<ClientInput>,
) -> ApiResult<ClientView> {
    Ok(Json(s.control.update_client(&name, input).await?))
}

#[utoipa::path(delete, path = "/api/v1/clients/{name}", responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_client(
    State(s): St,
    Path(name): Path<String>,
) -> Result<StatusCode, AdminError> {
    s.control.delete_client(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Adds an access key to a client, returned in the answer and never again.
#[utoipa::path(post, path = "/api/v1/clients/{name}/keys", responses((status = 200, body = NewClientSecret), (status = 404, body = ErrorBody)))]
pub async fn add_client_key(State(s): St, Path(name): Path<String>) -> ApiResult<NewClientSecret> {
    Ok(Json(s.control.add_client_key(&name).await?))
}

/// Revokes one of a client's keys.
#[utoipa::path(delete, path = "/api/v1/clients/{name}/keys/{id}", responses((status = 200, body = ClientView), (status = 404, body = ErrorBody)))]
pub async fn revoke_client_key(
    State(s): St,
    Path((name, id)): Path<(String, i64)>,
) -> ApiResult<ClientView> {
    Ok(Json(s.control.revoke_client_key(&name, id).await?))
}
