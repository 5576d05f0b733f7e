//! `/api/v1/instances`: every instance sharing this database, from their heartbeats.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiResult;
use crate::instances::{alive, missed_heartbeats, removed_at_ms};
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct InstanceView {
    id: String,
    version: String,
    /// The address it listens on (`host:port`).
    address: String,
    started_at_ms: i64,
    /// From its start to its last heartbeat.
    uptime_ms: i64,
    last_heartbeat_ms: i64,
    /// Requests it was serving at its last heartbeat.
    in_flight: i64,
    /// Its last heartbeat is at most three heartbeat periods old; otherwise it is stale.
    alive: bool,
    /// Heartbeat periods since its last heartbeat (0 while it keeps beating).
    missed_heartbeats: i64,
    /// When its row is removed unless it beats again (a day after its last heartbeat).
    removed_at_ms: i64,
    /// The instance answering this request.
    current: bool,
}

#[utoipa::path(get, path = "/api/v1/instances", responses((status = 200, body = Vec<InstanceView>)))]
pub async fn list_instances(State(s): State<Arc<AppState>>) -> ApiResult<Vec<InstanceView>> {
    let now = s.engine.clock().now_ms();
    let rows = s.control.store().list_instances().await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| InstanceView {
                uptime_ms: r.last_heartbeat_ms.saturating_sub(r.started_at_ms).max(0),
                alive: alive(r.last_heartbeat_ms, now, s.heartbeat_every),
                missed_heartbeats: missed_heartbeats(r.last_heartbeat_ms, now, s.heartbeat_every),
                removed_at_ms: removed_at_ms(r.last_heartbeat_ms),
                current: r.id == *s.instance,
                id: r.id,
                version: r.version,
                address: r.address,
                started_at_ms: r.started_at_ms,
                last_heartbeat_ms: r.last_heartbeat_ms,
                in_flight: r.in_flight,
            })
            .collect(),
    ))
}
