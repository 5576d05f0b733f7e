//! The dispatcher: one client request → attempts across keys and targets until one succeeds,
//! the attempt budget or the deadline is spent, or a byte has reached the client. One attempt
//! is `attempt.rs`; a committed stream is `pump.rs`.
//!
//! A transient failure (5xx, 529, broken connection, timeout before the first byte) is first
//! retried on the same key with the provider's jittered backoff; only when its retries are
//! spent is the key reported (and cooled) and the next one tried. A route with a single key
//! has nothing to fail over to: its retries go on for the single-key wait before the key
//! cools. A target that refuses the request itself (unknown model, context too long) passes
//! it to the next target; a request estimated above a target's known window skips it.

use std::sync::Arc;
use std::time::Duration;

use switchboard_protocol::passthrough::{ROUTED_KEYS, duplicate_key};
use switchboard_protocol::{ClientError, ErrorKind};
use tokio::time::Instant;

use crate::affinity::{Moved, Pin, pin_first};
use crate::attempt::AttemptEnd;
use crate::classify::Refusal;
use crate::cluster::Slot;
use crate::engine::Engine;
use crate::health::Outcome;
use crate::hedge::Hedged;
use crate::log::{CLIENT_STR_MAX, RequestRecord, truncated};
use crate::record::Recorder;
use crate::reply::Reply;
use crate::request::{Endpoint, IngressRequest};
use crate::snapshot::{
    BUSY_RETRY_MS, Pick, ProviderRt, Snapshot, Unroutable, order_targets, pick_key, target_window,
};
use crate::upstream::has_looped;

impl Engine {
    /// Serves one client request.
    pub async fn dispatch(self: &Arc<Self>, req: IngressRequest) -> Reply {
        let snap = self.snapshot();
        let mut rec = Recorder::new(
            RequestRecord {
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
                cost_micros: None,
                audio_ms: None,
                images: None,
                client: req.client.clone(),
                error: None,
                affinity: None,
                attempts: Vec::new(),
                refused: None,
                instance: None,
            },
            self.sink.clone(),
            req.received_at,
            self.in_flight.clone(),
            snap.clone(),
        );
        // One atomic load when no capture window is open; a captured request gets its log
        // id now, so its capture names it.
        if let Some((tap, id)) = self.capture_for(&req, &snap) {
            rec.capture = Some(tap);
            rec.rec.id = id;
        }
        let Some(tap) = rec.capture.clone() else {
            return self.serve(&req, snap, rec).await;
        };
        let reply = self.serve(&req, snap, rec).await;
        let body = match &reply.body {
            crate::reply::ReplyBody::Full(b) => Some(&b[..]),
            crate::reply::ReplyBody::Stream(_) => None,
        };
        tap.client_reply(reply.status, &reply.headers, body);
        reply
    }

