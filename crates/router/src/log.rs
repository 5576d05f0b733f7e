//! What the engine records about each request, sent through a channel to a batched writer.
//! Never holds a secret: keys are referred to by id.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How one attempt (one upstream call with one key) ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptRecord {
    pub provider: String,
    pub model: String,
    pub key_id: Option<i64>,
    /// `ok`, `rate_limited`, `auth_error`, `insufficient_balance`, `temporary_error`,
    /// `client_error`, `cancelled`, `stream_error`.
    #[schema(value_type = String)]
    pub outcome: AttemptOutcome,
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// The provider's error message, scrubbed of the key and capped (failed attempts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The provider's reset hint, in ms from the answer (rate limits, balance, outages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// How one attempt ended, as its record's `outcome` string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Ok,
    RateLimited,
    AuthError,
    InsufficientBalance,
    TemporaryError,
    ClientError,
    Cancelled,
    /// A committed stream broke after bytes reached the client. The last variant: per-outcome
    /// tables are sized by it.
    StreamError,
}

impl AttemptOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Ok => "ok",
            AttemptOutcome::RateLimited => "rate_limited",
            AttemptOutcome::AuthError => "auth_error",
            AttemptOutcome::InsufficientBalance => "insufficient_balance",
            AttemptOutcome::TemporaryError => "temporary_error",
            AttemptOutcome::ClientError => "client_error",
            AttemptOutcome::Cancelled => "cancelled",
            AttemptOutcome::StreamError => "stream_error",
        }
    }
}

impl std::fmt::Display for AttemptOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for AttemptOutcome {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl From<&crate::health::Outcome> for AttemptOutcome {
    fn from(o: &crate::health::Outcome) -> Self {
        use crate::health::Outcome;
        match o {
            Outcome::Success => AttemptOutcome::Ok,
            Outcome::RateLimited { .. } => AttemptOutcome::RateLimited,
            Outcome::AuthError => AttemptOutcome::AuthError,
            Outcome::InsufficientBalance { .. } => AttemptOutcome::InsufficientBalance,
            Outcome::TemporaryError { .. } => AttemptOutcome::TemporaryError,
            Outcome::ClientError => AttemptOutcome::ClientError,
            Outcome::Cancelled => AttemptOutcome::Cancelled,
        }
    }
}

/// One client request as the log shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RequestRecord {
    /// Server-assigned id (ULID-like, time ordered); 0-length until stored.
    pub id: String,
    /// Unix milliseconds when the request arrived.
    pub started_at_ms: i64,
    /// The dialect the client spoke (`openai_chat`, `anthropic`, …).
    pub dialect: String,
    /// The model name the client asked for.
    pub alias: String,
    pub provider: Option<String>,
    pub key_id: Option<i64>,
    pub upstream_model: Option<String>,
    /// HTTP status sent to the client (499 when the client went away).
    pub status: u16,
    pub stream: bool,
    pub latency_ms: u64,
    pub ttfb_ms: Option<u64>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub tokens_cached: u64,
    pub tokens_reasoning: u64,
    /// What the request cost in micro-dollars (millionths of a US dollar), priced when it was
    /// recorded; `None` when the model has no price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_micros: Option<u64>,
    /// Audio transcribed or translated, in milliseconds (media requests whose answer says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_ms: Option<u64>,
    /// Images made (image requests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<u64>,
    /// The client (named access key) that sent the request, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Short reason when the request failed (never containing a secret).
    pub error: Option<String>,
    /// What session affinity did for a served request of a known conversation: `kept`, or
    /// `moved: cooling` / `moved: failed` / `moved: unavailable` / `moved: slow` (hedging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<String>,
    /// Refused before routing (wrong access key, bad JSON, unknown path, routing off): the
    /// method and path refused (never the query string); the reason is in `error`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// The Switchboard instance that served the request (its `SWITCHBOARD_INSTANCE_ID`, or
    /// the id it generated at start); absent on records from before instances were named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    pub attempts: Vec<AttemptRecord>,
}

