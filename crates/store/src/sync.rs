//! Team mode's configuration changes: every write to a configuration table of the shared
//! PostgreSQL database bumps `config_version` and notifies `switchboard_config` (triggers in
//! `migrations-pg`), whichever instance — or whoever — wrote it. Instances listen to the
//! notifications and also compare the version now and then, so a notification missed while
//! a connection was down still reaches them.

use sqlx::postgres::PgListener;

use crate::db::{Pool, Store};
use crate::error::StoreError;

/// The notification channel the triggers send on; the payload is the new version.
pub const CONFIG_CHANNEL: &str = "switchboard_config";

/// A subscription to configuration changes (PostgreSQL only).
pub struct ConfigListener(PgListener);

impl std::fmt::Debug for ConfigListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigListener")
    }
}

impl ConfigListener {
    /// Waits for the next change: `Some(version)` it brought the configuration to, or `None`
    /// when the connection was lost (changes may have been missed; it reconnects on the next
    /// call).
    pub async fn next(&mut self) -> Result<Option<i64>, StoreError> {
        let notice = self
            .0
            .try_recv()
            .await
            .map_err(StoreError::db("listening for configuration changes"))?;
        // A payload that is not a version is treated like a lost connection: reload.
        Ok(notice.and_then(|n| n.payload().parse().ok()))
    }
}

impl Store {
    /// The shared configuration's version, bumped by every committed write to it; `None` on
    /// SQLite, where this process is the only writer.
    pub async fn config_version(&self) -> Result<Option<i64>, StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(None),
            Pool::Postgres(p) => {
                let (v,): (i64,) =
                    sqlx::query_as("SELECT version FROM config_version WHERE id = 1")
                        .fetch_one(p)
                        .await
                        .map_err(StoreError::db("reading the configuration version"))?;
                Ok(Some(v))
            }
        }
    }

    /// Subscribes to configuration changes; `None` on SQLite.
    pub async fn listen_config(&self) -> Result<Option<ConfigListener>, StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(None),
            Pool::Postgres(p) => {
                let mut listener = PgListener::connect_with(p)
                    .await
                    .map_err(StoreError::db("listening for configuration changes"))?;
                listener
                    .listen(CONFIG_CHANNEL)
                    .await
                    .map_err(StoreError::db("listening for configuration changes"))?;
                Ok(Some(ConfigListener(listener)))
            }
        }
    }
}
