//! Team mode's cluster-wide coordination over Redis: probe leases and per-key concurrency
//! slots (the router's hook, `switchboard_router::cluster`), and the clients' limits: request
//! and token windows, shared budget spend.
//!
//! Every decision is one Lua script, so two instances can never both take the last slot or
//! the last request of a window. Keys live under `switchboard:<database>:` beside the shared
//! health:
//!
//! - `…:probe:<provider>:<scope>` — the instance probing that scope (`SET NX PX`, or extended
//!   by its holder); shortened to a grace period once the probe has settled, so its outcome
//!   reaches the others through the health bus before anyone may probe again.
//! - `…:slots:<provider>:<key id>` — a sorted set of the attempts holding the key, each
//!   scored with its expiry: the instance holding a slot renews it every few seconds, so a
//!   killed instance's slots run out within [`SLOT_TTL_MS`] instead of leaking.
//! - `…:rpm:<client>` — a sorted set of the admissions of the last minute.
//! - `…:tokens:<client>` — a sorted set of the tokens a client with a tokens-per-minute limit
//!   used in the last minute (one member per recorded request), added in the background and
//!   summed before admitting its next request.
//! - `…:spend:<client>:day:<start>` and `…:spend:<client>:month:<start>` — a budgeted
//!   client's spend in micro-dollars (`INCRBY` as its requests are recorded, in the
//!   background); read before admitting its next request, on any instance.
//!
//! Only these rare paths touch Redis: a probe, an attempt on a key whose provider limits
//! concurrency, a request of a client with an rpm or tpm limit or a budget. When Redis does
//! not answer, the caller falls back to what the instance does alone; the failure is counted
//! (`switchboard_redis_errors_total`), warned about once per outage, and Redis is left alone
//! for a second before it is asked again, so requests do not wait on a dead server.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use switchboard_control::{Control, UsageShare, period_starts};
use switchboard_router::cluster::{Cluster, Lease, Slot};
use switchboard_router::health::HealthEntry;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::health_bus::{RedisUrlError, namespace, open};
use crate::metrics::Metrics;

/// How long a silent Redis is left alone before it is asked again.
const RETRY: Duration = Duration::from_secs(1);
/// Requests must not wait long on Redis: beyond this the instance decides alone.
const TIMEOUT: Duration = Duration::from_secs(1);
/// A probe lease outlives the longest probe.
const LEASE_MS: u64 = switchboard_router::engine::PROBE_TIMEOUT.as_millis() as u64 + 10_000;
/// After its probe settles, the lease is kept this long: the outcome travels on the health
/// bus meanwhile, so no other instance probes the scope again before hearing it.
const LEASE_GRACE_MS: u64 = 3_000;
/// The requests-per-minute window.
const MINUTE_MS: i64 = 60_000;
const DAY_MS: u64 = 86_400_000;
/// How long a key slot lives unless its instance renews it, and how often it is renewed.
const SLOT_TTL_MS: u64 = 30_000;
const SLOT_RENEW: Duration = Duration::from_secs(10);
/// Most background writes sent in one round trip.
const WRITE_BATCH: usize = 256;

/// Takes the lease (or extends it for its holder). KEYS[1] lease; ARGV instance, ttl ms.
const LEASE: &str = r"
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if v == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
";

/// Shortens the lease to its grace, if this instance still holds it.
const END_LEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
";

/// Pushes back the expiry of held slots: KEYS[i] holds member ARGV[i + 1]; ARGV[1] ttl ms.
/// A slot that has already expired is not taken again.
const RENEW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
for i, k in ipairs(KEYS) do
  if redis.call('ZADD', k, 'XX', 'CH', now + ttl, ARGV[i + 1]) == 1 then
    redis.call('PEXPIRE', k, ttl)
  end
end
return 1
";

/// Takes one of ARGV[1] slots as member ARGV[2] expiring in ARGV[3] ms; 1 when taken.
const SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
";

/// Admits member ARGV[2] if fewer than ARGV[1] were admitted in the last ARGV[3] ms.
/// Returns {admitted, now, oldest admission} (Redis's clock).
const WINDOW: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, now, tonumber(oldest[2])}
end
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {1, now, now}
";

