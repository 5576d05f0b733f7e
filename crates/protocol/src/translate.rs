//! The translation entry points the server calls: decode a client request, encode it for an
//! upstream, decode the upstream's reply, encode it for the client — all through the IR — plus
//! the streaming translator and the pass-through inspectors for same-dialect traffic.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::error::{ClientError, ErrorKind};
use crate::ir::{self, StopReason, StreamEvent, Usage};
use crate::sse::SseEvent;
use crate::{Dialect, anthropic, gemini, openai_chat, openai_responses};

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

// ---------------------------------------------------------------------------------------------
// Non-streaming entry points

/// Parse a client request in `dialect`. For Gemini the model and stream flag come from the
/// URL, so the caller sets `req.model` / `req.stream` after.
pub fn decode_request(dialect: Dialect, body: &[u8]) -> Result<ir::Request, ClientError> {
    match dialect {
        Dialect::OpenaiChat => openai_chat::decode_request(body),
        Dialect::OpenaiResponses => openai_responses::decode_request(body),
        Dialect::Anthropic => anthropic::decode_request(body),
        Dialect::Gemini => gemini::decode_request(body),
    }
}

/// Serialise for an upstream of `dialect`, with `upstream_model` as the model and provider
/// quirks applied.
pub fn encode_request(
    dialect: Dialect,
    req: &ir::Request,
    upstream_model: &str,
    quirks: &Quirks,
) -> Result<Vec<u8>, ClientError> {
    let stripped;
    let req = if quirks.strip_foreign_signatures {
        stripped = strip_signatures(req);
        &stripped
    } else {
        req
    };
    let mut body = match dialect {
        Dialect::OpenaiChat => openai_chat::encode_request(req, upstream_model, quirks),
        Dialect::OpenaiResponses => openai_responses::encode_request(req, upstream_model),
        Dialect::Anthropic => anthropic::encode_request(req, upstream_model, quirks),
        Dialect::Gemini => gemini::encode_request(req),
    };
    for param in &quirks.drop_params {
        drop_path(&mut body, param);
    }
    serde_json::to_vec(&body).map_err(|e| {
        ClientError::new(
            ErrorKind::Internal,
            format!("could not serialise request: {e}"),
        )
    })
}

