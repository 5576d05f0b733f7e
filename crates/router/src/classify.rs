//! Turns an upstream's answer into a typed [`Outcome`] — once, here, not by string matching
//! in handlers — and reads the provider's reset hint in whatever format it uses.

use std::time::Duration;

use http::HeaderMap;

use crate::health::Outcome;

/// Classifies a non-success HTTP status with its headers and (capped) body. Reset hints are
/// clamped to `max_hint` (the cooldown policy's maximum) here, before anything stores or
/// relays them.
pub fn classify_status(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now_ms: i64,
    max_hint: Duration,
) -> Outcome {
    let hint = || reset_hint(headers, body, now_ms).map(|d| d.min(max_hint));
    match status {
        200..=299 => Outcome::Success,
        402 => Outcome::InsufficientBalance {
            retry_after: hint(),
        },
        400 | 403 | 429 if is_balance_error(body) => {
            Outcome::InsufficientBalance { retry_after: None }
        }
        429 => Outcome::RateLimited {
            retry_after: hint(),
        },
        401 | 403 => Outcome::AuthError,
        // 408 and 409 are the upstream's transient conditions, not the client's mistake.
        408 | 409 => Outcome::TemporaryError {
            retry_after: hint(),
        },
        400..=499 => Outcome::ClientError,
        _ => Outcome::TemporaryError {
            retry_after: hint(),
        },
    }
}

/// The most bytes of a provider's error message a record or a key view keeps.
pub const PROVIDER_MESSAGE_MAX: usize = 300;

/// The provider's own error message in an error answer (`error.message`, `error` as a
/// string, `message`, `detail`, Gemini's one-element array), or the answer's text when it is
/// not JSON; whitespace folded, capped at [`PROVIDER_MESSAGE_MAX`]. The body must already be
/// scrubbed of the key.
pub fn provider_message(body: &[u8]) -> Option<String> {
    fn pick(v: &serde_json::Value, depth: u8) -> Option<&str> {
        if depth > 3 {
            return None;
        }
        match v {
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Array(a) => a.first().and_then(|x| pick(x, depth + 1)),
            serde_json::Value::Object(o) => ["error", "message", "detail", "error_description"]
                .iter()
                .find_map(|k| o.get(*k).and_then(|x| pick(x, depth + 1))),
            _ => None,
        }
    }
    let text = match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => pick(&v, 0)?.to_owned(),
        Err(_) => {
            let t = String::from_utf8_lossy(body);
            // An HTML error page says nothing a user can act on.
            if t.trim_start().starts_with('<') {
                return None;
            }
            t.into_owned()
        }
    };
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        return None;
    }
    Some(crate::log::truncated(&folded, PROVIDER_MESSAGE_MAX).into_owned())
}

/// A 4xx that refuses the request on this target only: another target may serve it, and the
/// key is not to blame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The upstream does not know the model (404, `model_not_found`, "does not exist").
    ModelNotFound,
    /// The request is longer than the model's context window.
    ContextLength,
}