    /// Serves one client request, its record begun.
    async fn serve(
        self: &Arc<Self>,
        req: &IngressRequest,
        snap: Arc<Snapshot>,
        mut rec: Recorder,
    ) -> Reply {
        if has_looped(req.hop.as_ref(), &self.hop_id) {
            let err = ClientError::new(
                ErrorKind::LoopDetected,
                "This request came back to the Switchboard that sent it: a provider's base URL points at this router.",
            )
            .with_code("loop_detected");
            rec.finish(err.status(), Some(err.message.clone()));
            return Reply::error(req.dialect, &err);
        }
        // The router reads these fields once; an upstream parser keeps the last of duplicates.
        // A body naming one twice (in any spelling) could route as one model and run as another.
        if let Some(key) = duplicate_key(&req.body, ROUTED_KEYS) {
            let err = ClientError::new(
                ErrorKind::InvalidRequest,
                format!("The request body names `{key}` more than once."),
            )
            .with_code("duplicate_key")
            .with_param(key);
            rec.finish(err.status(), Some(err.message.clone()));
            return Reply::error(req.dialect, &err);
        }
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
        let mut targets = order_targets(&route, &snap, &self.latency, explore);
        if !matches!(req.endpoint, Endpoint::Generate | Endpoint::Compact) {
            targets.retain(|t| {
                snap.providers
                    .get(&t.provider)
                    .is_some_and(|p| crate::media::endpoint_served(p.provider.kind, req.endpoint))
            });
            if targets.is_empty() {
                let err = ClientError::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "The model `{}` cannot serve {}: none of its targets' providers offer that endpoint.",
                        truncated(&req.model, CLIENT_STR_MAX),
                        crate::media::endpoint_name(req.endpoint)
                    ),
                )
                .with_code("unsupported_endpoint")
                .with_param("model");
                rec.finish(err.status(), Some(err.message.clone()));
                return Reply::error(req.dialect, &err);
            }
        }
        // A known conversation goes back to where it was served, whatever the strategy chose;
        // `moved` notes why it left when it does.
        let session = conversation(req);
        let pin = session.and_then(|s| self.affinity.get(s, self.clock.now_ms()));
        let pinned = pin.as_ref().is_some_and(|p| pin_first(&mut targets, p));
        let mut moved = (pin.is_some() && !pinned).then_some(Moved::Unavailable);
        let preferred = pin.as_ref().filter(|_| pinned).map(|p| p.key_id);
        let windows: Vec<Option<u64>> = targets
            .iter()
            .map(|t| {
                snap.providers
                    .get(&t.provider)
                    .and_then(|p| target_window(t, p))
            })
            .collect();
        let estimate = windows
            .iter()
            .any(Option::is_some)
            .then(|| estimate_tokens(req))
            .flatten();
        // Keys this route could try, counted once per target: a same-key retry never takes an
        // attempt that one of them would need.
        let candidates = key_count(&targets, &snap);
        let quota_need = crate::quota::need(settings, req);
        let lone = candidates == 1;
        let mut picks = 0usize;
        let wait_limit = if lone {
            settings.max_wait_ms.max(settings.single_key_wait_ms)
        } else {
            settings.max_wait_ms
        };
        let mut attempts = 0u32;
        let mut last_failure: Option<Reply> = None;
        // When the request started waiting for a blocked candidate: it may wait again (keys
        // short of quota come back one request at a time) within `wait_limit` in all.
        let mut held_since: Option<Instant> = None;
        // Targets that refused this request, and the window a target must exceed after a
        // context-length refusal.
        let mut refused = vec![false; targets.len()];
        let mut min_window: Option<u64> = None;
        let mut oversize = false;
        // A hedge spends two attempts.
        if let Some(after) = route.route.hedge_after_ms
            && targets.len() > 1
            && budget > 1
        {
            let after = Duration::from_millis(after);
            // Only targets whose known window takes the request race.
            let fit: Vec<crate::model::Target> = targets
                .iter()
                .zip(&windows)
                .filter(|(_, w)| !matches!((w, estimate), (Some(w), Some(e)) if e > *w))
                .map(|(t, _)| t.clone())
                .collect();
            match self
                .hedge(req, &snap, &fit, pin.as_ref(), &mut rec, deadline, after)
                .await
            {
                Some(Hedged::Served(reply, served)) => {
                    if reply.status < 400 {
                        self.remember_session(session, settings, &served);
                    }
                    return reply;
                }
                Some(Hedged::Failed(reply, spent)) => {
                    attempts += spent;
                    last_failure = Some(reply);
                }
                None => {}
            }
        }
        // The route's turn, while this request is held and first in its line.
        let mut turn: Option<crate::line::Turn<'_>> = None;
        loop {
            // A held request, or one arriving while others are held, waits for its turn
            // before it looks for a key (see `crate::line`).
            if turn.is_none() && (held_since.is_some() || route.line.queued() > 0) {
                let since = *held_since.get_or_insert_with(Instant::now);
                let left = Duration::from_millis(wait_limit)
                    .saturating_sub(since.elapsed())
                    .min(deadline.saturating_duration_since(Instant::now()));
                turn = route.line.turn(left).await;
            }
            let mut earliest: Option<i64> = None;
            let mut blocked_by_rate_limit_only = true;
            'targets: for (ti, target) in targets.iter().enumerate() {
                let on_pin = pinned && ti == 0;
                let Some(prov) = snap.providers.get(&target.provider) else {
                    moved = moved.or(on_pin.then_some(Moved::Unavailable));
                    continue;
                };
                if !prov.provider.enabled || refused[ti] {
                    moved = moved.or(on_pin.then_some(Moved::Unavailable));
                    continue;
                }
                let window = windows[ti];
                if let (Some(w), Some(est)) = (window, estimate)
                    && est > w
                {
                    oversize = true;
                    moved = moved.or(on_pin.then_some(Moved::Unavailable));
                    continue;
                }
                if let (Some(w), Some(floor)) = (window, min_window)
                    && w <= floor
                {
                    moved = moved.or(on_pin.then_some(Moved::Unavailable));
                    continue;
                }
                let mut tried = Vec::new();
                // When a key found busy on other instances may be tried again.
                let mut busy_until: Option<i64> = None;
                'keys: loop {
                    if attempts >= budget || Instant::now() >= deadline {
                        break 'targets;
                    }
                    let mut pick = match pick_key(
                        prov,
                        &target.model,
                        &self.health,
                        &tried,
                        preferred,
                        quota_need,
                    ) {
                        Ok(p) => {
                            turn = None;
                            p
                        }
                        Err(until) => {
                            let until = match (until, busy_until) {
                                (Some(a), Some(b)) => Some(a.min(b)),
                                (a, b) => a.or(b),
                            };
                            if on_pin {
                                moved = moved.or(Some(if until.is_some() {
                                    Moved::Cooling
                                } else {
                                    Moved::Unavailable
                                }));
                            }
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
                    if !self.claim_slot(prov, &target.model, &mut pick).await {
                        // Busy on other instances: skipped like a key at its local limit.
                        busy_until = Some(self.clock.now_ms() + BUSY_RETRY_MS);
                        tried.push(pick.key.info.id);
                        continue;
                    }
                    if on_pin && preferred != Some(pick.key.info.id) {
                        moved = moved.or(Some(Moved::Cooling));
                    }
                    let on_pinned_key = on_pin && preferred == Some(pick.key.info.id);
                    let here = Pin {
                        provider: target.provider.clone(),
                        model: target.model.clone(),
                        key_id: pick.key.info.id,
                    };
                    tried.push(pick.key.info.id);
                    picks += 1;
                    let untried =
                        u32::try_from(candidates.saturating_sub(picks)).unwrap_or(u32::MAX);
                    let policy = prov.provider.retry;
                    let mut retries = 0u32;
                    let first_try = Instant::now();
                    loop {
                        attempts += 1;
                        // Recorded with the attempt that may end the request.
                        rec.rec.affinity = pin
                            .as_ref()
                            .map(|p| crate::affinity::describe(p, &here, moved).to_owned());
                        // The wait before the next retry, if this attempt fails transiently and
                        // one is allowed: the policy's retries while the budget has room for
                        // them and every untried key, then for a lone key its wait window
                        // (unless the provider retries nothing).
                        let backoff = policy.backoff(retries);
                        let delay = if retries < policy.max_retries
                            && attempts.saturating_add(untried) < budget
                        {
                            Some(backoff)
                        } else if lone && policy.max_retries > 0 {
                            Duration::from_millis(wait_limit)
                                .checked_sub(first_try.elapsed())
                                .filter(|left| !left.is_zero())
                                .map(|left| backoff.min(left))
                        } else {
                            None
                        }
                        .filter(|d| Instant::now() + *d < deadline);
                        match self
                            .attempt(
                                req,
                                prov,
                                &target.model,
                                &pick,
                                &mut rec,
                                deadline,
                                delay.is_some(),
                            )
                            .await
                        {
                            AttemptEnd::Reply(reply) => {
                                if reply.status < 400 {
                                    self.remember_session(session, settings, &here);
                                }
                                return reply;
                            }
                            AttemptEnd::Failed(reply) => {
                                last_failure = Some(reply);
                                if on_pinned_key {
                                    moved = moved.or(Some(Moved::Failed));
                                }
                                continue 'keys;
                            }
                            // Every retry ends in one of the other arms, which set the
                            // reply the client gets.
                            AttemptEnd::Retry(_) => {
                                retries += 1;
                                tokio::time::sleep(delay.unwrap_or_default()).await;
                            }
                            AttemptEnd::Refused(reply, why) => {
                                last_failure = Some(reply);
                                refused[ti] = true;
                                if on_pin {
                                    moved = moved.or(Some(Moved::Failed));
                                }
                                if why == Refusal::ContextLength
                                    && let Some(w) = window
                                {
                                    min_window = Some(min_window.map_or(w, |m| m.max(w)));
                                }
                                continue 'targets;
                            }
                            AttemptEnd::Commit(start) => {
                                self.remember_session(session, settings, &here);
                                return start(rec);
                            }
                        }
                    }
                }
            }
            // A rate-limited attempt while another candidate is about to have room (its
            // cooldown or quota ends within the wait): hold and try it rather than relay.
            if last_failure.as_ref().is_some_and(|r| r.status == 429)
                && hold(
                    turn.is_some(),
                    &mut held_since,
                    earliest,
                    self.clock.now_ms(),
                    wait_limit,
                    deadline,
                )
                .await
            {
                continue;
            }
            if let Some(mut reply) = last_failure.take() {
                let status = reply.status;
                rec.rec.affinity = None;
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
            if hold(
                turn.is_some(),
                &mut held_since,
                earliest,
                now,
                wait_limit,
                deadline,
            )
            .await
            {
                continue;
            }
            if oversize && earliest.is_none() {
                let err = ClientError::new(
                    ErrorKind::InvalidRequest,
                    format!(
                        "The request (about {} tokens) is longer than the context window of every target of `{}`.",
                        estimate.unwrap_or_default(),
                        truncated(&req.model, CLIENT_STR_MAX)
                    ),
                )
                .with_code("context_length_exceeded");
                rec.finish(err.status(), Some(err.message.clone()));
                return Reply::error(req.dialect, &err);
            }
            return self.no_usable_key(req, &mut rec, earliest, blocked_by_rate_limit_only, now);
        }
    }

    /// Team mode: takes the cluster-wide concurrency slot of `pick`'s key when its provider
    /// limits concurrency per key (the only case that asks the shared server). `false` when
    /// every slot is taken: the key is busy, and a probe it was picked for is given back.
    /// When the shared server does not answer, the local limit alone applies.
    pub(crate) async fn claim_slot(&self, prov: &ProviderRt, model: &str, pick: &mut Pick) -> bool {
        let provider = &prov.provider;
        let (Some(limit), Some(cluster)) =
            (provider.max_concurrency_per_key, self.health.cluster())
        else {
            return true;
        };
        match cluster
            .key_slot(&provider.name, pick.key.info.id, limit)
            .await
        {
            Slot::Granted(hold) => {
                pick.slot = Some(hold);
                true
            }
            Slot::Unavailable => true,
            Slot::Busy => {
                if pick.probe {
                    self.health.report(
                        &provider.name,
                        pick.key.info.id,
                        model,
                        &Outcome::Cancelled,
                    );
                }
                false
            }
        }
    }

    /// Pins the conversation to the target and key that served it.
    fn remember_session(
        &self,
        session: Option<u64>,
        settings: &crate::model::Settings,
        served: &Pin,
    ) {
        if let Some(s) = session {
            let ttl =
                i64::try_from(settings.affinity_ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
            self.affinity.set(s, served, self.clock.now_ms(), ttl);
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
}

/// Holds the request until `earliest` (when the first blocked candidate recovers) if that is
/// within `wait_limit` of when it started waiting (`held_since`) and before the deadline: it
/// may wait more than once (keys short of quota come back a request at a time). `false`
/// (without waiting) otherwise. Only the request with the route's turn waits for `earliest`;
/// another returns at once to wait for the turn first (see [`crate::line`]).
async fn hold(
    has_turn: bool,
    held_since: &mut Option<Instant>,
    earliest: Option<i64>,
    now_ms: i64,
    wait_limit: u64,
    deadline: Instant,
) -> bool {
    let Some(until) = earliest else {
        return false;
    };
    let wait = Duration::from_millis(u64::try_from(until.saturating_sub(now_ms)).unwrap_or(0));
    let held = held_since.get_or_insert_with(Instant::now).elapsed();
    if held + wait > Duration::from_millis(wait_limit) || Instant::now() + wait >= deadline {
        return false;
    }
    if !has_turn {
        return true;
    }
    // At least a millisecond: a recovery due now must not spin.
    tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
    true
}

/// The request's conversation within the model it asked for: a conversation sent to another
/// alias follows that route's own choice.
fn conversation(req: &IngressRequest) -> Option<u64> {
    req.session
        .map(|s| crate::affinity::session_id(&[&s.to_le_bytes(), req.model.as_bytes()]))
}

/// The request's input tokens, estimated locally (`None` when the body does not decode).
fn estimate_tokens(req: &IngressRequest) -> Option<u64> {
    switchboard_protocol::translate::decode_request(req.dialect, &req.body)
        .ok()
        .map(|ir| switchboard_protocol::count_tokens(&ir))
}

/// The keys a route can try, once per target (enabled providers' enabled keys). One means
/// nothing to fail over to: the request waits out a short outage instead.
fn key_count(targets: &[crate::model::Target], snap: &Snapshot) -> usize {
    targets
        .iter()
        .filter_map(|t| snap.providers.get(&t.provider))
        .filter(|p| p.provider.enabled)
        .map(|p| p.keys.len())
        .sum()
}
