//! Token-bucket rate limits per key, announced the way each provider does.
//!
//! A key with `rpm=N` and/or `tpm=N` (optionally `window_ms=W`, default one minute) has a
//! bucket of N requests / N tokens that refills N per window. A request takes one request and
//! its tokens (the body length / 4, the same cheap estimate a router can make without
//! decoding). Every answer for such a key carries the dialect's rate-limit headers: OpenAI
//! Chat and Responses `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` with resets as
//! Go durations (`6m0s`, `1s`, `20ms`: the time until the bucket is full again), Anthropic
//! `anthropic-ratelimit-{requests,tokens,input-tokens}-{limit,remaining,reset}` with resets as
//! RFC 3339 instants; Gemini sends none. A request the bucket cannot cover is answered 429 with
//! the same headers (and Gemini's `RetryInfo`), and takes nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::dialect::Dialect;

/// The limits a key asks for by directive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Limit {
    pub rpm: Option<u64>,
    pub tpm: Option<u64>,
    pub window: Option<Duration>,
}

impl Limit {
    pub fn is_set(&self) -> bool {
        self.rpm.is_some() || self.tpm.is_some()
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    size: f64,
    level: f64,
}

impl Bucket {
    fn full_in(&self, per_ms: f64) -> Duration {
        Duration::from_secs_f64(((self.size - self.level) / per_ms / 1000.0).max(0.0))
    }
}

#[derive(Debug)]
struct Buckets {
    requests: Option<Bucket>,
    tokens: Option<Bucket>,
    at: Instant,
}

/// What a bucket said about one request.
pub(crate) struct Verdict {
    pub admitted: bool,
    pub headers: HeaderMap,
    /// When refused: seconds until the request would fit.
    pub retry_secs: u64,
}

/// Every limited key's buckets.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    keys: Mutex<HashMap<String, Buckets>>,
    refused: AtomicU64,
}

impl Limits {
    /// Requests refused with a 429 so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Takes one request of `tokens` tokens from `key`'s buckets if they cover it.
    pub fn take(&self, key: &str, limit: Limit, tokens: u64, dialect: Dialect) -> Verdict {
        let window = limit
            .window
            .unwrap_or(Duration::from_secs(60))
            .max(Duration::from_millis(1));
        let window_ms = window.as_secs_f64() * 1000.0;
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(PoisonError::into_inner);
        let b = keys.entry(key.to_owned()).or_insert_with(|| Buckets {
            requests: None,
            tokens: None,
            at: now,
        });
        let elapsed_ms = now.duration_since(b.at).as_secs_f64() * 1000.0;
        b.at = now;
        let refill = |slot: &mut Option<Bucket>, size: Option<u64>| {
            *slot = size.map(|size| {
                let size = size as f64;
                let level = slot.map_or(size, |old| {
                    (old.level + size * elapsed_ms / window_ms).min(size)
                });
                Bucket { size, level }
            });
        };
        refill(&mut b.requests, limit.rpm);
        refill(&mut b.tokens, limit.tpm);
        let need_tokens = tokens as f64;
        let short = |slot: &Option<Bucket>, need: f64| {
            slot.map_or(0.0, |b| (need - b.level).max(0.0) / b.size * window_ms)
        };
        let wait_ms = short(&b.requests, 1.0).max(short(&b.tokens, need_tokens));
        let admitted = wait_ms <= 0.0;
        if !admitted {
            self.refused.fetch_add(1, Ordering::Relaxed);
        }
        if admitted {
            if let Some(r) = &mut b.requests {
                r.level -= 1.0;
            }
            if let Some(t) = &mut b.tokens {
                t.level -= need_tokens;
            }
        }
        let mut headers = HeaderMap::new();
        for (bucket, kind) in [(&b.requests, "requests"), (&b.tokens, "tokens")] {
            if let Some(bucket) = bucket {
                announce(&mut headers, dialect, kind, bucket, bucket.size / window_ms);
            }
        }
        Verdict {
            admitted,
            headers,
            retry_secs: (wait_ms / 1000.0).ceil().max(1.0) as u64,
        }
    }
}

