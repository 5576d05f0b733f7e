//! The dispatcher: one client request → attempts across keys and targets until one succeeds,
//! the attempt budget or the deadline is spent, or a byte has reached the client. One attempt
//! is `attempt.rs`; a committed stream is `pump.rs`.

use std::sync::Arc;
use std::time::Duration;

use switchboard_protocol::passthrough::{ROUTED_KEYS, duplicate_key};
use switchboard_protocol::{ClientError, ErrorKind};
use tokio::time::Instant;

use crate::attempt::AttemptEnd;
use crate::engine::Engine;
use crate::log::{CLIENT_STR_MAX, RequestRecord, truncated};
use crate::record::Recorder;
use crate::reply::Reply;
use crate::request::IngressRequest;
use crate::snapshot::{Unroutable, order_targets, pick_key};

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
                error: None,
                attempts: Vec::new(),
            },
            self.sink.clone(),
            req.received_at,
            self.in_flight.clone(),
        );
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
}
