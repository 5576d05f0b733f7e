//! OpenAI Chat Completions (`/v1/chat/completions`) and the many providers that copy it
//! (DeepSeek, MiMo, OpenRouter, vLLM, …): request, response and stream chunks to and from the IR.
//!
//! Chat has no tool-result role in the IR sense: tool results are `role: "tool"` messages, which
//! decode into a user message of `ToolResult` parts and encode back the same way. Reasoning is
//! DeepSeek's `reasoning_content` (also read from `reasoning`, as OpenRouter names it).

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::adapter::{
    ClientStream, MaxTokensField, Quirks, StreamError, UpstreamStream, fresh_id, now_secs,
    upstream_error,
};
use crate::error::ClientError;
use crate::ir::{
    self, FunctionTool, Image, Message, Part, ReasoningConfig, ResponseFormat, Role, StopReason,
    StreamEvent, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use crate::lenient::{
    Obj, as_obj, get, invalid, opt_array, opt_bool, opt_f64, opt_obj, opt_str, opt_u64,
    parse_data_url, parse_object, req_str, stop_list, text_of,
};
use crate::sse::SseEvent;
use crate::{Dialect, passthrough, schema};

// ---------------------------------------------------------------------------------------------
// Requests

pub(crate) fn decode_request(body: &[u8]) -> Result<ir::Request, ClientError> {
    let o = parse_object(body)?;
    let mut req = ir::Request {
        model: req_str(&o, "model", "")?.to_owned(),
        stream: opt_bool(&o, "stream", "")?.unwrap_or(false),
        ..Default::default()
    };
    let messages = match get(&o, "messages") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("messages", "`messages` must be an array")),
        None => return Err(invalid("messages", "`messages` is required")),
    };
    for (i, m) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let m = as_obj(m, &path)?;
        decode_message(m, &path, &mut req)?;
    }
    for (i, t) in opt_array(&o, "tools", "")?.iter().enumerate() {
        let path = format!("tools[{i}]");
        let t = as_obj(t, &path)?;
        req.tools.push(decode_tool(t, &path)?);
    }
    req.tool_choice = match get(&o, "tool_choice") {
        None => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => ToolChoice::Auto,
        }),
        Some(Value::Object(c)) => {
            let f = opt_obj(c, "function", "tool_choice")?;
            match f.and_then(|f| f.get("name")).and_then(Value::as_str) {
                Some(name) => Some(ToolChoice::Tool(name.to_owned())),
                None => Some(ToolChoice::Required),
            }
        }
        Some(_) => {
            return Err(invalid(
                "tool_choice",
                "`tool_choice` must be a string or object",
            ));
        }
    };
    req.parallel_tool_calls = opt_bool(&o, "parallel_tool_calls", "")?;
    req.sampling.temperature = opt_f64(&o, "temperature", "")?;
    req.sampling.top_p = opt_f64(&o, "top_p", "")?;
    req.sampling.stop = stop_list(&o, "stop", "")?;
    req.sampling.max_tokens = match opt_u64(&o, "max_completion_tokens", "")? {
        Some(n) => Some(n),
        None => opt_u64(&o, "max_tokens", "")?,
    };
    if let Some(rf) = opt_obj(&o, "response_format", "")? {
        req.response_format = decode_response_format(rf)?;
    }
    if let Some(effort) = opt_str(&o, "reasoning_effort", "")? {
        req.reasoning = Some(ReasoningConfig {
            effort: Some(effort.to_owned()),
            disabled: effort == "none",
            ..Default::default()
        });
    }
    req.metadata.user_id = match opt_str(&o, "safety_identifier", "")? {
        Some(s) => Some(s.to_owned()),
        None => opt_str(&o, "user", "")?.map(str::to_owned),
    };
    req.metadata.prompt_cache_key = opt_str(&o, "prompt_cache_key", "")?.map(str::to_owned);
    Ok(req)
}