/// Adds member ARGV[1] (ending in `:<tokens>`) to the minute's window.
const ADD_TOKENS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// The tokens recorded in the last ARGV[1] ms.
const SUM_TOKENS: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local sum = 0
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  sum = sum + (tonumber(string.match(m, ':(%d+)$')) or 0)
end
return sum
";

/// A client's requests-per-minute window, counted over every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Admitted,
    /// Full: the oldest admission leaves the window in this many milliseconds.
    Full {
        resets_in_ms: i64,
    },
    /// Redis did not answer: the local window alone applies.
    Unavailable,
}

pub struct RedisCluster {
    conn: ConnectionManager,
    instance: Arc<str>,
    /// `switchboard:<database>:`
    prefix: String,
    metrics: Arc<Metrics>,
    /// Set while Redis does not answer, so the warning is logged once per outage.
    down: AtomicBool,
    /// When Redis last failed: it is not asked again before [`RETRY`] has passed.
    failed_at: Mutex<Option<Instant>>,
    /// Numbers this instance's slot and window members.
    next: AtomicU64,
    writes: mpsc::UnboundedSender<Write>,
    /// The slots this instance holds (member → key), renewed until given back.
    held: Arc<Mutex<HashMap<String, String>>>,
}

/// What is written to Redis in the background, off the request path.
enum Write {
    /// A key slot given back.
    Release { key: String, member: String },
    /// Tokens a client with a tokens-per-minute limit used.
    Tokens { client: String, tokens: u64 },
    /// A budgeted client's recorded spend.
    Spend {
        client: String,
        cost_micros: u64,
        at_ms: i64,
    },
}

impl std::fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCluster")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The background writes, for [`RedisCluster::run_writes`].
pub struct Writes(mpsc::UnboundedReceiver<Write>);

/// One held slot; dropping it gives it back.
struct Held {
    key: String,
    member: String,
    writes: mpsc::UnboundedSender<Write>,
    held: Arc<Mutex<HashMap<String, String>>>,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.held.lock().remove(&self.member);
        // A closed channel (the instance is stopping): the slot runs out with its expiry.
        let _ = self.writes.send(Write::Release {
            key: std::mem::take(&mut self.key),
            member: std::mem::take(&mut self.member),
        });
    }
}

