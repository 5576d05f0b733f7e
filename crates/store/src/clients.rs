//! Clients: named holders of access keys, with their allow-list, rate limits and budgets.
//! A client's keys are kept as SHA-256 digests (with a fingerprint and the last four
//! characters to show); the keys themselves are never stored.

use std::collections::HashMap;

use crate::db::Store;
use crate::db::{Tx, on_pool, on_tx};
use crate::error::StoreError;
use switchboard_router::id::now_ms;

/// The client the access keys Switchboard had before clients existed belong to (created by
/// the migration; it cannot be deleted).
pub const DEFAULT_CLIENT: &str = "default";

/// What the dashboard edits on a client. Money is in micro-dollars (millionths of a dollar).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSettings {
    pub enabled: bool,
    /// The aliases or models the client may ask for; `None`: any.
    pub models: Option<Vec<String>>,
    /// Requests per minute.
    pub rpm: Option<u32>,
    /// Tokens (input and output) per minute.
    pub tpm: Option<u64>,
    pub daily_budget_micros: Option<u64>,
    pub monthly_budget_micros: Option<u64>,
    /// The share of a budget (percent, 1–100) at which the soft alert fires.
    pub soft_limit_pct: u8,
    /// Unix milliseconds after which the client's keys stop working.
    pub expires_at_ms: Option<i64>,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            enabled: true,
            models: None,
            rpm: None,
            tpm: None,
            daily_budget_micros: None,
            monthly_budget_micros: None,
            soft_limit_pct: 80,
            expires_at_ms: None,
        }
    }
}

/// One stored access key of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientKeyRow {
    pub id: i64,
    /// SHA-256 of the key.
    pub hash: [u8; 32],
    pub fingerprint: String,
    pub last4: String,
    pub created_at_ms: i64,
}

