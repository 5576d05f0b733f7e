//! The response pipe of one attempt: what goes upstream and what comes back to the client.
//! Same-dialect traffic passes through as bytes with only the model name patched (and the
//! usage read); other dialects go through the protocol crate's intermediate representation.

use bytes::Bytes;
use serde_json::Value;
use switchboard_protocol::passthrough;
use switchboard_protocol::sse::SseEvent;
use switchboard_protocol::translate::{compaction_turn, encode_compaction};
use switchboard_protocol::{
    ClientError, Dialect, ErrorKind, EventClass, StreamTranslator, Usage, classify_event,
    decode_error, decode_request, decode_response, drop_params, encode_request, encode_response,
    stream_error_events, usage_from_body, usage_from_event,
};

use crate::conversations::{Conversation, Owner, ResponseStore};
use crate::log::{CLIENT_STR_MAX, truncated};
use crate::model::Provider;
use crate::reply::Reply;
use crate::request::Endpoint;

/// The provider reported an error inside its stream (or sent one that cannot be read): it
/// ends the attempt before commit, or breaks a committed stream.
#[derive(Debug)]
pub struct InBandError(pub String);

enum Mode {
    /// Same dialect: bytes through, model patched, usage read.
    Same { usage: Usage, saw_content: bool },
    /// Different dialects: through the IR.
    Translate(Box<StreamTranslator>),
}

pub struct Pipe {
    client: Dialect,
    upstream: Dialect,
    /// The model name the client asked for; every reply carries it.
    alias: String,
    mode: Mode,
    /// Responses clients on other upstreams: the local conversation store.
    memory: Option<Memory>,
    /// A compaction through another dialect: `Some` once the client's request is known
    /// (the reply keeps its user messages).
    compaction: Option<Compaction>,
}

/// `/v1/responses/compact` on an upstream without it: run as a summary turn.
enum Compaction {
    Pending,
    Of(Bytes),
}

/// What a Responses client's conversation needs when the upstream keeps none.
struct Memory {
    store: std::sync::Arc<ResponseStore>,
    /// Conversations are found and saved under the asking credential only.
    owner: Owner,
    now_ms: i64,
    /// The conversation so far, saved under the response's id when it completes (`None`
    /// when the client asked for `store: false`).
    input: Option<Conversation>,
}

impl std::fmt::Debug for Pipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pipe({} → {})", self.client, self.upstream)
    }
}

impl Pipe {
    pub fn new(
        client: Dialect,
        upstream: Dialect,
        endpoint: Endpoint,
        alias: &str,
        responses: &std::sync::Arc<ResponseStore>,
        owner: Owner,
        now_ms: i64,
    ) -> Pipe {
        let compact = endpoint == Endpoint::Compact && client != upstream;
        let mode = if client == upstream {
            Mode::Same {
                usage: Usage::default(),
                saw_content: false,
            }
        } else {
            Mode::Translate(Box::new(StreamTranslator::new(upstream, client, alias)))
        };
        let memory =
            (client == Dialect::OpenaiResponses && upstream != client && !compact).then(|| {
                Memory {
                    store: responses.clone(),
                    owner,
                    now_ms,
                    input: None,
                }
            });
        Pipe {
            client,
            upstream,
            alias: alias.to_owned(),
            mode,
            memory,
            compaction: compact.then_some(Compaction::Pending),
        }
    }

