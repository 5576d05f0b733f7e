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
    pub outcome: String,
    pub status: Option<u16>,
    pub duration_ms: u64,
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
