//! The quota each key has left, as its provider announces it in response headers.
//!
//! Every upstream answer (any status, any dialect) is read for rate-limit headers: OpenAI-style
//! `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` (resets as Go durations: `6m0s`,
//! `1s`, `20ms`), Anthropic's `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
//! {limit,remaining,reset}` (resets as RFC 3339 instants) and its unified 5-hour / 7-day
//! windows (`anthropic-ratelimit-unified-{5h,7d}-{status,utilization,reset}`). What they say is
//! kept per key × upstream model (providers limit per model; a provider whose limits are per
//! key sends the same numbers for every model).
//!
//! Providers describe token buckets: `remaining` now, `limit` when full, `reset` when full
//! again. Between answers the bucket is assumed to refill linearly towards `limit` by `reset`
//! (without a `limit`, nothing comes back before `reset`). A key is *short* for a request when
//! a window cannot cover it: one request (plus the key's requests already in flight, which the
//! provider may not have counted yet) or its estimated input tokens (the body length / 4: a
//! cheap estimate that never decodes the body) for each of them. [`crate::snapshot::pick_key`]
//! skips short keys while another key can serve, and reports when the first of them will have
//! room again, so the request waits for it (within the route's wait) instead of provoking a
//! 429. After `reset` a window of known size is full again, less what was sent since the last
//! answer (for one more refill period; then, and for a window of unknown size, it says nothing
//! until the next answer).
//!
//! Cheap on the hot path: a few header lookups per answer (no allocation when none is
//! present), and one short lock per pick only once some provider has sent limits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use http::HeaderMap;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::classify::parse_reset;

/// The estimated input tokens [`crate::snapshot::pick_key`] checks keys' quota against, or
/// `None` when the settings turn the quota ranking off or the body is an upload (a form's
/// bytes are audio or images, not tokens). The body length / 4: a cheap upper-ish estimate
/// that never decodes the body.
pub(crate) fn need(settings: &crate::model::Settings, req: &crate::IngressRequest) -> Option<u64> {
    (settings.quota_aware && req.content_type.is_none())
        .then(|| u64::try_from(req.body.len() / 4).unwrap_or(u64::MAX))
}

/// What a window counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QuotaKind {
    Requests,
    Tokens,
    InputTokens,
    OutputTokens,
    /// Anthropic's unified 5-hour window (subscription keys).
    FiveHour,
    /// Anthropic's unified 7-day window.
    SevenDay,
}

const KINDS: [QuotaKind; 6] = [
    QuotaKind::Requests,
    QuotaKind::Tokens,
    QuotaKind::InputTokens,
    QuotaKind::OutputTokens,
    QuotaKind::FiveHour,
    QuotaKind::SevenDay,
];

