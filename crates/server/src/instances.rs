//! This instance's heartbeat: its row in the shared `instances` table (version, address,
//! start, requests in flight), rewritten every [`HEARTBEAT_EVERY`] and removed on a graceful
//! stop. The dashboard's Instances view lists the rows; one whose heartbeat is older than
//! [`ALIVE_HEARTBEATS`] periods is shown as not alive.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use switchboard_store::InstanceRow;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How often an instance writes its row.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// Heartbeat periods after which an instance's row no longer counts as alive.
pub const ALIVE_HEARTBEATS: u32 = 3;

/// Whether a row last written at `last_heartbeat_ms` is alive at `now_ms`.
pub(crate) fn alive(last_heartbeat_ms: i64, now_ms: i64, every: Duration) -> bool {
    let window = i64::try_from((every * ALIVE_HEARTBEATS).as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(last_heartbeat_ms) <= window
}

/// Writes this instance's row until `stop`, then removes it.
pub(crate) async fn run_heartbeat(state: Arc<AppState>, addr: SocketAddr, stop: CancellationToken) {
    let store = state.control.store().clone();
    let mut tick = tokio::time::interval(state.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let row = InstanceRow {
            id: state.instance.to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            address: addr.to_string(),
            started_at_ms: state.started_at_ms,
            last_heartbeat_ms: state.engine.clock().now_ms(),
            in_flight: i64::try_from(state.engine.in_flight()).unwrap_or(i64::MAX),
        };
        if let Err(e) = store.heartbeat_instance(&row).await {
            store.log_failure("could not write this instance's heartbeat", &e);
        }
    }
    if let Err(e) = store.remove_instance(&state.instance).await {
        tracing::warn!(error = %e, "could not remove this instance's row at shutdown");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alive_within_three_periods() {
        let every = Duration::from_secs(5);
        assert!(alive(10_000, 10_000, every));
        assert!(alive(10_000, 25_000, every));
        assert!(!alive(10_000, 25_001, every));
        // A heartbeat from a clock slightly ahead still counts.
        assert!(alive(10_500, 10_000, every));
    }
}
