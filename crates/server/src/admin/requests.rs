//! `/api/v1/requests` (the request log and its live tail) and `/api/v1/usage`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, Sse};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use switchboard_router::log::RequestRecord;
use switchboard_store::{
    Bucket, GroupBy, MAX_SUMMARY_WINDOW_MS, RequestFilter, StatusFilter, UsageQuery,
};
use tokio_stream::wrappers::BroadcastStream;
use utoipa::{IntoParams, ToSchema};

use super::health::{sse, sse_events};
use super::{AdminError, ApiResult, ErrorBody};
use crate::state::AppState;

type St = State<Arc<AppState>>;

#[derive(Deserialize, IntoParams)]
pub struct RequestsQuery {
    alias: Option<String>,
    provider: Option<String>,
    /// The client (named access key) that sent the request.
    client: Option<String>,
    /// The instance that served the request (team mode; `/api/v1/instances` lists them).
    instance: Option<String>,
    /// Exact status (`429`) or class (`5xx`, `4xx`, `error`).
    status: Option<String>,
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    /// Cursor: the last id of the previous page.
    before: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/requests", params(RequestsQuery), responses((status = 200, body = Vec<RequestRecord>)))]
pub async fn requests(
    State(s): St,
    Query(q): Query<RequestsQuery>,
) -> ApiResult<Vec<RequestRecord>> {
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(v) => Some(StatusFilter::parse(v).ok_or_else(|| {
            AdminError::invalid("status", "use a status code, 4xx, 5xx or error")
        })?),
    };
    s.log.flush().await;
    let filter = RequestFilter {
        alias: q.alias.filter(|v| !v.is_empty()),
        provider: q.provider.filter(|v| !v.is_empty()),
        client: q.client.filter(|v| !v.is_empty()),
        instance: q.instance.filter(|v| !v.is_empty()),
        status,
        since_ms: q.since_ms,
        until_ms: q.until_ms,
        before_id: q.before,
        limit: q.limit.unwrap_or(100),
        failovers_only: false,
    };
    Ok(Json(s.control.store().query_requests(&filter).await?))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", responses((status = 200, body = RequestRecord), (status = 404, body = ErrorBody)))]
pub async fn request(State(s): St, Path(id): Path<String>) -> ApiResult<RequestRecord> {
    s.log.flush().await;
    s.control
        .store()
        .get_request(&id)
        .await?
        .map(Json)
        .ok_or_else(|| AdminError::not_found(format!("request {id}")))
}

/// Finished requests as they happen (`event: request`, data: a `RequestRecord`); in team
/// mode, those every instance of the cluster serves.
#[utoipa::path(get, path = "/api/v1/requests/live", responses((status = 200, description = "text/event-stream of RequestRecord", body = RequestRecord)))]
pub async fn requests_live(State(s): St) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    sse(sse_events(
        BroadcastStream::new(s.live.subscribe()),
        "request",
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct UsageParams {
    since_ms: Option<i64>,
    until_ms: Option<i64>,
    /// `day` or `hour`.
    bucket: Option<String>,
    /// `provider`, `model`, `key`, `alias` or `none`.
    group_by: Option<String>,
    utc_offset_ms: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct UsagePoint {
    bucket_start_ms: i64,
    group: Option<String>,
    requests: u64,
    errors: u64,
    tokens_in: u64,
    tokens_out: u64,
    tokens_cached: u64,
    tokens_reasoning: u64,
    /// Summed cost of the priced requests, micro-dollars.
    cost_micros: u64,
    p50_latency_ms: Option<u64>,
    p95_latency_ms: Option<u64>,
}

#[utoipa::path(get, path = "/api/v1/usage", params(UsageParams), responses((status = 200, body = Vec<UsagePoint>)))]
pub async fn usage(State(s): St, Query(q): Query<UsageParams>) -> ApiResult<Vec<UsagePoint>> {
    let bucket = match q.bucket.as_deref() {
        None | Some("day") => Bucket::Day,
        Some("hour") => Bucket::Hour,
        Some(_) => return Err(AdminError::invalid("bucket", "use day or hour")),
    };
    let group_by = match q.group_by.as_deref() {
        None | Some("none") => GroupBy::None,
        Some("provider") => GroupBy::Provider,
        Some("model") => GroupBy::Model,
        Some("key") => GroupBy::Key,
        Some("alias") => GroupBy::Alias,
        Some("client") => GroupBy::Client,
        Some(_) => {
            return Err(AdminError::invalid(
                "group_by",
                "use provider, model, key, alias, client or none",
            ));
        }
    };
    let since_ms = q
        .since_ms
        .unwrap_or_else(|| switchboard_store::now_ms() - 30 * 86_400_000);
    s.log.flush().await;
    let rows = s
        .control
        .store()
        .usage_stats(&UsageQuery {
            since_ms,
            until_ms: q.until_ms,
            bucket,
            group_by,
            utc_offset_ms: q.utc_offset_ms.unwrap_or(0),
        })
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| UsagePoint {
                bucket_start_ms: r.bucket_start_ms,
                group: r.group,
                requests: r.requests,
                errors: r.errors,
                tokens_in: r.tokens_in,
                tokens_out: r.tokens_out,
                tokens_cached: r.tokens_cached,
                tokens_reasoning: r.tokens_reasoning,
                cost_micros: r.cost_micros,
                p50_latency_ms: r.p50_latency_ms,
                p95_latency_ms: r.p95_latency_ms,
            })
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct KeyUsageParams {
    /// Start of the window, Unix ms (default: 30 days ago).
    since_ms: Option<i64>,
}

/// One key's attempts in the window, by the upstream's answer; keys that failed before
/// another key served count too.
#[derive(Serialize, ToSchema)]
pub struct KeyUsage {
    key_id: i64,
    attempts: u64,
    ok: u64,
    /// 429 answers.
    rate_limited: u64,
    /// 401 and 403 answers.
    auth_failed: u64,
    /// 5xx answers.
    server_errors: u64,
}

/// Attempts per key since `since_ms`, counted from every request's attempt chain.
#[utoipa::path(get, path = "/api/v1/usage/keys", params(KeyUsageParams), responses((status = 200, body = Vec<KeyUsage>)))]
pub async fn usage_by_key(
    State(s): St,
    Query(q): Query<KeyUsageParams>,
) -> ApiResult<Vec<KeyUsage>> {
    let since_ms = q
        .since_ms
        .unwrap_or_else(|| switchboard_store::now_ms() - 30 * 86_400_000);
    s.log.flush().await;
    let rows = s.control.store().key_attempts(since_ms).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| KeyUsage {
                key_id: r.key_id,
                attempts: r.attempts,
                ok: r.ok,
                rate_limited: r.rate_limited,
                auth_failed: r.auth_failed,
                server_errors: r.server_errors,
            })
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct SummaryParams {
    /// How far back from `until_ms`: one minute to one day (default 30 minutes).
    window_ms: Option<i64>,
    /// End of the window, exclusive (default now).
    until_ms: Option<i64>,
}

/// Every request of a window, counted by the database.
#[derive(Serialize, ToSchema)]
pub struct UsageSummary {
    since_ms: i64,
    until_ms: i64,
    requests: u64,
    /// Status 400 or above, or no answer (0).
    errors: u64,
    /// Requests that needed more than one attempt.
    failovers: u64,
    /// Of the successful requests.
    p50_latency_ms: Option<u64>,
    p95_latency_ms: Option<u64>,
    /// Requests started in each minute of the window, oldest first.
    per_minute: Vec<u64>,
    /// The newest few requests of the window that failed over, newest first.
    recent_failovers: Vec<RequestRecord>,
}

/// How many failovers the summary lists.
const SUMMARY_FAILOVERS: u32 = 6;

#[utoipa::path(get, path = "/api/v1/usage/summary", params(SummaryParams), responses((status = 200, body = UsageSummary), (status = 400, body = ErrorBody)))]
pub async fn usage_summary(
    State(s): St,
    Query(q): Query<SummaryParams>,
) -> ApiResult<UsageSummary> {
    let window = q.window_ms.unwrap_or(30 * 60_000);
    if !(60_000..=MAX_SUMMARY_WINDOW_MS).contains(&window) {
        return Err(AdminError::invalid(
            "window_ms",
            "use one minute to one day",
        ));
    }
    let until_ms = q.until_ms.unwrap_or_else(switchboard_store::now_ms);
    s.log.flush().await;
    let store = s.control.store();
    let sum = store
        .request_summary(until_ms.saturating_sub(window), until_ms)
        .await?;
    let recent_failovers = store
        .query_requests(&RequestFilter {
            since_ms: Some(sum.since_ms),
            until_ms: Some(until_ms),
            failovers_only: true,
            limit: SUMMARY_FAILOVERS,
            ..Default::default()
        })
        .await?;
    Ok(Json(UsageSummary {
        since_ms: sum.since_ms,
        until_ms: sum.until_ms,
        requests: sum.requests,
        errors: sum.errors,
        failovers: sum.failovers,
        p50_latency_ms: sum.p50_latency_ms,
        p95_latency_ms: sum.p95_latency_ms,
        per_minute: sum.per_minute,
        recent_failovers,
    }))
}

#[derive(Deserialize, IntoParams)]
pub struct CacheHitsParams {
    /// Start of the window (default: the last 24 hours).
    since_ms: Option<i64>,
}

/// One provider's prompt-cache use over the window.
#[derive(Serialize, ToSchema)]
pub struct CacheHit {
    provider: String,
    /// Input tokens of its successful requests, cached ones included.
    tokens_in: u64,
    /// Of those, the ones read from the provider's prompt cache.
    tokens_cached: u64,
    /// `tokens_cached / tokens_in`, 0 to 1; absent when no input tokens were counted.
    hit_rate: Option<f64>,
}

/// Per provider, the share of input tokens served from its prompt cache (cached input tokens
/// / input tokens of the successful requests in the window).
#[utoipa::path(get, path = "/api/v1/usage/cache-hits", params(CacheHitsParams), responses((status = 200, body = Vec<CacheHit>)))]
pub async fn cache_hits(
    State(s): St,
    Query(q): Query<CacheHitsParams>,
) -> ApiResult<Vec<CacheHit>> {
    let since_ms = q
        .since_ms
        .unwrap_or_else(|| switchboard_store::now_ms() - 86_400_000);
    s.log.flush().await;
    let rows = s.control.store().cache_hits(since_ms).await?;
    Ok(Json(
        rows.into_iter()
            .map(|r| CacheHit {
                provider: r.provider,
                tokens_in: r.tokens_in,
                tokens_cached: r.tokens_cached,
                hit_rate: r.hit_rate,
            })
            .collect(),
    ))
}