/// Whether a client-error answer is one another target could serve, from its status and
/// the codes and phrases each dialect uses.
pub fn refusal(status: u16, body: &[u8]) -> Option<Refusal> {
    if !(400..=499).contains(&status) {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let has = |m: &[u8]| memchr::memmem::find(&lower, m).is_some();
    const CONTEXT: [&[u8]; 9] = [
        // OpenAI, DeepSeek, Mistral and most OpenAI-compatible servers.
        b"context_length_exceeded",
        b"maximum context length",
        b"context length",
        b"context window",
        // Anthropic: "prompt is too long: 208310 tokens > 200000 maximum".
        b"prompt is too long",
        // Gemini: "The input token count (1200000) exceeds the maximum number of tokens
        // allowed (1048576)."
        b"exceeds the maximum number of tokens",
        b"input token count",
        b"too many tokens",
        b"reduce the length of the messages",
    ];
    if matches!(status, 400 | 413 | 422) && CONTEXT.iter().any(|m| has(m)) {
        return Some(Refusal::ContextLength);
    }
    const MODEL: [&[u8]; 5] = [
        b"model_not_found",
        // DeepSeek: 400 "Model Not Exist".
        b"model not exist",
        b"model does not exist",
        b"unknown model",
        b"invalid model",
    ];
    let named_model = has(b"model") && (has(b"does not exist") || has(b"not found"));
    if status == 404 || MODEL.iter().any(|m| has(m)) || (status == 400 && named_model) {
        return Some(Refusal::ModelNotFound);
    }
    None
}

/// Classifies an error the provider reported inside a 2xx answer (a stream's error event, an
/// error object in a 200 body): it may still be a rate limit or a quota error.
pub fn classify_in_band(message: &str, now_ms: i64, max_hint: Duration) -> Outcome {
    let lower = message.to_ascii_lowercase();
    let status = if lower.contains("rate limit")
        || lower.contains("rate_limit")
        || lower.contains("overloaded")
    {
        429
    } else {
        500
    };
    classify_status(
        status,
        &HeaderMap::new(),
        message.as_bytes(),
        now_ms,
        max_hint,
    )
}

/// Whether a 400/403/429 body says the account is out of credit (the key's balance, not its
/// rate): OpenAI `insufficient_quota`, Anthropic "credit balance is too low", DeepSeek
/// "Insufficient Balance", OpenRouter "insufficient credits", Moonshot
/// `exceeded_current_quota_error`, Gemini billing disabled or prepaid credits depleted. A bare
/// mention of billing is not enough: Gemini's per-minute quota 429 says "check your plan and
/// billing details" and is a rate limit.
fn is_balance_error(body: &[u8]) -> bool {
    const MARKERS: [&[u8]; 11] = [
        b"insufficient_quota",
        b"insufficient balance",
        b"insufficient_balance",
        b"insufficient credits",
        b"insufficient_credits",
        b"credit balance is too low",
        b"exceeded_current_quota",
        b"billing_disabled",
        b"requires billing to be enabled",
        b"credits are depleted",
        b"out of credits",
    ];
    let lower = body.to_ascii_lowercase();
    MARKERS
        .iter()
        .any(|m| memchr::memmem::find(&lower, m).is_some())
}

/// The provider's "try again after" hint, from any of the formats seen in the wild, or `None`.
/// Headers are preferred over bodies; of several headers the longest wait wins (waiting too
/// little costs another 429, waiting too long only a little capacity).
pub fn reset_hint(headers: &HeaderMap, body: &[u8], now_ms: i64) -> Option<Duration> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let mut from_headers: Vec<Duration> = Vec::new();
    if let Some(v) = header("retry-after-ms") {
        from_headers.extend(
            v.trim()
                .parse::<f64>()
                .ok()
                .and_then(|ms| secs_f64(ms / 1000.0)),
        );
    } else if let Some(v) = header("retry-after") {
        from_headers.extend(parse_retry_after(v, now_ms));
    }
    for name in [
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
        "x-ratelimit-reset",
    ] {
        from_headers.extend(header(name).and_then(|v| parse_reset(v, now_ms)));
    }
    for (name, value) in headers {
        let name = name.as_str();
        if name.starts_with("anthropic-ratelimit-") && name.ends_with("-reset") {
            from_headers.extend(value.to_str().ok().and_then(|v| until_rfc3339(v, now_ms)));
        }
    }
    if let Some(max) = from_headers.into_iter().max() {
        return Some(max);
    }
    body_hint(body, now_ms)
}

/// `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(v: &str, now_ms: i64) -> Option<Duration> {
    let v = v.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return secs_f64(secs);
    }
    let at = httpdate::parse_http_date(v).ok()?;
    let at_ms = at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
    until_ms(i64::try_from(at_ms).ok()?, now_ms)
}

/// Go-style durations as OpenAI sends them: `6m0s`, `1.5s`, `20ms`, `1h2m3.5s`.
pub fn parse_go_duration(v: &str) -> Option<Duration> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(secs) = v.parse::<f64>() {
        return secs_f64(secs);
    }
    let mut total = 0f64;
    let mut rest = v;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000_001,
            "ns" => 0.000_000_001,
            _ => return None,
        };
        total += n * factor;
        rest = &rest[unit_end..];
    }
    secs_f64(total)
}

