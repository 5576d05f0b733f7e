//! `/api/v1/routes`: list, create or replace, delete, and the dry-run plan.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use http::StatusCode;
use switchboard_control::FlowPlan;
use switchboard_router::Route;

use super::{AdminError, ApiResult, Body400, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

#[utoipa::path(get, path = "/api/v1/routes", responses((status = 200, body = Vec<Route>)))]
pub async fn list_routes(State(s): St) -> ApiResult<Vec<Route>> {
    Ok(Json(s.control.routes().await?))
}

#[utoipa::path(post, path = "/api/v1/routes", request_body = Route, responses((status = 200, body = Route), (status = 400, body = ErrorBody)))]
pub async fn put_route(State(s): St, Body400(r): Body400<Route>) -> ApiResult<Route> {
    Ok(Json(s.control.put_route(r).await?))
}

#[utoipa::path(put, path = "/api/v1/routes/{alias}", request_body = Route, responses((status = 200, body = Route)))]
pub async fn update_route(
    State(s): St,
    Path(alias): Path<String>,
    Body400(r): Body400<Route>,
) -> ApiResult<Route> {
    if r.alias != alias {
        return Err(AdminError::invalid(
            "alias",
            "must match the route in the path",
        ));
    }
    Ok(Json(s.control.put_route(r).await?))
}

#[utoipa::path(delete, path = "/api/v1/routes/{alias}", responses((status = 204)))]
pub async fn delete_route(
    State(s): St,
    Path(alias): Path<String>,
) -> Result<StatusCode, AdminError> {
    s.control.delete_route(&alias).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How a request for `alias` would flow now, given current health (no side effects).
#[utoipa::path(get, path = "/api/v1/routes/{alias}/plan", responses((status = 200, body = FlowPlan), (status = 404, body = ErrorBody)))]
pub async fn route_plan(State(s): St, Path(alias): Path<String>) -> ApiResult<FlowPlan> {
    Ok(Json(s.control.route_plan(&alias)?))
}
