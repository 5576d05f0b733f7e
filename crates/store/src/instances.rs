//! The running instances: each writes its own row on every heartbeat (upsert) and removes it
//! on a graceful stop; the dashboard lists them all. An instance that was killed keeps its
//! row, with a heartbeat that grows old, until the others prune it.

use crate::db::{Store, on_pool};
use crate::error::StoreError;

/// One instance's row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct InstanceRow {
    pub id: String,
    pub version: String,
    /// The address it listens on (`host:port`).
    pub address: String,
    pub started_at_ms: i64,
    pub last_heartbeat_ms: i64,
    /// Requests it was serving at its last heartbeat.
    pub in_flight: i64,
}

impl Store {
    /// Writes `row` (this instance's heartbeat), replacing the instance's previous row.
    pub async fn heartbeat_instance(&self, row: &InstanceRow) -> Result<(), StoreError> {
        on_pool!(&self.pool, |p| sqlx::query(
            "INSERT INTO instances \
             (id, version, address, started_at_ms, last_heartbeat_ms, in_flight) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET version = excluded.version, \
             address = excluded.address, started_at_ms = excluded.started_at_ms, \
             last_heartbeat_ms = excluded.last_heartbeat_ms, in_flight = excluded.in_flight",
        )
        .bind(&row.id)
        .bind(&row.version)
        .bind(&row.address)
        .bind(row.started_at_ms)
        .bind(row.last_heartbeat_ms)
        .bind(row.in_flight)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(StoreError::db("writing this instance's heartbeat"))
    }

    /// Removes an instance's row (it stopped).
    pub async fn remove_instance(&self, id: &str) -> Result<(), StoreError> {
        on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM instances WHERE id = $1"
        )
        .bind(id)
        .execute(p)
        .await
        .map(|_| ()))
        .map_err(StoreError::db("removing a stopped instance"))
    }

    /// Removes the rows whose last heartbeat is before `older_than_ms` (instances killed or
    /// lost without a clean stop); their ids, sorted.
    pub async fn prune_instances(&self, older_than_ms: i64) -> Result<Vec<String>, StoreError> {
        let mut ids: Vec<String> = on_pool!(&self.pool, |p| sqlx::query_scalar(
            "DELETE FROM instances WHERE last_heartbeat_ms < $1 RETURNING id"
        )
        .bind(older_than_ms)
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("removing silent instances"))?;
        ids.sort();
        Ok(ids)
    }

    /// Every instance's row, by id.
    pub async fn list_instances(&self) -> Result<Vec<InstanceRow>, StoreError> {
        on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT id, version, address, started_at_ms, last_heartbeat_ms, in_flight \
             FROM instances ORDER BY id",
        )
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("listing instances"))
    }
}
