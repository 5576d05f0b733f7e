//! One attempt: one upstream call with one key, in three steps — send, then either read the
//! whole body or read a stream ahead to its first content event, then commit.
//!
//! Failover contract (SECURITY.md T14, STYLE.md rule 5): nothing reaches the client before
//! commit, so every failure up to there fails over. Whatever an attempt hands back passes the
//! key's [`Scrubber`] first (T7), and its memory is bounded: a whole body by [`BODY_CAP`], a
//! stream's read-ahead by [`READ_AHEAD_CAP`] (T11).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use http::{HeaderName, HeaderValue};
use switchboard_protocol::sse::{SseDecoder, SseEvent};
use switchboard_protocol::{ClientError, Dialect, ErrorKind};
use tokio::time::Instant;

use crate::classify::{Refusal, classify_in_band, classify_status, provider_message, refusal};
use crate::engine::Engine;
use crate::guard::AttemptGuard;
use crate::health::Outcome;
use crate::inspect::Tap;
use crate::log::AttemptOutcome;
use crate::model::Provider;
use crate::pipe::{InBandError, Pipe};
use crate::pump::{Pump, RawPump, next_read};
use crate::record::{Recorder, millis};
use crate::reply::{Reply, ReplyBody};
use crate::request::{Endpoint, IngressRequest, Media};
use crate::scrub::Scrubber;
use crate::snapshot::{Pick, ProviderRt};
use crate::upstream::{
    HOP_HEADER, Transport, UpstreamResponse, UpstreamStream, compact_url, endpoint_url, hop_chain,
    request_headers,
};

/// Upstream error bodies read for classification are capped: we only need the message.
const ERROR_BODY_CAP: usize = 256 * 1024;
/// Non-streaming upstream bodies are capped: 32 MiB is far above any real completion.
pub const BODY_CAP: usize = 32 * 1024 * 1024;
/// Bytes of a stream read before its first content event: framing, keep-alives and the
/// envelope (a Responses `response.created` echoes the request's tools) stay far below.
pub const READ_AHEAD_CAP: usize = 8 * 1024 * 1024;

/// How one attempt ended.
pub(crate) enum AttemptEnd {
    /// The reply to send: committed success, or an error that is the client's own.
    Reply(Reply),
    /// Try the next key or target; this is what the client gets if nothing else works.
    Failed(Reply),
    /// A transient failure the caller asked to retry on the same key: health has not heard of
    /// it (a lone blip cools nothing). The reply is what the client gets if retries run out.
    Retry(Reply),
    /// The target refused the request in a way another target may not (unknown model,
    /// context too long); nobody is blamed. The reply is relayed if no other target serves.
    Refused(Reply, Refusal),
    /// A stream is committed; it takes over the request's record.
    Commit(Box<dyn FnOnce(Recorder) -> Reply + Send>),
}

impl AttemptEnd {
    /// Error replies leave through the full scrubber: their text may be built from an upstream
    /// body (a 2xx error object, a decoder's message quoting it). A successful whole answer is
    /// not scrubbed again here: its content was scrubbed once, when it was read
    /// (`read_whole`); committed streams scrub each chunk.
    fn scrubbed(self, scrubber: &Scrubber) -> AttemptEnd {
        let clean = |mut reply: Reply| {
            if !(200..300).contains(&reply.status)
                && let ReplyBody::Full(b) = &reply.body
                && let std::borrow::Cow::Owned(clean) = scrubber.scrub(b)
            {
                reply.body = ReplyBody::Full(Bytes::from(clean));
            }
            reply
        };
        match self {
            AttemptEnd::Reply(r) => AttemptEnd::Reply(clean(r)),
            AttemptEnd::Failed(r) => AttemptEnd::Failed(clean(r)),
            AttemptEnd::Retry(r) => AttemptEnd::Retry(clean(r)),
            AttemptEnd::Refused(r, why) => AttemptEnd::Refused(clean(r), why),
            c @ AttemptEnd::Commit(_) => c,
        }
    }
}