fn decode_message(m: &Obj, path: &str, req: &mut ir::Request) -> Result<(), ClientError> {
    let role = req_str(m, "role", path)?;
    let content = get(m, "content");
    match role {
        "system" | "developer" => {
            let text = content.map(text_of).unwrap_or_default();
            req.system.push(text);
        }
        "user" => {
            let parts = decode_user_content(content, &format!("{path}.content"))?;
            req.messages.push(Message {
                role: Role::User,
                content: parts,
            });
        }
        "assistant" => {
            let mut parts = Vec::new();
            let reasoning = match opt_str(m, "reasoning_content", path)? {
                Some(r) => Some(r),
                None => opt_str(m, "reasoning", path)?,
            };
            if let Some(r) = reasoning.filter(|r| !r.is_empty()) {
                parts.push(Part::Reasoning(ir::Reasoning {
                    text: r.to_owned(),
                    ..Default::default()
                }));
            }
            let text = content.map(text_of).unwrap_or_default();
            if !text.is_empty() {
                parts.push(Part::Text(text));
            }
            for (j, c) in opt_array(m, "tool_calls", path)?.iter().enumerate() {
                let cpath = format!("{path}.tool_calls[{j}]");
                let c = as_obj(c, &cpath)?;
                let f = opt_obj(c, "function", &cpath)?.ok_or_else(|| {
                    invalid(&format!("{cpath}.function"), "`function` is required")
                })?;
                parts.push(Part::ToolCall(ToolCall {
                    id: opt_str(c, "id", &cpath)?.unwrap_or_default().to_owned(),
                    name: req_str(f, "name", &format!("{cpath}.function"))?.to_owned(),
                    arguments: arguments_text(f.get("arguments")),
                }));
            }
            req.messages.push(Message {
                role: Role::Assistant,
                content: parts,
            });
        }
        "tool" | "function" => {
            let call_id = match opt_str(m, "tool_call_id", path)? {
                Some(id) => id.to_owned(),
                None => opt_str(m, "name", path)?.unwrap_or_default().to_owned(),
            };
            let result = Part::ToolResult(ToolResult {
                call_id,
                name: None,
                content: vec![Part::Text(content.map(text_of).unwrap_or_default())],
                is_error: false,
            });
            // Consecutive tool messages answer one assistant turn: keep them in one user turn.
            match req.messages.last_mut() {
                Some(last)
                    if last.role == Role::User
                        && last
                            .content
                            .iter()
                            .all(|p| matches!(p, Part::ToolResult(_))) =>
                {
                    last.content.push(result)
                }
                _ => req.messages.push(Message {
                    role: Role::User,
                    content: vec![result],
                }),
            }
        }
        other => {
            return Err(invalid(
                &format!("{path}.role"),
                format!("unknown message role `{other}`"),
            ));
        }
    }
    Ok(())
}

/// Arguments arrive as a JSON string; some providers send an object instead.
fn arguments_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn decode_user_content(content: Option<&Value>, path: &str) -> Result<Vec<Part>, ClientError> {
    match content {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(items)) => {
            let mut parts = Vec::new();
            for (i, p) in items.iter().enumerate() {
                let ppath = format!("{path}[{i}]");
                let p = as_obj(p, &ppath)?;
                match opt_str(p, "type", &ppath)?.unwrap_or("text") {
                    "text" => parts.push(Part::Text(req_str(p, "text", &ppath)?.to_owned())),
                    "image_url" => {
                        let url = match get(p, "image_url") {
                            Some(Value::String(u)) => u.as_str(),
                            Some(Value::Object(o)) => {
                                req_str(o, "url", &format!("{ppath}.image_url"))?
                            }
                            _ => {
                                return Err(invalid(
                                    &format!("{ppath}.image_url"),
                                    "`image_url` is required",
                                ));
                            }
                        };
                        parts.push(Part::Image(image_from_url(url)));
                    }
                    // Audio and files have no IR equivalent across dialects; skipped.
                    _ => {}
                }
            }
            Ok(parts)
        }
        Some(_) => Err(invalid(path, "`content` must be a string or an array")),
    }
}

pub(crate) fn image_from_url(url: &str) -> Image {
    match parse_data_url(url) {
        Some((media_type, data)) => Image::Base64 { media_type, data },
        None => Image::Url(url.to_owned()),
    }
}

