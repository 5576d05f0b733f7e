//! The dispatcher: one client request → attempts across keys and targets until one succeeds,
//! the attempt budget or the deadline is spent, or a byte has reached the client.
//!
//! Failover contract (SECURITY.md T14, STYLE.md rule 5): retry only before the first byte is
//! sent. For streams, upstream events are read ahead until the first content event before the
//! reply is committed, so empty streams and in-band errors still fail over. After commit a
//! failure ends the stream with the client dialect's own error event.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue};
use switchboard_protocol::Usage;
use switchboard_protocol::sse::{SseDecoder, SseEvent};
use switchboard_protocol::{ClientError, Dialect, ErrorKind};
use tokio::time::Instant;

use crate::classify::classify_status;
use crate::conversations::Owner;
use crate::engine::Engine;
use crate::health::{HealthBoard, Outcome};
use crate::log::{AttemptRecord, CLIENT_STR_MAX, MESSAGE_MAX, RequestRecord, truncated};
use crate::pipe::{InBandError, Pipe};
use crate::secret::Secret;
use crate::snapshot::{Pick, ProviderRt, Unroutable, order_targets, pick_key};
use crate::upstream::{endpoint_url, request_headers, scrub};

/// A parsed client request, as the ingress hands it to the engine.
#[derive(Debug)]
pub struct IngressRequest {
    pub dialect: Dialect,
    /// The model name the client asked for (from the body, or the URL for Gemini).
    pub model: String,
    pub stream: bool,
    /// The client's body, unchanged.
    pub body: Bytes,
    /// Client headers that carry meaning upstream (`anthropic-version`, `anthropic-beta`),
    /// forwarded only to providers of the same dialect. Nothing else is forwarded (T5).
    pub forward_headers: Vec<(HeaderName, HeaderValue)>,
    /// Conversation id for session affinity.
    pub session: Option<u64>,
    /// Who is asking (a hash of the presented credential): stored conversations are theirs.
    pub owner: Owner,
    pub received_at: Instant,
    pub received_at_ms: i64,
}

pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes, Infallible>> + Send>>;

pub enum ReplyBody {
    Full(Bytes),
    Stream(ByteStream),
}

impl std::fmt::Debug for ReplyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplyBody::Full(b) => write!(f, "Full({} bytes)", b.len()),
            ReplyBody::Stream(_) => f.write_str("Stream"),
        }
    }
}

/// What the server sends back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: ReplyBody,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<Bytes>) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Reply {
            status,
            headers,
            body: ReplyBody::Full(body.into()),
        }
    }

    /// An error in the client's dialect; a message that quotes client input at length (a
    /// decoder's "invalid type: string …") is cut to [`MESSAGE_MAX`].
    pub fn error(dialect: Dialect, err: &ClientError) -> Reply {
        let body = match truncated(&err.message, MESSAGE_MAX) {
            std::borrow::Cow::Borrowed(_) => err.to_body(dialect),
            std::borrow::Cow::Owned(message) => ClientError {
                message,
                ..err.clone()
            }
            .to_body(dialect),
        };
        let body = serde_json::to_vec(&body).unwrap_or_default();
        Reply::json(err.status(), body)
    }

    pub fn sse(stream: ByteStream) -> Reply {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        Reply {
            status: 200,
            headers,
            body: ReplyBody::Stream(stream),
        }
    }

    fn with_retry_after(mut self, secs: u64) -> Reply {
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            self.headers.insert(http::header::RETRY_AFTER, v);
        }
        self
    }
}

/// Upstream error bodies read for classification are capped: we only need the message.
const ERROR_BODY_CAP: usize = 256 * 1024;
/// Non-streaming upstream bodies are capped (T11): 64 MiB is far above any real completion.
const BODY_CAP: usize = 64 * 1024 * 1024;

/// Receives finished request records (the store's batched writer, metrics, the live feed).
pub trait RecordSink: Send + Sync {
    fn record(&self, record: RequestRecord);
}