/// An `x-ratelimit-reset` value: a Go-style or plain-seconds delay, or an instant. A number
/// too large to be a plausible delay is a Unix timestamp: from 10⁹ (2001 as seconds, 31
/// years as a delay) it is epoch seconds, from 10¹² epoch milliseconds (OpenRouter).
pub fn parse_reset(v: &str, now_ms: i64) -> Option<Duration> {
    let v = v.trim();
    if let Ok(n) = v.parse::<f64>() {
        if !n.is_finite() || n < 0.0 {
            return None;
        }
        return if n >= 1e12 {
            until_ms(n as i64, now_ms)
        } else if n >= 1e9 {
            until_ms((n * 1000.0) as i64, now_ms)
        } else {
            secs_f64(n)
        };
    }
    parse_go_duration(v).or_else(|| until_rfc3339(v, now_ms))
}

fn until_rfc3339(v: &str, now_ms: i64) -> Option<Duration> {
    let at = time::OffsetDateTime::parse(v.trim(), &time::format_description::well_known::Rfc3339)
        .ok()?;
    let at_ms = i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()?;
    until_ms(at_ms, now_ms)
}

fn until_ms(at_ms: i64, now_ms: i64) -> Option<Duration> {
    Some(Duration::from_millis(
        u64::try_from(at_ms.saturating_sub(now_ms)).unwrap_or(0),
    ))
}

fn secs_f64(secs: f64) -> Option<Duration> {
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e9)))
}

/// Hints inside error bodies: Google `RetryInfo.retryDelay` ("7s"), `resets_at` (unix
/// seconds or RFC 3339), `resets_in_seconds`, and "try again in 20s" style messages.
fn body_hint(body: &[u8], now_ms: i64) -> Option<Duration> {
    if body.is_empty() {
        return None;
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(d) = json_hint(&json, now_ms, 0)
    {
        return Some(d);
    }
    message_hint_at(&String::from_utf8_lossy(body), now_ms)
}

fn json_hint(v: &serde_json::Value, now_ms: i64, depth: u8) -> Option<Duration> {
    use serde_json::Value;
    if depth > 8 {
        return None;
    }
    match v {
        Value::Object(map) => {
            if let Some(d) = map
                .get("retryDelay")
                .and_then(Value::as_str)
                .and_then(parse_go_duration)
            {
                return Some(d);
            }
            if let Some(s) = map.get("resets_in_seconds").and_then(Value::as_f64) {
                return secs_f64(s);
            }
            if let Some(at) = map.get("resets_at") {
                let parsed = match at {
                    Value::Number(n) => n.as_f64().and_then(|s| {
                        // Unix seconds; values this large are already milliseconds.
                        let ms = if s > 1e11 { s } else { s * 1000.0 };
                        until_ms(ms as i64, now_ms)
                    }),
                    Value::String(s) => until_rfc3339(s, now_ms),
                    _ => None,
                };
                if parsed.is_some() {
                    return parsed;
                }
            }
            // OpenRouter relays the upstream's headers in `error.metadata.headers`, the reset
            // as epoch milliseconds.
            if let Some(d) = map
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("x-ratelimit-reset"))
                .find_map(|(_, v)| match v {
                    Value::String(s) => parse_reset(s, now_ms),
                    Value::Number(n) => parse_reset(&n.to_string(), now_ms),
                    _ => None,
                })
            {
                return Some(d);
            }
            map.values().find_map(|v| json_hint(v, now_ms, depth + 1))
        }
        Value::Array(items) => items.iter().find_map(|v| json_hint(v, now_ms, depth + 1)),
        Value::String(s) => message_hint_at(s, now_ms),
        _ => None,
    }
}

/// A delay ("try again in 20s") or an instant ("will reset at 2025-09-01 10:05:18") in a
/// message.
fn message_hint_at(text: &str, now_ms: i64) -> Option<Duration> {
    message_hint(text).or_else(|| reset_at_hint(text, now_ms))
}

