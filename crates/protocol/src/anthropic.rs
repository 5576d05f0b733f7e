//! Anthropic Messages (`/v1/messages`): request, response and stream events to and from the IR.
//!
//! Claude Code's oddities are accepted: a `role: "system"` message inside `messages` (hoisted
//! into the system prompt), `thinking: {type: "adaptive"}` with `output_config.effort`,
//! `cache_control` and `context_management` (ignored). Thinking blocks are only sent upstream
//! with their signature: Anthropic rejects unsigned ones. Structured output is
//! `output_config.format` (also read from the beta `output_format`); "any JSON object" goes out
//! as one forced tool whose input is read back as the answer's text.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::adapter::{
    ClientStream, EventClass, Quirks, StreamError, UpstreamStream, error_message, fresh_id,
    upstream_error,
};
use crate::error::ClientError;
use crate::ir::{
    self, FunctionTool, Image, Message, Part, ReasoningConfig, ResponseFormat, Role, Signature,
    StopReason, StreamEvent, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use crate::lenient::{
    Obj, arguments_object, as_obj, get, invalid, opt_array, opt_bool, opt_f64, opt_obj, opt_str,
    opt_u64, parse_object, req_str, stop_list, text_of,
};
use crate::passthrough::AnthropicUsageWire;
use crate::sse::SseEvent;
use crate::{Dialect, openai_chat, schema};

/// Used when the client gave no output cap: Anthropic requires one.
const DEFAULT_MAX_TOKENS: u64 = 8192;
/// Anthropic's minimum thinking budget.
const MIN_THINKING_BUDGET: u64 = 1024;
/// The forced tool that carries an "any JSON object" answer (see [`encode_request`]); a call
/// to it is read back as text.
const JSON_TOOL: &str = "json_response";

// ---------------------------------------------------------------------------------------------
// Requests

pub(crate) fn decode_request(body: &[u8]) -> Result<ir::Request, ClientError> {
    let o = parse_object(body)?;
    let mut req = ir::Request {
        model: req_str(&o, "model", "")?.to_owned(),
        stream: opt_bool(&o, "stream", "")?.unwrap_or(false),
        ..Default::default()
    };
    match get(&o, "system") {
        None => {}
        Some(Value::String(s)) => req.system.push(s.clone()),
        Some(Value::Array(blocks)) => {
            let text: Vec<&str> = blocks
                .iter()
                .filter_map(|b| b.get("text").and_then(Value::as_str))
                .collect();
            if !text.is_empty() {
                req.system.push(text.join("\n\n"));
            }
        }
        Some(_) => return Err(invalid("system", "`system` must be a string or an array")),
    }
    let messages = match get(&o, "messages") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(invalid("messages", "`messages` must be an array")),
        None => return Err(invalid("messages", "`messages` is required")),
    };
    for (i, m) in messages.iter().enumerate() {
        let path = format!("messages[{i}]");
        let m = as_obj(m, &path)?;
        let role = req_str(m, "role", &path)?;
        let cpath = format!("{path}.content");
        match role {
            "system" => req
                .system
                .push(get(m, "content").map(text_of).unwrap_or_default()),
            "user" | "assistant" => {
                let role = if role == "user" {
                    Role::User
                } else {
                    Role::Assistant
                };
                let content = decode_content(get(m, "content"), &cpath)?;
                req.messages.push(Message { role, content });
            }
            other => {
                return Err(invalid(
                    &format!("{path}.role"),
                    format!("unknown role `{other}`"),
                ));
            }
        }
    }
    for (i, t) in opt_array(&o, "tools", "")?.iter().enumerate() {
        let path = format!("tools[{i}]");
        let t = as_obj(t, &path)?;
        req.tools.push(match opt_str(t, "type", &path)? {
            None | Some("custom") => Tool::Function(FunctionTool {
                name: req_str(t, "name", &path)?.to_owned(),
                description: opt_str(t, "description", &path)?.map(str::to_owned),
                parameters: get(t, "input_schema")
                    .cloned()
                    .unwrap_or_else(openai_chat::empty_schema),
                strict: opt_bool(t, "strict", &path)?,
            }),
            Some(_) => Tool::Hosted {
                dialect: Dialect::Anthropic,
                spec: Value::Object(t.clone()),
            },
        });
    }
    if let Some(tc) = opt_obj(&o, "tool_choice", "")? {
        req.tool_choice = Some(match opt_str(tc, "type", "tool_choice")? {
            Some("any") => ToolChoice::Required,
            Some("none") => ToolChoice::None,
            Some("tool") => ToolChoice::Tool(req_str(tc, "name", "tool_choice")?.to_owned()),
            _ => ToolChoice::Auto,
        });
        if opt_bool(tc, "disable_parallel_tool_use", "tool_choice")? == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
    }
    req.sampling.temperature = opt_f64(&o, "temperature", "")?;
    req.sampling.top_p = opt_f64(&o, "top_p", "")?;
    req.sampling.stop = stop_list(&o, "stop_sequences", "")?;
    req.sampling.max_tokens = opt_u64(&o, "max_tokens", "")?;
    let output_config = opt_obj(&o, "output_config", "")?;
    let effort = match output_config {
        Some(c) => opt_str(c, "effort", "output_config")?.map(str::to_owned),
        None => None,
    };
    if let Some(th) = opt_obj(&o, "thinking", "")? {
        req.reasoning = Some(match opt_str(th, "type", "thinking")? {
            Some("disabled") => ReasoningConfig {
                disabled: true,
                ..Default::default()
            },
            _ => ReasoningConfig {
                effort: effort.clone(),
                budget_tokens: opt_u64(th, "budget_tokens", "thinking")?,
                ..Default::default()
            },
        });
    } else if effort.is_some() {
        req.reasoning = Some(ReasoningConfig {
            effort,
            ..Default::default()
        });
    }
    let format = output_config
        .and_then(|c| c.get("format"))
        .or_else(|| get(&o, "output_format"))
        .and_then(Value::as_object);
    if let Some(f) = format
        && f.get("type").and_then(Value::as_str) == Some("json_schema")
    {
        req.response_format = Some(ResponseFormat::JsonSchema {
            name: "response".to_owned(),
            schema: f
                .get("schema")
                .cloned()
                .unwrap_or_else(openai_chat::empty_schema),
            strict: Some(true),
        });
    }
    if let Some(md) = opt_obj(&o, "metadata", "")? {
        req.metadata.user_id = opt_str(md, "user_id", "metadata")?.map(str::to_owned);
    }
    Ok(req)
}