fn decode_tool(t: &Obj, path: &str) -> Result<Tool, ClientError> {
    match opt_str(t, "type", path)?.unwrap_or("function") {
        "function" => {
            let fpath = format!("{path}.function");
            let f = opt_obj(t, "function", path)?
                .ok_or_else(|| invalid(&fpath, "`function` is required"))?;
            Ok(Tool::Function(FunctionTool {
                name: req_str(f, "name", &fpath)?.to_owned(),
                description: opt_str(f, "description", &fpath)?.map(str::to_owned),
                parameters: get(f, "parameters").cloned().unwrap_or_else(empty_schema),
                strict: opt_bool(f, "strict", &fpath)?,
            }))
        }
        _ => Ok(Tool::Hosted {
            dialect: Dialect::OpenaiChat,
            spec: Value::Object(t.clone()),
        }),
    }
}

pub(crate) fn empty_schema() -> Value {
    json!({"type": "object", "properties": {}})
}

fn decode_response_format(rf: &Obj) -> Result<Option<ResponseFormat>, ClientError> {
    Ok(match opt_str(rf, "type", "response_format")? {
        Some("json_object") => Some(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let js = opt_obj(rf, "json_schema", "response_format")?.ok_or_else(|| {
                invalid("response_format.json_schema", "`json_schema` is required")
            })?;
            Some(ResponseFormat::JsonSchema {
                name: opt_str(js, "name", "response_format.json_schema")?
                    .unwrap_or("response")
                    .to_owned(),
                schema: get(js, "schema").cloned().unwrap_or_else(empty_schema),
                strict: opt_bool(js, "strict", "response_format.json_schema")?,
            })
        }
        Some("text") => Some(ResponseFormat::Text),
        _ => None,
    })
}

pub(crate) fn encode_request(req: &ir::Request, model: &str, quirks: &Quirks) -> Value {
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": req.system.join("\n\n")}));
    }
    for m in &req.messages {
        match m.role {
            Role::User => encode_user(m, &mut messages),
            Role::Assistant => messages.push(encode_assistant(
                &m.content,
                quirks.replay_reasoning_content,
            )),
        }
    }
    let mut o = Map::new();
    o.insert("model".into(), json!(model));
    o.insert("messages".into(), Value::Array(messages));
    let tools: Vec<Value> = req
        .tools
        .iter()
        .filter_map(|t| match t {
            Tool::Function(f) => Some(encode_function_tool(f)),
            Tool::Hosted {
                dialect: Dialect::OpenaiChat,
                spec,
            } => Some(spec.clone()),
            Tool::Hosted { .. } => None,
        })
        .collect();
    let has_tools = !tools.is_empty();
    if has_tools {
        o.insert("tools".into(), Value::Array(tools));
        if let Some(tc) = &req.tool_choice {
            o.insert(
                "tool_choice".into(),
                match tc {
                    ToolChoice::Auto => json!("auto"),
                    ToolChoice::None => json!("none"),
                    ToolChoice::Required => json!("required"),
                    ToolChoice::Tool(name) => {
                        json!({"type": "function", "function": {"name": name}})
                    }
                },
            );
        }
        if let Some(p) = req.parallel_tool_calls {
            o.insert("parallel_tool_calls".into(), json!(p));
        }
    }
    insert_sampling(&mut o, req, quirks);
    if let Some(rf) = &req.response_format {
        o.insert("response_format".into(), encode_response_format(rf));
    }
    if let Some(effort) = reasoning_effort(req.reasoning.as_ref()) {
        o.insert("reasoning_effort".into(), json!(effort));
    }
    if req.stream {
        o.insert("stream".into(), json!(true));
        o.insert("stream_options".into(), json!({"include_usage": true}));
    }
    // OpenAI caps `user` at 64 characters; longer ids (Claude Code's JSON blob) are not sent.
    if let Some(user) = req.metadata.user_id.as_deref().filter(|u| u.len() <= 64) {
        o.insert("user".into(), json!(user));
    }
    if let Some(key) = &req.metadata.prompt_cache_key {
        o.insert("prompt_cache_key".into(), json!(key));
    }
    Value::Object(o)
}