/// A failed attempt: what health learns and what the client would be told.
pub(crate) struct Failure {
    outcome: Outcome,
    error: ClientError,
    status: Option<u16>,
    /// Worth retrying on the same key: a broken connection or a timeout before anything
    /// was read, not a provider that answered wrongly.
    transient: bool,
}

impl Failure {
    fn temporary(kind: ErrorKind, message: String) -> Failure {
        Failure {
            outcome: Outcome::TemporaryError { retry_after: None },
            error: ClientError::new(kind, message).with_code("upstream_error"),
            status: None,
            transient: false,
        }
    }

    fn transient(mut self) -> Failure {
        self.transient = true;
        self
    }

    fn with_status(mut self, status: u16) -> Failure {
        self.status = Some(status);
        self
    }

    fn timeout(provider: &Provider, waiting_for: &str) -> Failure {
        Failure::temporary(
            ErrorKind::GatewayTimeout,
            format!(
                "Provider `{}` timed out waiting for {waiting_for}.",
                provider.name
            ),
        )
    }

    fn transport(provider: &Provider, e: Transport) -> Failure {
        let what = match e {
            Transport::Connect => "could not be reached",
            Transport::Timeout => "timed out",
            Transport::Broken => "broke the connection",
        };
        Failure::temporary(
            ErrorKind::BadGateway,
            format!("Provider `{}` {what}.", provider.name),
        )
    }

    fn empty(provider: &Provider) -> Failure {
        Failure::temporary(
            ErrorKind::BadGateway,
            format!(
                "Provider `{}` ended the stream without any content.",
                provider.name
            ),
        )
    }

    /// The provider's output is not what its dialect promises (or is too big to be): the
    /// provider is to blame, so this is a temporary error that fails over.
    fn malformed(provider: &Provider, what: &str) -> Failure {
        Failure::temporary(
            ErrorKind::BadGateway,
            format!("Provider `{}` sent {what}.", provider.name),
        )
    }

    /// An error the provider reported inside a 2xx answer; `message` is already scrubbed.
    fn in_band(provider: &Provider, message: &str, now_ms: i64, max_hint: Duration) -> Failure {
        Failure {
            outcome: classify_in_band(message, now_ms, max_hint),
            error: ClientError::new(
                ErrorKind::BadGateway,
                format!("Provider `{}` reported an error: {message}", provider.name),
            )
            .with_code("upstream_error"),
            status: None,
            transient: false,
        }
    }
}

/// Why an attempt stopped before commit.
enum Stop {
    Fail(Failure),
    End(AttemptEnd),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Fail(f)
    }
}

/// A failure while reading a body.
enum ReadFailure {
    Timeout,
    Broken,
    TooLarge,
}

impl ReadFailure {
    fn at(self, provider: &Provider) -> Failure {
        match self {
            ReadFailure::Timeout => Failure::timeout(provider, "the response body"),
            ReadFailure::Broken => Failure::temporary(
                ErrorKind::BadGateway,
                format!(
                    "Provider `{}` broke the connection mid-response.",
                    provider.name
                ),
            )
            .transient(),
            ReadFailure::TooLarge => {
                Failure::malformed(provider, "a response body over the size cap")
            }
        }
    }
}

/// Reads a whole body, failing when it grows past `cap`, stalls for `idle`, or outlives
/// `total`.
async fn read_capped(
    mut resp: UpstreamResponse,
    cap: usize,
    idle: Duration,
    total: Instant,
) -> Result<Bytes, ReadFailure> {
    let mut buf = BytesMut::new();
    loop {
        match tokio::time::timeout_at(next_read(idle, total), resp.body.next()).await {
            Err(_) => return Err(ReadFailure::Timeout),
            Ok(Some(Err(_))) => return Err(ReadFailure::Broken),
            Ok(None) => return Ok(buf.freeze()),
            Ok(Some(Ok(chunk))) => {
                if buf.len() + chunk.len() > cap {
                    return Err(ReadFailure::TooLarge);
                }
                buf.extend_from_slice(&chunk);
            }
        }
    }
}