fn decode_content(content: Option<&Value>, path: &str) -> Result<Vec<Part>, ClientError> {
    let blocks = match content {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(blocks)) => blocks,
        Some(_) => return Err(invalid(path, "`content` must be a string or an array")),
    };
    let mut parts = Vec::new();
    for (i, b) in blocks.iter().enumerate() {
        let bpath = format!("{path}[{i}]");
        let b = as_obj(b, &bpath)?;
        if let Some(p) = decode_block(b, &bpath)? {
            parts.push(p);
        }
    }
    Ok(parts)
}

fn decode_block(b: &Obj, path: &str) -> Result<Option<Part>, ClientError> {
    Ok(Some(match req_str(b, "type", path)? {
        "text" => Part::Text(req_str(b, "text", path)?.to_owned()),
        "image" => {
            let spath = format!("{path}.source");
            let src = opt_obj(b, "source", path)?
                .ok_or_else(|| invalid(&spath, "`source` is required"))?;
            Part::Image(match opt_str(src, "type", &spath)? {
                Some("url") => Image::Url(req_str(src, "url", &spath)?.to_owned()),
                _ => Image::Base64 {
                    media_type: req_str(src, "media_type", &spath)?.to_owned(),
                    data: req_str(src, "data", &spath)?.to_owned(),
                },
            })
        }
        "tool_use" => Part::ToolCall(ToolCall {
            id: req_str(b, "id", path)?.to_owned(),
            name: req_str(b, "name", path)?.to_owned(),
            arguments: get(b, "input").map_or_else(|| "{}".to_owned(), Value::to_string),
        }),
        "tool_result" => {
            let content = match get(b, "content") {
                Some(Value::String(s)) => vec![Part::Text(s.clone())],
                Some(Value::Array(_)) => {
                    decode_content(get(b, "content"), &format!("{path}.content"))?
                        .into_iter()
                        .filter(|p| matches!(p, Part::Text(_) | Part::Image(_)))
                        .collect()
                }
                _ => Vec::new(),
            };
            Part::ToolResult(ToolResult {
                call_id: req_str(b, "tool_use_id", path)?.to_owned(),
                name: None,
                content,
                is_error: opt_bool(b, "is_error", path)?.unwrap_or(false),
            })
        }
        "thinking" => Part::Reasoning(ir::Reasoning {
            text: opt_str(b, "thinking", path)?.unwrap_or_default().to_owned(),
            signature: opt_str(b, "signature", path)?
                .filter(|s| !s.is_empty())
                .map(|s| Signature::from_client(Dialect::Anthropic, s)),
            redacted: false,
        }),
        "redacted_thinking" => Part::Reasoning(ir::Reasoning {
            text: String::new(),
            signature: Some(Signature::new(
                Dialect::Anthropic,
                req_str(b, "data", path)?,
            )),
            redacted: true,
        }),
        // Documents, server tool blocks, search results: no IR equivalent.
        _ => return Ok(None),
    }))
}

