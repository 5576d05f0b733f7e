//! Team mode: keeping this instance's snapshot in step with edits made on the others.

use std::sync::Arc;
use std::time::Duration;

use switchboard_store::ConfigListener;
use tokio_util::sync::CancellationToken;

use crate::Control;

/// How often the configuration version is compared when no notification arrives.
pub const CONFIG_CHECK_EVERY: Duration = Duration::from_secs(5);

impl Control {
    /// Reloads the snapshot whenever the shared configuration changes (team mode): on each
    /// PostgreSQL notification, and whenever the version read every `check_every` differs from
    /// the one last loaded (which heals notifications missed while the listening connection
    /// was down). Returns at once on SQLite, where every edit goes through this process.
    /// Runs until `stop` is cancelled.
    pub async fn run_config_sync(self: Arc<Self>, stop: CancellationToken, check_every: Duration) {
        let mut seen = match self.store.config_version().await {
            Ok(None) => return,
            Ok(Some(v)) => Some(v),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the configuration version");
                None
            }
        };
        let mut listener: Option<ConfigListener> = None;
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
                    // Notifications queued while a reload ran may be older than what it
                    // loaded (this instance's own edits notify it too): those are skipped.
                    Ok(Some(v)) if seen.is_some_and(|s| v <= s) => {}
                    // A newer version, or a lost connection that may have hidden one.
                    Ok(_) => self.resync(&mut seen).await,
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
                        Ok(v) if v != seen => self.resync(&mut seen).await,
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot read the configuration version"),
                    }
                }
            }
        }
    }

    /// Reloads the snapshot from the store under the edit lock; `seen` becomes the version
    /// read before loading, so a change committed during the load is loaded again next time.
    async fn resync(&self, seen: &mut Option<i64>) {
        let version = match self.store.config_version().await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the configuration version");
                return;
            }
        };
        let _edit = self.edits.lock().await;
        match self.swap_snapshot().await {
            Ok(()) => {
                tracing::debug!(version = ?version, "configuration reloaded after a change elsewhere");
                *seen = version;
            }
            Err(e) => tracing::warn!(error = %e, "cannot reload the configuration"),
        }
    }
}