fn bound(started: Instant, ms: u64, deadline: Instant) -> Instant {
    if ms == 0 {
        deadline
    } else {
        (started + Duration::from_millis(ms)).min(deadline)
    }
}

/// A stream read up to its first content event, ready to commit.
struct ReadAhead {
    status: u16,
    upstream: Option<UpstreamStream>,
    decoder: SseDecoder,
    /// What the client gets first.
    out: Vec<SseEvent>,
}

/// What a successful attempt has before the reply goes out.
enum Ready {
    Whole(Reply),
    Stream(ReadAhead),
    /// Bytes streamed as they come (synthesised speech): nothing to read ahead.
    Raw(UpstreamResponse),
}

/// The state of one attempt.
struct Attempt<'a> {
    engine: &'a Engine,
    req: &'a IngressRequest,
    prov: &'a ProviderRt,
    provider: &'a Provider,
    model: &'a str,
    pick: &'a Pick,
    started: Instant,
    first_byte_deadline: Instant,
    total_deadline: Instant,
    idle: Duration,
    guard: AttemptGuard,
    pipe: Pipe,
    scrubber: Arc<Scrubber>,
    /// The caller retries a transient failure on this key: don't report it to health.
    retry: bool,
    /// The request's capture and this attempt's place in it, when it is captured.
    capture: Option<(Tap, usize)>,
    /// A media endpoint's call: how its answer is read (set when it is sent).
    media: Option<crate::media::Read>,
}

impl Engine {
    /// Runs one attempt with `pick` against `model` on `prov`. With `retry`, a transient
    /// failure ends as [`AttemptEnd::Retry`] and is not reported to health.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn attempt(
        &self,
        req: &IngressRequest,
        prov: &ProviderRt,
        model: &str,
        pick: &Pick,
        rec: &mut Recorder,
        deadline: Instant,
        retry: bool,
    ) -> AttemptEnd {
        let provider = &prov.provider;
        let started = Instant::now();
        let scrubber = pick.key.scrubber();
        rec.begin(&provider.name, model, pick.key.info.id, started);
        let mut a = Attempt {
            engine: self,
            req,
            prov,
            provider,
            model,
            pick,
            started,
            first_byte_deadline: bound(started, provider.timeouts.first_byte_ms, deadline),
            total_deadline: bound(started, provider.timeouts.total_ms, deadline),
            idle: Duration::from_millis(provider.timeouts.idle_ms),
            guard: AttemptGuard::new(self.health.clone(), &provider.name, model, pick),
            pipe: Pipe::new(
                req.dialect,
                provider.kind,
                req.endpoint,
                &req.model,
                &self.responses,
                req.owner,
                self.clock.now_ms(),
            ),
            scrubber: scrubber.clone(),
            retry,
            capture: None,
            media: None,
        };
        let end = match a.run(rec).await {
            Ok(Ready::Whole(reply)) => AttemptEnd::Reply(reply),
            Ok(Ready::Stream(ahead)) => a.commit(rec, ahead),
            Ok(Ready::Raw(resp)) => a.commit_raw(rec, resp),
            Err(Stop::End(end)) => end,
            Err(Stop::Fail(f)) => a.fail(rec, f),
        };
        end.scrubbed(&scrubber)
    }
}