    /// The body to send upstream, for `model` on `provider`.
    pub fn upstream_body(
        &mut self,
        body: &Bytes,
        model: &str,
        provider: &Provider,
        stream: bool,
    ) -> Result<Bytes, ClientError> {
        if let Mode::Translate(_) = self.mode {
            let mut req = decode_request(self.client, body)?;
            if let Some(memory) = &mut self.memory {
                if let Some(prev) = passthrough::top_level_str(body, "previous_response_id") {
                    let earlier = memory
                        .store
                        .get(&memory.owner, &prev, memory.now_ms)
                        .ok_or_else(|| {
                            ClientError::new(
                                ErrorKind::NotFound,
                                format!(
                                    "Previous response with id '{}' not found.",
                                    truncated(&prev, CLIENT_STR_MAX)
                                ),
                            )
                            .with_code("previous_response_not_found")
                            .with_param("previous_response_id")
                        })?;
                    let mut messages = earlier.messages;
                    messages.append(&mut req.messages);
                    req.messages = messages;
                    if req.system.is_empty() {
                        req.system = earlier.system;
                    }
                }
                if passthrough::top_level_bool(body, "store") != Some(false) {
                    memory.input = Some(Conversation {
                        system: req.system.clone(),
                        messages: req.messages.clone(),
                    });
                }
            }
            // Gemini clients name the model and streaming in the URL.
            req.model.clone_from(&self.alias);
            req.stream = stream;
            if let Some(c) = &mut self.compaction {
                compaction_turn(&mut req);
                *c = Compaction::Of(body.clone());
            }
            let quirks = provider.quirks.to_protocol(&provider.drop_params);
            return encode_request(self.upstream, &req, model, &quirks).map(Bytes::from);
        }
        let mut out = match self.upstream {
            Dialect::Gemini => body.to_vec(),
            _ => passthrough::replace_top_level_str(body, "model", model).ok_or_else(|| {
                ClientError::new(ErrorKind::InvalidRequest, "`model` must be a string")
                    .with_param("model")
            })?,
        };
        // Thinking another provider issued, taken out of the history (checked by a byte search
        // for its markers; the body is re-serialised only when some is found).
        if provider.quirks.strip_foreign_signatures
            && let Some(stripped) = passthrough::strip_foreign_reasoning(self.upstream, &out)
        {
            out = stripped;
        }
        // Re-serialised only when a dropped path's top-level field is present.
        if provider.drop_params.iter().any(|p| {
            let top = p.split('.').next().unwrap_or(p);
            passthrough::top_level_value(&out, top).is_some()
        }) {
            let mut v: Value = serde_json::from_slice(&out).map_err(|e| {
                ClientError::new(
                    ErrorKind::InvalidRequest,
                    format!("request body is not valid JSON: {e}"),
                )
                .with_code("invalid_json")
            })?;
            drop_params(&mut v, &provider.drop_params);
            out = serde_json::to_vec(&v).unwrap_or(out);
        }
        Ok(Bytes::from(out))
    }

    /// A non-streaming upstream body, made ready for the client.
    pub fn client_body(&mut self, body: &[u8]) -> Result<(Bytes, Usage), ClientError> {
        if let Mode::Translate(_) = self.mode {
            let resp = decode_response(self.upstream, body)?;
            let usage = resp.usage;
            if let Some(Compaction::Of(request)) = &self.compaction {
                let out = encode_compaction(request, &resp, &self.alias)?;
                return Ok((Bytes::from(out), usage));
            }
            let out = encode_response(self.client, &resp, &self.alias);
            self.remember(&out);
            return Ok((Bytes::from(out), usage));
        }
        // Passed through as bytes, but only a JSON object without an error member: HTML,
        // truncated or still-compressed bytes and 200-with-error bodies are the provider's
        // failure (and fail over), never a success.
        let object = body.trim_ascii_start().starts_with(b"{")
            && serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
        if !object {
            return Err(ClientError::new(
                ErrorKind::BadGateway,
                "the body is not a JSON object",
            ));
        }
        // Responses bodies carry `"error": null` on success.
        let error = passthrough::top_level_value(body, "error")
            .filter(|r| body.get(r.clone()).is_some_and(|v| v != b"null"));
        if error.is_some() {
            return Err(decode_error(self.upstream, 502, body));
        }
        let usage = usage_from_body(self.upstream, body).unwrap_or_default();
        let out = passthrough::replace_top_level_str(body, model_field(self.upstream), &self.alias)
            .unwrap_or_else(|| body.to_vec());
        Ok((Bytes::from(out), usage))
    }

    /// Handles one upstream stream event, appending what the client should receive.
    pub fn push(&mut self, mut ev: SseEvent, out: &mut Vec<SseEvent>) -> Result<(), InBandError> {
        match &mut self.mode {
            Mode::Translate(t) => {
                let start = out.len();
                t.push(&ev, out).map_err(|e| InBandError(e.message))?;
                self.remember_completed(&out[start..]);
                Ok(())
            }
            Mode::Same { usage, saw_content } => {
                match classify_event(self.upstream, &ev) {
                    EventClass::Content => *saw_content = true,
                    EventClass::Error { message } => return Err(InBandError(message)),
                    EventClass::Meta | EventClass::Done => {}
                }
                if let Some(u) = usage_from_event(self.upstream, &ev) {
                    usage.merge(u);
                }
                patch_event_model(self.upstream, &mut ev, &self.alias);
                out.push(ev);
                Ok(())
            }
        }
    }