fn announce(h: &mut HeaderMap, dialect: Dialect, kind: &str, b: &Bucket, per_ms: f64) {
    let limit = (b.size as u64).to_string();
    let remaining = (b.level.max(0.0).floor() as u64).to_string();
    let full_in = b.full_in(per_ms);
    let mut put = |name: String, value: String| {
        if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            h.insert(n, v);
        }
    };
    match dialect {
        Dialect::OpenAiChat | Dialect::OpenAiResponses => {
            put(format!("x-ratelimit-limit-{kind}"), limit);
            put(format!("x-ratelimit-remaining-{kind}"), remaining);
            put(format!("x-ratelimit-reset-{kind}"), go_duration(full_in));
        }
        Dialect::Anthropic => {
            let reset = rfc3339(SystemTime::now() + full_in);
            let kinds: &[&str] = if kind == "tokens" {
                &["tokens", "input-tokens"]
            } else {
                &["requests"]
            };
            for k in kinds {
                put(format!("anthropic-ratelimit-{k}-limit"), limit.clone());
                put(
                    format!("anthropic-ratelimit-{k}-remaining"),
                    remaining.clone(),
                );
                put(format!("anthropic-ratelimit-{k}-reset"), reset.clone());
            }
        }
        Dialect::Gemini => {}
    }
}

/// A duration the way OpenAI writes it: `6m0s`, `1.5s`, `20ms`.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (m, rest_ms) = (ms / 60_000, ms % 60_000);
    let secs = format!("{}", rest_ms as f64 / 1000.0);
    if m == 0 {
        format!("{secs}s")
    } else {
        format!("{m}m{secs}s")
    }
}

/// An instant as RFC 3339 in UTC, with its fraction of a second (Anthropic writes whole
/// seconds; the fraction keeps sub-second buckets exact).
fn rfc3339(at: SystemTime) -> String {
    let at = time::OffsetDateTime::from(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration(Duration::from_millis(20)), "20ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_millis(61_500)), "1m1.5s");
    }

    #[test]
    fn a_bucket_runs_out_and_announces_itself() {
        let limits = Limits::default();
        let limit = Limit {
            rpm: Some(2),
            tpm: Some(1_000),
            window: Some(Duration::from_secs(3600)),
        };
        let v = limits.take("k", limit, 100, Dialect::OpenAiChat);
        assert!(v.admitted);
        assert_eq!(v.headers["x-ratelimit-limit-requests"], "2");
        assert_eq!(v.headers["x-ratelimit-remaining-requests"], "1");
        assert_eq!(v.headers["x-ratelimit-remaining-tokens"], "900");
        assert_eq!(
            v.headers["x-ratelimit-reset-requests"], "30m0s",
            "one of two an hour"
        );
        let v = limits.take("k", limit, 100, Dialect::Anthropic);
        assert!(v.admitted);
        assert_eq!(v.headers["anthropic-ratelimit-requests-remaining"], "0");
        assert_eq!(
            v.headers["anthropic-ratelimit-input-tokens-remaining"],
            "800"
        );
        assert!(
            time::OffsetDateTime::parse(
                v.headers["anthropic-ratelimit-requests-reset"]
                    .to_str()
                    .unwrap(),
                &time::format_description::well_known::Rfc3339
            )
            .is_ok()
        );
        let v = limits.take("k", limit, 100, Dialect::OpenAiChat);
        assert!(!v.admitted);
        assert_eq!(v.headers["x-ratelimit-remaining-requests"], "0");
        assert_eq!(
            v.headers["x-ratelimit-remaining-tokens"], "800",
            "a refusal takes nothing"
        );
        assert!(v.retry_secs >= 1_799);
        // Another key has its own bucket.
        assert!(limits.take("other", limit, 100, Dialect::Gemini).admitted);
    }
}
