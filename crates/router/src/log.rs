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
    /// A committed stream broke after bytes reached the client.
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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
    /// Short reason when the request failed (never containing a secret).
    pub error: Option<String>,
    pub attempts: Vec<AttemptRecord>,
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
}
