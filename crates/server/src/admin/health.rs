//! `/api/v1/health`: keys with their standing, the raw scope entries, and the live feed.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde::Serialize;
use switchboard_control::KeyView;
use switchboard_router::health::{HealthEntry, HealthEvent};
use tokio_stream::wrappers::BroadcastStream;
use utoipa::ToSchema;

use crate::state::AppState;

type St = State<Arc<AppState>>;

#[derive(Serialize, ToSchema)]
pub struct HealthView {
    keys: Vec<KeyView>,
    entries: Vec<HealthEntry>,
}

#[utoipa::path(get, path = "/api/v1/health", responses((status = 200, body = HealthView)))]
pub async fn health(State(s): St) -> Json<HealthView> {
    Json(HealthView {
        keys: s.control.key_views(None),
        entries: s.control.engine().health.entries(),
    })
}

/// Health as server-sent events: `event: health` (data: a `HealthEvent`, one scope's
/// transition — in team mode with Redis, those other instances observed too), `event:
/// standing` (data: a `StandingChanged`, a key's standing before and after, as
/// `/api/v1/keys` shows it), and `event: lagged` (events were missed: refetch).
#[utoipa::path(get, path = "/api/v1/health/events", responses((status = 200, description = "text/event-stream: `health` events (HealthEvent) and `standing` events (StandingChanged)", body = HealthEvent)))]
pub async fn health_events(State(s): St) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let board = &s.control.engine().health;
    let health = futures_util::stream::select(
        sse_events(BroadcastStream::new(board.subscribe()), "health"),
        sse_events(BroadcastStream::new(board.subscribe_remote()), "health"),
    );
    let standing = sse_events(
        BroadcastStream::new(s.control.subscribe_standings()),
        "standing",
    );
    sse(futures_util::stream::select(health, standing))
}

/// Each item as an event named `name`; a missed stretch as `event: lagged`.
pub(super) fn sse_events<T: Serialize + Clone + Send + 'static>(
    rx: BroadcastStream<T>,
    name: &'static str,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    rx.filter_map(move |item| async move {
        match item {
            Ok(v) => Event::default().event(name).json_data(v).ok().map(Ok),
            // A slow reader missed events: tell it to refetch.
            Err(_) => Some(Ok(Event::default().event("lagged").data("{}"))),
        }
    })
}

pub(super) fn sse(
    events: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