fn strip_signatures(req: &ir::Request) -> ir::Request {
    let mut req = req.clone();
    for m in &mut req.messages {
        m.content.retain_mut(|p| match p {
            ir::Part::Reasoning(r) => {
                r.signature = None;
                !r.redacted && !r.text.is_empty()
            }
            _ => true,
        });
    }
    req
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

/// Parse an upstream's non-streaming JSON response. An error body yields the upstream's error
/// as a [`ClientError`].
pub fn decode_response(dialect: Dialect, body: &[u8]) -> Result<ir::Response, ClientError> {
    match dialect {
        Dialect::OpenaiChat => openai_chat::decode_response(body),
        Dialect::OpenaiResponses => openai_responses::decode_response(body),
        Dialect::Anthropic => anthropic::decode_response(body),
        Dialect::Gemini => gemini::decode_response(body),
    }
}

/// Serialise a non-streaming response for the client; `client_model` is the name the client
/// asked for.
pub fn encode_response(dialect: Dialect, resp: &ir::Response, client_model: &str) -> Vec<u8> {
    let v = match dialect {
        Dialect::OpenaiChat => openai_chat::encode_response(resp, client_model),
        Dialect::OpenaiResponses => openai_responses::encode_response(resp, client_model),
        Dialect::Anthropic => anthropic::encode_response(resp, client_model),
        Dialect::Gemini => gemini::encode_response(resp, client_model),
    };
    v.to_string().into_bytes()
}

/// An upstream's error body (any status ≥ 400) as a [`ClientError`], ready to be re-shaped for
/// the client with [`ClientError::to_body`]. Unparseable bodies become a 502 quoting the start
/// of the body.
pub fn decode_error(dialect: Dialect, status: u16, body: &[u8]) -> ClientError {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    // Some providers answer with a bare array around the error object (older Gemini).
    let parsed = match parsed {
        Some(Value::Array(mut a)) if !a.is_empty() => Some(a.swap_remove(0)),
        other => other,
    };
    match parsed.as_ref().and_then(|v| v.get("error")) {
        Some(err) => upstream_error(dialect, status, err),
        None => {
            let text = String::from_utf8_lossy(body);
            let snippet: String = text.chars().take(300).collect();
            let kind = if status >= 400 {
                ErrorKind::from_status(status)
            } else {
                ErrorKind::BadGateway
            };
            ClientError::new(kind, format!("upstream error ({status}): {snippet}"))
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

// ---------------------------------------------------------------------------------------------
// Streaming

/// Translates one upstream stream in `from` into a client stream in `to`.
pub struct StreamTranslator {
    upstream: Box<dyn UpstreamStream>,
    client: Box<dyn ClientStream>,
    scratch: Vec<StreamEvent>,
    usage: Usage,
    stop: Option<StopReason>,
    saw_content: bool,
    saw_tool_call: bool,
    finished: bool,
}

impl StreamTranslator {
    pub fn new(from: Dialect, to: Dialect, client_model: &str) -> Self {
        let upstream: Box<dyn UpstreamStream> = match from {
            Dialect::OpenaiChat => Box::<openai_chat::ChatUpstream>::default(),
            Dialect::OpenaiResponses => Box::<openai_responses::ResponsesUpstream>::default(),
            Dialect::Anthropic => Box::<anthropic::AnthropicUpstream>::default(),
            Dialect::Gemini => Box::<gemini::GeminiUpstream>::default(),
        };
        let client: Box<dyn ClientStream> = match to {
            Dialect::OpenaiChat => Box::new(openai_chat::ChatClient::new(client_model)),
            Dialect::OpenaiResponses => {
                Box::new(openai_responses::ResponsesClient::new(client_model, from))
            }
            Dialect::Anthropic => Box::new(anthropic::AnthropicClient::new(client_model, from)),
            Dialect::Gemini => Box::new(gemini::GeminiClient::new(client_model, from)),
        };
        StreamTranslator {
            upstream,
            client,
            scratch: Vec::new(),
            usage: Usage::default(),
            stop: None,
            saw_content: false,
            saw_tool_call: false,
            finished: false,
        }
    }

    /// Translates one upstream event, appending client events to `out`. An in-band upstream
    /// error is returned (nothing is written for it): the caller fails over if nothing was
    /// sent yet, else ends the client stream with [`StreamTranslator::fail`].
    pub fn push(&mut self, ev: &SseEvent, out: &mut Vec<SseEvent>) -> Result<(), StreamError> {
        if self.finished {
            return Ok(());
        }
        let mut events = std::mem::take(&mut self.scratch);
        let result = self.upstream.push(ev, &mut events);
        for e in events.drain(..) {
            self.apply(e, out);
        }
        self.scratch = events;
        result
    }

    fn apply(&mut self, e: StreamEvent, out: &mut Vec<SseEvent>) {
        if self.finished {
            return;
        }
        match e {
            StreamEvent::Usage(u) => self.usage.merge(u),
            StreamEvent::Stop(s) => self.stop = Some(s),
            StreamEvent::Done => self.end(out),
            content => {
                self.saw_content = true;
                if matches!(content, StreamEvent::ToolCallStart { .. }) {
                    self.saw_tool_call = true;
                }
                self.client.content(&content, &self.usage, out);
            }
        }
    }

    fn end(&mut self, out: &mut Vec<SseEvent>) {
        self.finished = true;
        let mut stop = self.stop.unwrap_or(StopReason::EndTurn);
        // Gemini (and some Chat providers) report a plain stop after function calls; clients
        // decide whether to run tools from this reason.
        if self.saw_tool_call && stop == StopReason::EndTurn {
            stop = StopReason::ToolUse;
        }
        self.client.finish(stop, &self.usage, out);
    }

    /// Emits the proper terminal events if the upstream ended without them (only if content
    /// was seen; otherwise nothing, so the caller can treat the stream as empty).
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if !self.finished && self.saw_content {
            self.end(out);
        }
    }

    /// Ends the client stream with `err` after output began, in the client's dialect (with
    /// the stream's own numbering where the dialect has one).
    pub fn fail(&mut self, err: &ClientError, out: &mut Vec<SseEvent>) {
        if !self.finished {
            self.finished = true;
            self.client.fail(err, out);
        }
    }

    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// Any text, tool-call or reasoning delta seen yet.
    pub fn saw_content(&self) -> bool {
        self.saw_content
    }
}

// ---------------------------------------------------------------------------------------------
// Pass-through inspection

/// What one upstream event is, so the router can read ahead to the first content before
/// committing to a stream and fail over on in-band errors or empty streams.
pub fn classify_event(dialect: Dialect, ev: &SseEvent) -> EventClass {
    match dialect {
        Dialect::OpenaiChat => openai_chat::classify(ev),
        Dialect::OpenaiResponses => openai_responses::classify(ev),
        Dialect::Anthropic => anthropic::classify(ev),
        Dialect::Gemini => gemini::classify(ev),
    }
}

/// Usage from a same-dialect response body, for the request log.
pub fn usage_from_body(dialect: Dialect, body: &[u8]) -> Option<Usage> {
    match dialect {
        Dialect::OpenaiChat => crate::passthrough::openai_chat_usage(body),
        Dialect::OpenaiResponses => crate::passthrough::responses_usage(body),
        Dialect::Anthropic => crate::passthrough::anthropic_usage(body),
        Dialect::Gemini => crate::passthrough::gemini_usage(body),
    }
}

/// Usage carried by one same-dialect stream event. Anthropic splits it (input tokens in
/// `message_start`, output in `message_delta`): fold reports with [`Usage::merge`].
pub fn usage_from_event(dialect: Dialect, ev: &SseEvent) -> Option<Usage> {
    let data = ev.data.as_bytes();
    match dialect {
        Dialect::OpenaiChat => crate::passthrough::openai_chat_usage(data),
        Dialect::OpenaiResponses => crate::passthrough::responses_event_usage(data),
        Dialect::Anthropic => crate::passthrough::anthropic_event_usage(data),
        Dialect::Gemini => crate::passthrough::gemini_usage(data),
    }
}

/// The protocol-correct terminal error event(s) for a stream that fails after bytes were sent.
/// For Responses the `sequence_number` is 0 here (the caller did not number the stream);
/// [`StreamTranslator::fail`] numbers them properly.
pub fn stream_error_events(dialect: Dialect, err: &ClientError) -> Vec<SseEvent> {
    match dialect {
        Dialect::OpenaiChat => openai_chat::error_event(err),
        Dialect::OpenaiResponses => openai_responses::error_events(err, 0),
        Dialect::Anthropic => anthropic::error_event(err),
        Dialect::Gemini => vec![SseEvent::data(err.to_body(Dialect::Gemini).to_string())],
    }
}

// ---------------------------------------------------------------------------------------------
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
    fn upstream_errors_map_by_class_then_status() {
        let e = decode_error(
            Dialect::OpenaiChat,
            0,
            br#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(
            (e.kind, e.message.as_str()),
            (ErrorKind::RateLimited, "slow down")
        );
        let e = decode_error(
            Dialect::Gemini,
            429,
            br#"[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]"#,
        );
        assert_eq!(e.kind, ErrorKind::RateLimited);
        let e = decode_error(Dialect::Anthropic, 502, b"<html>Bad Gateway</html>");
        assert_eq!(e.kind, ErrorKind::BadGateway);
        assert!(e.message.contains("Bad Gateway"));
        let e = decode_error(Dialect::OpenaiChat, 401, br#"{"error":{"message":"no"}}"#);
        assert_eq!(e.kind, ErrorKind::Authentication);
    }

    #[test]
    fn drop_params_reach_nested_fields_only_where_they_exist() {
        let mut v = serde_json::json!({"a": {"b": 1, "c": 2}, "d": 3});
        drop_path(&mut v, "a.b");
        drop_path(&mut v, "x.y");
        drop_path(&mut v, "d.e");
        assert_eq!(v, serde_json::json!({"a": {"c": 2}, "d": 3}));
    }
}