/// Owns the request's log record; whatever way the request ends — including the client
/// going away and this being dropped — exactly one record is emitted.
struct Recorder {
    rec: RequestRecord,
    sink: Arc<dyn RecordSink>,
    received_at: Instant,
    first_byte: Option<Instant>,
    /// The attempt under way (provider, model, key, start), recorded as cancelled if the
    /// request is dropped before it ends.
    open_attempt: Option<(String, String, i64, Instant)>,
    done: bool,
    in_flight: Arc<AtomicU64>,
}

impl Recorder {
    fn begin(&mut self, provider: &str, model: &str, key_id: i64) {
        self.open_attempt = Some((
            provider.to_owned(),
            model.to_owned(),
            key_id,
            Instant::now(),
        ));
    }

    fn attempt(
        &mut self,
        provider: &str,
        model: &str,
        key_id: i64,
        outcome: &str,
        status: Option<u16>,
        started: Instant,
    ) {
        self.open_attempt = None;
        self.rec.attempts.push(AttemptRecord {
            provider: provider.to_owned(),
            model: model.to_owned(),
            key_id: Some(key_id),
            outcome: outcome.to_owned(),
            status,
            duration_ms: millis(started.elapsed()),
        });
    }

    fn served_by(&mut self, provider: &str, model: &str, key_id: i64) {
        self.rec.provider = Some(provider.to_owned());
        self.rec.upstream_model = Some(model.to_owned());
        self.rec.key_id = Some(key_id);
    }

    fn usage(&mut self, u: Usage) {
        self.rec.tokens_in = u.prompt_tokens;
        self.rec.tokens_out = u.completion_tokens;
        self.rec.tokens_cached = u.cached_tokens;
        self.rec.tokens_reasoning = u.reasoning_tokens;
    }

