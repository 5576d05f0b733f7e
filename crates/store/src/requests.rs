//! The request log: batched inserts, filtered and cursor-paged reads, pruning, and the
//! aggregates the usage page draws.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use sqlx::QueryBuilder;
use switchboard_router::log::{AttemptRecord, RequestRecord};

use crate::db::Store;
use crate::db::{Backend, on_pool, on_tx};
use crate::error::StoreError;
use switchboard_router::id::request_id_at;

/// Largest page [`Store::query_requests`] returns.
pub const MAX_PAGE: u32 = 1000;

/// Rows per INSERT statement at most (24 parameters each, far below SQLite's 32,766).
const ROWS_PER_INSERT: usize = 64;

/// The INSERT statements a batch of `n` rows is written in, by their rows: full statements of
/// [`ROWS_PER_INSERT`], then the rest by its binary digits. Only these seven statement texts
/// ever exist, so each is prepared once per connection and kept rather than parsed again for
/// every batch (a statement's text is one per batch size otherwise).
fn insert_sizes(mut n: usize) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let size = match n {
            0 => return None,
            n if n >= ROWS_PER_INSERT => ROWS_PER_INSERT,
            n => 1 << n.ilog2(),
        };
        n -= size;
        Some(size)
    })
}

/// Which statuses to show: one code, a class such as `5xx`, or every failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    Exact(u16),
    /// The hundreds digit: 2 for `2xx`, 5 for `5xx`.
    Class(u8),
    /// Every failed request: 4xx, 5xx, and 0 (no answer at all).
    Error,
}

impl StatusFilter {
    /// Parses `429`, `5xx` (or `5XX`), `error`.
    pub fn parse(s: &str) -> Option<StatusFilter> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("error") {
            return Some(StatusFilter::Error);
        }
        if let Some(d) = s
            .strip_suffix("xx")
            .or_else(|| s.strip_suffix("XX"))
            .filter(|d| d.len() == 1)
        {
            return d
                .parse::<u8>()
                .ok()
                .filter(|d| (1..=5).contains(d))
                .map(StatusFilter::Class);
        }
        s.parse::<u16>()
            .ok()
            .filter(|c| (100..=599).contains(c))
            .map(StatusFilter::Exact)
    }
}

/// What to read from the request log; newest first.
#[derive(Debug, Clone, Default)]
pub struct RequestFilter {
    pub alias: Option<String>,
    pub provider: Option<String>,
    /// The client that sent the request.
    pub client: Option<String>,
    /// The instance that served the request (team mode).
    pub instance: Option<String>,
    pub status: Option<StatusFilter>,
    /// Inclusive lower bound on `started_at_ms`.
    pub since_ms: Option<i64>,
    /// Exclusive upper bound on `started_at_ms`.
    pub until_ms: Option<i64>,
    /// Cursor: only requests whose id sorts before this one (the last id of the previous page).
    pub before_id: Option<String>,
    /// Only requests that needed a failover (more than one attempt).
    pub failovers_only: bool,
    /// Page size; 0 means 100, capped at [`MAX_PAGE`].
    pub limit: u32,
}

/// Bucket width for usage aggregates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Bucket {
    #[default]
    Day,
    Hour,
}

impl Bucket {
    fn ms(self) -> i64 {
        match self {
            Bucket::Day => 86_400_000,
            Bucket::Hour => 3_600_000,
        }
    }
}

/// What usage rows are grouped by inside a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GroupBy {
    #[default]
    None,
    Provider,
    /// The upstream model.
    Model,
    /// The key id (as a string).
    Key,
    Alias,
    /// The client (named access key) that sent the request.
    Client,
}

impl GroupBy {
    /// The column grouped on; constant SQL, never input.
    fn column(self) -> &'static str {
        match self {
            GroupBy::None => "NULL",
            GroupBy::Provider => "provider",
            GroupBy::Model => "upstream_model",
            GroupBy::Key => "CAST(key_id AS TEXT)",
            GroupBy::Alias => "alias",
            GroupBy::Client => "client",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    /// Inclusive lower bound on `started_at_ms`.
    pub since_ms: i64,
    /// Exclusive upper bound; `None` for now.
    pub until_ms: Option<i64>,
    pub bucket: Bucket,
    pub group_by: GroupBy,
    /// Added to timestamps before bucketing, so days start at local midnight
    /// (e.g. +3 600 000 for UTC+1). 0 for UTC.
    pub utc_offset_ms: i64,
}

/// One key's attempts over a window, by how the upstream answered.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyAttempts {
    pub key_id: i64,
    pub attempts: u64,
    /// Attempts that served the request.
    pub ok: u64,
    /// Answered 429.
    pub rate_limited: u64,
    /// Answered 401 or 403.
    pub auth_failed: u64,
    /// Answered 5xx.
    pub server_errors: u64,
}

