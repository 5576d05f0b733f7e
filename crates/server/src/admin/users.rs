//! `/api/v1/users`: the named users who sign in to the dashboard (admins only; no answer
//! ever carries a password or its hash).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use switchboard_control::{NewUser, UserUpdate, UserView};

use super::{ApiResult, Body400, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

#[utoipa::path(get, path = "/api/v1/users", responses((status = 200, body = [UserView])))]
pub async fn list_users(State(s): St) -> ApiResult<Vec<UserView>> {
    Ok(Json(s.control.list_users().await?))
}

/// Adds a user (name: letters, digits, `.`, `_`, `-`, `@`; password: at least 12
/// characters, or none for a single-sign-on user).
#[utoipa::path(post, path = "/api/v1/users", request_body = NewUser, responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_user(State(s): St, Body400(new): Body400<NewUser>) -> ApiResult<UserView> {
    Ok(Json(s.control.add_user(new).await?))
}

/// Changes a user's role, password or disabled flag; their sessions end.
#[utoipa::path(patch, path = "/api/v1/users/{name}", request_body = UserUpdate, responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_user(
    State(s): St,
    Path(name): Path<String>,
    Body400(update): Body400<UserUpdate>,
) -> ApiResult<UserView> {
    Ok(Json(s.control.update_user(&name, update).await?))
}

/// Deletes a user and their sessions.
#[utoipa::path(delete, path = "/api/v1/users/{name}", responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    State(s): St,
    Path(name): Path<String>,
) -> Result<StatusCode, super::AdminError> {
    s.control.delete_user(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}
