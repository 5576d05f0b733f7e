//! `/api/v1/webhooks`: alert receivers (the URL is write-only; the signing secret is shown
//! once, at creation), their switch, and a test message.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use serde::Deserialize;
use switchboard_control::{CreatedWebhook, DeliveryReport, NewWebhook, WebhookView};
use utoipa::ToSchema;

use super::{ApiResult, Body400, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

#[utoipa::path(get, path = "/api/v1/webhooks", responses((status = 200, body = Vec<WebhookView>)))]
pub async fn list_webhooks(State(s): St) -> ApiResult<Vec<WebhookView>> {
    Ok(Json(s.control.webhooks().await?))
}

/// Adds a receiver; the answer holds its signing secret, shown this once.
#[utoipa::path(post, path = "/api/v1/webhooks", request_body = NewWebhook, responses((status = 201, body = CreatedWebhook), (status = 400, body = ErrorBody)))]
pub async fn add_webhook(
    State(s): St,
    Body400(w): Body400<NewWebhook>,
) -> Result<(StatusCode, Json<CreatedWebhook>), super::AdminError> {
    Ok((StatusCode::CREATED, Json(s.control.add_webhook(w).await?)))
}

#[derive(Deserialize, ToSchema)]
pub struct WebhookUpdate {
    enabled: bool,
}

#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", request_body = WebhookUpdate, responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn update_webhook(
    State(s): St,
    Path(id): Path<i64>,
    Body400(u): Body400<WebhookUpdate>,
) -> Result<StatusCode, super::AdminError> {
    s.control.set_webhook_enabled(id, u.enabled).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_webhook(
    State(s): St,
    Path(id): Path<i64>,
) -> Result<StatusCode, super::AdminError> {
    s.control.delete_webhook(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test message now (retried like any alert) and says how it went.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", responses((status = 200, body = DeliveryReport), (status = 404, body = ErrorBody)))]
pub async fn test_webhook(State(s): St, Path(id): Path<i64>) -> ApiResult<DeliveryReport> {
    Ok(Json(s.control.test_webhook(id).await?))
}