pub(crate) fn encode_request(req: &ir::Request, model: &str, quirks: &Quirks) -> Value {
    let mut o = Map::new();
    o.insert("model".into(), json!(model));
    let system = req.system.join("\n\n");
    if !system.is_empty() {
        o.insert("system".into(), json!(system));
    }
    let mut messages: Vec<(Role, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let mut blocks = encode_blocks(m.role, &m.content);
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            // Anthropic wants alternating turns; merge what the source dialect split.
            Some((role, prev)) if *role == m.role => prev.append(&mut blocks),
            _ => messages.push((m.role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, mut blocks)| {
            // Tool results must open a user turn.
            blocks.sort_by_key(|b| b.get("type").and_then(Value::as_str) != Some("tool_result"));
            json!({"role": if role == Role::User {"user"} else {"assistant"}, "content": blocks})
        })
        .collect();
    let default_cap = quirks.default_max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    // "Any JSON object" has no native form on the Messages API: the documented technique is
    // one forced tool taking any object, whose input comes back as the message text
    // (`JSON_TOOL`). Anthropic does not allow forcing a tool while thinking.
    let json_tool = req.response_format == Some(ResponseFormat::JsonObject);
    let thinking_budget = thinking_budget(
        req.reasoning.as_ref(),
        req.sampling.max_tokens.unwrap_or(u64::MAX),
    )
    .filter(|_| tool_turn_is_signed(&messages) && !json_tool);
    let max_tokens = match (req.sampling.max_tokens, thinking_budget) {
        (Some(cap), _) => cap,
        // No cap from the client: leave room for an answer after the thinking.
        (None, Some(budget)) => budget + default_cap,
        (None, None) => default_cap,
    };
    o.insert("max_tokens".into(), json!(max_tokens));
    o.insert("messages".into(), Value::Array(messages));
    let mut tools: Vec<Value> = req
        .tools
        .iter()
        .filter_map(|t| match t {
            Tool::Function(f) => {
                let mut t = json!({"name": f.name, "input_schema": f.parameters});
                if let (Some(d), Some(obj)) = (&f.description, t.as_object_mut()) {
                    obj.insert("description".into(), json!(d));
                }
                Some(t)
            }
            Tool::Hosted {
                dialect: Dialect::Anthropic,
                spec,
            } => Some(spec.clone()),
            Tool::Hosted { .. } => None,
        })
        .collect();
    if json_tool {
        tools.push(json!({
            "name": JSON_TOOL,
            "description": "Give your answer as a JSON object: the input of this tool.",
            "input_schema": {"type": "object"},
        }));
        o.insert("tools".into(), Value::Array(tools));
        o.insert(
            "tool_choice".into(),
            json!({"type": "tool", "name": JSON_TOOL}),
        );
    } else if !tools.is_empty() {
        o.insert("tools".into(), Value::Array(tools));
        let mut choice = match &req.tool_choice {
            None | Some(ToolChoice::Auto) => json!({"type": "auto"}),
            Some(ToolChoice::None) => json!({"type": "none"}),
            Some(ToolChoice::Required) => json!({"type": "any"}),
            Some(ToolChoice::Tool(name)) => json!({"type": "tool", "name": name}),
        };
        if req.parallel_tool_calls == Some(false)
            && let Some(c) = choice.as_object_mut()
        {
            c.insert("disable_parallel_tool_use".into(), json!(true));
        }
        if req.tool_choice.is_some() || req.parallel_tool_calls == Some(false) {
            o.insert("tool_choice".into(), choice);
        }
    }
    if let Some(budget) = thinking_budget {
        o.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    } else {
        // Anthropic rejects sampling overrides while thinking; only send them without it.
        if let Some(t) = req.sampling.temperature {
            o.insert("temperature".into(), json!(t));
        }
        if let Some(p) = req.sampling.top_p {
            o.insert("top_p".into(), json!(p));
        }
    }
    if !req.sampling.stop.is_empty() {
        o.insert("stop_sequences".into(), json!(req.sampling.stop));
    }
    if let Some(ResponseFormat::JsonSchema { schema, .. }) = &req.response_format {
        o.insert(
            "output_config".into(),
            json!({"format": {"type": "json_schema", "schema": schema::for_anthropic(schema)}}),
        );
    }
    if let Some(user) = &req.metadata.user_id {
        o.insert("metadata".into(), json!({"user_id": user}));
    }
    if req.stream {
        o.insert("stream".into(), json!(true));
    }
    Value::Object(o)
}

/// A pass-through request with the thinking Anthropic would refuse taken out of its history:
/// thinking blocks that are unsigned or signed through another dialect, redacted thinking from
/// another dialect. If the last tool turn is then unsigned, thinking is left off for this
/// request, as on translated routes. `None` when nothing needs taking out (found by a byte
/// search first).
pub(crate) fn strip_foreign_thinking(body: &[u8]) -> Option<Vec<u8>> {
    if !crate::passthrough::has_tagged_signature(body)
        && !crate::passthrough::has_empty_signature(body)
    {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let o = v.as_object_mut()?;
    let mut changed = false;
    for m in o.get_mut("messages")?.as_array_mut()? {
        if m["role"] != "assistant" {
            continue;
        }
        let Some(blocks) = m.get_mut("content").and_then(Value::as_array_mut) else {
            continue;
        };
        let before = blocks.len();
        blocks.retain(|b| {
            let native = |field: &str| {
                b[field]
                    .as_str()
                    .is_some_and(|s| Signature::is_native(Dialect::Anthropic, s))
            };
            match b["type"].as_str() {
                Some("thinking") => native("signature"),
                Some("redacted_thinking") => native("data"),
                _ => true,
            }
        });
        changed |= blocks.len() != before;
    }
    if !changed {
        return None;
    }
    let thinking_on = o.get("thinking").is_some_and(|t| t["type"] != "disabled");
    let signed = o
        .get("messages")
        .and_then(Value::as_array)
        .is_none_or(|m| tool_turn_is_signed(m));
    if thinking_on && !signed {
        o.remove("thinking");
    }
    serde_json::to_vec(&v).ok()
}

/// With thinking on, Anthropic requires the assistant turn whose tool calls are being answered
/// to open with a signed thinking block. A history that came through another dialect usually
/// has none; thinking is then left off for this request rather than failing it. Judged on the
/// encoded `messages`, i.e. what Anthropic will actually see.
fn tool_turn_is_signed(messages: &[Value]) -> bool {
    let Some(last) = messages.iter().rev().find(|m| m["role"] == "assistant") else {
        return true;
    };
    let blocks = last["content"].as_array().map_or(&[][..], Vec::as_slice);
    let kind = |b: &Value| b["type"].as_str().unwrap_or_default().to_owned();
    !blocks.iter().any(|b| kind(b) == "tool_use")
        || blocks
            .first()
            .is_some_and(|b| matches!(kind(b).as_str(), "thinking" | "redacted_thinking"))
}

/// The thinking budget to request, if any: the explicit budget or one derived from the effort,
/// kept below `max_tokens` as Anthropic requires; `None` when that leaves less than the minimum.
fn thinking_budget(r: Option<&ReasoningConfig>, max_tokens: u64) -> Option<u64> {
    let r = r.filter(|r| !r.disabled)?;
    let budget = r
        .budget_tokens
        .unwrap_or_else(|| ir::effort_to_budget(r.effort.as_deref().unwrap_or("medium")));
    let budget = if budget >= max_tokens {
        max_tokens / 2
    } else {
        budget
    };
    (budget >= MIN_THINKING_BUDGET).then_some(budget)
}

fn encode_blocks(role: Role, parts: &[Part]) -> Vec<Value> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) if t.is_empty() => None, // Anthropic rejects empty text blocks
            Part::Text(t) => Some(json!({"type": "text", "text": t})),
            Part::Image(img) => Some(image_block(img)),
            Part::ToolCall(c) if role == Role::Assistant => Some(json!({
                "type": "tool_use",
                "id": c.id,
                "name": c.name,
                "input": arguments_object(&c.arguments),
            })),
            Part::ToolCall(_) => None,
            Part::ToolResult(r) => {
                let content: Vec<Value> = r
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(json!({"type": "text", "text": t})),
                        Part::Image(img) => Some(image_block(img)),
                        _ => None,
                    })
                    .collect();
                let mut b =
                    json!({"type": "tool_result", "tool_use_id": r.call_id, "content": content});
                if r.is_error
                    && let Some(o) = b.as_object_mut()
                {
                    o.insert("is_error".into(), json!(true));
                }
                Some(b)
            }
            // Only Anthropic's own signatures are accepted, and unsigned thinking is rejected.
            Part::Reasoning(r) if role == Role::Assistant => {
                let sig = r.signature.as_ref()?.for_upstream(Dialect::Anthropic)?;
                Some(if r.redacted {
                    json!({"type": "redacted_thinking", "data": sig})
                } else {
                    json!({"type": "thinking", "thinking": r.text, "signature": sig})
                })
            }
            Part::Reasoning(_) => None,
        })
        .collect()
}