/// The most bytes of one client-chosen string (a model name, an id) that a record or an error
/// message repeats.
pub const CLIENT_STR_MAX: usize = 256;
/// The most bytes of an error message a record keeps or a client is sent.
pub const MESSAGE_MAX: usize = 2048;

/// `s` cut to at most `max` bytes on a char boundary, with a marker saying how long it was:
/// a client cannot make the request log or an error echo grow with what it sends.
pub fn truncated(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…[{} bytes]", &s[..end], s.len()))
}

fn cap_in_place(s: &mut String, max: usize) {
    if let std::borrow::Cow::Owned(t) = truncated(s, max) {
        *s = t;
    }
}

impl RequestRecord {
    /// Caps every string that can carry client input before the record is kept.
    pub fn cap_client_strings(&mut self) {
        cap_in_place(&mut self.alias, CLIENT_STR_MAX);
        if let Some(m) = &mut self.upstream_model {
            cap_in_place(m, CLIENT_STR_MAX);
        }
        if let Some(e) = &mut self.error {
            cap_in_place(e, MESSAGE_MAX);
        }
        if let Some(r) = &mut self.refused {
            cap_in_place(r, CLIENT_STR_MAX);
        }
        for a in &mut self.attempts {
            cap_in_place(&mut a.model, CLIENT_STR_MAX);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_outcomes_keep_their_wire_strings() {
        for o in [
            AttemptOutcome::Ok,
            AttemptOutcome::RateLimited,
            AttemptOutcome::AuthError,
            AttemptOutcome::InsufficientBalance,
            AttemptOutcome::TemporaryError,
            AttemptOutcome::ClientError,
            AttemptOutcome::Cancelled,
            AttemptOutcome::StreamError,
        ] {
            let wire = serde_json::to_string(&o).unwrap();
            assert_eq!(wire, format!("\"{}\"", o.as_str()));
            assert_eq!(serde_json::from_str::<AttemptOutcome>(&wire).unwrap(), o);
        }
    }

    #[test]
    fn truncation_keeps_short_strings_and_cuts_long_ones_on_a_char_boundary() {
        assert_eq!(truncated("gpt-4o", 256), "gpt-4o");
        let long = "é".repeat(200); // 400 bytes, two per char
        let t = truncated(&long, 255);
        assert!(t.starts_with(&"é".repeat(127)));
        assert!(t.ends_with("…[400 bytes]"), "{t}");
        assert!(t.len() < 255 + 20);
        let huge = "m".repeat(5 << 20);
        assert_eq!(
            truncated(&huge, CLIENT_STR_MAX).len(),
            256 + "…[5242880 bytes]".len()
        );
    }

    #[test]
    fn records_cap_every_client_string() {
        let big = "x".repeat(1 << 20);
        let mut r = RequestRecord {
            id: String::new(),
            started_at_ms: 0,
            dialect: "openai_chat".into(),
            alias: big.clone(),
            provider: None,
            key_id: None,
            upstream_model: Some(big.clone()),
            status: 404,
            stream: false,
            latency_ms: 0,
            ttfb_ms: None,
            tokens_in: 0,
            tokens_out: 0,
            tokens_cached: 0,
            tokens_reasoning: 0,
            cost_micros: None,
            audio_ms: None,
            images: None,
            client: None,
            error: Some(big.clone()),
            affinity: None,
            attempts: vec![AttemptRecord {
                provider: "p".into(),
                model: big,
                key_id: None,
                outcome: AttemptOutcome::Ok,
                status: None,
                duration_ms: 0,
                message: None,
                retry_after_ms: None,
            }],
            refused: None,
            instance: None,
        };
        r.cap_client_strings();
        assert!(r.alias.len() < 300);
        assert!(r.upstream_model.unwrap().len() < 300);
        assert!(r.error.unwrap().len() < MESSAGE_MAX + 30);
        assert!(r.attempts[0].model.len() < 300);
    }
}
