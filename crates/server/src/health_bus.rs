//! Team mode's shared key health over Redis.
//!
//! Every cooldown, auth error and recovery this instance observes is published on the channel
//! `switchboard:<database>:health` and stored under a key per scope
//! (`switchboard:<database>:health:<provider>:<scope>`) that expires with the cooldown,
//! so an instance that starts later loads the shared view. Every instance subscribes and
//! applies what the others observed to its own board ([`HealthBoard::apply_remote`]), which
//! does not republish it (no echo) but shows it on the dashboard's health feed. The hot path never waits on Redis: publishing reads the
//! board's bounded event bus in a background task. When Redis is down the instance keeps
//! routing on its local health, warns once, counts each failure
//! (`switchboard_redis_errors_total`), and reloads the shared view when Redis answers again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use switchboard_router::health::{HealthBoard, HealthEvent, HealthState};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;

/// How long to wait before trying an unreachable Redis again.
const RETRY: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
#[error("invalid Redis URL (expected redis://host:port): {0}")]
pub struct RedisUrlError(pub(crate) String);

/// One change as it travels between instances.
#[derive(Debug, Serialize, Deserialize)]
struct Message {
    /// The instance that observed it.
    origin: String,
    event: HealthEvent,
}

pub struct HealthBus {
    client: redis::Client,
    instance: Arc<str>,
    /// The pub/sub channel health changes travel on; named after the team's database, so
    /// teams (or tests) sharing one Redis stay apart.
    channel: String,
    /// Prefix of the key each non-healthy scope is stored under.
    key_prefix: String,
    health: Arc<HealthBoard>,
    metrics: Arc<Metrics>,
    /// Set while Redis is unreachable, so the warning is logged once per outage.
    down: AtomicBool,
}

impl HealthBus {
    /// Checks the URL; connecting happens in the background (an unreachable Redis does not
    /// stop the instance from serving).
    pub fn new(
        url: &str,
        database_url: &str,
        instance: Arc<str>,
        health: Arc<HealthBoard>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<HealthBus>, RedisUrlError> {
        let client = open(url)?;
        let channel = format!("{}:health", namespace(database_url));
        Ok(Arc::new(HealthBus {
            client,
            instance,
            key_prefix: format!("{channel}:"),
            channel,
            health,
            metrics,
            down: AtomicBool::new(false),
        }))
    }

    /// Whether Redis answered the last exchange (the status and the dashboard's banner).
    pub fn reachable(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    /// Publishes this instance's health changes until `stop` is cancelled.
    pub async fn run_publisher(self: Arc<Self>, stop: CancellationToken) {
        let mut events = self.health.subscribe();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let mut conn = match ConnectionManager::new_lazy_with_config(self.client.clone(), config) {
            Ok(c) => c,
            Err(e) => {
                self.failed(&e);
                return;
            }
        };
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => return,
                e = events.recv() => e,
            };
            let event = match event {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if !shared(&event) {
                continue;
            }
            let done = tokio::select! {
                () = stop.cancelled() => return,
                r = self.store_and_publish(&mut conn, event) => r,
            };
            match done {
                Ok(()) => self.recovered(),
                Err(e) => self.failed(&e),
            }
        }
    }

    async fn store_and_publish(
        &self,
        conn: &mut ConnectionManager,
        event: HealthEvent,
    ) -> redis::RedisResult<()> {
        let scope = serde_json::to_string(&event.scope).unwrap_or_default();
        let key = format!("{}{}:{scope}", self.key_prefix, event.provider);
        let message = Message {
            origin: self.instance.to_string(),
            event,
        };
        let payload = serde_json::to_string(&message).unwrap_or_default();
        let mut pipe = redis::pipe();
        match (message.event.state, message.event.until_ms) {
            (HealthState::Healthy, _) => {
                pipe.cmd("DEL").arg(&key).ignore();
            }
            (_, Some(until)) => {
                let ms = until.saturating_sub(self.health.now_ms());
                if ms > 0 {
                    pipe.cmd("SET")
                        .arg(&key)
                        .arg(&payload)
                        .arg("PX")
                        .arg(ms)
                        .ignore();
                }
            }
            // An auth error lasts until someone acts on the key (its recovery deletes it).
            (_, None) => {
                pipe.cmd("SET").arg(&key).arg(&payload).ignore();
            }
        }
        pipe.cmd("PUBLISH")
            .arg(&self.channel)
            .arg(&payload)
            .ignore();
        pipe.query_async::<()>(conn).await
    }

    /// Applies the other instances' changes until `stop` is cancelled: subscribe, load the
    /// stored view, then follow the channel; on a lost connection, start over.
    pub async fn run_subscriber(self: Arc<Self>, stop: CancellationToken) {
        loop {
            let ended = tokio::select! {
                () = stop.cancelled() => return,
                r = self.follow() => r,
            };
            if let Err(e) = ended {
                self.failed(&e);
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(RETRY) => {}
            }
        }
    }

    async fn follow(&self) -> redis::RedisResult<()> {
        let mut pubsub = tokio::time::timeout(TIMEOUT, self.client.get_async_pubsub())
            .await
            .map_err(timed_out)??;
        pubsub.subscribe(&self.channel).await?;
        // Subscribed first, so nothing published while loading is missed.
        self.load().await?;
        self.recovered();
        let mut messages = pubsub.on_message();
        while let Some(msg) = messages.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            self.apply(&payload);
        }
        Err(redis::RedisError::from((
            redis::ErrorKind::Io,
            "the subscription ended",
        )))
    }