fn insert_sampling(o: &mut Obj, req: &ir::Request, quirks: &Quirks) {
    let s = &req.sampling;
    if let Some(t) = s.temperature {
        o.insert("temperature".into(), json!(t));
    }
    if let Some(p) = s.top_p {
        o.insert("top_p".into(), json!(p));
    }
    if !s.stop.is_empty() {
        o.insert("stop".into(), json!(s.stop));
    }
    if let Some(n) = s.max_tokens {
        let field = match quirks.max_tokens_field {
            Some(MaxTokensField::MaxCompletionTokens) => "max_completion_tokens",
            _ => "max_tokens",
        };
        o.insert(field.into(), json!(n));
    }
}

/// OpenAI wants a level; a budget-only request (Anthropic, Gemini) is converted.
pub(crate) fn reasoning_effort(r: Option<&ReasoningConfig>) -> Option<String> {
    let r = r?;
    if r.disabled {
        return None;
    }
    r.effort
        .clone()
        .or_else(|| r.budget_tokens.map(|b| ir::budget_to_effort(b).to_owned()))
}

fn encode_function_tool(f: &FunctionTool) -> Value {
    let mut func = Map::new();
    func.insert("name".into(), json!(f.name));
    if let Some(d) = &f.description {
        func.insert("description".into(), json!(d));
    }
    func.insert("parameters".into(), f.parameters.clone());
    if let Some(s) = schema::openai_strict(&f.parameters, f.strict) {
        func.insert("strict".into(), json!(s));
    }
    json!({"type": "function", "function": func})
}

fn encode_response_format(rf: &ResponseFormat) -> Value {
    match rf {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut js = json!({"name": name, "schema": schema});
            let strict = schema::openai_strict(schema, *strict);
            if let (Some(s), Some(o)) = (strict, js.as_object_mut()) {
                o.insert("strict".into(), json!(s));
            }
            json!({"type": "json_schema", "json_schema": js})
        }
    }
}

fn encode_user(m: &Message, messages: &mut Vec<Value>) {
    let mut rest = Vec::new();
    for p in &m.content {
        match p {
            Part::ToolResult(r) => {
                let mut text = tool_result_text(r);
                if r.is_error && !text.starts_with("Error") {
                    // Chat has no error flag on tool messages; say it in the content.
                    text = format!("Error: {text}");
                }
                messages.push(json!({"role": "tool", "tool_call_id": r.call_id, "content": text}));
                // Images returned by a tool cannot ride in a tool message: follow with them.
                rest.extend(
                    r.content
                        .iter()
                        .filter(|p| matches!(p, Part::Image(_)))
                        .cloned(),
                );
            }
            other => rest.push(other.clone()),
        }
    }
    if rest.is_empty() {
        return;
    }
    let content = match rest.as_slice() {
        [Part::Text(t)] => json!(t),
        parts => Value::Array(parts.iter().filter_map(encode_user_part).collect()),
    };
    messages.push(json!({"role": "user", "content": content}));
}

pub(crate) fn tool_result_text(r: &ToolResult) -> String {
    r.content
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn encode_user_part(p: &Part) -> Option<Value> {
    match p {
        Part::Text(t) => Some(json!({"type": "text", "text": t})),
        Part::Image(img) => {
            Some(json!({"type": "image_url", "image_url": {"url": image_url(img)}}))
        }
        _ => None,
    }
}

pub(crate) fn image_url(img: &Image) -> String {
    match img {
        Image::Url(u) => u.clone(),
        Image::Base64 { media_type, data } => crate::lenient::data_url(media_type, data),
    }
}

/// An assistant message; reasoning goes in `reasoning_content` when `with_reasoning`.
fn encode_assistant(parts: &[Part], with_reasoning: bool) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    for p in parts {
        match p {
            Part::Text(t) => text.push_str(t),
            Part::Reasoning(r) => reasoning.push_str(&r.text),
            Part::ToolCall(c) => calls.push(json!({
                "id": c.id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            })),
            Part::Image(_) | Part::ToolResult(_) => {}
        }
    }
    let mut o = Map::new();
    o.insert("role".into(), json!("assistant"));
    o.insert(
        "content".into(),
        if text.is_empty() && !calls.is_empty() {
            Value::Null
        } else {
            json!(text)
        },
    );
    if with_reasoning && !reasoning.is_empty() {
        o.insert("reasoning_content".into(), json!(reasoning));
    }
    if !calls.is_empty() {
        o.insert("tool_calls".into(), Value::Array(calls));
    }
    Value::Object(o)
}