/// One bucket × group of the usage aggregate.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UsageRow {
    /// Start of the bucket, Unix ms (UTC instant of the local bucket start).
    pub bucket_start_ms: i64,
    /// The group's value; `None` when not grouping or the value is unknown (no provider
    /// reached, for example).
    pub group: Option<String>,
    pub requests: u64,
    /// Requests answered with status 400 or above (client cancellations, 499, included).
    pub errors: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub tokens_cached: u64,
    pub tokens_reasoning: u64,
    /// Summed cost of the priced requests, micro-dollars.
    pub cost_micros: u64,
    pub p50_latency_ms: Option<u64>,
    pub p95_latency_ms: Option<u64>,
    pub avg_ttfb_ms: Option<u64>,
}

/// One provider's prompt-cache use over a window ([`Store::cache_hits`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CacheHits {
    pub provider: String,
    /// Input tokens of its successful requests (cached ones included).
    pub tokens_in: u64,
    /// Of those, the ones read from the provider's prompt cache.
    pub tokens_cached: u64,
    /// `tokens_cached / tokens_in`, `None` when no input tokens were counted.
    pub hit_rate: Option<f64>,
}

/// The longest window [`Store::request_summary`] counts per minute: one day.
pub const MAX_SUMMARY_WINDOW_MS: i64 = 86_400_000;

/// Everything the log holds for one window, counted in the database (not from a page of it).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestSummary {
    pub since_ms: i64,
    pub until_ms: i64,
    pub requests: u64,
    /// Requests that failed: status 400 or above, or none at all (0).
    pub errors: u64,
    /// Requests that needed more than one attempt.
    pub failovers: u64,
    /// Latency percentiles of the successful requests.
    pub p50_latency_ms: Option<u64>,
    pub p95_latency_ms: Option<u64>,
    /// Requests started in each minute of the window, oldest first.
    pub per_minute: Vec<u64>,
}

#[derive(sqlx::FromRow)]
struct RequestRow {
    id: String,
    started_at_ms: i64,
    dialect: String,
    alias: String,
    provider: Option<String>,
    key_id: Option<i64>,
    upstream_model: Option<String>,
    status: i64,
    stream: bool,
    latency_ms: i64,
    ttfb_ms: Option<i64>,
    tokens_in: i64,
    tokens_out: i64,
    tokens_cached: i64,
    tokens_reasoning: i64,
    cost_micros: Option<i64>,
    audio_ms: Option<i64>,
    images: Option<i64>,
    client: Option<String>,
    error: Option<String>,
    affinity: Option<String>,
    attempts: String,
    refused: Option<String>,
    instance: Option<String>,
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl RequestRow {
    fn into_record(self) -> Result<RequestRecord, StoreError> {
        let attempts: Vec<AttemptRecord> =
            serde_json::from_str(&self.attempts).map_err(|source| StoreError::Corrupt {
                what: format!("attempts of request {}", self.id),
                source,
            })?;
        Ok(RequestRecord {
            id: self.id,
            started_at_ms: self.started_at_ms,
            dialect: self.dialect,
            alias: self.alias,
            provider: self.provider,
            key_id: self.key_id,
            upstream_model: self.upstream_model,
            status: u16::try_from(self.status).unwrap_or(0),
            stream: self.stream,
            latency_ms: to_u64(self.latency_ms),
            ttfb_ms: self.ttfb_ms.map(to_u64),
            tokens_in: to_u64(self.tokens_in),
            tokens_out: to_u64(self.tokens_out),
            tokens_cached: to_u64(self.tokens_cached),
            tokens_reasoning: to_u64(self.tokens_reasoning),
            cost_micros: self.cost_micros.map(to_u64),
            audio_ms: self.audio_ms.map(to_u64),
            images: self.images.map(to_u64),
            client: self.client,
            error: self.error,
            affinity: self.affinity,
            attempts,
            refused: self.refused,
            instance: self.instance,
        })
    }
}

/// `col = excluded.col` for every column but the id: a retried batch replaces its rows.
const REPLACE_ALL: &str = "started_at_ms = excluded.started_at_ms, dialect = excluded.dialect, \
     alias = excluded.alias, provider = excluded.provider, key_id = excluded.key_id, \
     upstream_model = excluded.upstream_model, status = excluded.status, stream = excluded.stream, \
     latency_ms = excluded.latency_ms, ttfb_ms = excluded.ttfb_ms, tokens_in = excluded.tokens_in, \
     tokens_out = excluded.tokens_out, tokens_cached = excluded.tokens_cached, \
     tokens_reasoning = excluded.tokens_reasoning, cost_micros = excluded.cost_micros, \
     audio_ms = excluded.audio_ms, images = excluded.images, client = excluded.client, error = excluded.error, affinity = excluded.affinity, \
     attempts = excluded.attempts, refused = excluded.refused, instance = excluded.instance";

const REQUEST_COLUMNS: &str = "id, started_at_ms, dialect, alias, provider, key_id, \
     upstream_model, status, stream, latency_ms, ttfb_ms, tokens_in, tokens_out, tokens_cached, \
     tokens_reasoning, cost_micros, audio_ms, images, client, error, affinity, attempts, refused,
     instance";

/// Percentile by nearest rank over sorted values.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied()
}

