//! Team mode: keeping this instance's snapshot in step with edits made on the others.

use std::sync::Arc;
use std::time::Duration;

use switchboard_store::{Backend, ConfigListener};
use tokio_util::sync::CancellationToken;

use crate::Control;

/// How often the configuration version is compared when no notification arrives.
pub const CONFIG_CHECK_EVERY: Duration = Duration::from_secs(5);

impl Control {
    /// Reloads the snapshot whenever the shared configuration changes (team mode): on each
    /// PostgreSQL notification `listener` brings ([`switchboard_store::Store::listen_config`],
    /// subscribed before the instance serves so no later edit goes unnoticed), and whenever the version read every
    /// `check_every` (and once at once) differs from the one the snapshot was loaded at,
    /// which heals notifications missed while the listening connection was down (it is
    /// opened again then). Returns at once on SQLite, where every edit goes through this
    /// process. Runs until `stop` is cancelled.
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
                        tracing::warn!(error = %e, "lost the configuration change feed");
                        listener = None;
                    }
                },
                _ = tick.tick() => {
                    if listener.is_none() {
                        match self.store.listen_config().await {
                            Ok(l) => listener = l,
                            Err(e) => tracing::warn!(error = %e, "cannot listen for configuration changes"),
                        }
                    }
                    match self.store.config_version().await {
                        Ok(v) if v != self.config_version() => self.resync().await,
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot read the configuration version"),
                    }
                }
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
            Err(e) => tracing::warn!(error = %e, "cannot reload the configuration"),
        }
    }
}
