//! Team mode: keeping this instance's snapshot in step with edits made on the others, and
//! noticing when the shared database is out of reach and when it is back.

use std::sync::Arc;
use std::time::Duration;

use switchboard_store::{Backend, ConfigListener};
use tokio_util::sync::CancellationToken;

use crate::Control;

/// How often the configuration version is compared when no notification arrives.
pub const CONFIG_CHECK_EVERY: Duration = Duration::from_secs(5);
/// How often team mode checks that the shared database answers.
pub const DATABASE_CHECK_EVERY: Duration = Duration::from_secs(1);
/// How long a check waits for the answer.
const DATABASE_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl Control {
    /// Reloads the snapshot whenever the shared configuration changes (team mode): on each
    /// PostgreSQL notification `listener` brings ([`switchboard_store::Store::listen_config`],
    /// subscribed before the instance serves so no later edit goes unnoticed), whenever the
    /// version read every `check_every` (and once at once) differs from the one the snapshot
    /// was loaded at, which heals notifications missed while the listening connection was
    /// down (it is opened again then), and when the database answers again after an outage.
    /// Returns at once on SQLite, where every edit goes through this process. Runs until
    /// `stop` is cancelled.
    pub async fn run_config_sync(
        self: Arc<Self>,
        stop: CancellationToken,
        mut listener: Option<ConfigListener>,
        check_every: Duration,
    ) {
        if self.store.backend() == Backend::Sqlite {
            return;
        }
        let mut tick = tokio::time::interval(check_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let notice = async {
                match listener.as_mut() {
                    Some(l) => l.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = stop.cancelled() => break,
                got = notice => match got {
                    // Notifications queued while a reload ran may be for versions it loaded
                    // (this instance's own edits notify it too): those are skipped.
                    Ok(Some(v)) if self.config_version().is_some_and(|s| v <= s) => {}
                    // A newer version, or a lost connection that may have hidden one.
                    Ok(_) => self.resync().await,
                    Err(e) => {
                        self.store.log_failure("lost the configuration change feed", &e);
                        listener = None;
                    }
                },
                _ = tick.tick() => self.check_version(&mut listener).await,
                // The database is back after an outage: changes made meanwhile (by an instance
                // that could reach it) are loaded now, not at the next tick.
                () = self.database_back.notified() => self.check_version(&mut listener).await,
            }
        }
    }

    /// Listens again if the feed was lost, and reloads when the version moved.
    async fn check_version(&self, listener: &mut Option<ConfigListener>) {
        if listener.is_none() {
            match self.store.listen_config().await {
                Ok(l) => *listener = l,
                Err(e) => self
                    .store
                    .log_failure("cannot listen for configuration changes", &e),
            }
        }
        match self.store.config_version().await {
            Ok(v) if v != self.config_version() => self.resync().await,
            Ok(_) => {}
            Err(e) => self
                .store
                .log_failure("cannot read the configuration version", &e),
        }
    }

    /// Checks every `every` that the shared database answers (team mode; returns at once on
    /// SQLite) until `stop`: warns once when it stops answering — routing goes on from the
    /// snapshot, request records are held by the writers, edits are refused — and when it
    /// answers again, says so and has the configuration checked for changes made meanwhile.
    pub async fn run_database_watch(self: Arc<Self>, stop: CancellationToken, every: Duration) {
        if self.store.backend() != Backend::Postgres {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let answer = tokio::select! {
                () = stop.cancelled() => return,
                r = self.store.ping(DATABASE_CHECK_TIMEOUT) => r,
            };
            let up = answer.is_ok();
            if !self.store.mark_reachable(up) {
                continue;
            }
            match answer {
                Ok(()) => {
                    tracing::info!(
                        "the shared database answers again: edits are accepted, held request \
                         records are written and the configuration is checked for changes"
                    );
                    self.database_back.notify_one();
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "the shared database is unreachable: routing goes on with the last \
                     configuration, request records are held in memory until it is back, and \
                     edits are refused"
                ),
            }
        }
    }

    /// Reloads the snapshot from the store under the edit lock (which records the version it
    /// loaded, so a change committed during the load is loaded again next time).
    async fn resync(&self) {
        let _edit = self.edits.lock().await;
        match self.swap_snapshot().await {
            Ok(()) => {
                tracing::debug!(version = ?self.config_version(), "configuration reloaded after a change elsewhere");
            }
            Err(e) => self
                .store
                .log_failure("cannot reload the configuration", &e),
        }
    }
}
