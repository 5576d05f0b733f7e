//! `/api/v1/settings` (engine settings, cooldowns) and the local access key.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use switchboard_router::Settings;
use switchboard_router::health::CooldownPolicy;
use utoipa::ToSchema;

use super::{AdminError, ApiResult, Body400, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

#[utoipa::path(get, path = "/api/v1/settings", responses((status = 200, body = Settings)))]
pub async fn get_settings(State(s): St) -> ApiResult<Settings> {
    Ok(Json(s.control.settings().await?))
}

#[utoipa::path(put, path = "/api/v1/settings", request_body = Settings, responses((status = 200, body = Settings), (status = 400, body = ErrorBody)))]
pub async fn put_settings(
    State(s): St,
    Body400(settings): Body400<Settings>,
) -> ApiResult<Settings> {
    Ok(Json(s.control.put_settings(settings).await?))
}

#[utoipa::path(get, path = "/api/v1/settings/cooldowns", responses((status = 200, body = CooldownPolicy)))]
pub async fn get_cooldowns(State(s): St) -> Json<CooldownPolicy> {
    Json(s.control.cooldowns())
}

#[utoipa::path(put, path = "/api/v1/settings/cooldowns", request_body = CooldownPolicy, responses((status = 200, body = CooldownPolicy)))]
pub async fn put_cooldowns(
    State(s): St,
    Body400(p): Body400<CooldownPolicy>,
) -> ApiResult<CooldownPolicy> {
    Ok(Json(s.control.put_cooldowns(p).await?))
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
    let key = s.control.rotate_access_key().await?;
    Ok(Json(AccessKey {
        access_key: key.expose().to_owned(),
    }))
}
