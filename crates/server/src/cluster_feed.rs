//! Team mode's live request feed for the whole cluster: every instance's request log writer
//! notifies the ids of each batch it commits to the shared PostgreSQL database
//! (`switchboard_requests`); this instance reads the rows other instances served and passes
//! them to its own live feed (`/api/v1/requests/live`), next to the records it serves itself.
//! Nothing is read while nobody watches the feed. A lost connection is retried; batches
//! committed meanwhile are missed by the feed (never by the log), and the dashboard refetches
//! the list when it reconnects.

use std::sync::Arc;
use std::time::Duration;

use switchboard_store::RequestListener;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How long to wait before listening again after the connection failed.
const RETRY: Duration = Duration::from_secs(1);

/// Follows the other instances' requests until `stop`; returns at once on SQLite.
pub(crate) async fn run(state: Arc<AppState>, stop: CancellationToken) {
    let store = state.control.store().clone();
    let mut warned = false;
    loop {
        let listening = tokio::select! {
            () = stop.cancelled() => return,
            l = store.listen_requests() => l,
        };
        match listening {
            Ok(None) => return,
            Ok(Some(listener)) => {
                if warned {
                    tracing::info!("following the other instances' requests again");
                    warned = false;
                }
                tokio::select! {
                    () = stop.cancelled() => return,
                    e = follow(&state, listener) => {
                        if !warned {
                            tracing::warn!(error = %e, "lost the other instances' request feed; retrying");
                            warned = true;
                        }
                    }
                }
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(error = %e, "cannot follow the other instances' requests; retrying");
                    warned = true;
                }
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Passes the other instances' new requests to the live feed until the listener fails.
async fn follow(state: &AppState, mut listener: RequestListener) -> switchboard_store::StoreError {
    let store = state.control.store();
    loop {
        let notice = match listener.next().await {
            Ok(Some(n)) => n,
            // A lost connection (reconnected on the next call) or an unreadable payload.
            Ok(None) => continue,
            Err(e) => return e,
        };
        if notice.instance == *state.instance || state.live.receiver_count() == 0 {
            continue;
        }
        match store.requests_by_ids(&notice.ids).await {
            Ok(records) => {
                for r in records {
                    let _ = state.live.send(r);
                }
            }
            Err(e) => tracing::debug!(error = %e, "cannot read the other instances' new requests"),
        }
    }
}