    pub fn saw_content(&self) -> bool {
        match &self.mode {
            Mode::Translate(t) => t.saw_content(),
            Mode::Same { saw_content, .. } => *saw_content,
        }
    }

    /// The upstream ended: a translated stream gets its terminal events if the upstream
    /// left them out; same-dialect streams already carry their own.
    pub fn finish(&mut self, out: &mut Vec<SseEvent>) {
        if let Mode::Translate(t) = &mut self.mode {
            let start = out.len();
            t.finish(out);
            self.remember_completed(&out[start..]);
        }
    }

    /// A Responses stream's `response.completed` event carries the whole response: remember it.
    fn remember_completed(&mut self, events: &[SseEvent]) {
        if self.memory.is_none() {
            return;
        }
        let completed = events
            .iter()
            .find(|e| e.event.as_deref() == Some("response.completed"))
            .and_then(|e| serde_json::from_str::<Value>(&e.data).ok())
            .and_then(|v| v.get("response").map(Value::to_string));
        if let Some(response) = completed {
            self.remember(response.as_bytes());
        }
    }

    /// Saves the conversation under the id of the Responses object just sent to the client.
    fn remember(&mut self, client_response: &[u8]) {
        let Some(memory) = &mut self.memory else {
            return;
        };
        let Some(input) = memory.input.take() else {
            return;
        };
        if let Ok(resp) = decode_response(Dialect::OpenaiResponses, client_response) {
            memory.store.put(
                memory.owner,
                resp.id,
                input,
                resp.content,
                String::from_utf8_lossy(client_response).into_owned(),
                memory.now_ms,
            );
        }
    }

    pub fn usage(&self) -> Usage {
        match &self.mode {
            Mode::Translate(t) => t.usage(),
            Mode::Same { usage, .. } => *usage,
        }
    }

    /// The events that end a committed stream with an error, in the client's own shape.
    pub fn fail(&mut self, err: &ClientError) -> Vec<SseEvent> {
        match &mut self.mode {
            Mode::Translate(t) => {
                let mut out = Vec::new();
                t.fail(err, &mut out);
                out
            }
            Mode::Same { .. } => stream_error_events(self.client, err),
        }
    }

    /// An upstream error answer relayed to the client: same dialect as is (already
    /// scrubbed of the key); other dialects rewritten into the client's error shape.
    pub fn error_reply(&self, status: u16, body: &[u8]) -> Reply {
        if self.client == self.upstream && serde_json::from_slice::<Value>(body).is_ok() {
            return Reply::json(status, Bytes::copy_from_slice(body));
        }
        let mut err = decode_error(self.upstream, status, body);
        if err.message.is_empty() {
            err.message = format!("upstream answered HTTP {status}");
        }
        Reply::error(self.client, &err)
    }
}

fn model_field(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Gemini => "modelVersion",
        _ => "model",
    }
}

/// Points the model name inside a same-dialect stream event at the client's alias.
fn patch_event_model(dialect: Dialect, ev: &mut SseEvent, alias: &str) {
    let nested = match dialect {
        Dialect::OpenaiChat | Dialect::Gemini => None,
        Dialect::Anthropic => Some("message"),
        Dialect::OpenaiResponses => Some("response"),
    };
    let data = ev.data.as_bytes();
    let patched = match nested {
        None => passthrough::replace_top_level_str(data, model_field(dialect), alias),
        Some(obj) => {
            // Only the envelope events (message_start, response.created/completed …) carry it.
            passthrough::top_level_value(data, obj).and_then(|_| {
                let mut v: Value = serde_json::from_slice(data).ok()?;
                let m = v.get_mut(obj)?.get_mut("model")?;
                *m = Value::String(alias.to_owned());
                serde_json::to_vec(&v).ok()
            })
        }
    };
    if let Some(p) = patched.and_then(|p| String::from_utf8(p).ok()) {
        ev.data = p;
    }
}