// ---------------------------------------------------------------------------------------------
// Responses (non-streaming)

pub(crate) fn decode_response(body: &[u8]) -> Result<ir::Response, ClientError> {
    let (o, mut resp) = crate::adapter::response_envelope(Dialect::OpenaiChat, body)?;
    resp.usage = passthrough::openai_chat_usage(body).unwrap_or_default();
    let choice = get(&o, "choices")
        .and_then(|c| c.get(0))
        .and_then(Value::as_object);
    if let Some(choice) = choice {
        resp.stop_reason = choice
            .get("finish_reason")
            .and_then(Value::as_str)
            .map(stop_from_finish);
        if let Some(msg) = choice.get("message").and_then(Value::as_object) {
            let reasoning = msg
                .get("reasoning_content")
                .or_else(|| msg.get("reasoning"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !reasoning.is_empty() {
                resp.content.push(Part::Reasoning(ir::Reasoning {
                    text: reasoning.to_owned(),
                    ..Default::default()
                }));
            }
            let text = msg.get("content").map(text_of).unwrap_or_default();
            if !text.is_empty() {
                resp.content.push(Part::Text(text));
            }
            for c in msg
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let f = c.get("function");
                resp.content.push(Part::ToolCall(ToolCall {
                    id: c
                        .get("id")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    name: f
                        .and_then(|f| f.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                    arguments: arguments_text(f.and_then(|f| f.get("arguments"))),
                }));
            }
        }
    }
    Ok(resp)
}

pub(crate) fn stop_from_finish(reason: &str) -> StopReason {
    match reason {
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

fn finish_reason(stop: StopReason) -> &'static str {
    match stop {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
    })
}

pub(crate) fn encode_response(resp: &ir::Response, client_model: &str) -> Value {
    // The client sees reasoning whenever there is some; the quirk only governs requests.
    let message = encode_assistant(&resp.content, true);
    json!({
        "id": chat_id(&resp.id),
        "object": "chat.completion",
        "created": now_secs(),
        "model": client_model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(resp.stop_reason.unwrap_or(StopReason::EndTurn)),
        }],
        "usage": usage_json(&resp.usage),
    })
}

fn chat_id(upstream: &str) -> String {
    if upstream.starts_with("chatcmpl-") {
        upstream.to_owned()
    } else {
        fresh_id("chatcmpl-")
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming: upstream chunks → IR

/// Reads Chat chunks. Tool calls are keyed by the chunk's `index`; a provider that reuses an
/// index for a new call (a new `id` on a started index) gets a fresh ordinal.
#[derive(Default)]
pub(crate) struct ChatUpstream {
    /// upstream index → (our ordinal, call id)
    calls: HashMap<u64, (u32, String)>,
    next_call: u32,
}

/// A plain text chunk (the bulk of every stream), read without building a JSON tree. Any
/// field that needs the general path (an error, tool calls, reasoning, a finish reason) makes
/// the fast path step aside.
#[derive(serde::Deserialize)]
struct TextChunkWire<'a> {
    #[serde(default)]
    error: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    choices: Vec<TextChoiceWire<'a>>,
}

#[derive(serde::Deserialize)]
struct TextChoiceWire<'a> {
    #[serde(borrow)]
    delta: TextDeltaWire<'a>,
    #[serde(default)]
    finish_reason: Option<serde::de::IgnoredAny>,
}

#[derive(serde::Deserialize)]
struct TextDeltaWire<'a> {
    #[serde(default, borrow)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    reasoning_content: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    reasoning: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    tool_calls: Option<serde::de::IgnoredAny>,
}

