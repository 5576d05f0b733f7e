//! The four wire dialects: how each reads a request and shapes replies, streams and errors.

use bytes::Bytes;
use serde_json::{Value, json};

use crate::turn::{Ask, Turn, json_bytes};

pub(crate) mod anthropic;
mod chat;
mod gemini;
mod responses;

/// A fixed creation time keeps replies byte-for-byte reproducible.
const CREATED: u64 = 1_700_000_000;

/// An API dialect the mock speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `POST /v1/chat/completions`
    OpenAiChat,
    /// `POST /v1/responses`
    OpenAiResponses,
    /// `POST /v1/messages`
    Anthropic,
    /// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`
    Gemini,
}

/// An error reply, before the dialect shapes it.
pub(crate) struct Failure {
    pub status: u16,
    pub message: String,
    /// The body says the account is out of credit rather than rate limited.
    pub quota: bool,
    /// Gemini `RetryInfo.retryDelay`, in seconds.
    pub retry_delay: Option<u64>,
}

impl Failure {
    pub fn new(status: u16, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            quota: false,
            retry_delay: None,
        }
    }
}

impl Dialect {
    pub(crate) fn read(self, body: &Value) -> Ask {
        match self {
            Dialect::OpenAiChat => chat::read(body),
            Dialect::OpenAiResponses => responses::read(body),
            Dialect::Anthropic => anthropic::read(body),
            Dialect::Gemini => gemini::read(body),
        }
    }

    pub(crate) fn json(self, t: &Turn) -> Bytes {
        json_bytes(&match self {
            Dialect::OpenAiChat => chat::json(t),
            Dialect::OpenAiResponses => responses::json(t),
            Dialect::Anthropic => anthropic::json(t),
            Dialect::Gemini => gemini::json(t),
        })
    }

    /// The complete SSE event sequence, one `Bytes` per event.
    pub(crate) fn frames(self, t: &Turn, ask: &Ask) -> Vec<Bytes> {
        match self {
            Dialect::OpenAiChat => chat::frames(t, ask),
            Dialect::OpenAiResponses => responses::frames(t, ask),
            Dialect::Anthropic => anthropic::frames(t, ask),
            Dialect::Gemini => gemini::frames(t, ask),
        }
    }

    /// Gemini's `streamGenerateContent` without `alt=sse` answers one JSON array of chunks.
    pub(crate) fn gemini_array(t: &Turn) -> Bytes {
        json_bytes(&Value::Array(gemini::chunks(t)))
    }

    pub(crate) fn error(self, f: &Failure) -> Bytes {
        json_bytes(&match self {
            Dialect::OpenAiChat => chat::error(f),
            Dialect::OpenAiResponses => responses::error(f),
            Dialect::Anthropic => anthropic::error(f),
            Dialect::Gemini => gemini::error(f),
        })
    }

    pub(crate) fn error_event(self, f: &Failure) -> Bytes {
        match self {
            Dialect::OpenAiChat => chat::error_event(f),
            Dialect::OpenAiResponses => responses::error_event(f),
            Dialect::Anthropic => anthropic::error_event(f),
            Dialect::Gemini => gemini::error_event(f),
        }
    }
}

/// Models the mock lists, with the context window it reports (some providers omit it).
const MODELS: &[(&str, Option<u64>)] = &[
    ("mock-small", Some(128_000)),
    ("mock-large", Some(1_000_000)),
    ("mock-plain", None),
];

/// `GET /v1/models` in OpenAI's shape.
pub(crate) fn openai_models() -> Bytes {
    let data: Vec<Value> = MODELS
        .iter()
        .map(|(id, window)| {
            let mut m = json!({ "id": id, "object": "model", "created": CREATED, "owned_by": "switchboard-mock" });
            if let Some(w) = window {
                m["context_window"] = json!(w);
            }
            m
        })
        .collect();
    json_bytes(&json!({ "object": "list", "data": data }))
}

/// `GET /v1/models` in Anthropic's shape (chosen when the request carries `anthropic-version`).
pub(crate) fn anthropic_models() -> Bytes {
    let data: Vec<Value> = MODELS
        .iter()
        .map(|(id, _)| json!({ "type": "model", "id": id, "display_name": id, "created_at": "2023-11-14T22:13:20Z" }))
        .collect();
    json_bytes(&json!({
        "data": data,
        "has_more": false,
        "first_id": MODELS.first().map(|m| m.0),
        "last_id": MODELS.last().map(|m| m.0),
    }))
}

/// `GET /v1beta/models` in Gemini's shape.
pub(crate) fn gemini_models() -> Bytes {
    let models: Vec<Value> = MODELS
        .iter()
        .map(|(id, window)| {
            let mut m = json!({
                "name": format!("models/{id}"),
                "displayName": id,
                "outputTokenLimit": 65_536,
                "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"],
            });
            if let Some(w) = window {
                m["inputTokenLimit"] = json!(w);
            }
            m
        })
        .collect();
    json_bytes(&json!({ "models": models }))
}