/// "Your limit will reset at 2025-09-01 10:05:18", "resets at 2026-01-01T00:00:00Z", "try
/// again at 15:30 UTC", "resets at 3:45 pm". Times without a zone are read as UTC; a time of
/// day is its next occurrence. A named zone other than UTC/GMT is not guessed at.
fn reset_at_hint(text: &str, now_ms: i64) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    let pos = [
        "reset at ",
        "resets at ",
        "try again at ",
        "available again at ",
    ]
    .iter()
    .find_map(|m| lower.find(m).map(|p| p + m.len()))?;
    let words: Vec<&str> = lower[pos..]
        .split_whitespace()
        .take(3)
        .map(|w| w.trim_end_matches(['.', ',', ';', ')', '!']))
        .collect();
    let first = *words.first()?;
    if let Some(d) = until_rfc3339(&first.to_ascii_uppercase(), now_ms) {
        return Some(d);
    }
    let t_split: [&str; 1];
    let (date, time_words): (Option<time::Date>, &[&str]) = if let Some(date) = parse_date(first) {
        (Some(date), &words[1..])
    } else if let Some((d, t)) = first.split_once('t')
        && let Some(date) = parse_date(d)
    {
        t_split = [t];
        (Some(date), &t_split[..])
    } else {
        (None, &words[..])
    };
    let (clock, rest) = parse_clock(time_words)?;
    if rest.first().is_some_and(|z| {
        !matches!(*z, "utc" | "gmt" | "z") && (z.contains('/') || z.starts_with('('))
    }) {
        return None;
    }
    let at = match date {
        Some(d) => time::PrimitiveDateTime::new(d, clock).assume_utc(),
        None => {
            let now = time::OffsetDateTime::from_unix_timestamp(now_ms.div_euclid(1000)).ok()?;
            let today = now.date().with_time(clock).assume_utc();
            if today.unix_timestamp() * 1000 < now_ms {
                today + time::Duration::days(1)
            } else {
                today
            }
        }
    };
    until_ms(at.unix_timestamp().saturating_mul(1000), now_ms)
}

fn parse_date(s: &str) -> Option<time::Date> {
    let mut parts = s.split('-');
    let y: i32 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.parse().ok()?;
    let d: u8 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()
}

/// `15:30`, `15:30:05`, `3pm`, `3:45 pm`; returns the time and the words after it.
fn parse_clock<'a, 'b>(words: &'b [&'a str]) -> Option<(time::Time, &'b [&'a str])> {
    let first = *words.first()?;
    let (digits, mut meridiem) = match first
        .strip_suffix("am")
        .or_else(|| first.strip_suffix("pm"))
    {
        Some(d) => (d, Some(first.ends_with("pm"))),
        None => (first, None),
    };
    let mut rest = &words[1..];
    if meridiem.is_none()
        && let Some(m) = rest.first().filter(|w| matches!(**w, "am" | "pm"))
    {
        meridiem = Some(*m == "pm");
        rest = &rest[1..];
    }
    let mut nums = digits.split(':');
    let mut h: u8 = nums.next()?.parse().ok()?;
    let m: u8 = nums.next().map_or(Some(0), |v| v.parse().ok())?;
    let sec: u8 = nums
        .next()
        .map_or(Some(0), |v| v.split('.').next()?.parse().ok())?;
    if digits.find(':').is_none() && meridiem.is_none() {
        return None;
    }
    if let Some(pm) = meridiem {
        if !(1..=12).contains(&h) {
            return None;
        }
        h = (h % 12) + if pm { 12 } else { 0 };
    }
    Some((time::Time::from_hms(h, m, sec).ok()?, rest))
}