    /// Loads every stored scope (at start and after a reconnect).
    async fn load(&self) -> redis::RedisResult<()> {
        let mut conn =
            tokio::time::timeout(TIMEOUT, self.client.get_multiplexed_async_connection())
                .await
                .map_err(timed_out)??;
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(format!("{}*", self.key_prefix))
                .arg("COUNT")
                .arg(200)
                .query_async(&mut conn)
                .await?;
            if !keys.is_empty() {
                let values: Vec<Option<String>> =
                    redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
                for v in values.into_iter().flatten() {
                    self.apply(&v);
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    fn apply(&self, payload: &str) {
        match serde_json::from_str::<Message>(payload) {
            Ok(m) if m.origin == *self.instance => {}
            Ok(m) => self.health.apply_remote(&m.event),
            Err(e) => tracing::warn!(error = %e, "ignoring an unreadable shared health message"),
        }
    }

    fn failed(&self, e: &redis::RedisError) {
        self.metrics.redis_error();
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, "Redis is unreachable: key health stays local to this instance until it returns");
        }
    }

    fn recovered(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("Redis answers again: key health is shared again");
        }
    }
}

fn timed_out(_: tokio::time::error::Elapsed) -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "timed out connecting to Redis"))
}

/// The transitions other instances apply: the rest (probing, untested) stays local.
fn shared(e: &HealthEvent) -> bool {
    matches!(
        e.state,
        HealthState::Cooling | HealthState::AuthError | HealthState::Healthy
    )
}

/// A Redis client for `url` (connecting happens on first use).
pub(crate) fn open(url: &str) -> Result<redis::Client, RedisUrlError> {
    redis::Client::open(url).map_err(|e| RedisUrlError(e.to_string()))
}

/// Where a team's keys live in Redis: `switchboard:<database>`, so teams (or tests) sharing
/// one Redis stay apart.
pub(crate) fn namespace(database_url: &str) -> String {
    format!("switchboard:{}", database_name(database_url))
}

/// The database a `postgres://…/name?…` URL names (its credentials never leave here).
fn database_name(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    path.split(['?', '#']).next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::database_name;

    #[test]
    fn the_namespace_is_the_database_name_without_credentials() {
        assert_eq!(
            database_name("postgres://u:pw@db:5432/team?sslmode=require"),
            "team"
        );
        assert_eq!(database_name("postgres://u:pw@db:5432"), "");
    }
}