fn image_block(img: &Image) -> Value {
    match img {
        Image::Url(u) => json!({"type": "image", "source": {"type": "url", "url": u}}),
        Image::Base64 { media_type, data } => json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Responses (non-streaming)

pub(crate) fn decode_response(body: &[u8]) -> Result<ir::Response, ClientError> {
    let (o, mut resp) = crate::adapter::response_envelope(Dialect::Anthropic, body)?;
    resp.stop_reason = get(&o, "stop_reason")
        .and_then(Value::as_str)
        .map(stop_from_wire);
    resp.usage = get(&o, "usage")
        .and_then(|u| serde_json::from_value::<AnthropicUsageWire>(u.clone()).ok())
        .map(|u| u.to_usage())
        .unwrap_or_default();
    let mut json_answer = false;
    for (i, b) in get(&o, "content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(b) = b.as_object()
            && let Ok(Some(p)) = decode_block(b, &format!("content[{i}]"))
        {
            resp.content.push(match p {
                Part::ToolCall(c) if c.name == JSON_TOOL => {
                    json_answer = true;
                    Part::Text(c.arguments)
                }
                p => p,
            });
        }
    }
    let calls = resp.content.iter().any(|p| matches!(p, Part::ToolCall(_)));
    if json_answer && !calls && resp.stop_reason == Some(StopReason::ToolUse) {
        resp.stop_reason = Some(StopReason::EndTurn);
    }
    Ok(resp)
}

fn stop_from_wire(s: &str) -> StopReason {
    match s {
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::ContentFilter,
        _ => StopReason::EndTurn,
    }
}

fn stop_to_wire(s: StopReason) -> &'static str {
    match s {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter => "refusal",
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens.saturating_sub(u.cached_tokens).saturating_sub(u.cache_write_tokens),
        "output_tokens": u.completion_tokens,
        "cache_read_input_tokens": u.cached_tokens,
        "cache_creation_input_tokens": u.cache_write_tokens,
    })
}

