//! The response pipe of one attempt: what goes upstream and what comes back to the client.
//! Same-dialect traffic passes through as bytes with only the model name patched (and the
//! usage read); other dialects go through the protocol crate's translation.

use bytes::Bytes;
use serde_json::Value;
use switchboard_protocol::passthrough::{self, Usage};
use switchboard_protocol::sse::SseEvent;
use switchboard_protocol::{ClientError, Dialect, ErrorKind};

use crate::dispatch::Reply;
use crate::model::Provider;

/// A stream event that ends the attempt before commit, or breaks a committed stream.
#[derive(Debug)]
pub enum PipeError {
    /// The provider reported an error inside the stream.
    InBand(String),
    /// The provider sent something that is not its dialect.
    Malformed,
}

#[derive(Debug)]
pub struct Pipe {
    client: Dialect,
    upstream: Dialect,
    /// The model name the client asked for; every reply carries it.
    alias: String,
    usage: Usage,
    saw_content: bool,
}

impl Pipe {
    pub fn new(client: Dialect, upstream: Dialect, alias: &str) -> Pipe {
        Pipe {
            client,
            upstream,
            alias: alias.to_owned(),
            usage: Usage::default(),
            saw_content: false,
        }
    }

    fn unsupported(&self) -> ClientError {
        ClientError::new(
            ErrorKind::InvalidRequest,
            format!(
                "Translating {} requests to a {} provider is not supported.",
                self.client, self.upstream
            ),
        )
        .with_code("unsupported_translation")
    }

    /// The body to send upstream: the client's bytes with the upstream model name and the
    /// provider's dropped parameters applied.
    pub fn upstream_body(
        &mut self,
        body: &Bytes,
        model: &str,
        provider: &Provider,
        stream: bool,
    ) -> Result<Bytes, ClientError> {
        if self.client != self.upstream {
            return Err(self.unsupported());
        }
        let _ = stream;
        let mut out = match self.upstream {
            // Gemini names the model in the URL.
            Dialect::Gemini => body.to_vec(),
            _ => passthrough::replace_top_level_str(body, "model", model).ok_or_else(|| {
                ClientError::new(ErrorKind::InvalidRequest, "`model` must be a string")
                    .with_param("model")
            })?,
        };
        if provider
            .drop_params
            .iter()
            .any(|p| passthrough::top_level_value(&out, p).is_some())
        {
            let mut v: Value = serde_json::from_slice(&out).map_err(|e| {
                ClientError::new(
                    ErrorKind::InvalidRequest,
                    format!("request body is not valid JSON: {e}"),
                )
                .with_code("invalid_json")
            })?;
            if let Some(obj) = v.as_object_mut() {
                for p in &provider.drop_params {
                    obj.remove(p);
                }
            }
            out = serde_json::to_vec(&v).unwrap_or(out);
        }
        Ok(Bytes::from(out))
    }

    /// A non-streaming upstream body, made ready for the client.
    pub fn client_body(&mut self, body: &[u8]) -> Result<(Bytes, Usage), ClientError> {
        if self.client != self.upstream {
            return Err(self.unsupported());
        }
        let usage = usage_of(self.upstream, body).unwrap_or_default();
        let field = model_field(self.upstream);
        let out = passthrough::replace_top_level_str(body, field, &self.alias)
            .unwrap_or_else(|| body.to_vec());
        Ok((Bytes::from(out), usage))
    }

    /// Handles one upstream stream event, appending what the client should receive.
    pub fn push(&mut self, mut ev: SseEvent, out: &mut Vec<SseEvent>) -> Result<(), PipeError> {
        match classify(self.upstream, &ev)? {
            Class::Content => self.saw_content = true,
            Class::Meta | Class::Done => {}
        }
        if let Some(u) = usage_of(self.upstream, ev.data.as_bytes()) {
            merge_usage(&mut self.usage, u);
        }
        patch_event_model(self.upstream, &mut ev, &self.alias);
        out.push(ev);
        Ok(())
    }

    pub fn saw_content(&self) -> bool {
        self.saw_content
    }

    /// The upstream ended; same-dialect streams already carry their own terminal events.
    pub fn finish(&mut self, _out: &mut Vec<SseEvent>) {}

    pub fn usage(&self) -> Usage {
        self.usage
    }

    /// An upstream error answer relayed to the client: same dialect as is (already
    /// scrubbed of the key); other dialects rewritten into the client's error shape.
    pub fn error_reply(&self, status: u16, body: &[u8]) -> Reply {
        if self.client == self.upstream && serde_json::from_slice::<Value>(body).is_ok() {
            return Reply::json(status, Bytes::copy_from_slice(body));
        }
        let message =
            upstream_message(body).unwrap_or_else(|| format!("upstream answered HTTP {status}"));
        Reply::error(
            self.client,
            &ClientError::new(ErrorKind::from_status(status), message),
        )
    }

