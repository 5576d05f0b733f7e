//! What the four dialect adapters share: provider quirks, the stream traits they implement,
//! the in-band error and event types, upstream error mapping and id generation. The adapters
//! and the translation entry points (`translate.rs`) both depend on this module, never on each
//! other's internals.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::Dialect;
use crate::error::{ClientError, ErrorKind};
use crate::ir::{self, StopReason, StreamEvent, Usage};
use crate::sse::SseEvent;

/// Per-provider adjustments, configured as data on the provider rather than branches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quirks {
    /// Fields removed from the encoded request body; dotted paths reach into objects
    /// (`thinking`, `generationConfig.topP`, `stream_options`).
    pub drop_params: Vec<String>,
    /// How an OpenAI Chat upstream names the output cap (default `max_tokens`, which every
    /// compatible provider accepts; OpenAI's reasoning models need `max_completion_tokens`).
    pub max_tokens_field: Option<MaxTokensField>,
    /// Send earlier reasoning back as `reasoning_content` on assistant turns: DeepSeek's
    /// thinking mode rejects tool-call turns replayed without it.
    pub replay_reasoning_content: bool,
    /// Drop thinking signatures and encrypted reasoning from the history: they are only valid
    /// for the provider that issued them, and a history that passed through another upstream
    /// carries foreign ones (Anthropic then rejects the request). Reasoning that cannot be sent
    /// without its signature (Anthropic thinking blocks) is dropped with it.
    pub strip_foreign_signatures: bool,
    /// Output cap used when the upstream dialect requires one (Anthropic) and the client gave
    /// none; 8192 when unset.
    pub default_max_tokens: Option<u64>,
}

/// Naming of the output-token cap on an OpenAI Chat upstream. The other dialects have one
/// spelling each (`max_output_tokens`, `max_tokens`, `generationConfig.maxOutputTokens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaxTokensField {
    MaxTokens,
    MaxCompletionTokens,
}

/// An upstream stream failed in-band (an `error` event or chunk) or could not be translated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StreamError {
    pub kind: ErrorKind,
    pub message: String,
}

impl StreamError {
    pub(crate) fn from_client(e: ClientError) -> Self {
        StreamError {
            kind: e.kind,
            message: e.message,
        }
    }

    pub fn to_client_error(&self) -> ClientError {
        ClientError::new(self.kind, self.message.clone())
    }
}

/// What one upstream event is, for same-dialect pass-through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventClass {
    /// Framing, keep-alives, usage: nothing a client would show.
    Meta,
    /// Text, tool-call or reasoning output.
    Content,
    /// An in-band error: the stream failed.
    Error { message: String },
    /// The stream's terminal event.
    Done,
}

/// Reads one upstream dialect's SSE events into IR stream events.
pub(crate) trait UpstreamStream: Send {
    fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), StreamError>;
}

/// Writes IR stream events as one client dialect's SSE events.
pub(crate) trait ClientStream: Send {
    /// A content event (text, reasoning, signature, tool call); `usage` is what is known so far.
    fn content(&mut self, ev: &StreamEvent, usage: &Usage, out: &mut Vec<SseEvent>);
    /// Closes whatever is open and writes the dialect's terminal events.
    fn finish(&mut self, stop: StopReason, usage: &Usage, out: &mut Vec<SseEvent>);
    /// Ends the stream with an error after output began.
    fn fail(&mut self, err: &ClientError, out: &mut Vec<SseEvent>);
}

/// Removes each of `paths` from `v`; a dotted path (`thinking.budget_tokens`) reaches into
/// objects. Paths that do not exist are ignored. The one implementation of
/// [`Quirks::drop_params`], for translated and same-dialect bodies alike.
pub fn drop_params(v: &mut Value, paths: &[String]) {
    for path in paths {
        drop_path(v, path);
    }
}

fn drop_path(v: &mut Value, path: &str) {
    let mut cur = v;
    let mut keys = path.split('.').peekable();
    while let Some(key) = keys.next() {
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        if keys.peek().is_none() {
            obj.remove(key);
            return;
        }
        match obj.get_mut(key) {
            Some(next) => cur = next,
            None => return,
        }
    }
}