impl Attempt<'_> {
    async fn run(&mut self, rec: &mut Recorder) -> Result<Ready, Stop> {
        let resp = self.send(rec).await?;
        self.engine.health.quota.observe(
            self.pick.key.info.id,
            self.model,
            &resp.headers,
            self.engine.clock.now_ms(),
        );
        let status = resp.status;
        if let Some((tap, i)) = &self.capture {
            tap.upstream_response(*i, status, &resp.headers);
        }
        if !resp.is_success() {
            return Err(self.upstream_error(resp, rec).await);
        }
        if self.req.endpoint == Endpoint::Media(Media::Speech) {
            Ok(Ready::Raw(resp))
        } else if self.media.is_some() {
            self.read_media(resp, rec).await.map(Ready::Whole)
        } else if self.req.stream {
            self.read_ahead(resp).await.map(Ready::Stream)
        } else {
            self.read_whole(resp, rec).await.map(Ready::Whole)
        }
    }

    /// Step 1: the request goes out; the response headers come back.
    async fn send(&mut self, rec: &mut Recorder) -> Result<UpstreamResponse, Stop> {
        let (req, provider, model) = (self.req, self.provider, self.model);
        let prepared = match crate::media::call(req, provider, model) {
            Some(call) => call.map(|c| {
                self.media = Some(c.read);
                (c.body, Some(c.url))
            }),
            None => self
                .pipe
                .upstream_body(&req.body, model, provider, req.stream)
                .map(|b| (b, None)),
        };
        let (body, media_url) = match prepared {
            Ok(b) => b,
            Err(err) => {
                self.guard.report(&Outcome::ClientError);
                rec.attempt(
                    &provider.name,
                    model,
                    self.pick.key.info.id,
                    AttemptOutcome::ClientError,
                    Some(err.status()),
                    self.started,
                );
                rec.finish(err.status(), Some(err.message.clone()));
                return Err(Stop::End(AttemptEnd::Reply(Reply::error(
                    req.dialect,
                    &err,
                ))));
            }
        };
        let forwarded: &[(HeaderName, HeaderValue)] = if provider.kind == req.dialect {
            &req.forward_headers
        } else {
            &[]
        };
        let mut headers = request_headers(provider, &self.pick.key.secret, forwarded);
        if let Some(hops) = hop_chain(req.hop.as_ref(), &self.engine.hop_id) {
            headers.insert(HOP_HEADER, hops);
        }
        // A form goes with its own boundary (never to Gemini, which gets JSON).
        if let Some(ct) = &req.content_type
            && provider.kind != Dialect::Gemini
        {
            headers.insert(http::header::CONTENT_TYPE, ct.clone());
        }
        // A client that cannot be built (its CA file is gone, its proxy credentials are
        // missing) fails this provider over like an unreachable one.
        let client = self.engine.client(self.prov).map_err(|e| {
            tracing::warn!(provider = %provider.name, error = %e, "upstream client unavailable");
            Failure::temporary(
                ErrorKind::BadGateway,
                format!("Provider `{}` could not be reached: {e}.", provider.name),
            )
        })?;
        let url = match (media_url, req.endpoint) {
            (Some(url), _) => url,
            (None, Endpoint::Compact) if provider.kind == Dialect::OpenaiResponses => {
                compact_url(provider)
            }
            _ => endpoint_url(provider, model, req.stream),
        };
        if let Some(tap) = &rec.capture {
            let i = tap.upstream_request(
                &provider.name,
                model,
                self.pick.key.info.id,
                &url,
                &headers,
                &body,
                &self.scrubber,
            );
            self.capture = Some((tap.clone(), i));
        }
        tracing::debug!(provider = %provider.name, model, key_id = self.pick.key.info.id, probe = self.pick.probe, "upstream attempt");
        let send = client.send(http::Method::POST, &url, headers, body);
        match tokio::time::timeout_at(self.first_byte_deadline, send).await {
            Err(_) => Err(Failure::timeout(provider, "response headers")
                .transient()
                .into()),
            Ok(Err(e)) => Err(Failure::transport(provider, e).transient().into()),
            Ok(Ok(r)) => Ok(r),
        }
    }

    /// A non-2xx answer: classified, reported, and relayed (scrubbed) if nothing else works.
    /// A redirect is the provider's error: it is never followed (it would carry the key
    /// elsewhere) nor relayed.
    async fn upstream_error(&mut self, mut resp: UpstreamResponse, rec: &mut Recorder) -> Stop {
        let provider = self.provider;
        let status = resp.status;
        if status < 400 {
            return Failure::malformed(provider, &format!("an HTTP {status} answer"))
                .with_status(status)
                .into();
        }
        let resp_headers = std::mem::take(&mut resp.headers);
        let body = read_capped(resp, ERROR_BODY_CAP, self.idle, self.total_deadline)
            .await
            .unwrap_or_default();
        let body = self.scrubber.scrub(&body);
        if let Some((tap, i)) = &self.capture {
            tap.upstream_body(*i, &body);
        }
        let now = self.engine.clock.now_ms();
        let outcome = classify_status(status, &resp_headers, &body, now, self.engine.max_hint());
        if matches!(outcome, Outcome::InsufficientBalance { .. }) {
            self.engine.balances.recheck(self.pick.key.info.id);
        }
        // A 5xx (or 408/409) is retried on this key unless the provider asks for a longer
        // wait than the retry policy would take: then the key cools for that wait.
        let retry_max = Duration::from_millis(provider.retry.max_ms);
        let transient = matches!(
            &outcome,
            Outcome::TemporaryError { retry_after } if retry_after.is_none_or(|d| d <= retry_max)
        );
        let retrying = self.retry && transient;
        if !retrying {
            self.guard.report(&outcome);
        }
        let key_id = self.pick.key.info.id;
        rec.attempt(
            &provider.name,
            self.model,
            key_id,
            AttemptOutcome::from(&outcome),
            Some(status),
            self.started,
        );
        rec.attempt_said(provider_message(&body), outcome.retry_after());
        let mut relayed = self.pipe.error_reply(status, &body);
        // The provider's wait, when it gave one, goes to the client with its own error
        // (already clamped to the cooldown maximum by the classifier).
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
        if retrying {
            tracing::info!(provider = %provider.name, model = self.model, key_id, status, "transient failure; retrying the same key");
            return Stop::End(AttemptEnd::Retry(relayed));
        }
        if outcome == Outcome::ClientError
            && let Some(why) = refusal(status, &body)
        {
            tracing::info!(provider = %provider.name, model = self.model, key_id, status, refusal = ?why, "target refused the request; trying the next target");
            return Stop::End(AttemptEnd::Refused(relayed, why));
        }
        if outcome == Outcome::ClientError {
            rec.served_by(&provider.name, self.model, key_id);
            rec.finish(
                relayed.status,
                Some(format!("{} answered {status}", provider.name)),
            );
            return Stop::End(AttemptEnd::Reply(relayed));
        }
        tracing::info!(provider = %provider.name, model = self.model, key_id, status, outcome = AttemptOutcome::from(&outcome).as_str(), "attempt failed; trying the next candidate");
        Stop::End(AttemptEnd::Failed(relayed))
    }

    /// Step 2, non-streaming: the whole body, bounded in size and in silence, which must be
    /// a valid response of the provider's dialect.
    async fn read_whole(
        &mut self,
        resp: UpstreamResponse,
        rec: &mut Recorder,
    ) -> Result<Reply, Stop> {
        let provider = self.provider;
        let status = resp.status;
        let body = read_capped(resp, BODY_CAP, self.idle, self.total_deadline)
            .await
            .map_err(|f| f.at(provider))?;
        // Content so far; if it turns out to be an error, the failure built from it is
        // scrubbed in full on its way out (`AttemptEnd::scrubbed`).
        let body = self.scrubber.scrub_content(&body);
        if let Some((tap, i)) = &self.capture {
            tap.upstream_body(*i, &body);
        }
        let (out, usage) = self.pipe.client_body(&body).map_err(|err| {
            Failure::malformed(
                provider,
                &format!("a response that could not be read: {}", err.message),
            )
            .with_status(status)
        })?;
        self.guard.report(&Outcome::Success);
        self.engine
            .latency
            .observe(&provider.name, self.model, millis(self.started.elapsed()));
        if let Some((tap, i)) = &self.capture {
            tap.committed(*i);
        }
        let key_id = self.pick.key.info.id;
        rec.first_byte = Some(Instant::now());
        rec.attempt(
            &provider.name,
            self.model,
            key_id,
            AttemptOutcome::Ok,
            Some(status),
            self.started,
        );
        rec.served_by(&provider.name, self.model, key_id);
        rec.usage(usage);
        rec.finish(200, None);
        Ok(Reply::json(200, out))
    }

    /// Step 2, streaming: events up to the first content event, so an empty stream or an
    /// in-band error still fails over. Bounded by [`READ_AHEAD_CAP`] and the first-byte
    /// deadline.
    async fn read_ahead(&mut self, resp: UpstreamResponse) -> Result<ReadAhead, Stop> {
        let provider = self.provider;
        let status = resp.status;
        let mut upstream = resp.body;
        let mut decoder = SseDecoder::default();
        let mut events = Vec::new();
        let mut out = Vec::new();
        let mut ended = false;
        let mut read = 0usize;
        while !self.pipe.saw_content() && !ended {
            let next = tokio::time::timeout_at(self.first_byte_deadline, upstream.next()).await;
            events.clear();
            match next {
                Err(_) => {
                    return Err(Failure::timeout(provider, "the first streamed event")
                        .transient()
                        .into());
                }
                Ok(Some(Err(e))) => {
                    return Err(Failure::transport(provider, e).transient().into());
                }
                Ok(None) => {
                    decoder.finish(&mut events);
                    ended = true;
                }
                Ok(Some(Ok(chunk))) => {
                    read += chunk.len();
                    if read > READ_AHEAD_CAP {
                        return Err(Failure::malformed(
                            provider,
                            "too much before the first content of its stream",
                        )
                        .into());
                    }
                    if decoder.push(&chunk, &mut events).is_err() {
                        return Err(Failure::malformed(provider, "a malformed stream").into());
                    }
                }
            }
            for ev in events.drain(..) {
                if let Some((tap, i)) = &self.capture {
                    tap.upstream_event(*i, &ev);
                }
                if let Err(InBandError(message)) = self.pipe.push(ev, &mut out) {
                    let message = self.scrubber.scrub_str(&message);
                    return Err(Failure::in_band(
                        provider,
                        &message,
                        self.engine.clock.now_ms(),
                        self.engine.max_hint(),
                    )
                    .into());
                }
            }
        }
        if !self.pipe.saw_content() {
            return Err(Failure::empty(provider).into());
        }
        let upstream: Option<UpstreamStream> = if ended { None } else { Some(upstream) };
        Ok(ReadAhead {
            status,
            upstream,
            decoder,
            out,
        })
    }

    /// Step 3: the stream is the client's from here on, whatever happens upstream.
    fn commit(mut self, rec: &mut Recorder, ahead: ReadAhead) -> AttemptEnd {
        let provider = self.provider;
        self.succeeded(rec, ahead.status);
        let mut pump = Pump {
            upstream: ahead.upstream,
            decoder: ahead.decoder,
            pipe: self.pipe,
            pending: VecDeque::new(),
            idle: self.idle,
            total_deadline: self.total_deadline,
            guard: self.guard,
            provider: provider.name.clone(),
            scrubber: self.scrubber,
            capture: self.capture,
        };
        pump.send(&ahead.out);
        if pump.upstream.is_none() {
            let mut tail = Vec::new();
            pump.pipe.finish(&mut tail);
            pump.send(&tail);
        }
        AttemptEnd::Commit(Box::new(move |rec| Reply::sse(pump.into_stream(rec))))
    }

    /// Step 2 of a media call: its whole answer, bounded like any other, made ready for the
    /// client (OpenAI's shape) and counted.
    async fn read_media(
        &mut self,
        resp: UpstreamResponse,
        rec: &mut Recorder,
    ) -> Result<Reply, Stop> {
        let provider = self.provider;
        let status = resp.status;
        let content_type = resp.headers.get(http::header::CONTENT_TYPE).cloned();
        let body = read_capped(resp, BODY_CAP, self.idle, self.total_deadline)
            .await
            .map_err(|f| f.at(provider))?;
        let body = self.scrubber.scrub_content(&body);
        let Some(read) = &self.media else {
            return Err(Failure::malformed(provider, "an answer to no media call").into());
        };
        let answer = crate::media::answer(read, &self.req.model, &body, content_type.as_ref())
            .map_err(|err| {
                Failure::malformed(
                    provider,
                    &format!("a response that could not be read: {}", err.message),
                )
                .with_status(status)
            })?;
        self.succeeded(rec, status);
        rec.usage(answer.usage);
        rec.units(answer.units);
        rec.finish(200, None);
        let mut reply = Reply::json(200, answer.body);
        reply
            .headers
            .insert(http::header::CONTENT_TYPE, answer.content_type);
        Ok(reply)
    }

    /// Health, latency and the record of an attempt that answered.
    fn succeeded(&mut self, rec: &mut Recorder, status: u16) {
        let provider = self.provider;
        self.guard.report(&Outcome::Success);
        self.engine
            .latency
            .observe(&provider.name, self.model, millis(self.started.elapsed()));
        let key_id = self.pick.key.info.id;
        rec.first_byte = Some(Instant::now());
        rec.attempt(
            &provider.name,
            self.model,
            key_id,
            AttemptOutcome::Ok,
            Some(status),
            self.started,
        );
        rec.served_by(&provider.name, self.model, key_id);
        if let Some((tap, i)) = &self.capture {
            tap.committed(*i);
        }
    }

    /// Step 3 for bytes that are not events (synthesised audio): committed at the headers,
    /// each chunk scrubbed on its way; the upstream's content type goes with them.
    fn commit_raw(mut self, rec: &mut Recorder, resp: UpstreamResponse) -> AttemptEnd {
        let status = resp.status;
        self.succeeded(rec, status);
        let content_type = resp
            .headers
            .get(http::header::CONTENT_TYPE)
            .cloned()
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let pump = RawPump {
            upstream: resp.body,
            held: BytesMut::new(),
            idle: self.idle,
            total_deadline: self.total_deadline,
            guard: self.guard,
            scrubber: self.scrubber,
        };
        AttemptEnd::Commit(Box::new(move |rec| {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::CONTENT_TYPE, content_type);
            Reply {
                status: 200,
                headers,
                body: ReplyBody::Stream(pump.into_stream(rec)),
            }
        }))
    }

    fn fail(&mut self, rec: &mut Recorder, f: Failure) -> AttemptEnd {
        let retrying = self.retry && f.transient;
        if !retrying {
            self.guard.report(&f.outcome);
        }
        let outcome = AttemptOutcome::from(&f.outcome);
        rec.attempt(
            &self.provider.name,
            self.model,
            self.pick.key.info.id,
            outcome,
            f.status,
            self.started,
        );
        let reply = Reply::error(self.req.dialect, &f.error);
        if retrying {
            tracing::info!(provider = %self.provider.name, model = %self.model, key_id = self.pick.key.info.id, outcome = outcome.as_str(), "transient failure; retrying the same key");
            return AttemptEnd::Retry(reply);
        }
        tracing::info!(provider = %self.provider.name, model = %self.model, key_id = self.pick.key.info.id, outcome = outcome.as_str(), "attempt failed; trying the next candidate");
        AttemptEnd::Failed(reply)
    }
}