impl QuotaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaKind::Requests => "requests",
            QuotaKind::Tokens => "tokens",
            QuotaKind::InputTokens => "input_tokens",
            QuotaKind::OutputTokens => "output_tokens",
            QuotaKind::FiveHour => "five_hour",
            QuotaKind::SevenDay => "seven_day",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One announced window: `remaining` of `limit` at `seen_ms`, full again at `reset_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    limit: Option<u64>,
    remaining: u64,
    seen_ms: i64,
    reset_ms: i64,
}

impl Window {
    /// What is left at `now` (`None`: the window has reset and says nothing any more).
    fn left(&self, now: i64) -> Option<u64> {
        if now >= self.reset_ms {
            return None;
        }
        Some(match self.limit {
            Some(limit) if limit > self.remaining && self.reset_ms > self.seen_ms => {
                let span = i128::from(self.reset_ms - self.seen_ms);
                let gone = i128::from(now.saturating_sub(self.seen_ms).max(0));
                let back = i128::from(limit - self.remaining) * gone / span;
                self.remaining
                    .saturating_add(u64::try_from(back).unwrap_or(u64::MAX))
                    .min(limit)
            }
            _ => self.remaining,
        })
    }

    /// When `need` fits (`None`: it fits now). `one` is what a single request needs: a request
    /// larger than the whole window is tried once the window is full.
    fn ready_at(&self, need: u64, one: u64, now: i64) -> Option<i64> {
        let Some(left) = self.left(now) else {
            return self.past_reset(need, one, now);
        };
        if left >= need {
            return None;
        }
        Some(match self.limit {
            Some(limit)
                if limit > self.remaining && need <= limit && self.reset_ms > self.seen_ms =>
            {
                self.seen_ms
                    .saturating_add(self.refill_ms(limit, need - self.remaining))
                    .min(self.reset_ms)
            }
            _ => self.reset_ms,
        })
    }

    /// Past the reset a window of known size is full again, and what was sent since the last
    /// answer (in `need`) still counts against it: beyond its size, more comes back at the
    /// announced rate from the reset on (`need` fits once enough has). Otherwise (a window of
    /// unknown size, or one refill period after the reset, when requests counted as sent may
    /// never have reached the provider) it says nothing until the next answer. Without this,
    /// every request held for a small bucket would be sent the moment it resets, and all but
    /// the first few refused.
    fn past_reset(&self, need: u64, one: u64, now: i64) -> Option<i64> {
        let limit = self.limit?;
        let span = self.reset_ms - self.seen_ms;
        if need <= limit || one > limit || span <= 0 || now >= self.reset_ms + span {
            return None;
        }
        let at = self.reset_ms + self.refill_ms(limit, need - limit).min(span);
        (at > now).then_some(at)
    }

    /// How long `units` take to come back at the announced rate (`limit - remaining` of them
    /// between the answer and the reset), rounded up.
    fn refill_ms(&self, limit: u64, units: u64) -> i64 {
        let span = i128::from(self.reset_ms - self.seen_ms);
        let refill = i128::from(limit.saturating_sub(self.remaining).max(1));
        i64::try_from((i128::from(units) * span + refill - 1) / refill).unwrap_or(i64::MAX)
    }
}

/// The windows announced for one key × model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Quota {
    windows: [Option<Window>; 6],
    /// Requests sent with this key × model since its last answer: they may have reached the
    /// provider after that answer was written. Counted under the lock that checks them, so
    /// two picks at once cannot both take the last request.
    picked: u32,
}

/// One key's quota by upstream model (a handful: a linear search, no allocation to look up).
type PerModel = Vec<(Box<str>, Quota)>;

/// One window as the admin API, the dashboard and `/metrics` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QuotaWindow {
    /// The upstream model the provider announced it for.
    pub model: String,
    pub kind: QuotaKind,
    /// The window's size when full, if announced.
    pub limit: Option<u64>,
    /// Left now (refilled since the last answer as the provider's reset implies).
    pub remaining: u64,
    /// Unix ms when the window is full again.
    pub reset_ms: i64,
}

/// The announced quota of every key × model, read from every upstream answer.
#[derive(Debug, Default)]
pub struct QuotaBoard {
    /// Some provider has announced limits: until then a pick does not even lock.
    any: AtomicBool,
    keys: Mutex<HashMap<i64, PerModel>>,
}

impl QuotaBoard {
    /// Reads the rate-limit headers of an upstream answer for `key_id` serving `model`.
    pub fn observe(&self, key_id: i64, model: &str, headers: &HeaderMap, now: i64) {
        let Some(quota) = read(headers, now) else {
            return;
        };
        self.any.store(true, Ordering::Relaxed);
        let mut keys = self.keys.lock();
        let models = keys.entry(key_id).or_default();
        match models.iter_mut().find(|(m, _)| &**m == model) {
            Some((_, q)) => {
                q.picked = 0;
                for (old, new) in q.windows.iter_mut().zip(quota.windows) {
                    // A window the answer does not mention keeps what was known of it. Answers
                    // to concurrent requests arrive out of order: one written earlier must not
                    // give back what a later one already took (where the refill is known, so
                    // the window's projection can stand in for the truth).
                    if let Some(mut new) = new {
                        if let Some(left) = old
                            .as_ref()
                            .filter(|o| o.limit.is_some())
                            .and_then(|o| o.left(now))
                        {
                            new.remaining = new.remaining.min(left);
                        }
                        *old = Some(new);
                    }
                }
            }
            None => models.push((model.into(), quota)),
        }
    }

    /// `None` when `key_id` can take a request of about `tokens` input tokens for `model` now,
    /// with `in_flight` of its requests still unanswered (with `claim`, the request is then
    /// counted as sent); else when it will have room.
    pub fn short_until(
        &self,
        key_id: i64,
        model: &str,
        tokens: u64,
        in_flight: u32,
        claim: bool,
        now: impl FnOnce() -> i64,
    ) -> Option<i64> {
        if !self.any.load(Ordering::Relaxed) {
            return None;
        }
        let now = now();
        let mut keys = self.keys.lock();
        let (_, quota) = keys
            .get_mut(&key_id)?
            .iter_mut()
            .find(|(m, _)| &**m == model)?;
        let pending = u64::from(in_flight.max(quota.picked));
        let short = KINDS
            .iter()
            .filter_map(|kind| {
                let w = quota.windows[kind.index()].as_ref()?;
                // What one request needs, and this one with those already sent.
                let (one, need) = match kind {
                    QuotaKind::Requests => (1, pending + 1),
                    QuotaKind::Tokens | QuotaKind::InputTokens => {
                        let one = tokens.max(1);
                        (one, one.saturating_mul(pending + 1))
                    }
                    QuotaKind::OutputTokens | QuotaKind::FiveHour | QuotaKind::SevenDay => (1, 1),
                };
                w.ready_at(need, one, now)
            })
            .max();
        if short.is_none() && claim {
            quota.picked = quota.picked.saturating_add(1);
        }
        short
    }

    /// Every window still in force for `key_id`, by model then kind.
    pub fn windows(&self, key_id: i64, now: i64) -> Vec<QuotaWindow> {
        let keys = self.keys.lock();
        let Some(models) = keys.get(&key_id) else {
            return Vec::new();
        };
        let mut out: Vec<QuotaWindow> = models
            .iter()
            .flat_map(|(model, q)| {
                KINDS.iter().filter_map(move |kind| {
                    let w = q.windows[kind.index()]?;
                    Some(QuotaWindow {
                        model: model.to_string(),
                        kind: *kind,
                        limit: w.limit,
                        remaining: w.left(now)?,
                        reset_ms: w.reset_ms,
                    })
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.model, a.kind as u8).cmp(&(&b.model, b.kind as u8)));
        out
    }

    /// Forgets keys that no longer exist.
    pub fn retain_keys(&self, exists: impl Fn(i64) -> bool) {
        self.keys.lock().retain(|id, _| exists(*id));
    }
}

/// The windows an answer announces (`None`: it announces none).
fn read(headers: &HeaderMap, now: i64) -> Option<Quota> {
    // Every name read below has this in it: one pass over the answer's few header names
    // spares the twenty-odd lookups (each parses and hashes its name) of an answer that
    // announces nothing.
    if !headers.keys().any(|k| k.as_str().contains("ratelimit-")) {
        return None;
    }
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let num = |name: &str| get(name).and_then(|v| v.trim().parse::<f64>().ok());
    let count = |name: &str| {
        num(name)
            .filter(|n| n.is_finite() && *n >= 0.0)
            .map(|n| n as u64)
    };
    let reset_at = |name: &str| {
        get(name)
            .and_then(|v| parse_reset(v, now))
            .map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
    };
    let mut quota = Quota::default();
    let mut window = |kind: QuotaKind, limit: &str, remaining: &str, reset: &str| {
        if let (Some(remaining), Some(reset_ms)) = (count(remaining), reset_at(reset)) {
            quota.windows[kind.index()] = Some(Window {
                limit: count(limit),
                remaining,
                seen_ms: now,
                reset_ms,
            });
        }
    };
    window(
        QuotaKind::Requests,
        "x-ratelimit-limit-requests",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-reset-requests",
    );
    window(
        QuotaKind::Tokens,
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    );
    window(
        QuotaKind::Requests,
        "anthropic-ratelimit-requests-limit",
        "anthropic-ratelimit-requests-remaining",
        "anthropic-ratelimit-requests-reset",
    );
    window(
        QuotaKind::Tokens,
        "anthropic-ratelimit-tokens-limit",
        "anthropic-ratelimit-tokens-remaining",
        "anthropic-ratelimit-tokens-reset",
    );
    window(
        QuotaKind::InputTokens,
        "anthropic-ratelimit-input-tokens-limit",
        "anthropic-ratelimit-input-tokens-remaining",
        "anthropic-ratelimit-input-tokens-reset",
    );
    window(
        QuotaKind::OutputTokens,
        "anthropic-ratelimit-output-tokens-limit",
        "anthropic-ratelimit-output-tokens-remaining",
        "anthropic-ratelimit-output-tokens-reset",
    );
    // Unified windows announce a share used, not counts: shown as percent left; a rejected
    // or used-up window leaves nothing until its reset (epoch seconds).
    for (kind, status, utilization, reset) in [
        (
            QuotaKind::FiveHour,
            "anthropic-ratelimit-unified-5h-status",
            "anthropic-ratelimit-unified-5h-utilization",
            "anthropic-ratelimit-unified-5h-reset",
        ),
        (
            QuotaKind::SevenDay,
            "anthropic-ratelimit-unified-7d-status",
            "anthropic-ratelimit-unified-7d-utilization",
            "anthropic-ratelimit-unified-7d-reset",
        ),
    ] {
        let Some(reset_ms) = reset_at(reset) else {
            continue;
        };
        let used = num(utilization).filter(|u| u.is_finite()).unwrap_or(0.0);
        let rejected = get(status).is_some_and(|s| s.trim() == "rejected");
        let left = if rejected {
            0
        } else {
            (100.0 - used * 100.0).clamp(0.0, 100.0) as u64
        };
        quota.windows[kind.index()] = Some(Window {
            limit: None,
            remaining: left,
            seen_ms: now,
            reset_ms,
        });
    }
    quota.windows.iter().any(Option::is_some).then_some(quota)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    const NOW: i64 = 1_800_000_000_000;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn rfc3339(ms: i64) -> String {
        time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
            .unwrap()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    }

    #[test]
    fn nothing_announced_costs_nothing() {
        let b = QuotaBoard::default();
        b.observe(
            1,
            "m",
            &headers(&[("content-type", "application/json")]),
            NOW,
        );
        assert!(!b.any.load(Ordering::Relaxed));
        assert_eq!(b.short_until(1, "m", 10_000, 0, false, || NOW), None);
        assert!(b.windows(1, NOW).is_empty());
    }

    #[test]
    fn openai_headers_refill_towards_the_limit() {
        let b = QuotaBoard::default();
        let h = headers(&[
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1m0s"),
            ("x-ratelimit-limit-tokens", "1000"),
            ("x-ratelimit-remaining-tokens", "900"),
            ("x-ratelimit-reset-tokens", "6s"),
        ]);
        b.observe(7, "gpt", &h, NOW);
        // No request left: one comes back after 1/60 of the minute.
        assert_eq!(
            b.short_until(7, "gpt", 10, 0, false, || NOW),
            Some(NOW + 1_000)
        );
        assert_eq!(b.short_until(7, "gpt", 10, 0, false, || NOW + 1_000), None);
        // Two in flight: three requests are needed.
        assert_eq!(
            b.short_until(7, "gpt", 10, 2, false, || NOW + 1_000),
            Some(NOW + 3_000)
        );
        // Another model of the same key is not limited by this one.
        assert_eq!(b.short_until(7, "other", 10, 0, false, || NOW), None);
        // Tokens: 900 left, 100 more by the 6 s reset.
        assert_eq!(
            b.short_until(7, "gpt", 950, 0, false, || NOW + 60_000),
            None
        );
        let w = b.windows(7, NOW + 3_000);
        assert_eq!(w[0].kind, QuotaKind::Requests);
        assert_eq!((w[0].remaining, w[0].limit), (3, Some(60)));
        assert_eq!((w[1].remaining, w[1].reset_ms), (950, NOW + 6_000));
        // A request larger than the whole bucket waits for the reset, then is tried.
        b.observe(7, "gpt", &h, NOW);
        assert_eq!(
            b.short_until(7, "gpt", 5_000, 0, false, || NOW + 1_000),
            Some(NOW + 6_000)
        );
    }

    #[test]
    fn an_answer_arriving_late_does_not_give_back_quota() {
        let b = QuotaBoard::default();
        let answer = |remaining: &str| {
            headers(&[
                ("x-ratelimit-limit-requests", "10"),
                ("x-ratelimit-remaining-requests", remaining),
                ("x-ratelimit-reset-requests", "10s"),
            ])
        };
        b.observe(1, "m", &answer("1"), NOW);
        b.observe(1, "m", &answer("6"), NOW);
        assert_eq!(b.windows(1, NOW)[0].remaining, 1);
        assert_eq!(
            b.short_until(1, "m", 1, 1, false, || NOW),
            Some(NOW + 1_112)
        );
    }

    #[test]
    fn past_the_reset_requests_sent_since_the_last_answer_still_count() {
        let b = QuotaBoard::default();
        // One request a second, none left: full again in 1 s.
        let h = headers(&[
            ("x-ratelimit-limit-requests", "1"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
        ]);
        b.observe(1, "m", &h, NOW);
        let at = NOW + 1_000;
        assert_eq!(b.short_until(1, "m", 1, 0, false, || NOW), Some(at));
        // At the reset one goes (and is counted as sent); the next waits a refill for it.
        assert_eq!(b.short_until(1, "m", 1, 0, true, || at), None);
        assert_eq!(b.short_until(1, "m", 1, 0, true, || at), Some(at + 1_000));
        assert_eq!(
            b.short_until(1, "m", 1, 0, false, || at + 500),
            Some(at + 1_000)
        );
        // Its answer brings the provider's own count.
        b.observe(1, "m", &h, at + 20);
        assert_eq!(
            b.short_until(1, "m", 1, 0, false, || at + 20),
            Some(at + 1_020)
        );
        // A request sent that never reached the provider stops counting a refill period
        // after the reset.
        b.short_until(1, "m", 1, 0, true, || at + 1_020);
        assert!(b.short_until(1, "m", 1, 0, false, || at + 1_020).is_some());
        assert_eq!(b.short_until(1, "m", 1, 0, false, || at + 2_020), None);
        // Two a second: past the reset, a third sent since the last answer fits half a second
        // later (the window refills at the announced rate).
        let h2 = headers(&[
            ("x-ratelimit-limit-requests", "2"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
        ]);
        b.observe(3, "m", &h2, NOW);
        assert_eq!(b.short_until(3, "m", 1, 0, true, || at), None);
        assert_eq!(b.short_until(3, "m", 1, 0, true, || at), None);
        assert_eq!(b.short_until(3, "m", 1, 0, true, || at), Some(at + 500));
        assert_eq!(b.short_until(3, "m", 1, 0, true, || at + 500), None);
        // A window of unknown size says nothing past its reset.
        let h = headers(&[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
        ]);
        b.observe(2, "m", &h, NOW);
        assert_eq!(b.short_until(2, "m", 1, 0, true, || at), None);
        assert_eq!(b.short_until(2, "m", 1, 0, true, || at), None);
    }

    #[test]
    fn anthropic_headers_with_rfc3339_resets() {
        let b = QuotaBoard::default();
        let at = rfc3339(NOW + 30_000);
        let h = headers(&[
            ("anthropic-ratelimit-requests-remaining", "5"),
            ("anthropic-ratelimit-requests-reset", &at),
            ("anthropic-ratelimit-input-tokens-limit", "1000"),
            ("anthropic-ratelimit-input-tokens-remaining", "100"),
            ("anthropic-ratelimit-input-tokens-reset", &at),
            ("anthropic-ratelimit-output-tokens-remaining", "0"),
            ("anthropic-ratelimit-output-tokens-reset", &at),
        ]);
        b.observe(3, "claude", &h, NOW);
        // Output tokens used up, no limit given: nothing before the reset.
        assert_eq!(
            b.short_until(3, "claude", 50, 0, false, || NOW),
            Some(NOW + 30_000)
        );
        let h = headers(&[
            ("anthropic-ratelimit-output-tokens-remaining", "8000"),
            ("anthropic-ratelimit-output-tokens-reset", &at),
        ]);
        b.observe(3, "claude", &h, NOW);
        // The input-token window (kept from the earlier answer) covers 50 but not 400.
        assert_eq!(b.short_until(3, "claude", 50, 0, false, || NOW), None);
        // 400 needs 300 of the 900 that refill over 30 s: 10 s.
        assert_eq!(
            b.short_until(3, "claude", 400, 0, false, || NOW),
            Some(NOW + 10_000)
        );
        // After the reset the windows are full again (and the views show none).
        assert_eq!(
            b.short_until(3, "claude", 400, 0, false, || NOW + 30_000),
            None
        );
        assert!(b.windows(3, NOW + 30_000).is_empty());
    }

    #[test]
    fn unified_windows() {
        let b = QuotaBoard::default();
        let reset_s = (NOW / 1000 + 3_600).to_string();
        b.observe(
            4,
            "claude",
            &headers(&[
                ("anthropic-ratelimit-unified-5h-status", "allowed"),
                ("anthropic-ratelimit-unified-5h-utilization", "0.25"),
                ("anthropic-ratelimit-unified-5h-reset", &reset_s),
            ]),
            NOW,
        );
        assert_eq!(b.short_until(4, "claude", 1, 0, false, || NOW), None);
        assert_eq!(b.windows(4, NOW)[0].remaining, 75);
        b.observe(
            4,
            "claude",
            &headers(&[
                ("anthropic-ratelimit-unified-7d-status", "rejected"),
                ("anthropic-ratelimit-unified-7d-reset", &reset_s),
            ]),
            NOW,
        );
        assert_eq!(
            b.short_until(4, "claude", 1, 0, false, || NOW),
            Some(NOW + 3_600_000)
        );
    }
}