impl UpstreamStream for ChatUpstream {
    fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        if ev.is_done() {
            out.push(StreamEvent::Done);
            return Ok(());
        }
        if let Ok(chunk) = serde_json::from_str::<TextChunkWire<'_>>(&ev.data)
            && chunk.error.is_none()
            && let Some(choice) = chunk.choices.first()
            && choice.finish_reason.is_none()
            && choice.delta.reasoning_content.is_none()
            && choice.delta.reasoning.is_none()
            && choice.delta.tool_calls.is_none()
        {
            if let Some(t) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
                out.push(StreamEvent::Text(t.to_owned()));
            }
            if let Some(u) = passthrough::openai_chat_usage(ev.data.as_bytes()) {
                out.push(StreamEvent::Usage(u));
            }
            return Ok(());
        }
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&ev.data) else {
            return Ok(()); // keep-alives and junk lines carry nothing
        };
        if let Some(err) = get(&o, "error") {
            return Err(StreamError::from_client(upstream_error(
                Dialect::OpenaiChat,
                502,
                err,
            )));
        }
        let choice = get(&o, "choices").and_then(|c| c.get(0));
        if let Some(delta) = choice.and_then(|c| c.get("delta")) {
            let reasoning = delta
                .get("reasoning_content")
                .or_else(|| delta.get("reasoning"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !reasoning.is_empty() {
                out.push(StreamEvent::Reasoning(reasoning.to_owned()));
            }
            if let Some(t) = delta
                .get("content")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                out.push(StreamEvent::Text(t.to_owned()));
            }
            let calls = delta.get("tool_calls").and_then(Value::as_array);
            for (pos, c) in calls.into_iter().flatten().enumerate() {
                self.tool_delta(c, pos as u64, out);
            }
        }
        if let Some(reason) = choice
            .and_then(|c| c.get("finish_reason"))
            .and_then(Value::as_str)
        {
            out.push(StreamEvent::Stop(stop_from_finish(reason)));
        }
        if let Some(u) = passthrough::openai_chat_usage(ev.data.as_bytes()) {
            out.push(StreamEvent::Usage(u));
        }
        Ok(())
    }
}

impl ChatUpstream {
    fn tool_delta(&mut self, c: &Value, pos: u64, out: &mut Vec<StreamEvent>) {
        let key = c.get("index").and_then(Value::as_u64).unwrap_or(pos);
        let id = c
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let f = c.get("function");
        let name = f
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let args = arguments_text(f.and_then(|f| f.get("arguments")));
        let known = self.calls.get(&key).cloned();
        let index = match (known, id) {
            (Some((index, known_id)), Some(id)) if known_id == id || known_id.is_empty() => index,
            (Some((index, _)), None) => index,
            (_, id) => {
                let index = self.next_call;
                self.next_call += 1;
                let id = id.map_or_else(|| format!("call_{index}"), str::to_owned);
                self.calls.insert(key, (index, id.clone()));
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id,
                    name: name.to_owned(),
                });
                index
            }
        };
        if !args.is_empty() {
            out.push(StreamEvent::ToolCallArgs { index, delta: args });
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming: IR → client chunks

/// One streamed Chat chunk, fields in the order `serde_json::Map` sorts them.
#[derive(serde::Serialize)]
struct ChunkWire<'a> {
    choices: [ChoiceWire<'a>; 1],
    created: u64,
    id: &'a str,
    model: &'a str,
    object: &'static str,
}

#[derive(serde::Serialize)]
struct ChoiceWire<'a> {
    delta: &'a Value,
    finish_reason: Option<&'a str>,
    index: u32,
    logprobs: Option<()>,
}

/// Writes Chat chunks: a role chunk with the first delta, content / `reasoning_content` /
/// `tool_calls` deltas, one chunk carrying `finish_reason`, a usage chunk, then `[DONE]`.
pub(crate) struct ChatClient {
    id: String,
    created: u64,
    model: String,
    sent_role: bool,
}