impl Store {
    /// Inserts records in one transaction. Records with an empty id get one made from their
    /// start time; the ids used are returned in order. A record whose id is already stored
    /// is replaced (a retried batch does not duplicate rows).
    pub async fn insert_requests(
        &self,
        records: &[RequestRecord],
    ) -> Result<Vec<String>, StoreError> {
        let mut ids = Vec::with_capacity(records.len());
        if records.is_empty() {
            return Ok(ids);
        }
        let mut rows = Vec::with_capacity(records.len());
        for r in records {
            let id = if r.id.is_empty() {
                request_id_at(r.started_at_ms)
            } else {
                r.id.clone()
            };
            let attempts =
                serde_json::to_string(&r.attempts).map_err(|source| StoreError::Corrupt {
                    what: format!("attempts of request {id}"),
                    source,
                })?;
            rows.push((r, attempts));
            ids.push(id);
        }
        // A statement per chunk of rows: every statement is a round trip to the connection's
        // worker thread, so a row each would cost a thread hand-off per request.
        let mut tx = self.begin("writing the request log").await?;
        let mut at = 0;
        for size in insert_sizes(rows.len()) {
            let (chunk, chunk_ids) = (&rows[at..at + size], &ids[at..at + size]);
            at += size;
            on_tx!(&mut tx, |c| {
                let mut q =
                    QueryBuilder::new(format!("INSERT INTO request_log ({REQUEST_COLUMNS}) "));
                q.push_values(chunk.iter().zip(chunk_ids), |mut b, ((r, attempts), id)| {
                    b.push_bind(id)
                        .push_bind(r.started_at_ms)
                        .push_bind(&r.dialect)
                        .push_bind(&r.alias)
                        .push_bind(&r.provider)
                        .push_bind(r.key_id)
                        .push_bind(&r.upstream_model)
                        .push_bind(i64::from(r.status))
                        .push_bind(r.stream)
                        .push_bind(to_i64(r.latency_ms))
                        .push_bind(r.ttfb_ms.map(to_i64))
                        .push_bind(to_i64(r.tokens_in))
                        .push_bind(to_i64(r.tokens_out))
                        .push_bind(to_i64(r.tokens_cached))
                        .push_bind(to_i64(r.tokens_reasoning))
                        .push_bind(r.cost_micros.map(to_i64))
                        .push_bind(r.audio_ms.map(to_i64))
                        .push_bind(r.images.map(to_i64))
                        .push_bind(&r.client)
                        .push_bind(&r.error)
                        .push_bind(&r.affinity)
                        .push_bind(attempts)
                        .push_bind(&r.refused)
                        .push_bind(&r.instance);
                });
                q.push(" ON CONFLICT (id) DO UPDATE SET ");
                q.push(REPLACE_ALL);
                q.build().execute(c).await.map(drop)
            })
            .map_err(StoreError::db("writing the request log"))?;
        }
        // Team mode: the other instances' live feeds learn of the new rows when this commits.
        if let crate::db::Tx::Postgres(t) = &mut tx {
            for payload in crate::sync::request_notices(records, &ids) {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(crate::sync::REQUESTS_CHANNEL)
                    .bind(payload)
                    .execute(&mut **t)
                    .await
                    .map_err(StoreError::db("writing the request log"))?;
            }
        }
        tx.commit()
            .await
            .map_err(StoreError::db("writing the request log"))?;
        Ok(ids)
    }

