//! `/api/v1/inspector` (the request inspector's capture windows, caps and retention) and
//! `/api/v1/captures` (captured requests: listed, opened redacted with their replay and
//! cURL line, downloaded as a bug report, deleted).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use switchboard_control::{BugReport, CaptureView, InspectorView, StartCapture};
use switchboard_store::CaptureInfo;
use utoipa::IntoParams;

use super::{AdminError, ApiResult, Body400, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

#[utoipa::path(get, path = "/api/v1/inspector", responses((status = 200, body = InspectorView)))]
pub async fn get_inspector(State(s): St) -> ApiResult<InspectorView> {
    Ok(Json(s.control.inspector().await?))
}

/// Captures the next minutes of requests (15 by default), globally or for one route.
#[utoipa::path(post, path = "/api/v1/inspector/capture", request_body = StartCapture, responses((status = 200, body = InspectorView), (status = 400, body = ErrorBody)))]
pub async fn start_capture(
    State(s): St,
    Body400(start): Body400<StartCapture>,
) -> ApiResult<InspectorView> {
    Ok(Json(s.control.start_capture(start).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct StopCapture {
    /// The route whose window closes; none: the global window.
    route: Option<String>,
    /// Close every window.
    #[serde(default)]
    all: bool,
}

#[utoipa::path(delete, path = "/api/v1/inspector/capture", params(StopCapture), responses((status = 200, body = InspectorView)))]
pub async fn stop_capture(State(s): St, Query(q): Query<StopCapture>) -> ApiResult<InspectorView> {
    Ok(Json(s.control.stop_capture(q.route, q.all).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct CapturesQuery {
    /// Only the capture of this request.
    request_id: Option<String>,
    limit: Option<u32>,
}

/// Stored captures, newest first (those past their retention are deleted first).
#[utoipa::path(get, path = "/api/v1/captures", params(CapturesQuery), responses((status = 200, body = Vec<CaptureInfo>)))]
pub async fn list_captures(
    State(s): St,
    Query(q): Query<CapturesQuery>,
) -> ApiResult<Vec<CaptureInfo>> {
    s.captures.flush().await;
    Ok(Json(
        s.control
            .list_captures(
                q.request_id.as_deref().filter(|r| !r.is_empty()),
                q.limit.unwrap_or(100),
            )
            .await?,
    ))
}

fn base_url(s: &AppState) -> String {
    s.control
        .listen_addr()
        .map_or_else(|| "http://127.0.0.1:8080".into(), |a| format!("http://{a}"))
}

/// A request's capture, redacted, with how to replay it (the access key as a placeholder).
#[utoipa::path(get, path = "/api/v1/captures/{id}", responses((status = 200, body = CaptureView), (status = 404, body = ErrorBody)))]
pub async fn get_capture(State(s): St, Path(id): Path<String>) -> ApiResult<CaptureView> {
    s.captures.flush().await;
    Ok(Json(s.control.capture(&id, &base_url(&s)).await?))
}

/// The request's record and capture as one redacted JSON file.
#[utoipa::path(get, path = "/api/v1/captures/{id}/report", responses((status = 200, body = BugReport), (status = 404, body = ErrorBody)))]
pub async fn capture_report(State(s): St, Path(id): Path<String>) -> Result<Response, AdminError> {
    s.captures.flush().await;
    s.log.flush().await;
    let report = s.control.bug_report(&id).await?;
    let name = format!(
        "attachment; filename=\"switchboard-request-{}.json\"",
        id.chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    );
    let mut resp = Json(report).into_response();
    if let Ok(v) = http::HeaderValue::from_str(&name) {
        resp.headers_mut()
            .insert(http::header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

#[utoipa::path(delete, path = "/api/v1/captures/{id}", responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_capture(
    State(s): St,
    Path(id): Path<String>,
) -> Result<StatusCode, AdminError> {
    s.captures.flush().await;
    s.control.delete_capture(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}