impl ChatClient {
    pub(crate) fn new(client_model: &str) -> Self {
        ChatClient {
            id: fresh_id("chatcmpl-"),
            created: now_secs(),
            model: client_model.to_owned(),
            sent_role: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>) -> SseEvent {
        // Written from a borrowed struct rather than a `json!` tree: this runs once per
        // streamed token, and building and dropping the tree was most of the translation's
        // cost. Same bytes as the tree gave (keys in sorted order).
        let wire = ChunkWire {
            choices: [ChoiceWire {
                delta: &delta,
                finish_reason: finish,
                index: 0,
                logprobs: None,
            }],
            created: self.created,
            id: &self.id,
            model: &self.model,
            object: "chat.completion.chunk",
        };
        SseEvent::data(serde_json::to_string(&wire).unwrap_or_default())
    }

    fn delta(&mut self, mut delta: Map<String, Value>, out: &mut Vec<SseEvent>) {
        if !self.sent_role {
            self.sent_role = true;
            delta.insert("role".into(), json!("assistant"));
        }
        out.push(self.chunk(Value::Object(delta), None));
    }
}

impl ClientStream for ChatClient {
    fn content(&mut self, ev: &StreamEvent, _usage: &Usage, out: &mut Vec<SseEvent>) {
        let mut d = Map::new();
        match ev {
            StreamEvent::Text(t) => {
                d.insert("content".into(), json!(t));
            }
            StreamEvent::Reasoning(t) => {
                d.insert("reasoning_content".into(), json!(t));
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                d.insert(
                    "tool_calls".into(),
                    json!([{"index": index, "id": id, "type": "function",
                            "function": {"name": name, "arguments": ""}}]),
                );
            }
            StreamEvent::ToolCallArgs { index, delta } => {
                d.insert(
                    "tool_calls".into(),
                    json!([{"index": index, "function": {"arguments": delta}}]),
                );
            }
            // Signatures and encrypted reasoning have no place in a Chat stream.
            _ => return,
        }
        self.delta(d, out);
    }

    fn finish(&mut self, stop: StopReason, usage: &Usage, out: &mut Vec<SseEvent>) {
        let mut d = Map::new();
        if !self.sent_role {
            self.sent_role = true;
            d.insert("role".into(), json!("assistant"));
            d.insert("content".into(), json!(""));
        }
        out.push(self.chunk(Value::Object(d), Some(finish_reason(stop))));
        if !usage.is_empty() {
            out.push(SseEvent::data(
                json!({
                    "id": self.id,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": usage_json(usage),
                })
                .to_string(),
            ));
        }
        out.push(SseEvent::data("[DONE]"));
    }

    fn fail(&mut self, err: &ClientError, out: &mut Vec<SseEvent>) {
        out.extend(error_event(err));
    }
}

// ---------------------------------------------------------------------------------------------
// Pass-through inspection

/// The parts of a chunk [`classify`] looks at, borrowed: reading every streamed chunk into a
/// `Value` tree cost more than the rest of forwarding it. A chunk of another shape (a field
/// of an unexpected type, a key given twice) fails here and is classified from the tree.
#[derive(serde::Deserialize)]
struct ChunkProbe<'a> {
    #[serde(default, borrow)]
    error: Option<&'a serde_json::value::RawValue>,
    #[serde(default, borrow)]
    choices: Option<Vec<ChoiceProbe<'a>>>,
}

#[derive(serde::Deserialize)]
struct ChoiceProbe<'a> {
    #[serde(default, borrow)]
    delta: Option<DeltaProbe<'a>>,
}

#[derive(serde::Deserialize)]
struct DeltaProbe<'a> {
    #[serde(default, borrow)]
    content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    tool_calls: Option<Vec<serde::de::IgnoredAny>>,
}