/// Maps the `error` member of an upstream body (any dialect's shape) to a [`ClientError`].
pub(crate) fn upstream_error(dialect: Dialect, status: u16, err: &Value) -> ClientError {
    let message = error_message(err);
    // Providers put the machine-readable class in `type` (OpenAI, Anthropic), `status`
    // (Gemini) or a string `code` (OpenAI-compatibles); the first one we know wins.
    let named = ["type", "status", "code"]
        .iter()
        .filter_map(|k| err.get(*k).and_then(Value::as_str))
        .find_map(kind_from_type);
    let code_status = err
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok());
    let kind = match named {
        Some(k) => k,
        None if status >= 400 => ErrorKind::from_status(status),
        None => code_status.map_or(ErrorKind::BadGateway, ErrorKind::from_status),
    };
    let mut e = ClientError::new(kind, message);
    if dialect != Dialect::Gemini {
        e.param = err.get("param").and_then(Value::as_str).map(str::to_owned);
    }
    e
}

fn kind_from_type(t: &str) -> Option<ErrorKind> {
    Some(match t {
        "invalid_request_error" | "INVALID_ARGUMENT" | "FAILED_PRECONDITION" => {
            ErrorKind::InvalidRequest
        }
        "authentication_error" | "UNAUTHENTICATED" | "invalid_api_key" => ErrorKind::Authentication,
        "permission_error" | "PERMISSION_DENIED" => ErrorKind::PermissionDenied,
        "not_found_error" | "NOT_FOUND" | "model_not_found" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::PayloadTooLarge,
        "rate_limit_error"
        | "rate_limit_exceeded"
        | "RESOURCE_EXHAUSTED"
        | "insufficient_quota" => ErrorKind::RateLimited,
        "overloaded_error" | "UNAVAILABLE" | "server_is_overloaded" => ErrorKind::Unavailable,
        "DEADLINE_EXCEEDED" | "timeout_error" => ErrorKind::GatewayTimeout,
        "api_error" | "server_error" | "INTERNAL" => ErrorKind::BadGateway,
        _ => return None,
    })
}

pub(crate) fn error_message(err: &Value) -> String {
    match err {
        Value::String(s) => s.clone(),
        _ => err
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| err.to_string(), str::to_owned),
    }
}

/// The envelope the OpenAI Chat, Responses and Anthropic responses share: the parsed object
/// (or the upstream's in-band error, as the error), and a response with its `id` and `model`.
pub(crate) fn response_envelope(
    dialect: Dialect,
    body: &[u8],
) -> Result<(crate::lenient::Obj, ir::Response), ClientError> {
    let o = crate::lenient::parse_object(body).map_err(bad_upstream)?;
    if let Some(err) = crate::lenient::get(&o, "error") {
        return Err(upstream_error(dialect, 502, err));
    }
    let text = |key: &str| {
        crate::lenient::get(&o, key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let resp = ir::Response {
        id: text("id"),
        model: text("model"),
        ..Default::default()
    };
    Ok((o, resp))
}

/// An upstream body we could not read is the upstream's fault, not the client's.
pub(crate) fn bad_upstream(e: ClientError) -> ClientError {
    ClientError::new(
        ErrorKind::BadGateway,
        format!("unreadable upstream response: {}", e.message),
    )
}

// Ids and clocks

/// A fresh id with a dialect's usual prefix: 128 random bits from a CSPRNG, so an id (a
/// Responses id names a stored conversation) can be neither guessed nor enumerated.
pub(crate) fn fresh_id(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_params_reach_nested_fields_only_where_they_exist() {
        let mut v = serde_json::json!({"a": {"b": 1, "c": 2}, "d": 3});
        drop_params(&mut v, &["a.b".into(), "x.y".into(), "d.e".into()]);
        assert_eq!(v, serde_json::json!({"a": {"c": 2}, "d": 3}));
    }
}