/// "Please try again in 20s", "try again in 1m30s", "retry after 3.5 seconds".
fn message_hint(text: &str) -> Option<Duration> {
    let lower = text.to_ascii_lowercase();
    for marker in ["try again in ", "retry after ", "retry in "] {
        let Some(pos) = lower.find(marker) else {
            continue;
        };
        let rest = &lower[pos + marker.len()..];
        let token: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == ' ')
            .collect();
        let token = token.trim();
        let mut words = token.split_whitespace();
        let first = words.next()?;
        if let Some(d) = parse_go_duration(first.trim_end_matches('.')) {
            // "20 seconds" / "2 minutes": a bare number followed by a unit word.
            if first.parse::<f64>().is_ok() {
                let factor = match words.next().unwrap_or("s") {
                    w if w.starts_with("ms") || w.starts_with("milli") => 0.001,
                    w if w.starts_with('m') => 60.0,
                    w if w.starts_with('h') => 3600.0,
                    _ => 1.0,
                };
                return secs_f64(d.as_secs_f64() * factor);
            }
            return Some(d);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    const NOW: i64 = 1_700_000_000_000;
    const MAX: Duration = Duration::from_secs(6 * 3600);

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn hint(pairs: &[(&'static str, &str)], body: &str) -> Option<Duration> {
        reset_hint(&headers(pairs), body.as_bytes(), NOW)
    }

    #[test]
    fn retry_after_seconds_and_http_date() {
        assert_eq!(
            hint(&[("retry-after", "7")], ""),
            Some(Duration::from_secs(7))
        );
        let date = httpdate::fmt_http_date(
            std::time::UNIX_EPOCH + Duration::from_millis(u64::try_from(NOW).unwrap() + 30_000),
        );
        assert_eq!(
            hint(&[("retry-after", &date)], ""),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            hint(&[("retry-after-ms", "1500")], ""),
            Some(Duration::from_millis(1500))
        );
    }

    #[test]
    fn openai_ratelimit_durations() {
        assert_eq!(
            hint(&[("x-ratelimit-reset-requests", "6m0s")], ""),
            Some(Duration::from_secs(360))
        );
        assert_eq!(
            hint(&[("x-ratelimit-reset-tokens", "1.5s")], ""),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            hint(
                &[
                    ("x-ratelimit-reset-requests", "20ms"),
                    ("x-ratelimit-reset-tokens", "2s")
                ],
                ""
            ),
            Some(Duration::from_secs(2)),
            "the longest wait wins"
        );
        assert_eq!(
            parse_go_duration("1h2m3.5s"),
            Some(Duration::from_millis(3_723_500))
        );
        assert_eq!(parse_go_duration("abc"), None);
    }

    #[test]
    fn anthropic_rfc3339_reset() {
        let at = time::OffsetDateTime::from_unix_timestamp((NOW / 1000) + 42).unwrap();
        let v = at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        assert_eq!(
            hint(&[("anthropic-ratelimit-tokens-reset", &v)], ""),
            Some(Duration::from_secs(42))
        );
    }

    #[test]
    fn body_hints() {
        let google = r#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"13s"}]}}"#;
        assert_eq!(hint(&[], google), Some(Duration::from_secs(13)));
        assert_eq!(
            hint(&[], r#"{"error":{"resets_in_seconds":90}}"#),
            Some(Duration::from_secs(90))
        );
        let resets_at = format!(r#"{{"error":{{"resets_at":{}}}}}"#, NOW / 1000 + 15);
        assert_eq!(hint(&[], &resets_at), Some(Duration::from_secs(15)));
        assert_eq!(
            hint(
                &[],
                r#"{"error":{"message":"Rate limit reached. Please try again in 20s."}}"#
            ),
            Some(Duration::from_secs(20))
        );
        assert_eq!(
            hint(&[], "please retry after 2 minutes"),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            hint(&[], "try again in 1m30s"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(hint(&[], r#"{"error":{"message":"slow down"}}"#), None);
    }

    #[test]
    fn classification() {
        let h = HeaderMap::new();
        assert_eq!(
            classify_status(429, &headers(&[("retry-after", "7")]), b"", NOW, MAX),
            Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(7))
            }
        );
        assert_eq!(classify_status(401, &h, b"", NOW, MAX), Outcome::AuthError);
        assert_eq!(classify_status(403, &h, b"", NOW, MAX), Outcome::AuthError);
        assert_eq!(
            classify_status(402, &h, b"", NOW, MAX),
            Outcome::InsufficientBalance { retry_after: None }
        );
        assert_eq!(
            classify_status(
                429,
                &h,
                br#"{"error":{"code":"insufficient_quota"}}"#,
                NOW,
                MAX
            ),
            Outcome::InsufficientBalance { retry_after: None }
        );
        assert_eq!(
            classify_status(
                400,
                &h,
                br#"{"error":{"message":"Your credit balance is too low"}}"#,
                NOW,
                MAX
            ),
            Outcome::InsufficientBalance { retry_after: None }
        );
        assert_eq!(
            classify_status(400, &h, br#"{"error":{"message":"bad"}}"#, NOW, MAX),
            Outcome::ClientError
        );
        assert_eq!(
            classify_status(404, &h, b"", NOW, MAX),
            Outcome::ClientError
        );
        assert_eq!(
            classify_status(500, &h, b"", NOW, MAX),
            Outcome::TemporaryError { retry_after: None }
        );
        assert_eq!(
            classify_status(
                429,
                &headers(&[("retry-after", "251605743305")]),
                b"",
                NOW,
                MAX
            ),
            Outcome::RateLimited {
                retry_after: Some(MAX)
            },
            "an absurd hint is clamped to the cooldown maximum"
        );
        assert_eq!(
            classify_in_band("Rate limit reached, try again in 20s", NOW, MAX),
            Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(20))
            }
        );
        assert_eq!(
            classify_in_band("internal failure", NOW, MAX),
            Outcome::TemporaryError { retry_after: None }
        );
        assert_eq!(
            classify_status(503, &headers(&[("retry-after", "3")]), b"", NOW, MAX),
            Outcome::TemporaryError {
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }

    /// `NOW` plus `secs`, as RFC 3339 / as the naive "YYYY-MM-DD HH:MM:SS" some providers print.
    fn at(secs: i64) -> time::OffsetDateTime {
        time::OffsetDateTime::from_unix_timestamp(NOW / 1000 + secs).unwrap()
    }

    #[test]
    fn reset_hints_as_each_provider_documents_them() {
        let epoch_s = (NOW / 1000 + 30).to_string();
        let epoch_ms = (NOW + 45_000).to_string();
        let naive = at(90)
            .format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second]"
            ))
            .unwrap();
        let rfc = at(120)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap();
        let clock = at(640)
            .format(time::macros::format_description!("[hour]:[minute]"))
            .unwrap();
        let openrouter = format!(
            r#"{{"error":{{"message":"Rate limit exceeded: free-models-per-day","code":429,"metadata":{{"headers":{{"X-RateLimit-Limit":"50","X-RateLimit-Remaining":"0","X-RateLimit-Reset":"{epoch_ms}"}},"provider_name":null}}}},"user_id":"user_1"}}"#
        );
        let zai = format!(
            r#"{{"error":{{"code":"1308","message":"Usage limit reached for 5 hour. Your limit will reset at {naive}"}}}}"#
        );
        let codex = format!(
            r#"{{"error":{{"type":"usage_limit_reached","message":"The usage limit has been reached; it resets at {rfc}."}}}}"#
        );
        type Case<'a> = (&'a str, Vec<(&'static str, &'a str)>, String, Option<u64>);
        let cases: Vec<Case> = vec![
            // A delta in seconds (Groq, Together, many OpenAI-compatible servers).
            (
                "delta seconds",
                vec![("x-ratelimit-reset", "12")],
                String::new(),
                Some(12_000),
            ),
            // GitHub-style epoch seconds: an instant, not a 54-year delay.
            (
                "epoch seconds",
                vec![("x-ratelimit-reset", &epoch_s)],
                String::new(),
                Some(30_000),
            ),
            // OpenRouter's header: epoch milliseconds.
            (
                "epoch millis",
                vec![("x-ratelimit-reset", &epoch_ms)],
                String::new(),
                Some(45_000),
            ),
            // OpenAI: Go durations per limit.
            (
                "openai",
                vec![
                    ("x-ratelimit-reset-requests", "1m0s"),
                    ("x-ratelimit-reset-tokens", "6s"),
                ],
                String::new(),
                Some(60_000),
            ),
            ("openrouter body metadata", vec![], openrouter, Some(45_000)),
            ("z.ai will reset at", vec![], zai, Some(90_000)),
            ("resets at rfc 3339", vec![], codex, Some(120_000)),
            (
                "time of day",
                vec![],
                format!("Quota exhausted, try again at {clock} UTC."),
                Some(640_000),
            ),
            // A named zone is not guessed at.
            (
                "named zone",
                vec![],
                "Your limit will reset at 3pm (America/Los_Angeles)".into(),
                None,
            ),
            (
                "past epoch",
                vec![("x-ratelimit-reset", "1000000000")],
                String::new(),
                Some(0),
            ),
        ];
        for (name, h, body, want) in cases {
            assert_eq!(hint(&h, &body), want.map(Duration::from_millis), "{name}");
        }
        // Still clamped to the cooldown maximum when the instant is far away.
        let far = (NOW / 1000 + 30 * 86_400).to_string();
        assert_eq!(
            classify_status(429, &headers(&[("x-ratelimit-reset", &far)]), b"", NOW, MAX),
            Outcome::RateLimited {
                retry_after: Some(MAX)
            }
        );
    }

    #[test]
    fn balance_errors_by_status_and_known_codes() {
        let h = HeaderMap::new();
        let balance = Outcome::InsufficientBalance { retry_after: None };
        let cases: &[(&str, u16, &str, Outcome)] = &[
            (
                "openai insufficient_quota",
                429,
                r#"{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
                balance.clone(),
            ),
            (
                "anthropic credit",
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits."}}"#,
                balance.clone(),
            ),
            (
                "deepseek 402",
                402,
                r#"{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}"#,
                balance.clone(),
            ),
            (
                "openrouter 402",
                402,
                r#"{"error":{"code":402,"message":"Insufficient credits. Add more using https://openrouter.ai/credits"}}"#,
                balance.clone(),
            ),
            (
                "moonshot",
                429,
                r#"{"error":{"message":"Your account is suspended, please check your plan and billing details","type":"exceeded_current_quota_error"}}"#,
                balance.clone(),
            ),
            (
                "gemini billing disabled",
                403,
                r#"{"error":{"code":403,"message":"This API method requires billing to be enabled. Please enable billing on project #1.","status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"BILLING_DISABLED"}]}}"#,
                balance.clone(),
            ),
            // Gemini's per-minute quota mentions billing but is a rate limit with its delay.
            (
                "gemini rate quota",
                429,
                r#"{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details.","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"13s"}]}}"#,
                Outcome::RateLimited {
                    retry_after: Some(Duration::from_secs(13)),
                },
            ),
            // A client error that merely names a billing field.
            (
                "billing field",
                400,
                r#"{"error":{"message":"Unrecognized request argument supplied: billing_address"}}"#,
                Outcome::ClientError,
            ),
            (
                "billing word",
                404,
                r#"{"error":{"message":"No billing page here"}}"#,
                Outcome::ClientError,
            ),
            (
                "plain 403",
                403,
                r#"{"error":{"message":"forbidden"}}"#,
                Outcome::AuthError,
            ),
        ];
        for (name, status, body, want) in cases {
            assert_eq!(
                &classify_status(*status, &h, body.as_bytes(), NOW, MAX),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn refusals_another_target_can_serve() {
        let cases: &[(&str, u16, &str, Option<Refusal>)] = &[
            (
                "openai model",
                404,
                r#"{"error":{"message":"The model `gpt-9` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#,
                Some(Refusal::ModelNotFound),
            ),
            (
                "anthropic model",
                404,
                r#"{"type":"error","error":{"type":"not_found_error","message":"model: claude-9"}}"#,
                Some(Refusal::ModelNotFound),
            ),
            (
                "gemini model",
                404,
                r#"{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent.","status":"NOT_FOUND"}}"#,
                Some(Refusal::ModelNotFound),
            ),
            (
                "deepseek model",
                400,
                r#"{"error":{"message":"Model Not Exist","type":"invalid_request_error","param":null,"code":"invalid_request_error"}}"#,
                Some(Refusal::ModelNotFound),
            ),
            (
                "openai context",
                400,
                r#"{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
                Some(Refusal::ContextLength),
            ),
            (
                "anthropic context",
                400,
                r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#,
                Some(Refusal::ContextLength),
            ),
            (
                "gemini context",
                400,
                r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#,
                Some(Refusal::ContextLength),
            ),
            (
                "bad parameter",
                400,
                r#"{"error":{"message":"temperature must be at most 2","param":"temperature"}}"#,
                None,
            ),
            (
                "server error",
                500,
                r#"{"error":{"message":"model not found"}}"#,
                None,
            ),
        ];
        for (name, status, body, want) in cases {
            assert_eq!(refusal(*status, body.as_bytes()), *want, "{name}");
        }
    }

    #[test]
    fn provider_messages_in_each_dialects_shape() {
        let m = |b: &str| provider_message(b.as_bytes());
        assert_eq!(
            m(r#"{"error":{"message":"Incorrect API key provided: sk-***","type":"invalid_request_error"}}"#).as_deref(),
            Some("Incorrect API key provided: sk-***")
        );
        assert_eq!(
            m(r#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#).as_deref(),
            Some("invalid x-api-key")
        );
        assert_eq!(
            m(r#"[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED"}}]"#).as_deref(),
            Some("Quota exceeded")
        );
        assert_eq!(
            m(r#"{"detail":"Not  enough\n balance"}"#).as_deref(),
            Some("Not enough balance")
        );
        assert_eq!(
            m("upstream connect error").as_deref(),
            Some("upstream connect error")
        );
        assert_eq!(m("<html><body>502</body></html>"), None);
        assert_eq!(m(""), None);
        let long = format!(r#"{{"error":"{}"}}"#, "x".repeat(5000));
        assert!(m(&long).unwrap().len() < PROVIDER_MESSAGE_MAX + 20);
    }
}
