//! Requests refused before routing — a wrong access key, a body that is not JSON, a path
//! that does not exist, routing switched off — are logged too, so "my tool gets 401" has an
//! answer in the request log. Every such answer is made by `guard::error_response`, which
//! marks it [`Refusal`]; [`screen`], around every route, turns the mark into a record: the method and
//! path (never the query string, which may hold a key), the status and the reason, no body.
//! A flood cannot fill the log: at most [`PER_MINUTE`] refusals are logged a minute.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use parking_lot::Mutex;
use switchboard_router::RecordSink;
use switchboard_router::log::{CLIENT_STR_MAX, RequestRecord, truncated};

use crate::guard::{Checked, dialect_of_path};
use crate::listener::Conn;
use crate::state::AppState;

/// The most refusals logged per minute; the rest are counted and dropped.
pub const PER_MINUTE: u32 = 60;
const MINUTE_MS: i64 = 60_000;

/// Marks a response as a refusal before routing, with the reason sent to the client.
#[derive(Debug, Clone)]
pub struct Refusal(pub String);

/// Where refusals go, and how many this minute.
pub struct RefusedLog {
    sink: Arc<dyn RecordSink>,
    window: Mutex<Window>,
}

#[derive(Default)]
struct Window {
    start_ms: i64,
    logged: u32,
    dropped: u64,
}

impl RefusedLog {
    pub fn new(sink: Arc<dyn RecordSink>) -> Self {
        RefusedLog {
            sink,
            window: Mutex::new(Window::default()),
        }
    }

    /// Whether one more refusal may be logged at `now_ms`.
    fn admit(&self, now_ms: i64) -> bool {
        let mut w = self.window.lock();
        if now_ms.saturating_sub(w.start_ms) >= MINUTE_MS || now_ms < w.start_ms {
            if w.dropped > 0 {
                tracing::warn!(
                    dropped = w.dropped,
                    "refused requests over {PER_MINUTE} a minute were not logged"
                );
            }
            *w = Window {
                start_ms: now_ms,
                ..Window::default()
            };
        }
        if w.logged < PER_MINUTE {
            w.logged += 1;
            true
        } else {
            w.dropped += 1;
            false
        }
    }
}

/// Whether a refusal on this path is a client's request worth logging: the public API and
/// anything that is not the dashboard, the admin API or the metrics.
fn worth_logging(method: &http::Method, path: &str) -> bool {
    if path.starts_with("/v1/") || path.starts_with("/v1beta/") {
        return true;
    }
    !(path.starts_with("/api/")
        || path == "/metrics"
        || *method == http::Method::GET
        || *method == http::Method::HEAD)
}

/// The outermost layer of the routes axum serves: [`screen`], then the route.
pub async fn log_refused(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let conn = req.extensions().get::<Conn>().cloned();
    screen(&state, conn.as_ref(), req, |mut req, checked| {
        checked.into_extensions(&mut req);
        next.run(req)
    })
    .await
}

/// Runs the guard (`conn` is the connection the request arrived on), then `next` with what
/// it found, and logs the refusals the guard or `next` answered.
pub async fn screen<F, Fut>(
    state: &AppState,
    conn: Option<&Conn>,
    req: Request,
    next: F,
) -> Response
where
    F: FnOnce(Request, Checked) -> Fut,
    Fut: Future<Output = Response>,
{
    let method = req.method().clone();
    // Shares the request's bytes: nothing is copied unless a refusal is logged.
    let uri = req.uri().clone();
    let started_at_ms = switchboard_store::now_ms();
    let started = tokio::time::Instant::now();
    let path = uri.path();
    let resp = crate::guard::guard(state, conn, path, req, next).await;
    let Some(Refusal(reason)) = resp.extensions().get::<Refusal>() else {
        return resp;
    };
    if !worth_logging(&method, path) || !state.refused.admit(state.engine.health.now_ms()) {
        return resp;
    }
    let target = format!("{method} {path}");
    state.refused.sink.record(RequestRecord {
        started_at_ms,
        dialect: dialect_of_path(path).as_str().to_owned(),
        status: resp.status().as_u16(),
        latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        error: Some(reason.clone()),
        refused: Some(truncated(&target, CLIENT_STR_MAX).into_owned()),
        ..RequestRecord::default()
    });
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nowhere;
    impl RecordSink for Nowhere {
        fn record(&self, _: RequestRecord) {}
    }

    #[test]
    fn at_most_a_minutes_worth_are_logged() {
        let log = RefusedLog::new(Arc::new(Nowhere));
        let t0 = 1_000_000;
        let admitted = (0..PER_MINUTE + 40).filter(|_| log.admit(t0)).count();
        assert_eq!(admitted, PER_MINUTE as usize);
        assert!(!log.admit(t0 + MINUTE_MS - 1), "still the same minute");
        assert!(log.admit(t0 + MINUTE_MS), "a new minute logs again");
    }

    #[test]
    fn which_refusals_are_logged() {
        use http::Method;
        assert!(worth_logging(&Method::POST, "/v1/v1/messages"));
        assert!(worth_logging(&Method::GET, "/v1/models"));
        assert!(worth_logging(&Method::POST, "/chat/completions"));
        assert!(!worth_logging(&Method::GET, "/api/v1/keys"));
        assert!(!worth_logging(&Method::POST, "/api/v1/keys"));
        assert!(!worth_logging(&Method::GET, "/favicon.ico"));
        assert!(!worth_logging(&Method::GET, "/metrics"));
    }
}
