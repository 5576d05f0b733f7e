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
        429 if is_balance_error(body) => Outcome::InsufficientBalance { retry_after: None },
        429 => Outcome::RateLimited {
            retry_after: hint(),
        },
        402 => Outcome::InsufficientBalance {
            retry_after: hint(),
        },
        401 | 403 => Outcome::AuthError,
        // Some providers report exhausted credit as a 400 with a quota body.
        400..=499 if is_balance_error(body) => Outcome::InsufficientBalance { retry_after: None },
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

fn is_balance_error(body: &[u8]) -> bool {
    const MARKERS: [&[u8]; 6] = [
        b"insufficient_quota",
        b"insufficient balance",
        b"insufficient_balance",
        b"credit balance is too low",
        b"exceeded your current quota",
        b"billing",
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
        from_headers.extend(header(name).and_then(parse_go_duration));
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
    message_hint(&String::from_utf8_lossy(body))
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
            map.values().find_map(|v| json_hint(v, now_ms, depth + 1))
        }
        Value::Array(items) => items.iter().find_map(|v| json_hint(v, now_ms, depth + 1)),
        Value::String(s) => message_hint(s),
        _ => None,
    }
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
}