/// A new key to store: its digest and what is shown of it.
#[derive(Debug, Clone)]
pub struct NewClientKey {
    pub hash: [u8; 32],
    pub fingerprint: String,
    pub last4: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRow {
    pub id: i64,
    pub name: String,
    pub settings: ClientSettings,
    pub created_at_ms: i64,
    pub keys: Vec<ClientKeyRow>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    name: String,
    enabled: bool,
    models: Option<String>,
    rpm: Option<i64>,
    tpm: Option<i64>,
    daily_budget_micros: Option<i64>,
    monthly_budget_micros: Option<i64>,
    soft_limit_pct: i64,
    expires_at_ms: Option<i64>,
    created_at_ms: i64,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: i64,
    client_id: i64,
    hash: Vec<u8>,
    fingerprint: String,
    last4: String,
    created_at_ms: i64,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

impl Row {
    fn into_client(self, keys: Vec<ClientKeyRow>) -> ClientRow {
        ClientRow {
            id: self.id,
            name: self.name,
            settings: ClientSettings {
                enabled: self.enabled,
                models: self
                    .models
                    .and_then(|m| serde_json::from_str::<Vec<String>>(&m).ok()),
                rpm: self.rpm.and_then(|v| u32::try_from(v).ok()),
                tpm: self.tpm.map(to_u64),
                daily_budget_micros: self.daily_budget_micros.map(to_u64),
                monthly_budget_micros: self.monthly_budget_micros.map(to_u64),
                soft_limit_pct: u8::try_from(self.soft_limit_pct.clamp(1, 100)).unwrap_or(80),
                expires_at_ms: self.expires_at_ms,
            },
            created_at_ms: self.created_at_ms,
            keys,
        }
    }
}

fn models_json(s: &ClientSettings) -> Option<String> {
    s.models
        .as_ref()
        .map(|m| serde_json::to_string(m).unwrap_or_else(|_| "[]".to_owned()))
}

impl Store {
    /// Every client with its keys, by name.
    pub async fn list_clients(&self) -> Result<Vec<ClientRow>, StoreError> {
        let rows: Vec<Row> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT * FROM clients ORDER BY name"
        )
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("listing clients"))?;
        let keys: Vec<KeyRow> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT * FROM client_keys ORDER BY id"
        )
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("listing client keys"))?;
        let mut by_client: HashMap<i64, Vec<ClientKeyRow>> = HashMap::new();
        for k in keys {
            let Ok(hash) = <[u8; 32]>::try_from(k.hash.as_slice()) else {
                continue;
            };
            by_client
                .entry(k.client_id)
                .or_default()
                .push(ClientKeyRow {
                    id: k.id,
                    hash,
                    fingerprint: k.fingerprint,
                    last4: k.last4,
                    created_at_ms: k.created_at_ms,
                });
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let keys = by_client.remove(&r.id).unwrap_or_default();
                r.into_client(keys)
            })
            .collect())
    }

    /// Creates a client holding `key`; returns the key's id. A name in use is a conflict.
    pub async fn create_client(
        &self,
        name: &str,
        settings: &ClientSettings,
        key: &NewClientKey,
    ) -> Result<i64, StoreError> {
        let mut tx = self.begin("creating a client").await?;
        let now = now_ms();
        let id: Result<(i64,), sqlx::Error> = on_tx!(&mut tx, |c| sqlx::query_as(
            "INSERT INTO clients (name, enabled, models, rpm, tpm, daily_budget_micros, \
             monthly_budget_micros, soft_limit_pct, expires_at_ms, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(name)
        .bind(settings.enabled)
        .bind(models_json(settings))
        .bind(settings.rpm.map(i64::from))
        .bind(settings.tpm.map(to_i64))
        .bind(settings.daily_budget_micros.map(to_i64))
        .bind(settings.monthly_budget_micros.map(to_i64))
        .bind(i64::from(settings.soft_limit_pct))
        .bind(settings.expires_at_ms)
        .bind(now)
        .fetch_one(c)
        .await);
        let (id,) = match id {
            Ok(id) => id,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Conflict {
                    what: format!("client {name}"),
                });
            }
            Err(e) => return Err(StoreError::db("creating a client")(e)),
        };
        let key_id = insert_key(&mut tx, id, key, now).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("creating a client"))?;
        Ok(key_id)
    }

    /// Replaces a client's settings.
    pub async fn update_client(
        &self,
        name: &str,
        settings: &ClientSettings,
    ) -> Result<(), StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "UPDATE clients SET enabled = $1, models = $2, rpm = $3, tpm = $4, \
             daily_budget_micros = $5, monthly_budget_micros = $6, soft_limit_pct = $7, \
             expires_at_ms = $8 WHERE name = $9",
        )
        .bind(settings.enabled)
        .bind(models_json(settings))
        .bind(settings.rpm.map(i64::from))
        .bind(settings.tpm.map(to_i64))
        .bind(settings.daily_budget_micros.map(to_i64))
        .bind(settings.monthly_budget_micros.map(to_i64))
        .bind(i64::from(settings.soft_limit_pct))
        .bind(settings.expires_at_ms)
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("updating a client"))?;
        if done == 0 {
            return Err(StoreError::not_found(format!("client {name}")));
        }
        Ok(())
    }

    /// Deletes a client and its keys (its requests stay in the log under its name).
    pub async fn delete_client(&self, name: &str) -> Result<(), StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM clients WHERE name = $1"
        )
        .bind(name)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("deleting a client"))?;
        if done == 0 {
            return Err(StoreError::not_found(format!("client {name}")));
        }
        Ok(())
    }

    /// Adds a key to a client; returns the key's id.
    pub async fn add_client_key(&self, name: &str, key: &NewClientKey) -> Result<i64, StoreError> {
        let mut tx = self.begin("adding a client key").await?;
        let id: Option<(i64,)> = on_tx!(&mut tx, |c| sqlx::query_as(
            "SELECT id FROM clients WHERE name = $1"
        )
        .bind(name)
        .fetch_optional(c)
        .await)
        .map_err(StoreError::db("adding a client key"))?;
        let Some((client_id,)) = id else {
            return Err(StoreError::not_found(format!("client {name}")));
        };
        let key_id = insert_key(&mut tx, client_id, key, now_ms()).await?;
        tx.commit()
            .await
            .map_err(StoreError::db("adding a client key"))?;
        Ok(key_id)
    }

    /// Revokes one of a client's keys.
    pub async fn delete_client_key(&self, name: &str, key_id: i64) -> Result<(), StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM client_keys WHERE id = $1 AND client_id = (SELECT id FROM clients WHERE name = $2)",
        )
        .bind(key_id)
        .bind(name)
        .execute(p).await.map(|r| r.rows_affected()))
        .map_err(StoreError::db("revoking a client key"))?;
        if done == 0 {
            return Err(StoreError::not_found(format!(
                "key {key_id} of client {name}"
            )));
        }
        Ok(())
    }

    /// What each client's recorded requests since `since_ms` cost, in micro-dollars.
    pub async fn client_spend_since(
        &self,
        since_ms: i64,
    ) -> Result<HashMap<String, u64>, StoreError> {
        let rows: Vec<(String, i64)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT client, CAST(COALESCE(SUM(cost_micros), 0) AS BIGINT) FROM request_log \
             WHERE client IS NOT NULL AND started_at_ms >= $1 GROUP BY client",
        )
        .bind(since_ms)
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("summing client spend"))?;
        Ok(rows.into_iter().map(|(c, s)| (c, to_u64(s))).collect())
    }
}

async fn insert_key(
    tx: &mut Tx,
    client_id: i64,
    key: &NewClientKey,
    now: i64,
) -> Result<i64, StoreError> {
    let id: Result<(i64,), sqlx::Error> = on_tx!(tx, |c| sqlx::query_as(
        "INSERT INTO client_keys (client_id, hash, fingerprint, last4, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(client_id)
    .bind(key.hash.as_slice())
    .bind(&key.fingerprint)
    .bind(&key.last4)
    .bind(now)
    .fetch_one(c)
    .await);
    match id {
        Ok((id,)) => Ok(id),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(StoreError::Conflict {
            what: "this access key".to_owned(),
        }),
        Err(e) => Err(StoreError::db("storing a client key")(e)),
    }
}