    /// The requests among `ids` that are in the log, oldest first (the live feed's order).
    pub async fn requests_by_ids(&self, ids: &[String]) -> Result<Vec<RequestRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<RequestRow> = on_pool!(&self.pool, |p| {
            let mut q = QueryBuilder::new(format!(
                "SELECT {REQUEST_COLUMNS} FROM request_log WHERE id IN ("
            ));
            let mut list = q.separated(", ");
            for id in ids.iter().take(MAX_PAGE as usize) {
                list.push_bind(id.clone());
            }
            q.push(") ORDER BY id");
            q.build_query_as().persistent(false).fetch_all(p).await
        })
        .map_err(StoreError::db("reading requests"))?;
        rows.into_iter().map(RequestRow::into_record).collect()
    }

    /// A page of the request log, newest first. Page on with `before_id` set to the last id
    /// returned.
    pub async fn query_requests(
        &self,
        filter: &RequestFilter,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        on_pool!(&self.pool, |p| {
            let mut q = QueryBuilder::new(format!(
                "SELECT {REQUEST_COLUMNS} FROM request_log WHERE 1 = 1"
            ));
            if let Some(a) = &filter.alias {
                q.push(" AND alias = ").push_bind(a.clone());
            }
            if let Some(p) = &filter.provider {
                q.push(" AND provider = ").push_bind(p.clone());
            }
            if let Some(c) = &filter.client {
                q.push(" AND client = ").push_bind(c.clone());
            }
            if let Some(i) = &filter.instance {
                q.push(" AND instance = ").push_bind(i.clone());
            }
            match filter.status {
                Some(StatusFilter::Exact(c)) => {
                    q.push(" AND status = ").push_bind(i64::from(c));
                }
                Some(StatusFilter::Class(d)) => {
                    let lo = i64::from(d) * 100;
                    q.push(" AND status >= ")
                        .push_bind(lo)
                        .push(" AND status < ")
                        .push_bind(lo + 100);
                }
                Some(StatusFilter::Error) => {
                    q.push(" AND (status = 0 OR status >= 400)");
                }
                None => {}
            }
            if let Some(t) = filter.since_ms {
                q.push(" AND started_at_ms >= ").push_bind(t);
            }
            if let Some(t) = filter.until_ms {
                q.push(" AND started_at_ms < ").push_bind(t);
            }
            if let Some(id) = &filter.before_id {
                q.push(" AND id < ").push_bind(id.clone());
            }
            if filter.failovers_only {
                q.push(" AND json_array_length(attempts) > 1");
            }
            let limit = match filter.limit {
                0 => 100,
                n => n.min(MAX_PAGE),
            };
            q.push(" ORDER BY id DESC LIMIT ")
                .push_bind(i64::from(limit));
            let rows: Vec<RequestRow> = q
                .build_query_as()
                .fetch_all(p)
                .await
                .map_err(StoreError::db("reading the request log"))?;
            rows.into_iter().map(RequestRow::into_record).collect()
        })
    }

    pub async fn get_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        let row: Option<RequestRow> = on_pool!(&self.pool, |p| sqlx::query_as(&format!(
            "SELECT {REQUEST_COLUMNS} FROM request_log WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(p)
        .await)
        .map_err(StoreError::db("reading a request"))?;
        row.map(RequestRow::into_record).transpose()
    }

    /// Per provider, the input tokens and the cached input tokens of the successful requests
    /// started at or after `since_ms`: how well each provider's prompt cache is kept warm.
    /// Providers that served nothing in the window are absent.
    pub async fn cache_hits(&self, since_ms: i64) -> Result<Vec<CacheHits>, StoreError> {
        let rows: Vec<(String, i64, i64)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT provider, CAST(COALESCE(SUM(tokens_in), 0) AS BIGINT), \
             CAST(COALESCE(SUM(tokens_cached), 0) AS BIGINT) \
             FROM request_log WHERE started_at_ms >= $1 AND provider IS NOT NULL \
             AND status > 0 AND status < 400 GROUP BY provider ORDER BY provider",
        )
        .bind(since_ms)
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("reading cache hits"))?;
        Ok(rows
            .into_iter()
            .map(|(provider, tokens_in, tokens_cached)| {
                let (tokens_in, tokens_cached) = (to_u64(tokens_in), to_u64(tokens_cached));
                CacheHits {
                    provider,
                    tokens_in,
                    tokens_cached,
                    hit_rate: (tokens_in > 0)
                        .then(|| (tokens_cached.min(tokens_in) as f64) / (tokens_in as f64)),
                }
            })
            .collect())
    }

    /// Deletes requests that started before `older_than_ms`; returns how many.
    pub async fn prune_requests(&self, older_than_ms: i64) -> Result<u64, StoreError> {
        let done = on_pool!(&self.pool, |p| sqlx::query(
            "DELETE FROM request_log WHERE started_at_ms < $1"
        )
        .bind(older_than_ms)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))
        .map_err(StoreError::db("pruning the request log"))?;
        Ok(done)
    }

    /// Counts, error rate, latency percentiles and failovers of every request started in
    /// `[since_ms, until_ms)` — at most [`MAX_SUMMARY_WINDOW_MS`] long, else an invalid
    /// input error.
    /// Every attempt since `since_ms` counted per key by how the upstream answered: the keys
    /// that failed before another served count too (their attempts are in the log, not the
    /// request's outcome). Keys by id, ascending.
    pub async fn key_attempts(&self, since_ms: i64) -> Result<Vec<KeyAttempts>, StoreError> {
        // Attempts are a JSON array in a text column: each backend has its own way to unnest it.
        let sql = match self.backend() {
            Backend::Sqlite => {
                "SELECT CAST(json_extract(a.value, '$.key_id') AS INTEGER) AS k, COUNT(*), \
                 COALESCE(SUM(json_extract(a.value, '$.outcome') = 'ok'), 0), \
                 COALESCE(SUM(json_extract(a.value, '$.status') = 429), 0), \
                 COALESCE(SUM(json_extract(a.value, '$.status') IN (401, 403)), 0), \
                 COALESCE(SUM(json_extract(a.value, '$.status') >= 500), 0) \
                 FROM request_log, json_each(request_log.attempts) AS a \
                 WHERE started_at_ms >= $1 AND json_extract(a.value, '$.key_id') IS NOT NULL \
                 GROUP BY k ORDER BY k"
            }
            Backend::Postgres => {
                "SELECT CAST(a.value ->> 'key_id' AS BIGINT) AS k, COUNT(*), \
                 COALESCE(SUM(CASE WHEN a.value ->> 'outcome' = 'ok' THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN CAST(a.value ->> 'status' AS BIGINT) = 429 THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN CAST(a.value ->> 'status' AS BIGINT) IN (401, 403) THEN 1 ELSE 0 END), 0), \
                 COALESCE(SUM(CASE WHEN CAST(a.value ->> 'status' AS BIGINT) >= 500 THEN 1 ELSE 0 END), 0) \
                 FROM request_log, json_array_elements(CAST(request_log.attempts AS json)) AS a(value) \
                 WHERE started_at_ms >= $1 AND a.value ->> 'key_id' IS NOT NULL \
                 GROUP BY k ORDER BY k"
            }
        };
        let rows: Vec<(i64, i64, i64, i64, i64, i64)> =
            on_pool!(&self.pool, |p| sqlx::query_as(sql)
                .bind(since_ms)
                .fetch_all(p)
                .await)
            .map_err(StoreError::db("counting attempts per key"))?;
        Ok(rows
            .into_iter()
            .map(|(key_id, attempts, ok, s429, s401, s5xx)| KeyAttempts {
                key_id,
                attempts: to_u64(attempts),
                ok: to_u64(ok),
                rate_limited: to_u64(s429),
                auth_failed: to_u64(s401),
                server_errors: to_u64(s5xx),
            })
            .collect())
    }

    pub async fn request_summary(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<RequestSummary, StoreError> {
        let span = until_ms.saturating_sub(since_ms);
        if span <= 0 || span > MAX_SUMMARY_WINDOW_MS {
            return Err(StoreError::invalid(
                "window",
                "must be between 1 ms and one day long",
            ));
        }
        let (requests, errors, failovers, ok): (i64, i64, i64, i64) =
            on_pool!(&self.pool, |p| sqlx::query_as(
                "SELECT COUNT(*), \
             COALESCE(SUM(CASE WHEN status = 0 OR status >= 400 THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN json_array_length(attempts) > 1 THEN 1 ELSE 0 END), 0), \
             COALESCE(SUM(CASE WHEN status > 0 AND status < 400 THEN 1 ELSE 0 END), 0) \
             FROM request_log WHERE started_at_ms >= $1 AND started_at_ms < $2",
            )
            .bind(since_ms)
            .bind(until_ms)
            .fetch_one(p)
            .await)
            .map_err(StoreError::db("summarizing the request log"))?;
        let ok = to_u64(ok);
        let p50_latency_ms = self.ok_latency_at(since_ms, until_ms, ok, 0.50).await?;
        let p95_latency_ms = self.ok_latency_at(since_ms, until_ms, ok, 0.95).await?;
        let minutes = usize::try_from((span + 59_999) / 60_000).unwrap_or(0);
        let mut per_minute = vec![0u64; minutes];
        let rows: Vec<(i64, i64)> = on_pool!(&self.pool, |p| sqlx::query_as(
            "SELECT (started_at_ms - $1) / 60000 AS m, COUNT(*) FROM request_log \
             WHERE started_at_ms >= $2 AND started_at_ms < $3 GROUP BY m",
        )
        .bind(since_ms)
        .bind(since_ms)
        .bind(until_ms)
        .fetch_all(p)
        .await)
        .map_err(StoreError::db("counting requests per minute"))?;
        for (m, n) in rows {
            if let Some(slot) = usize::try_from(m).ok().and_then(|m| per_minute.get_mut(m)) {
                *slot = to_u64(n);
            }
        }
        Ok(RequestSummary {
            since_ms,
            until_ms,
            requests: to_u64(requests),
            errors: to_u64(errors),
            failovers: to_u64(failovers),
            p50_latency_ms,
            p95_latency_ms,
            per_minute,
        })
    }

    /// The nearest-rank `p` percentile of the latencies of the `ok` successful requests in the
    /// window, read from the sorted latencies by offset.
    async fn ok_latency_at(
        &self,
        since_ms: i64,
        until_ms: i64,
        ok: u64,
        p: f64,
    ) -> Result<Option<u64>, StoreError> {
        if ok == 0 {
            return Ok(None);
        }
        let rank = ((p * ok as f64).ceil() as u64).clamp(1, ok);
        let v: Option<(i64,)> = on_pool!(&self.pool, |p| {
            sqlx::query_as(
            "SELECT latency_ms FROM request_log WHERE started_at_ms >= $1 AND started_at_ms < $2 \
             AND status > 0 AND status < 400 ORDER BY latency_ms LIMIT 1 OFFSET $3",
        )
        .bind(since_ms)
        .bind(until_ms)
        .bind(i64::try_from(rank - 1).unwrap_or(i64::MAX))
        .fetch_optional(p).await
        })
        .map_err(StoreError::db("reading latency percentiles"))?;
        Ok(v.map(|(l,)| to_u64(l)))
    }

    /// Requests, errors, tokens and latency percentiles per time bucket and group, oldest
    /// bucket first. Percentiles are computed here from the bucket's latencies (streamed, not
    /// held as rows).
    pub async fn usage_stats(&self, query: &UsageQuery) -> Result<Vec<UsageRow>, StoreError> {
        let size = query.bucket.ms();
        let off = query.utc_offset_ms;
        let until = query.until_ms.unwrap_or(i64::MAX);
        let group = query.group_by.column();
        // Only constant SQL is formatted in (the group column comes from a fixed list).
        let sql = format!(
            "SELECT ((started_at_ms + $1) / $2) * $3 - $4 AS bucket, {group} AS grp, status, \
             latency_ms, ttfb_ms, tokens_in, tokens_out, tokens_cached, tokens_reasoning, \
             cost_micros FROM request_log WHERE started_at_ms >= $5 AND started_at_ms < $6"
        );
        type Acc = (UsageRow, Vec<u64>, u64, u64);
        let mut acc: BTreeMap<(i64, Option<String>), Acc> = BTreeMap::new();
        on_pool!(&self.pool, |p| {
            let mut rows = sqlx::query_as::<
                _,
                (
                    i64,
                    Option<String>,
                    i64,
                    i64,
                    Option<i64>,
                    i64,
                    i64,
                    i64,
                    i64,
                    Option<i64>,
                ),
            >(&sql)
            .bind(off)
            .bind(size)
            .bind(size)
            .bind(off)
            .bind(query.since_ms)
            .bind(until)
            .fetch(p);
            while let Some((bucket, grp, status, lat, ttfb, tin, tout, tcached, treason, cost)) =
                rows.try_next()
                    .await
                    .map_err(StoreError::db("aggregating usage"))?
            {
                let e = acc.entry((bucket, grp.clone())).or_insert_with(|| {
                    (
                        UsageRow {
                            bucket_start_ms: bucket,
                            group: grp,
                            requests: 0,
                            errors: 0,
                            tokens_in: 0,
                            tokens_out: 0,
                            tokens_cached: 0,
                            tokens_reasoning: 0,
                            cost_micros: 0,
                            p50_latency_ms: None,
                            p95_latency_ms: None,
                            avg_ttfb_ms: None,
                        },
                        Vec::new(),
                        0,
                        0,
                    )
                });
                e.0.requests += 1;
                if status >= 400 {
                    e.0.errors += 1;
                }
                e.0.tokens_in += to_u64(tin);
                e.0.tokens_out += to_u64(tout);
                e.0.tokens_cached += to_u64(tcached);
                e.0.tokens_reasoning += to_u64(treason);
                e.0.cost_micros += cost.map_or(0, to_u64);
                e.1.push(to_u64(lat));
                if let Some(t) = ttfb {
                    e.2 += to_u64(t);
                    e.3 += 1;
                }
            }
            Ok::<(), StoreError>(())
        })?;
        Ok(acc
            .into_values()
            .map(|(mut row, mut lat, ttfb_sum, ttfb_n)| {
                lat.sort_unstable();
                row.p50_latency_ms = percentile(&lat, 0.50);
                row.p95_latency_ms = percentile(&lat, 0.95);
                row.avg_ttfb_ms = (ttfb_n > 0).then(|| ttfb_sum / ttfb_n);
                row
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_parse() {
        assert_eq!(StatusFilter::parse("5xx"), Some(StatusFilter::Class(5)));
        assert_eq!(StatusFilter::parse("4XX"), Some(StatusFilter::Class(4)));
        assert_eq!(StatusFilter::parse("429"), Some(StatusFilter::Exact(429)));
        assert_eq!(StatusFilter::parse("9xx"), None);
        assert_eq!(StatusFilter::parse("42"), None);
        assert_eq!(StatusFilter::parse("x"), None);
        assert_eq!(StatusFilter::parse("error"), Some(StatusFilter::Error));
        assert_eq!(StatusFilter::parse(" Error "), Some(StatusFilter::Error));
    }

    #[test]
    fn a_batch_is_written_in_statements_of_seven_sizes() {
        let sizes = |n| insert_sizes(n).collect::<Vec<_>>();
        assert_eq!(sizes(0), Vec::<usize>::new());
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(64), [64]);
        assert_eq!(sizes(200), [64, 64, 64, 8]);
        assert_eq!(sizes(63), [32, 16, 8, 4, 2, 1]);
        for n in 0..=1000 {
            let s = sizes(n);
            assert_eq!(s.iter().sum::<usize>(), n);
            assert!(
                s.iter()
                    .all(|k| k.is_power_of_two() && *k <= ROWS_PER_INSERT)
            );
        }
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), Some(50));
        assert_eq!(percentile(&v, 0.95), Some(95));
        assert_eq!(percentile(&[7], 0.95), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