impl RedisCluster {
    /// Team mode with `redis_url` (beside `database_url`, which names the namespace). Connects
    /// lazily: an unreachable Redis does not stop the instance from starting.
    pub fn new(
        redis_url: &str,
        database_url: &str,
        instance: Arc<str>,
        metrics: Arc<Metrics>,
    ) -> Result<(Arc<RedisCluster>, Writes), RedisUrlError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1);
        let conn = ConnectionManager::new_lazy_with_config(open(redis_url)?, config)
            .map_err(|e| RedisUrlError(e.to_string()))?;
        let namespace = namespace(database_url);
        let (tx, rx) = mpsc::unbounded_channel();
        Ok((
            Arc::new(RedisCluster {
                conn,
                instance,
                prefix: format!("{namespace}:"),
                metrics,
                down: AtomicBool::new(false),
                failed_at: Mutex::new(None),
                next: AtomicU64::new(0),
                writes: tx,
                held: Arc::default(),
            }),
            Writes(rx),
        ))
    }

    /// Installs the hooks through which the engine and the clients' limits reach the
    /// cluster.
    pub fn install(self: &Arc<Self>, control: &Control) {
        control.engine().health.set_cluster(self.clone());
        control.clients().set_usage_share(self.clone());
    }

    /// Writes given-back slots and recorded usage until `stop` is cancelled, then what is
    /// still queued (slots whose write is lost expire on their own).
    /// Every [`SLOT_RENEW`] it also renews the slots this instance holds.
    pub async fn run_writes(self: Arc<Self>, mut writes: Writes, stop: CancellationToken) {
        let mut renew = tokio::time::interval(SLOT_RENEW);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let write = tokio::select! {
                () = stop.cancelled() => break,
                _ = renew.tick() => {
                    self.renew_slots().await;
                    continue;
                }
                w = writes.0.recv() => match w {
                    Some(w) => w,
                    None => return,
                },
            };
            // What queued meanwhile goes in the same round trip.
            let mut pipe = redis::pipe();
            self.add_write(&mut pipe, write);
            for _ in 1..WRITE_BATCH {
                let Ok(w) = writes.0.try_recv() else { break };
                self.add_write(&mut pipe, w);
            }
            let _: Option<()> = self.run_pipe(pipe).await;
        }
        // Stopping: the requests drained last gave their slots back just now.
        writes.0.close();
        let mut pipe = redis::pipe();
        let mut any = false;
        while let Ok(write) = writes.0.try_recv() {
            self.add_write(&mut pipe, write);
            any = true;
        }
        if any {
            let _: Option<()> = self.run_pipe(pipe).await;
        }
    }

    async fn renew_slots(&self) {
        let held: Vec<(String, String)> = self
            .held
            .lock()
            .iter()
            .map(|(m, k)| (m.clone(), k.clone()))
            .collect();
        if held.is_empty() {
            return;
        }
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(RENEW).arg(held.len());
        for (_, key) in &held {
            cmd.arg(key);
        }
        cmd.arg(SLOT_TTL_MS);
        for (member, _) in &held {
            cmd.arg(member);
        }
        let _: Option<i64> = self.run(cmd).await;
    }

    fn add_write(&self, pipe: &mut redis::Pipeline, write: Write) {
        match write {
            Write::Release { key, member } => {
                pipe.cmd("ZREM").arg(key).arg(member).ignore();
            }
            Write::Tokens { client, tokens } => {
                let key = format!("{}tokens:{client}", self.prefix);
                let member = format!("{}:{tokens}", self.member());
                pipe.add_command(self.script(ADD_TOKENS, &key))
                    .arg(member)
                    .arg(MINUTE_MS)
                    .ignore();
            }
            Write::Spend {
                client,
                cost_micros,
                at_ms,
            } => {
                for (key, keep_ms) in self.spend_keys(&client, at_ms) {
                    pipe.cmd("INCRBY").arg(&key).arg(cost_micros).ignore();
                    pipe.cmd("PEXPIRE").arg(&key).arg(keep_ms).ignore();
                }
            }
        }
    }

    /// The tokens `client` used in the last minute over every instance, or `None` when Redis
    /// does not answer.
    pub async fn shared_tokens(&self, client: &str) -> Option<u64> {
        let mut cmd = self.script(SUM_TOKENS, &format!("{}tokens:{client}", self.prefix));
        cmd.arg(MINUTE_MS);
        self.run(cmd).await
    }

    /// What `client` has spent over every instance in the current day and month (as far as
    /// Redis has counted), or `None` when Redis does not answer.
    pub async fn shared_spend(&self, client: &str, now_ms: i64) -> Option<(u64, u64)> {
        let [(day, _), (month, _)] = self.spend_keys(client, now_ms);
        let mut cmd = redis::cmd("MGET");
        cmd.arg(day).arg(month);
        let (day, month): (Option<u64>, Option<u64>) = self.run(cmd).await?;
        Some((day.unwrap_or(0), month.unwrap_or(0)))
    }

    /// The day's and the month's spend counters of `client` at `at_ms`, with how long each
    /// is kept (beyond its period's end).
    fn spend_keys(&self, client: &str, at_ms: i64) -> [(String, u64); 2] {
        let (day, month) = period_starts(at_ms);
        [
            (
                format!("{}spend:{client}:day:{day}", self.prefix),
                2 * DAY_MS,
            ),
            (
                format!("{}spend:{client}:month:{month}", self.prefix),
                32 * DAY_MS,
            ),
        ]
    }

    /// Counts one request of `client` against its requests-per-minute limit, over every
    /// instance.
    pub async fn admit_rpm(&self, client: &str, rpm: u32) -> Window {
        let mut cmd = self.script(WINDOW, &format!("{}rpm:{client}", self.prefix));
        cmd.arg(rpm).arg(self.member()).arg(MINUTE_MS);
        match self.run::<(i64, i64, i64)>(cmd).await {
            Some((1, _, _)) => Window::Admitted,
            Some((_, now, oldest)) => Window::Full {
                resets_in_ms: (oldest + MINUTE_MS - now).max(1),
            },
            None => Window::Unavailable,
        }
    }

    fn script(&self, source: &str, key: &str) -> redis::Cmd {
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(source).arg(1).arg(key);
        cmd
    }

    fn member(&self) -> String {
        format!(
            "{}:{}",
            self.instance,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }

    fn lease_key(&self, entry: &HealthEntry) -> String {
        let scope = serde_json::to_string(&entry.scope).unwrap_or_default();
        format!("{}probe:{}:{scope}", self.prefix, entry.provider)
    }

    /// Runs one command; `None` when Redis did not answer (or is being left alone).
    async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Option<T> {
        if self.resting() {
            return None;
        }
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(TIMEOUT, cmd.query_async::<T>(&mut conn)).await;
        self.answered(answer)
    }

    async fn run_pipe<T: redis::FromRedisValue>(&self, pipe: redis::Pipeline) -> Option<T> {
        if self.resting() {
            return None;
        }
        let mut conn = self.conn.clone();
        let answer = tokio::time::timeout(TIMEOUT, pipe.query_async::<T>(&mut conn)).await;
        self.answered(answer)
    }

    fn answered<T>(
        &self,
        answer: Result<redis::RedisResult<T>, tokio::time::error::Elapsed>,
    ) -> Option<T> {
        match answer {
            Ok(Ok(v)) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: probes and limits are cluster-wide again");
                }
                Some(v)
            }
            Ok(Err(e)) => {
                self.failed(&e.to_string());
                None
            }
            Err(_) => {
                self.failed("no answer in time");
                None
            }
        }
    }

    fn resting(&self) -> bool {
        self.failed_at.lock().is_some_and(|t| t.elapsed() < RETRY)
    }

    fn failed(&self, error: &str) {
        self.metrics.redis_error();
        *self.failed_at.lock() = Some(Instant::now());
        if !self.down.swap(true, Ordering::Relaxed) {
            tracing::warn!(%error, "Redis is unreachable: probes and limits are per instance until it returns");
        }
    }
}