/// [`classify`] from the borrowed probe; `None` when the chunk is not of the usual shape.
fn classify_probe(data: &str) -> Option<crate::adapter::EventClass> {
    use crate::adapter::EventClass;
    // Only an object: the probe would also read an array positionally.
    if !data.trim_start().starts_with('{') {
        return None;
    }
    let probe: ChunkProbe<'_> = serde_json::from_str(data).ok()?;
    if let Some(err) = probe.error {
        let err: Value = serde_json::from_str(err.get()).ok()?;
        return Some(EventClass::Error {
            message: crate::adapter::error_message(&err),
        });
    }
    let Some(delta) = probe
        .choices
        .and_then(|c| c.into_iter().next())
        .and_then(|c| c.delta)
    else {
        return Some(EventClass::Meta);
    };
    let text = |t: &Option<std::borrow::Cow<'_, str>>| t.as_ref().is_some_and(|t| !t.is_empty());
    let calls = delta.tool_calls.is_some_and(|c| !c.is_empty());
    Some(
        if text(&delta.content) || text(&delta.reasoning_content) || text(&delta.reasoning) || calls
        {
            EventClass::Content
        } else {
            EventClass::Meta
        },
    )
}

pub(crate) fn classify(ev: &SseEvent) -> crate::adapter::EventClass {
    use crate::adapter::EventClass;
    if ev.is_done() {
        return EventClass::Done;
    }
    classify_probe(&ev.data).unwrap_or_else(|| classify_tree(&ev.data))
}

/// [`classify`] from the whole `Value` tree: chunks of any shape.
fn classify_tree(data: &str) -> crate::adapter::EventClass {
    use crate::adapter::EventClass;
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return EventClass::Meta;
    };
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return EventClass::Error {
            message: crate::adapter::error_message(err),
        };
    }
    let Some(delta) = v.pointer("/choices/0/delta") else {
        return EventClass::Meta;
    };
    let has_text = |k: &str| {
        delta
            .get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    let has_calls = delta
        .get("tool_calls")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if has_text("content") || has_text("reasoning_content") || has_text("reasoning") || has_calls {
        EventClass::Content
    } else {
        EventClass::Meta
    }
}

pub(crate) fn error_event(err: &ClientError) -> Vec<SseEvent> {
    vec![
        SseEvent::data(err.to_body(Dialect::OpenaiChat).to_string()),
        SseEvent::data("[DONE]"),
    ]
}

#[cfg(test)]
mod classify_tests {
    use super::*;

    /// The borrowed probe reads every chunk it accepts as the tree does, and leaves the
    /// others to it.
    #[test]
    fn probe_agrees_with_the_tree() {
        let chunks = [
            r#"{"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            r#"{"choices":[{"delta":{"content":"\u0048i \"there\""}}]}"#,
            r#"{"choices":[{"delta":{"reasoning_content":"hmm"}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":"hmm"}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}}]}"#,
            r#"{"choices":[{"delta":{"tool_calls":[]}}]}"#,
            r#"{"choices":[{"delta":{"content":null,"tool_calls":null}}]}"#,
            r#"{"choices":[{"delta":null}]}"#,
            r#"{"choices":[{"finish_reason":"stop"}]}"#,
            r#"{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5}}"#,
            r#"{"choices":null}"#,
            r#"{"choices":[null]}"#,
            r#"{"choices":{"0":{"delta":{"content":"keyed"}}}}"#,
            r#"{"choices":[{"delta":{"content":7}}]}"#,
            r#"{"choices":[{"delta":{"content":"a"}}],"choices":[]}"#,
            r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
            r#"{"error":"plain text"}"#,
            r#"{"error":null,"choices":[{"delta":{"content":"x"}}]}"#,
            r#"[{"message":"not an object"},[{"delta":{"content":"x"}}]]"#,
            r#"  {"choices":[{"delta":{"content":"lead"}}]}"#,
            "not json",
            "",
        ];
        for data in chunks {
            let tree = classify_tree(data);
            if let Some(probe) = classify_probe(data) {
                assert_eq!(probe, tree, "{data}");
            }
            assert_eq!(classify(&SseEvent::data(data)), tree, "{data}");
        }
        // The usual chunks are read by the probe.
        assert_eq!(
            classify_probe(chunks[1]),
            Some(crate::adapter::EventClass::Content)
        );
        assert_eq!(
            classify_probe(chunks[0]),
            Some(crate::adapter::EventClass::Meta)
        );
    }
}
