//! This instance's heartbeat: its row in the shared `instances` table (version, address,
//! start, requests in flight), rewritten every [`HEARTBEAT_EVERY`] and removed on a graceful
//! stop. The dashboard's Instances view lists the rows; one whose heartbeat is older than
//! [`ALIVE_HEARTBEATS`] periods is shown as stale, and one silent for [`PRUNE_AFTER`] (an
//! instance killed or lost without a clean stop) is removed by the others' heartbeats.

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

/// How long an instance may stay silent before its row is removed: a day, so a stale row
/// stays visible long enough to be noticed (overnight, say), yet a cluster whose replicas
/// come and go does not collect them forever.
pub const PRUNE_AFTER: Duration = Duration::from_secs(24 * 3600);

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Whether a row last written at `last_heartbeat_ms` is alive at `now_ms`.
pub(crate) fn alive(last_heartbeat_ms: i64, now_ms: i64, every: Duration) -> bool {
    now_ms.saturating_sub(last_heartbeat_ms) <= ms(every * ALIVE_HEARTBEATS)
}

/// Heartbeats a row last written at `last_heartbeat_ms` has missed by `now_ms`.
pub(crate) fn missed_heartbeats(last_heartbeat_ms: i64, now_ms: i64, every: Duration) -> i64 {
    now_ms.saturating_sub(last_heartbeat_ms).max(0) / ms(every).max(1)
}

/// When a row last written at `last_heartbeat_ms` is removed unless it beats again.
pub(crate) fn removed_at_ms(last_heartbeat_ms: i64) -> i64 {
    last_heartbeat_ms.saturating_add(ms(PRUNE_AFTER))
}

/// Writes this instance's row until `stop`, then removes it. Each heartbeat also removes
/// the rows silent for [`PRUNE_AFTER`].
pub(crate) async fn run_heartbeat(state: Arc<AppState>, addr: SocketAddr, stop: CancellationToken) {
    let store = state.control.store().clone();
    let mut tick = tokio::time::interval(state.heartbeat_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = state.engine.clock().now_ms();
        let row = InstanceRow {
            id: state.instance.to_string(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            address: addr.to_string(),
            started_at_ms: state.started_at_ms,
            last_heartbeat_ms: now,
            in_flight: i64::try_from(state.engine.in_flight()).unwrap_or(i64::MAX),
        };
        if let Err(e) = store.heartbeat_instance(&row).await {
            store.log_failure("could not write this instance's heartbeat", &e);
        }
        match store
            .prune_instances(now.saturating_sub(ms(PRUNE_AFTER)))
            .await
        {
            Ok(gone) if !gone.is_empty() => {
                tracing::info!(instances = ?gone, "removed instances silent for a day");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not remove silent instances"),
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

    #[test]
    fn missed_heartbeats_count_whole_periods() {
        let every = Duration::from_secs(5);
        assert_eq!(missed_heartbeats(10_000, 14_999, every), 0);
        assert_eq!(missed_heartbeats(10_000, 25_001, every), 3);
        assert_eq!(missed_heartbeats(10_500, 10_000, every), 0);
        assert_eq!(removed_at_ms(10_000), 10_000 + 86_400_000);
    }
}
