//! Team mode's configuration changes: every write to a configuration table of the shared
//! PostgreSQL database bumps `config_version` and notifies `switchboard_config` (triggers in
//! `migrations-pg`), whichever instance — or whoever — wrote it. Instances listen to the
//! notifications and also compare the version now and then, so a notification missed while
//! a connection was down still reaches them.
//!
//! The request log's writer notifies `switchboard_requests` with the ids of each batch it
//! commits ([`RequestNotice`]), so every instance's live feed shows the whole cluster.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use switchboard_router::log::RequestRecord;

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

/// The channel the request log's writer notifies after each batch (PostgreSQL only).
pub const REQUESTS_CHANNEL: &str = "switchboard_requests";

/// Ids per notification: 200 ids of 26 characters stay far below PostgreSQL's 8,000-byte
/// payload limit.
const IDS_PER_NOTICE: usize = 200;

/// Requests one instance just wrote to the shared log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestNotice {
    /// The instance that served them (empty when the records named none).
    pub instance: String,
    pub ids: Vec<String>,
}

/// The notifications announcing `records` (stored under `ids`): per serving instance, in
/// chunks that fit a payload.
pub(crate) fn request_notices(records: &[RequestRecord], ids: &[String]) -> Vec<String> {
    let mut by_instance: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (r, id) in records.iter().zip(ids) {
        by_instance
            .entry(r.instance.as_deref().unwrap_or(""))
            .or_default()
            .push(id.clone());
    }
    by_instance
        .into_iter()
        .flat_map(|(instance, ids)| {
            ids.chunks(IDS_PER_NOTICE)
                .map(|chunk| {
                    serde_json::to_string(&RequestNotice {
                        instance: instance.to_owned(),
                        ids: chunk.to_vec(),
                    })
                    .unwrap_or_default()
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A subscription to the requests every instance writes (PostgreSQL only).
pub struct RequestListener(PgListener);

impl std::fmt::Debug for RequestListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RequestListener")
    }
}

impl RequestListener {
    /// Waits for the next batch: `Some(notice)`, or `None` when the connection was lost
    /// (batches may have been missed; it reconnects on the next call) or the payload was
    /// unreadable.
    pub async fn next(&mut self) -> Result<Option<RequestNotice>, StoreError> {
        let notice = self
            .0
            .try_recv()
            .await
            .map_err(StoreError::db("listening for new requests"))?;
        Ok(notice.and_then(|n| serde_json::from_str(n.payload()).ok()))
    }
}

impl Store {
    /// Subscribes to the requests every instance writes; `None` on SQLite.
    pub async fn listen_requests(&self) -> Result<Option<RequestListener>, StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(None),
            Pool::Postgres(p) => {
                let mut listener = PgListener::connect_with(p)
                    .await
                    .map_err(StoreError::db("listening for new requests"))?;
                listener
                    .listen(REQUESTS_CHANNEL)
                    .await
                    .map_err(StoreError::db("listening for new requests"))?;
                Ok(Some(RequestListener(listener)))
            }
        }
    }

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