    /// The events that end a committed stream with an error, in `dialect`'s own shape.
    pub fn stream_error(dialect: Dialect, err: &ClientError) -> Vec<SseEvent> {
        let body = err.to_body(dialect).to_string();
        match dialect {
            Dialect::Anthropic => vec![SseEvent::named("error", body)],
            Dialect::OpenaiResponses => {
                let ev = serde_json::json!({
                    "type": "error",
                    "code": err.code,
                    "message": err.message,
                    "param": err.param,
                });
                vec![SseEvent::named("error", ev.to_string())]
            }
            Dialect::OpenaiChat | Dialect::Gemini => vec![SseEvent::data(body)],
        }
    }
}

/// The message of an error body in any dialect's shape.
fn upstream_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error")?;
    err.get("message")
        .and_then(Value::as_str)
        .or_else(|| err.as_str())
        .map(str::to_owned)
}

enum Class {
    Meta,
    Content,
    Done,
}

fn classify(dialect: Dialect, ev: &SseEvent) -> Result<Class, PipeError> {
    if ev.is_done() {
        return Ok(Class::Done);
    }
    let v: Value = serde_json::from_str(&ev.data).map_err(|_| PipeError::Malformed)?;
    let ty = v
        .get("type")
        .and_then(Value::as_str)
        .or(ev.event.as_deref())
        .unwrap_or("");
    let err_message = |e: &Value| {
        e.get("message")
            .and_then(Value::as_str)
            .map_or_else(|| e.to_string(), str::to_owned)
    };
    match dialect {
        Dialect::OpenaiChat | Dialect::Gemini => {
            if let Some(e) = v.get("error") {
                return Err(PipeError::InBand(err_message(e)));
            }
            let has = |k: &str| {
                v.get(k)
                    .is_some_and(|c| c.as_array().is_none_or(|a| !a.is_empty()))
            };
            Ok(if has("choices") || has("candidates") {
                Class::Content
            } else {
                Class::Meta
            })
        }
        Dialect::Anthropic => match ty {
            "error" => Err(PipeError::InBand(
                v.get("error").map_or_else(|| v.to_string(), err_message),
            )),
            "content_block_start" | "content_block_delta" => Ok(Class::Content),
            "message_stop" => Ok(Class::Done),
            _ => Ok(Class::Meta),
        },
        Dialect::OpenaiResponses => match ty {
            "error" => Err(PipeError::InBand(err_message(&v))),
            "response.failed" => Err(PipeError::InBand(
                v.pointer("/response/error")
                    .map_or_else(|| "response failed".to_owned(), err_message),
            )),
            "response.completed" => Ok(Class::Done),
            t if t.starts_with("response.output") || t.contains(".delta") => Ok(Class::Content),
            _ => Ok(Class::Meta),
        },
    }
}

fn model_field(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Gemini => "modelVersion",
        _ => "model",
    }
}

/// Points the model name inside a stream event at the client's alias.
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

fn merge_usage(total: &mut Usage, u: Usage) {
    // Streams report usage in pieces (Anthropic: input at start, output at the end); later
    // non-zero values win.
    if u.prompt_tokens > 0 {
        total.prompt_tokens = u.prompt_tokens;
    }
    if u.completion_tokens > 0 {
        total.completion_tokens = u.completion_tokens;
    }
    if u.cached_tokens > 0 {
        total.cached_tokens = u.cached_tokens;
    }
    if u.reasoning_tokens > 0 {
        total.reasoning_tokens = u.reasoning_tokens;
    }
}

/// Usage in a body or event of `dialect`, if it carries any.
fn usage_of(dialect: Dialect, json: &[u8]) -> Option<Usage> {
    if dialect == Dialect::OpenaiChat {
        return passthrough::openai_chat_usage(json);
    }
    let marker: &[u8] = if dialect == Dialect::Gemini {
        b"usageMetadata"
    } else {
        b"usage"
    };
    memchr::memmem::find(json, marker)?;
    let v: Value = serde_json::from_slice(json).ok()?;
    let n = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
    match dialect {
        Dialect::Anthropic => {
            let u = v.get("usage").or_else(|| v.pointer("/message/usage"))?;
            Some(Usage {
                prompt_tokens: n(u, "/input_tokens")
                    + n(u, "/cache_read_input_tokens")
                    + n(u, "/cache_creation_input_tokens"),
                completion_tokens: n(u, "/output_tokens"),
                cached_tokens: n(u, "/cache_read_input_tokens"),
                reasoning_tokens: 0,
            })
        }
        Dialect::OpenaiResponses => {
            let u = v
                .get("usage")
                .or_else(|| v.pointer("/response/usage"))
                .filter(|u| !u.is_null())?;
            Some(Usage {
                prompt_tokens: n(u, "/input_tokens"),
                completion_tokens: n(u, "/output_tokens"),
                cached_tokens: n(u, "/input_tokens_details/cached_tokens"),
                reasoning_tokens: n(u, "/output_tokens_details/reasoning_tokens"),
            })
        }
        Dialect::Gemini => {
            let u = v.get("usageMetadata")?;
            Some(Usage {
                prompt_tokens: n(u, "/promptTokenCount"),
                completion_tokens: n(u, "/candidatesTokenCount"),
                cached_tokens: n(u, "/cachedContentTokenCount"),
                reasoning_tokens: n(u, "/thoughtsTokenCount"),
            })
        }
        Dialect::OpenaiChat => None,
    }
}