pub(crate) fn encode_response(resp: &ir::Response, client_model: &str) -> Value {
    let content: Vec<Value> = resp
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(json!({"type": "text", "text": t})),
            Part::ToolCall(c) => Some(json!({
                "type": "tool_use",
                "id": tool_use_id(&c.id),
                "name": c.name,
                "input": arguments_object(&c.arguments),
            })),
            Part::Reasoning(r) if r.redacted => r
                .signature
                .as_ref()
                .and_then(|s| s.for_upstream(Dialect::Anthropic))
                .map(|d| json!({"type": "redacted_thinking", "data": d})),
            Part::Reasoning(r) if !r.text.is_empty() || r.signature.is_some() => Some(json!({
                "type": "thinking",
                "thinking": r.text,
                "signature": r.signature.as_ref().map(|s| s.to_client(Dialect::Anthropic)).unwrap_or_default(),
            })),
            _ => None,
        })
        .collect();
    json!({
        "id": message_id(&resp.id),
        "type": "message",
        "role": "assistant",
        "model": client_model,
        "content": content,
        "stop_reason": stop_to_wire(resp.stop_reason.unwrap_or(StopReason::EndTurn)),
        "stop_sequence": null,
        "usage": usage_json(&resp.usage),
    })
}

fn message_id(upstream: &str) -> String {
    if upstream.starts_with("msg_") {
        upstream.to_owned()
    } else {
        fresh_id("msg_")
    }
}