impl UsageShare for RedisCluster {
    fn spent(&self, client: &str, cost_micros: u64, at_ms: i64) {
        let _ = self.writes.send(Write::Spend {
            client: client.to_owned(),
            cost_micros,
            at_ms,
        });
    }

    fn used_tokens(&self, client: &str, tokens: u64) {
        let _ = self.writes.send(Write::Tokens {
            client: client.to_owned(),
            tokens,
        });
    }
}

impl Cluster for RedisCluster {
    fn leases_probes(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    fn lease_probe<'a>(&'a self, entry: &'a HealthEntry) -> BoxFuture<'a, Lease> {
        async move {
            let mut cmd = self.script(LEASE, &self.lease_key(entry));
            cmd.arg(&*self.instance).arg(LEASE_MS);
            match self.run::<i64>(cmd).await {
                Some(1) => Lease::Held,
                Some(_) => Lease::Taken,
                None => Lease::Unavailable,
            }
        }
        .boxed()
    }

    fn end_probe<'a>(&'a self, entry: &'a HealthEntry) -> BoxFuture<'a, ()> {
        async move {
            let mut cmd = self.script(END_LEASE, &self.lease_key(entry));
            cmd.arg(&*self.instance).arg(LEASE_GRACE_MS);
            let _: Option<i64> = self.run(cmd).await;
        }
        .boxed()
    }

    fn key_slot<'a>(&'a self, provider: &'a str, key_id: i64, limit: u32) -> BoxFuture<'a, Slot> {
        async move {
            let key = format!("{}slots:{provider}:{key_id}", self.prefix);
            let member = self.member();
            let mut cmd = self.script(SLOT, &key);
            cmd.arg(limit).arg(&member).arg(SLOT_TTL_MS);
            match self.run::<i64>(cmd).await {
                Some(1) => {
                    self.held.lock().insert(member.clone(), key.clone());
                    Slot::Granted(Arc::new(Held {
                        key,
                        member,
                        writes: self.writes.clone(),
                        held: self.held.clone(),
                    }))
                }
                Some(_) => Slot::Busy,
                None => Slot::Unavailable,
            }
        }
        .boxed()
    }
}