    fn finish(&mut self, status: u16, error: Option<String>) {
        if self.done {
            return;
        }
        self.done = true;
        self.rec.status = status;
        self.rec.error = error;
        // The live feed, metrics and the log never see a client string at full length.
        self.rec.cap_client_strings();
        self.rec.latency_ms = millis(self.received_at.elapsed());
        self.rec.ttfb_ms = self
            .first_byte
            .map(|t| millis(t.duration_since(self.received_at)));
        self.sink.record(self.rec.clone());
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.done {
            if let Some((provider, model, key_id, started)) = self.open_attempt.take() {
                self.attempt(&provider, &model, key_id, "cancelled", None, started);
            } else if let Some(last) = self.rec.attempts.last_mut()
                && last.outcome == "ok"
            {
                last.outcome = "cancelled".into();
            }
            self.finish(499, Some("client disconnected".into()));
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Holds a key's in-flight slot and its health report for one attempt. Dropped without a
/// report (the client went away) it reports `Cancelled`, which frees a probe slot.
struct AttemptGuard {
    health: Arc<HealthBoard>,
    provider: String,
    model: String,
    key_id: i64,
    in_flight: Arc<AtomicU32>,
    reported: bool,
}

impl AttemptGuard {
    fn new(health: Arc<HealthBoard>, provider: &str, model: &str, pick: &Pick) -> Self {
        pick.key.in_flight.fetch_add(1, Ordering::Relaxed);
        AttemptGuard {
            health,
            provider: provider.to_owned(),
            model: model.to_owned(),
            key_id: pick.key.info.id,
            in_flight: pick.key.in_flight.clone(),
            reported: false,
        }
    }

    fn report(&mut self, outcome: &Outcome) {
        self.reported = true;
        self.health
            .report(&self.provider, self.key_id, &self.model, outcome);
    }
}

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        if !self.reported {
            self.health.report(
                &self.provider,
                self.key_id,
                &self.model,
                &Outcome::Cancelled,
            );
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How one attempt ended.
enum AttemptEnd {
    /// The reply to send: committed success, or an error that is the client's own.
    Reply(Reply),
    /// Try the next key or target; this is what the client gets if nothing else works.
    Failed(Reply),
    /// A stream is committed; it takes over the request's record.
    Commit(Box<dyn FnOnce(Recorder) -> ByteStream + Send>),
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Engine {
    /// Serves one client request.
    pub async fn dispatch(self: &Arc<Self>, req: IngressRequest) -> Reply {
        let snap = self.snapshot();
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        let mut rec = Recorder {
            rec: RequestRecord {
                id: String::new(),
                started_at_ms: req.received_at_ms,
                dialect: req.dialect.as_str().to_owned(),
                alias: truncated(&req.model, CLIENT_STR_MAX).into_owned(),
                provider: None,
                key_id: None,
                upstream_model: None,
                status: 0,
                stream: req.stream,
                latency_ms: 0,
                ttfb_ms: None,
                tokens_in: 0,
                tokens_out: 0,
                tokens_cached: 0,
                tokens_reasoning: 0,
                error: None,
                attempts: Vec::new(),
            },
            sink: self.sink.clone(),
            received_at: req.received_at,
            first_byte: None,
            open_attempt: None,
            done: false,
            in_flight: self.in_flight.clone(),
        };
        let route = match snap.resolve(&req.model) {
            Ok(r) => r,
            Err(why) => {
                let err = match why {
                    Unroutable::UnknownModel => ClientError::new(
                        ErrorKind::NotFound,
                        format!("The model `{}` does not exist: no route or provider serves it.", truncated(&req.model, CLIENT_STR_MAX)),
                    )
                    .with_code("model_not_found")
                    .with_param("model"),
                    Unroutable::Ambiguous(provs) => ClientError::new(
                        ErrorKind::NotFound,
                        format!(
                            "The model `{}` is served by several providers ({}); create a route for it to choose.",
                            truncated(&req.model, CLIENT_STR_MAX),
                            provs.join(", ")
                        ),
                    )
                    .with_code("model_not_found")
                    .with_param("model"),
                };
                rec.finish(err.status(), Some(err.message.clone()));
                return Reply::error(req.dialect, &err);
            }
        };
        let settings = &snap.settings;
        let deadline = req.received_at + Duration::from_millis(settings.request_deadline_ms.max(1));
        let budget = settings.attempt_budget.max(1);
        let explore = rand::random_ratio(1, 20);
        let targets = order_targets(&route, &snap, &self.latency, explore);
        let preferred = req
            .session
            .and_then(|s| self.affinity.get(s, self.clock.now_ms()));
        let mut attempts = 0u32;
        let mut last_failure: Option<Reply> = None;
        let mut waited = false;
        loop {
            let mut earliest: Option<i64> = None;
            let mut blocked_by_rate_limit_only = true;
            'targets: for target in &targets {
                let Some(prov) = snap.providers.get(&target.provider) else {
                    continue;
                };
                if !prov.provider.enabled {
                    continue;
                }
                let mut tried = Vec::new();
                loop {
                    if attempts >= budget || Instant::now() >= deadline {
                        break 'targets;
                    }
                    let pick = match pick_key(prov, &target.model, &self.health, &tried, preferred)
                    {
                        Ok(p) => p,
                        Err(until) => {
                            earliest = match (earliest, until) {
                                (Some(a), Some(b)) => Some(a.min(b)),
                                (a, b) => a.or(b),
                            };
                            if until.is_none() && !prov.keys.is_empty() {
                                blocked_by_rate_limit_only = false;
                            }
                            break;
                        }
                    };
                    tried.push(pick.key.info.id);
                    attempts += 1;
                    match self
                        .attempt(&req, prov, &target.model, &pick, &mut rec, deadline)
                        .await
                    {
                        AttemptEnd::Reply(reply) => {
                            if reply.status < 400 {
                                self.remember_session(&req, settings, pick.key.info.id);
                            }
                            return reply;
                        }
                        AttemptEnd::Failed(reply) => last_failure = Some(reply),
                        AttemptEnd::Commit(start) => {
                            self.remember_session(&req, settings, pick.key.info.id);
                            return Reply::sse(start(rec));
                        }
                    }
                }
            }
            if let Some(mut reply) = last_failure.take() {
                let status = reply.status;
                rec.finish(status, Some("every attempt failed".into()));
                // A 429 always says when to come back: the provider's own hint, or else when the
                // first of this route's keys leaves its cooldown.
                if status == 429 && !reply.headers.contains_key(http::header::RETRY_AFTER) {
                    let now = self.clock.now_ms();
                    let providers: Vec<&str> =
                        targets.iter().map(|t| t.provider.as_str()).collect();
                    let earliest = self
                        .health
                        .entries()
                        .into_iter()
                        .filter(|e| providers.contains(&e.provider.as_str()))
                        .filter_map(|e| e.until_ms)
                        .filter(|u| *u > now)
                        .min();
                    if let Some(until) = earliest {
                        let secs = u64::try_from(until - now).unwrap_or(0).div_ceil(1000);
                        reply = reply.with_retry_after(secs);
                    }
                }
                return reply;
            }
            // Nothing was tried: every candidate is blocked.
            let now = self.clock.now_ms();
            if let Some(until) = earliest {
                let wait_ms = until.saturating_sub(now);
                let wait = Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0));
                if !waited
                    && wait_ms <= i64::try_from(settings.max_wait_ms).unwrap_or(0)
                    && Instant::now() + wait < deadline
                {
                    waited = true;
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            return self.no_usable_key(&req, &mut rec, earliest, blocked_by_rate_limit_only, now);
        }
    }

    fn remember_session(
        &self,
        req: &IngressRequest,
        settings: &crate::model::Settings,
        key_id: i64,
    ) {
        if let Some(s) = req.session {
            let ttl =
                i64::try_from(settings.affinity_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            self.affinity.set(s, key_id, self.clock.now_ms(), ttl);
        }
    }

    fn no_usable_key(
        &self,
        req: &IngressRequest,
        rec: &mut Recorder,
        earliest: Option<i64>,
        rate_limited: bool,
        now: i64,
    ) -> Reply {
        let (kind, msg) = match earliest {
            Some(until) => {
                let secs = u64::try_from((until - now).max(0))
                    .unwrap_or(0)
                    .div_ceil(1000);
                let at = time::OffsetDateTime::from_unix_timestamp(until / 1000)
                    .ok()
                    .and_then(|t| {
                        t.format(&time::format_description::well_known::Rfc3339)
                            .ok()
                    })
                    .unwrap_or_default();
                (
                    if rate_limited {
                        ErrorKind::RateLimited
                    } else {
                        ErrorKind::Unavailable
                    },
                    format!(
                        "Every key for model `{}` is cooling down; the earliest recovers in {secs} s (at {at}).",
                        truncated(&req.model, CLIENT_STR_MAX)
                    ),
                )
            }
            None => (
                ErrorKind::Unavailable,
                format!(
                    "No usable key for model `{}`: its keys are disabled or failed authentication. Check the providers in the dashboard.",
                    truncated(&req.model, CLIENT_STR_MAX)
                ),
            ),
        };
        let err = ClientError::new(kind, msg).with_code("no_usable_key");
        rec.finish(err.status(), Some(err.message.clone()));
        let reply = Reply::error(req.dialect, &err);
        match earliest {
            Some(until) => reply.with_retry_after(
                u64::try_from((until - now).max(0))
                    .unwrap_or(0)
                    .div_ceil(1000),
            ),
            None => reply,
        }
    }

    async fn attempt(
        &self,
        req: &IngressRequest,
        prov: &ProviderRt,
        model: &str,
        pick: &Pick,
        rec: &mut Recorder,
        deadline: Instant,
    ) -> AttemptEnd {
        let provider = &prov.provider;
        let started = Instant::now();
        let mut guard = AttemptGuard::new(self.health.clone(), &provider.name, model, pick);
        let key_id = pick.key.info.id;
        rec.begin(&provider.name, model, key_id);
        let mut pipe = Pipe::new(
            req.dialect,
            provider.kind,
            &req.model,
            &self.responses,
            req.owner,
            self.clock.now_ms(),
        );
        let body = match pipe.upstream_body(&req.body, model, provider, req.stream) {
            Ok(b) => b,
            Err(err) => {
                guard.report(&Outcome::ClientError);
                rec.attempt(
                    &provider.name,
                    model,
                    key_id,
                    "client_error",
                    Some(err.status()),
                    started,
                );
                rec.finish(err.status(), Some(err.message.clone()));
                return AttemptEnd::Reply(Reply::error(req.dialect, &err));
            }
        };
        let forwarded: &[(HeaderName, HeaderValue)] = if provider.kind == req.dialect {
            &req.forward_headers
        } else {
            &[]
        };
        let headers = request_headers(provider, &pick.key.secret, forwarded);
        let client = match self.clients.get(provider.timeouts.connect_ms) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "upstream client unavailable");
                let err = ClientError::new(ErrorKind::Internal, "upstream HTTP client unavailable");
                rec.finish(500, Some(err.message.clone()));
                return AttemptEnd::Reply(Reply::error(req.dialect, &err));
            }
        };
        let first_byte_deadline = bound(started, provider.timeouts.first_byte_ms, deadline);
        let total_deadline = bound(started, provider.timeouts.total_ms, deadline);
        let url = endpoint_url(provider, model, req.stream);
        tracing::debug!(provider = %provider.name, model, key_id, probe = pick.probe, "upstream attempt");
        let send = client.post(url).headers(headers).body(body).send();
        let resp = match tokio::time::timeout_at(first_byte_deadline, send).await {
            Err(_) => {
                return self.fail(
                    req,
                    rec,
                    &mut guard,
                    started,
                    Failure::timeout(provider, "response headers"),
                );
            }
            Ok(Err(e)) => {
                return self.fail(
                    req,
                    rec,
                    &mut guard,
                    started,
                    Failure::transport(provider, &e),
                );
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status().as_u16();
        if !(200..300).contains(&status) {
            let resp_headers = resp.headers().clone();
            let body = read_capped(resp, ERROR_BODY_CAP, total_deadline)
                .await
                .unwrap_or_default();
            let body = scrub(&body, &pick.key.secret);
            let outcome = classify_status(status, &resp_headers, &body, self.clock.now_ms());
            guard.report(&outcome);
            let label = outcome_label(&outcome);
            rec.attempt(&provider.name, model, key_id, label, Some(status), started);
            let mut relayed = pipe.error_reply(status, &body);
            // The provider's wait, when it gave one, goes to the client with its own error.
            if let Outcome::RateLimited {
                retry_after: Some(wait),
            }
            | Outcome::InsufficientBalance {
                retry_after: Some(wait),
            }
            | Outcome::TemporaryError {
                retry_after: Some(wait),
            } = &outcome
            {
                relayed = relayed.with_retry_after(wait.as_secs_f64().ceil() as u64);
            }
            if outcome == Outcome::ClientError {
                rec.served_by(&provider.name, model, key_id);
                rec.finish(
                    relayed.status,
                    Some(format!("{} answered {status}", provider.name)),
                );
                return AttemptEnd::Reply(relayed);
            }
            tracing::info!(provider = %provider.name, model, key_id, status, outcome = label, "attempt failed; trying the next candidate");
            return AttemptEnd::Failed(relayed);
        }
        if !req.stream {
            let body = match read_capped(resp, BODY_CAP, total_deadline).await {
                Ok(b) => b,
                Err(f) => return self.fail(req, rec, &mut guard, started, f.at(provider)),
            };
            let (out, usage) = match pipe.client_body(&body) {
                Ok(v) => v,
                Err(err) => {
                    let f = Failure {
                        outcome: Outcome::TemporaryError { retry_after: None },
                        error: ClientError::new(
                            ErrorKind::BadGateway,
                            format!(
                                "provider `{}` sent a response that could not be read: {}",
                                provider.name, err.message
                            ),
                        ),
                        label: "temporary_error",
                        status: Some(status),
                    };
                    return self.fail(req, rec, &mut guard, started, f);
                }
            };
            guard.report(&Outcome::Success);
            self.latency
                .observe(&provider.name, model, millis(started.elapsed()));
            rec.first_byte = Some(Instant::now());
            rec.attempt(&provider.name, model, key_id, "ok", Some(status), started);
            rec.served_by(&provider.name, model, key_id);
            rec.usage(usage);
            rec.finish(200, None);
            return AttemptEnd::Reply(Reply::json(200, out));
        }
        // Streaming: read ahead to the first content event before committing.
        let mut upstream = resp.bytes_stream();
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        let mut out = Vec::new();
        let mut ended = false;
        while !pipe.saw_content() && !ended {
            let next = tokio::time::timeout_at(first_byte_deadline, upstream.next()).await;
            events.clear();
            match next {
                Err(_) => {
                    return self.fail(
                        req,
                        rec,
                        &mut guard,
                        started,
                        Failure::timeout(provider, "the first streamed event"),
                    );
                }
                Ok(Some(Err(e))) => {
                    return self.fail(
                        req,
                        rec,
                        &mut guard,
                        started,
                        Failure::transport(provider, &e),
                    );
                }
                Ok(None) => {
                    decoder.finish(&mut events);
                    ended = true;
                }
                Ok(Some(Ok(chunk))) => {
                    if decoder.push(&chunk, &mut events).is_err() {
                        return self.fail(
                            req,
                            rec,
                            &mut guard,
                            started,
                            Failure::malformed(provider),
                        );
                    }
                }
            }
            for ev in events.drain(..) {
                if let Err(InBandError(message)) = pipe.push(ev, &mut out) {
                    let message = scrub(message.as_bytes(), &pick.key.secret);
                    let f = Failure::in_band(provider, &message, self.clock.now_ms());
                    return self.fail(req, rec, &mut guard, started, f);
                }
            }
        }
        if !pipe.saw_content() {
            return self.fail(req, rec, &mut guard, started, Failure::empty(provider));
        }
        // Committed: from here on the client has the stream, whatever happens upstream.
        guard.report(&Outcome::Success);
        self.latency
            .observe(&provider.name, model, millis(started.elapsed()));
        rec.first_byte = Some(Instant::now());
        rec.attempt(&provider.name, model, key_id, "ok", Some(status), started);
        rec.served_by(&provider.name, model, key_id);
        let mut pending = VecDeque::new();
        pending.push_back(encode_events(&out));
        if ended {
            let mut tail = Vec::new();
            pipe.finish(&mut tail);
            pending.push_back(encode_events(&tail));
        }
        let idle = Duration::from_millis(provider.timeouts.idle_ms);
        let provider_name = provider.name.clone();
        let secret = pick.key.secret.clone();
        let upstream: Option<UpstreamStream> = if ended {
            None
        } else {
            Some(Box::pin(upstream))
        };
        AttemptEnd::Commit(Box::new(move |rec| {
            Pump {
                upstream,
                decoder,
                pipe,
                pending,
                idle,
                total_deadline,
                rec,
                guard,
                provider: provider_name,
                secret,
            }
            .into_stream()
        }))
    }

    fn fail(
        &self,
        req: &IngressRequest,
        rec: &mut Recorder,
        guard: &mut AttemptGuard,
        started: Instant,
        f: Failure,
    ) -> AttemptEnd {
        guard.report(&f.outcome);
        rec.attempt(
            &guard.provider,
            &guard.model,
            guard.key_id,
            f.label,
            f.status,
            started,
        );
        tracing::info!(provider = %guard.provider, model = %guard.model, key_id = guard.key_id, outcome = f.label, "attempt failed; trying the next candidate");
        AttemptEnd::Failed(Reply::error(req.dialect, &f.error))
    }
}

fn bound(started: Instant, ms: u64, deadline: Instant) -> Instant {
    if ms == 0 {
        deadline
    } else {
        (started + Duration::from_millis(ms)).min(deadline)
    }
}

fn outcome_label(o: &Outcome) -> &'static str {
    match o {
        Outcome::Success => "ok",
        Outcome::RateLimited { .. } => "rate_limited",
        Outcome::AuthError => "auth_error",
        Outcome::InsufficientBalance { .. } => "insufficient_balance",
        Outcome::TemporaryError { .. } => "temporary_error",
        Outcome::ClientError => "client_error",
        Outcome::Cancelled => "cancelled",
    }
}

/// A failed attempt: what health learns and what the client would be told.
struct Failure {
    outcome: Outcome,
    error: ClientError,
    label: &'static str,
    status: Option<u16>,
}

impl Failure {
    fn temporary(kind: ErrorKind, message: String) -> Failure {
        Failure {
            outcome: Outcome::TemporaryError { retry_after: None },
            error: ClientError::new(kind, message).with_code("upstream_error"),
            label: "temporary_error",
            status: None,
        }
    }

    fn timeout(provider: &crate::model::Provider, waiting_for: &str) -> Failure {
        Failure::temporary(
            ErrorKind::GatewayTimeout,
            format!(
                "Provider `{}` timed out waiting for {waiting_for}.",
                provider.name
            ),
        )
    }

    fn transport(provider: &crate::model::Provider, e: &reqwest::Error) -> Failure {
        // reqwest's messages carry the URL, never the key (keys travel in headers).
        let what = if e.is_connect() {
            "could not be reached"
        } else if e.is_timeout() {
            "timed out"
        } else {
            "broke the connection"
        };
        Failure::temporary(
            ErrorKind::BadGateway,
            format!("Provider `{}` {what}.", provider.name),
        )
    }

    fn empty(provider: &crate::model::Provider) -> Failure {
        Failure::temporary(
            ErrorKind::BadGateway,
            format!(
                "Provider `{}` ended the stream without any content.",
                provider.name
            ),
        )
    }

    fn malformed(provider: &crate::model::Provider) -> Failure {
        Failure::temporary(
            ErrorKind::BadGateway,
            format!("Provider `{}` sent a malformed stream.", provider.name),
        )
    }

    fn in_band(provider: &crate::model::Provider, message: &[u8], now_ms: i64) -> Failure {
        let message = String::from_utf8_lossy(message);
        // An in-band error may still be a rate limit or a quota error; classify its text.
        let lower = message.to_ascii_lowercase();
        let status = if lower.contains("rate limit")
            || lower.contains("rate_limit")
            || lower.contains("overloaded")
        {
            429
        } else {
            500
        };
        let outcome = classify_status(status, &HeaderMap::new(), message.as_bytes(), now_ms);
        let label = outcome_label(&outcome);
        Failure {
            outcome,
            error: ClientError::new(
                ErrorKind::BadGateway,
                format!("Provider `{}` reported an error: {message}", provider.name),
            )
            .with_code("upstream_error"),
            label,
            status: None,
        }
    }
}

/// A failure while reading a body, before the provider is known to the caller.
struct ReadFailure {
    timeout: bool,
}

impl ReadFailure {
    fn at(self, provider: &crate::model::Provider) -> Failure {
        if self.timeout {
            Failure::timeout(provider, "the response body")
        } else {
            Failure::temporary(
                ErrorKind::BadGateway,
                format!(
                    "Provider `{}` broke the connection mid-response.",
                    provider.name
                ),
            )
        }
    }
}

async fn read_capped(
    mut resp: reqwest::Response,
    cap: usize,
    deadline: Instant,
) -> Result<Bytes, ReadFailure> {
    let mut buf = BytesMut::new();
    loop {
        match tokio::time::timeout_at(deadline, resp.chunk()).await {
            Err(_) => return Err(ReadFailure { timeout: true }),
            Ok(Err(_)) => return Err(ReadFailure { timeout: false }),
            Ok(Ok(None)) => return Ok(buf.freeze()),
            Ok(Ok(Some(chunk))) => {
                if buf.len() + chunk.len() > cap {
                    return Err(ReadFailure { timeout: false });
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

fn encode_events(events: &[SseEvent]) -> Bytes {
    let mut out = BytesMut::new();
    for e in events {
        e.encode_into(&mut out);
    }
    out.freeze()
}

type UpstreamStream = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

/// A committed stream: forwards upstream events as they arrive (no buffering beyond one
/// upstream chunk), translating or patching them, and records the request when it ends.
struct Pump {
    upstream: Option<UpstreamStream>,
    decoder: SseDecoder,
    pipe: Pipe,
    pending: VecDeque<Bytes>,
    idle: Duration,
    total_deadline: Instant,
    rec: Recorder,
    guard: AttemptGuard,
    provider: String,
    secret: Secret,
}

impl Pump {
    fn into_stream(self) -> ByteStream {
        Box::pin(futures_util::stream::unfold(self, |mut pump| async move {
            loop {
                if let Some(b) = pump.pending.pop_front() {
                    if b.is_empty() {
                        continue;
                    }
                    return Some((Ok(b), pump));
                }
                let upstream = pump.upstream.as_mut()?;
                let deadline = if pump.idle.is_zero() {
                    pump.total_deadline
                } else {
                    (Instant::now() + pump.idle).min(pump.total_deadline)
                };
                let mut events = Vec::new();
                let mut out = Vec::new();
                match tokio::time::timeout_at(deadline, upstream.next()).await {
                    Ok(Some(Ok(chunk))) => {
                        if pump.decoder.push(&chunk, &mut events).is_err() {
                            pump.break_stream("the provider sent a malformed stream");
                            continue;
                        }
                    }
                    Ok(None) => {
                        pump.decoder.finish(&mut events);
                        pump.upstream = None;
                    }
                    Ok(Some(Err(_))) => {
                        pump.break_stream("the provider broke the connection mid-stream");
                        continue;
                    }
                    Err(_) => {
                        pump.break_stream("the provider stopped sending mid-stream");
                        continue;
                    }
                }
                for ev in events {
                    if let Err(InBandError(m)) = pump.pipe.push(ev, &mut out) {
                        let msg = String::from_utf8_lossy(&scrub(m.as_bytes(), &pump.secret))
                            .into_owned();
                        pump.pending.push_back(encode_events(&out));
                        out.clear();
                        pump.break_stream(&msg);
                        break;
                    }
                }
                if pump.upstream.is_none() && !pump.rec.done {
                    pump.pipe.finish(&mut out);
                    pump.rec.usage(pump.pipe.usage());
                    pump.rec.finish(200, None);
                }
                pump.pending.push_back(encode_events(&out));
            }
        }))
    }

    /// Ends a committed stream after an upstream failure: the client gets the dialect's own
    /// error event; the key is marked for a temporary error; no failover (bytes were sent).
    fn break_stream(&mut self, why: &str) {
        self.upstream = None;
        let err = ClientError::new(
            ErrorKind::BadGateway,
            format!("Provider `{}`: {why}.", self.provider),
        )
        .with_code("stream_interrupted");
        let events = self.pipe.fail(&err);
        self.pending.push_back(encode_events(&events));
        self.guard
            .report(&Outcome::TemporaryError { retry_after: None });
        if let Some(last) = self.rec.rec.attempts.last_mut() {
            last.outcome = "stream_error".into();
        }
        self.rec.usage(self.pipe.usage());
        self.rec.finish(200, Some(err.message));
    }
}