fn tool_use_id(id: &str) -> String {
    if id.is_empty() {
        fresh_id("toolu_")
    } else {
        id.to_owned()
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming: upstream events → IR

#[derive(Default)]
pub(crate) struct AnthropicUpstream {
    /// content block index → tool-call ordinal
    tool_blocks: HashMap<u64, u32>,
    next_call: u32,
    /// content block index of a `JSON_TOOL` call, whose input streams out as text
    json_block: Option<u64>,
}

/// A text or thinking delta, the bulk of every stream, read without building a JSON tree.
#[derive(serde::Deserialize)]
struct TextDeltaWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    delta: DeltaWire<'a>,
}

#[derive(serde::Deserialize)]
struct DeltaWire<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<std::borrow::Cow<'a, str>>,
}

impl UpstreamStream for AnthropicUpstream {
    fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        // Fast path for text and thinking deltas; anything else (or anything unexpected in
        // them) takes the general path below.
        if ev
            .event
            .as_deref()
            .is_none_or(|e| e == "content_block_delta")
            && let Ok(d) = serde_json::from_str::<TextDeltaWire<'_>>(&ev.data)
            && d.kind == "content_block_delta"
        {
            let text = match (&*d.delta.kind, d.delta.text, d.delta.thinking) {
                ("text_delta", Some(t), _) => Some((StreamEvent::Text as fn(String) -> _, t)),
                ("thinking_delta", _, Some(t)) => {
                    Some((StreamEvent::Reasoning as fn(String) -> _, t))
                }
                _ => None,
            };
            if let Some((make, t)) = text {
                push_text(out, make, &t);
                return Ok(());
            }
        }
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return Ok(());
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or_default();
        let str_at = |p: &str| v.pointer(p).and_then(Value::as_str).unwrap_or_default();
        match kind {
            "message_start" => {
                if let Some(u) = v.pointer("/message/usage") {
                    out.push(StreamEvent::Usage(usage_of(u)));
                }
            }
            "content_block_start" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                match str_at("/content_block/type") {
                    "text" => push_text(out, StreamEvent::Text, str_at("/content_block/text")),
                    "thinking" => push_text(
                        out,
                        StreamEvent::Reasoning,
                        str_at("/content_block/thinking"),
                    ),
                    "redacted_thinking" => out.push(StreamEvent::RedactedReasoning(
                        str_at("/content_block/data").to_owned(),
                    )),
                    "tool_use" if str_at("/content_block/name") == JSON_TOOL => {
                        self.json_block = Some(index);
                        if let Some(input) = v
                            .pointer("/content_block/input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                        {
                            out.push(StreamEvent::Text(input.to_string()));
                        }
                    }
                    "tool_use" => {
                        let call = self.next_call;
                        self.next_call += 1;
                        self.tool_blocks.insert(index, call);
                        out.push(StreamEvent::ToolCallStart {
                            index: call,
                            id: str_at("/content_block/id").to_owned(),
                            name: str_at("/content_block/name").to_owned(),
                        });
                        // Some compatible providers send the whole input up front.
                        if let Some(input) = v
                            .pointer("/content_block/input")
                            .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                        {
                            out.push(StreamEvent::ToolCallArgs {
                                index: call,
                                delta: input.to_string(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = v.get("index").and_then(Value::as_u64).unwrap_or(0);
                match str_at("/delta/type") {
                    "text_delta" => push_text(out, StreamEvent::Text, str_at("/delta/text")),
                    "thinking_delta" => {
                        push_text(out, StreamEvent::Reasoning, str_at("/delta/thinking"))
                    }
                    "signature_delta" => out.push(StreamEvent::ReasoningSignature(
                        str_at("/delta/signature").to_owned(),
                    )),
                    "input_json_delta" if self.json_block == Some(index) => {
                        push_text(out, StreamEvent::Text, str_at("/delta/partial_json"));
                    }
                    "input_json_delta" => {
                        let delta = str_at("/delta/partial_json");
                        if let (Some(&call), false) =
                            (self.tool_blocks.get(&index), delta.is_empty())
                        {
                            out.push(StreamEvent::ToolCallArgs {
                                index: call,
                                delta: delta.to_owned(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(s) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    let stop = match stop_from_wire(s) {
                        // The only tool called was the JSON answer: a plain end of turn.
                        StopReason::ToolUse
                            if self.json_block.is_some() && self.tool_blocks.is_empty() =>
                        {
                            StopReason::EndTurn
                        }
                        stop => stop,
                    };
                    out.push(StreamEvent::Stop(stop));
                }
                if let Some(u) = v.get("usage") {
                    out.push(StreamEvent::Usage(usage_of(u)));
                }
            }
            "message_stop" => out.push(StreamEvent::Done),
            "error" => {
                let err = v.get("error").cloned().unwrap_or(Value::Null);
                return Err(StreamError::from_client(upstream_error(
                    Dialect::Anthropic,
                    0,
                    &err,
                )));
            }
            _ => {}
        }
        Ok(())
    }
}

fn push_text(out: &mut Vec<StreamEvent>, make: fn(String) -> StreamEvent, text: &str) {
    if !text.is_empty() {
        out.push(make(text.to_owned()));
    }
}

fn usage_of(u: &Value) -> Usage {
    serde_json::from_value::<AnthropicUsageWire>(u.clone())
        .map(|w| w.to_usage())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Streaming: IR → client events

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool(u32),
}

/// Writes `message_start`, then one content block per run of text / thinking / tool call
/// (`content_block_start`, deltas, `content_block_stop`), then `message_delta` and
/// `message_stop`.
pub(crate) struct AnthropicClient {
    /// Who issued the signatures in this stream.
    upstream: Dialect,
    id: String,
    model: String,
    started: bool,
    open: Option<(u32, Block)>,
    next_block: u32,
    /// tool-call ordinal → block index, for argument deltas that arrive after their block
    /// was closed (providers that interleave parallel calls)
    tool_blocks: HashMap<u32, u32>,
}

impl AnthropicClient {
    pub(crate) fn new(client_model: &str, upstream: Dialect) -> Self {
        AnthropicClient {
            upstream,
            id: fresh_id("msg_"),
            model: client_model.to_owned(),
            started: false,
            open: None,
            next_block: 0,
            tool_blocks: HashMap::new(),
        }
    }

    fn start(&mut self, usage: &Usage, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let mut u = usage_json(usage);
        if let Some(o) = u.as_object_mut() {
            o.insert("output_tokens".into(), json!(0));
        }
        emit(
            out,
            "message_start",
            json!({
                "type": "message_start",
                "message": {
                    "id": self.id, "type": "message", "role": "assistant", "model": self.model,
                    "content": [], "stop_reason": null, "stop_sequence": null, "usage": u,
                },
            }),
        );
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        if let Some((index, _)) = self.open.take() {
            emit(
                out,
                "content_block_stop",
                json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    /// Makes `kind` the open block, starting it with `start` if it is not already open.
    fn open(&mut self, kind: Block, start: Value, out: &mut Vec<SseEvent>) -> u32 {
        if let Some((index, open)) = self.open
            && open == kind
        {
            return index;
        }
        self.close(out);
        let index = self.next_block;
        self.next_block += 1;
        self.open = Some((index, kind));
        emit(
            out,
            "content_block_start",
            json!({"type": "content_block_start", "index": index, "content_block": start}),
        );
        index
    }

    fn delta(out: &mut Vec<SseEvent>, index: u32, delta: Value) {
        // Once per streamed token: written from a borrowed struct (keys in the order
        // `serde_json::Map` sorts them, so the bytes are those of the `json!` tree).
        #[derive(serde::Serialize)]
        struct DeltaEvent<'a> {
            delta: &'a Value,
            index: u32,
            #[serde(rename = "type")]
            kind: &'static str,
        }
        let data = DeltaEvent {
            delta: &delta,
            index,
            kind: "content_block_delta",
        };
        out.push(SseEvent::named(
            "content_block_delta",
            serde_json::to_string(&data).unwrap_or_default(),
        ));
    }
}

fn emit(out: &mut Vec<SseEvent>, name: &str, data: Value) {
    // `to_string` on a `Value` goes through `fmt::Write`; serialising to bytes is faster.
    out.push(SseEvent::named(
        name,
        serde_json::to_string(&data).unwrap_or_default(),
    ));
}

impl ClientStream for AnthropicClient {
    fn content(&mut self, ev: &StreamEvent, usage: &Usage, out: &mut Vec<SseEvent>) {
        self.start(usage, out);
        let thinking_start = || json!({"type": "thinking", "thinking": "", "signature": ""});
        match ev {
            StreamEvent::Text(t) => {
                let i = self.open(Block::Text, json!({"type": "text", "text": ""}), out);
                Self::delta(out, i, json!({"type": "text_delta", "text": t}));
            }
            StreamEvent::Reasoning(t) => {
                let i = self.open(Block::Thinking, thinking_start(), out);
                Self::delta(out, i, json!({"type": "thinking_delta", "thinking": t}));
            }
            StreamEvent::ReasoningSignature(s) => {
                let i = self.open(Block::Thinking, thinking_start(), out);
                let signature =
                    Signature::new(self.upstream, s.as_str()).to_client(Dialect::Anthropic);
                Self::delta(
                    out,
                    i,
                    json!({"type": "signature_delta", "signature": signature}),
                );
            }
            StreamEvent::RedactedReasoning(data) => {
                self.close(out);
                let index = self.next_block;
                self.next_block += 1;
                emit(
                    out,
                    "content_block_start",
                    json!({"type": "content_block_start", "index": index,
                           "content_block": {"type": "redacted_thinking", "data": data}}),
                );
                emit(
                    out,
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": index}),
                );
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.close(out);
                let block = self.open(
                    Block::Tool(*index),
                    json!({"type": "tool_use", "id": tool_use_id(id), "name": name, "input": {}}),
                    out,
                );
                self.tool_blocks.insert(*index, block);
            }
            StreamEvent::ToolCallArgs { index, delta } => {
                if let Some(&block) = self.tool_blocks.get(index) {
                    Self::delta(
                        out,
                        block,
                        json!({"type": "input_json_delta", "partial_json": delta}),
                    );
                }
            }
            // Usage and stop are handled by `finish`.
            _ => {}
        }
    }

    fn finish(&mut self, stop: StopReason, usage: &Usage, out: &mut Vec<SseEvent>) {
        self.start(usage, out);
        self.close(out);
        emit(
            out,
            "message_delta",
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": stop_to_wire(stop), "stop_sequence": null},
                "usage": usage_json(usage),
            }),
        );
        emit(out, "message_stop", json!({"type": "message_stop"}));
    }

    fn fail(&mut self, err: &ClientError, out: &mut Vec<SseEvent>) {
        out.extend(error_event(err));
    }
}

// ---------------------------------------------------------------------------------------------
// Pass-through inspection

pub(crate) fn classify(ev: &SseEvent) -> EventClass {
    let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
        return EventClass::Meta;
    };
    let non_empty = |p: &str| {
        v.pointer(p)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    match v.get("type").and_then(Value::as_str).unwrap_or_default() {
        "error" => EventClass::Error {
            message: v.get("error").map_or_else(String::new, error_message),
        },
        "message_stop" => EventClass::Done,
        "content_block_start"
            if matches!(
                v.pointer("/content_block/type").and_then(Value::as_str),
                Some("tool_use" | "redacted_thinking")
            ) || non_empty("/content_block/text") =>
        {
            EventClass::Content
        }
        "content_block_delta"
            if non_empty("/delta/text")
                || non_empty("/delta/partial_json")
                || non_empty("/delta/thinking") =>
        {
            EventClass::Content
        }
        _ => EventClass::Meta,
    }
}

pub(crate) fn error_event(err: &ClientError) -> Vec<SseEvent> {
    vec![SseEvent::named(
        "error",
        err.to_body(Dialect::Anthropic).to_string(),
    )]
}
