//! The translation entry points the server calls: decode a client request, encode it for an
//! upstream, decode the upstream's reply, encode it for the client — all through the IR — plus
//! the streaming translator and the pass-through inspectors for same-dialect traffic.

use serde_json::Value;

use crate::adapter::{
    ClientStream, EventClass, Quirks, StreamError, UpstreamStream, drop_params, upstream_error,
};
use crate::error::{ClientError, ErrorKind};
use crate::ir::{self, StopReason, StreamEvent, Usage};
use crate::sse::SseEvent;
use crate::{Dialect, anthropic, gemini, openai_chat, openai_responses};

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
        stripped = strip_signatures(req, dialect);
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
    drop_params(&mut body, &quirks.drop_params);
    serde_json::to_vec(&body).map_err(|e| {
        ClientError::new(
            ErrorKind::Internal,
            format!("could not serialise request: {e}"),
        )
    })
}

/// The history without reasoning tokens an upstream of `dialect` cannot read: its own stay;
/// reasoning that was only a foreign token (redacted, or no text) goes with it.
fn strip_signatures(req: &ir::Request, dialect: Dialect) -> ir::Request {
    let mut req = req.clone();
    for m in &mut req.messages {
        m.content.retain_mut(|p| match p {
            ir::Part::Reasoning(r) => {
                if r.signature.as_ref().is_some_and(|s| s.origin == dialect) {
                    return true;
                }
                r.signature = None;
                !r.redacted && !r.text.is_empty()
            }
            _ => true,
        });
    }
    req
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

/// A token-count request in `dialect` (Anthropic `/v1/messages/count_tokens`, Gemini
/// `:countTokens`), answered with the local estimate ([`crate::count_tokens`]) in that
/// dialect's reply shape: no upstream is asked.
pub fn count_tokens_reply(dialect: Dialect, body: &[u8]) -> Result<Value, ClientError> {
    let req = match dialect {
        Dialect::Gemini => gemini::decode_count_tokens_request(body)?,
        d => decode_request(d, body)?,
    };
    let n = crate::tokens::count_tokens(&req);
    Ok(match dialect {
        Dialect::Gemini => serde_json::json!({ "totalTokens": n }),
        _ => serde_json::json!({ "input_tokens": n }),
    })
}

/// `/v1/responses/compact` on an upstream without it: the turn that asks for a summary.
pub fn compaction_turn(req: &mut ir::Request) {
    openai_responses::compaction_turn(req);
}

/// `/v1/responses/compact` on an upstream without it: the compaction reply built from the
/// client's request and the summary turn's response.
pub fn encode_compaction(
    client_body: &[u8],
    summary: &ir::Response,
    client_model: &str,
) -> Result<Vec<u8>, ClientError> {
    openai_responses::encode_compaction(client_body, summary, client_model)
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
    fn gemini_count_tokens_reads_contents_or_a_whole_request() {
        let contents = br#"{"contents":[{"role":"user","parts":[{"text":"Hello there, how are you today?"}]}]}"#;
        let plain = count_tokens_reply(Dialect::Gemini, contents).unwrap();
        let n = plain["totalTokens"].as_u64().unwrap();
        assert!(n > 5, "{plain}");
        let wrapped = br#"{"generateContentRequest":{"model":"models/g","contents":[{"role":"user","parts":[{"text":"Hello there, how are you today?"}]}],"systemInstruction":{"parts":[{"text":"Be brief and kind to everyone."}]}}}"#;
        let more = count_tokens_reply(Dialect::Gemini, wrapped).unwrap();
        assert!(more["totalTokens"].as_u64().unwrap() > n, "{more}");
        let anthropic = count_tokens_reply(
            Dialect::Anthropic,
            br#"{"model":"m","messages":[{"role":"user","content":"Hello there, how are you today?"}]}"#,
        )
        .unwrap();
        assert_eq!(anthropic["input_tokens"].as_u64(), Some(n));
        let bad = count_tokens_reply(Dialect::Gemini, br#"{"generateContentRequest":3}"#);
        assert_eq!(bad.unwrap_err().kind, ErrorKind::InvalidRequest);
    }

    #[test]
    fn compaction_through_another_dialect_asks_for_a_summary_and_keeps_user_messages() {
        let body = br#"{"model":"codex","input":[
            {"type":"message","role":"developer","content":[{"type":"input_text","text":"Be Codex."}]},
            {"type":"message","role":"user","content":[{"type":"input_text","text":"Fix it."}]},
            {"type":"function_call","call_id":"c1","name":"shell","arguments":"{}"},
            {"type":"function_call_output","call_id":"c1","output":"ok"}],
            "tools":[{"type":"function","name":"shell","parameters":{"type":"object"}}]}"#;
        let mut req = decode_request(Dialect::OpenaiResponses, body).unwrap();
        let turns = req.messages.len();
        compaction_turn(&mut req);
        assert_eq!(req.messages.len(), turns + 1);
        let chat: Value = serde_json::from_slice(
            &encode_request(Dialect::OpenaiChat, &req, "x", &Quirks::default()).unwrap(),
        )
        .unwrap();
        assert_eq!(chat["tool_choice"], "none", "{chat}");
        assert_ne!(chat["stream"], true, "{chat}");

        let summary = ir::Response {
            id: "chatcmpl-1".into(),
            model: "x".into(),
            content: vec![ir::Part::Text("The user wants it fixed; it is.".into())],
            stop_reason: Some(StopReason::EndTurn),
            usage: Usage {
                prompt_tokens: 50,
                completion_tokens: 9,
                ..Usage::default()
            },
        };
        let out: Value =
            serde_json::from_slice(&encode_compaction(body, &summary, "codex").unwrap()).unwrap();
        assert_eq!(out["object"], "response.compaction");
        assert_eq!(out["model"], "codex");
        assert_eq!(out["usage"]["input_tokens"], 50);
        let output = out["output"].as_array().unwrap();
        assert_eq!(output.len(), 2, "{out}");
        assert_eq!(output[0]["content"][0]["text"], "Fix it.");
        let text = output[1]["content"][0]["text"].as_str().unwrap();
        assert!(text.ends_with("The user wants it fixed; it is."), "{text}");
        assert_eq!(output[1]["role"], "user");

        // A string input is one user message; a turn without text is the upstream's failure.
        let out: Value = serde_json::from_slice(
            &encode_compaction(br#"{"model":"m","input":"hi"}"#, &summary, "m").unwrap(),
        )
        .unwrap();
        assert_eq!(out["output"][0]["content"][0]["text"], "hi");
        let empty = ir::Response {
            content: Vec::new(),
            ..summary
        };
        let err = encode_compaction(body, &empty, "codex").unwrap_err();
        assert_eq!(err.kind, ErrorKind::BadGateway);
    }
}
