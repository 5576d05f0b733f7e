//! OpenAI Responses (`/v1/responses`): request items, response objects and the typed event
//! stream to and from the IR.
//!
//! Codex's requests carry the system prompt as a `developer` input item (hoisted into the IR's
//! system prompt), `namespace` tools (flattened: each inner function becomes a function named
//! `{namespace}__{name}`), hosted tools such as `web_search` (kept only for Responses
//! upstreams) and `include: ["reasoning.encrypted_content"]`. Encoded upstream requests are
//! stateless (`store: false`), since a routed conversation cannot rely on one provider's stored
//! state.

use std::collections::HashMap;

use serde_json::{Map, Value, json};

use crate::adapter::{
    ClientStream, EventClass, StreamError, UpstreamStream, error_message, fresh_id, now_secs,
    upstream_error,
};
use crate::error::ClientError;
use crate::ir::{
    self, FunctionTool, Message, Part, ReasoningConfig, ResponseFormat, Role, Signature,
    StopReason, StreamEvent, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use crate::lenient::{
    Obj, as_obj, get, invalid, opt_array, opt_bool, opt_f64, opt_obj, opt_str, opt_u64,
    parse_object, req_str, text_of,
};
use crate::passthrough::ResponsesUsageWire;
use crate::sse::SseEvent;
use crate::{Dialect, openai_chat, schema};

/// Separator between a namespace and a tool name when namespace tools are flattened.
pub const NAMESPACE_SEPARATOR: &str = "__";

// ---------------------------------------------------------------------------------------------
// Requests

pub(crate) fn decode_request(body: &[u8]) -> Result<ir::Request, ClientError> {
    let o = parse_object(body)?;
    let mut req = ir::Request {
        model: req_str(&o, "model", "")?.to_owned(),
        stream: opt_bool(&o, "stream", "")?.unwrap_or(false),
        ..Default::default()
    };
    if let Some(instructions) = opt_str(&o, "instructions", "")?.filter(|s| !s.is_empty()) {
        req.system.push(instructions.to_owned());
    }
    match get(&o, "input") {
        None => {}
        Some(Value::String(s)) => req.messages.push(Message::text(Role::User, s.clone())),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let path = format!("input[{i}]");
                decode_item(as_obj(item, &path)?, &path, &mut req)?;
            }
        }
        Some(_) => return Err(invalid("input", "`input` must be a string or an array")),
    }
    for (i, t) in opt_array(&o, "tools", "")?.iter().enumerate() {
        let path = format!("tools[{i}]");
        decode_tool(as_obj(t, &path)?, &path, None, &mut req.tools)?;
    }
    req.tool_choice = match get(&o, "tool_choice") {
        None => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => ToolChoice::Auto,
        }),
        Some(Value::Object(c)) => Some(match c.get("name").and_then(Value::as_str) {
            Some(name) => ToolChoice::Tool(name.to_owned()),
            None => ToolChoice::Required,
        }),
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
    req.sampling.max_tokens = opt_u64(&o, "max_output_tokens", "")?;
    if let Some(text) = opt_obj(&o, "text", "")?
        && let Some(f) = opt_obj(text, "format", "text")?
    {
        req.response_format = match opt_str(f, "type", "text.format")? {
            Some("json_object") => Some(ResponseFormat::JsonObject),
            Some("json_schema") => Some(ResponseFormat::JsonSchema {
                name: opt_str(f, "name", "text.format")?
                    .unwrap_or("response")
                    .to_owned(),
                schema: get(f, "schema")
                    .cloned()
                    .unwrap_or_else(openai_chat::empty_schema),
                strict: opt_bool(f, "strict", "text.format")?,
            }),
            Some("text") => Some(ResponseFormat::Text),
            _ => None,
        };
    }
    if let Some(r) = opt_obj(&o, "reasoning", "")? {
        let effort = opt_str(r, "effort", "reasoning")?;
        req.reasoning = Some(ReasoningConfig {
            effort: effort.map(str::to_owned),
            summary: opt_str(r, "summary", "reasoning")?.map(str::to_owned),
            disabled: effort == Some("none"),
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

/// Appends a part to the last message when it has `role` (and, for user turns, when both
/// are tool results), else starts a new message: consecutive assistant items are one turn.
fn push_part(req: &mut ir::Request, role: Role, part: Part) {
    let is_result = matches!(part, Part::ToolResult(_));
    match req.messages.last_mut() {
        Some(last)
            if last.role == role
                && (role == Role::Assistant
                    || (is_result
                        && last
                            .content
                            .iter()
                            .all(|p| matches!(p, Part::ToolResult(_))))) =>
        {
            last.content.push(part)
        }
        _ => req.messages.push(Message {
            role,
            content: vec![part],
        }),
    }
}

fn decode_item(item: &Obj, path: &str, req: &mut ir::Request) -> Result<(), ClientError> {
    match opt_str(item, "type", path)?.unwrap_or("message") {
        "message" => {
            let role = req_str(item, "role", path)?;
            let cpath = format!("{path}.content");
            match role {
                "system" | "developer" => req
                    .system
                    .push(get(item, "content").map(text_of).unwrap_or_default()),
                "user" => {
                    let content = decode_content(get(item, "content"), &cpath)?;
                    req.messages.push(Message {
                        role: Role::User,
                        content,
                    });
                }
                "assistant" => {
                    for p in decode_content(get(item, "content"), &cpath)? {
                        push_part(req, Role::Assistant, p);
                    }
                }
                other => {
                    return Err(invalid(
                        &format!("{path}.role"),
                        format!("unknown role `{other}`"),
                    ));
                }
            }
        }
        "function_call" => {
            let call = ToolCall {
                id: req_str(item, "call_id", path)?.to_owned(),
                name: flat_name(
                    opt_str(item, "namespace", path)?,
                    req_str(item, "name", path)?,
                ),
                arguments: opt_str(item, "arguments", path)?
                    .unwrap_or_default()
                    .to_owned(),
            };
            push_part(req, Role::Assistant, Part::ToolCall(call));
        }
        "function_call_output" => {
            let content = match get(item, "output") {
                Some(Value::String(s)) => vec![Part::Text(s.clone())],
                other => decode_content(other, &format!("{path}.output"))?,
            };
            let result = ToolResult {
                call_id: req_str(item, "call_id", path)?.to_owned(),
                name: None,
                content,
                is_error: false,
            };
            push_part(req, Role::User, Part::ToolResult(result));
        }
        "reasoning" => {
            let summary: Vec<&str> = opt_array(item, "summary", path)?
                .iter()
                .filter_map(|s| s.get("text").and_then(Value::as_str))
                .collect();
            let reasoning = ir::Reasoning {
                text: summary.join("\n\n"),
                signature: opt_str(item, "encrypted_content", path)?
                    .map(|e| Signature::from_client(Dialect::OpenaiResponses, e)),
                redacted: false,
            };
            push_part(req, Role::Assistant, Part::Reasoning(reasoning));
        }
        // Item references, hosted-tool calls and their outputs only mean something to the
        // provider that ran them.
        _ => {}
    }
    Ok(())
}

fn decode_content(content: Option<&Value>, path: &str) -> Result<Vec<Part>, ClientError> {
    let items = match content {
        None => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![Part::Text(s.clone())]),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(invalid(path, "`content` must be a string or an array")),
    };
    let mut parts = Vec::new();
    for (i, p) in items.iter().enumerate() {
        let ppath = format!("{path}[{i}]");
        let p = as_obj(p, &ppath)?;
        match opt_str(p, "type", &ppath)?.unwrap_or("input_text") {
            "input_text" | "output_text" | "text" => {
                parts.push(Part::Text(req_str(p, "text", &ppath)?.to_owned()))
            }
            "refusal" => parts.push(Part::Text(req_str(p, "refusal", &ppath)?.to_owned())),
            "input_image" => {
                if let Some(url) = opt_str(p, "image_url", &ppath)? {
                    parts.push(Part::Image(openai_chat::image_from_url(url)));
                }
            }
            _ => {}
        }
    }
    Ok(parts)
}

fn flat_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}{NAMESPACE_SEPARATOR}{name}"),
        _ => name.to_owned(),
    }
}

fn decode_tool(
    t: &Obj,
    path: &str,
    namespace: Option<&str>,
    tools: &mut Vec<Tool>,
) -> Result<(), ClientError> {
    match opt_str(t, "type", path)?.unwrap_or("function") {
        "function" => tools.push(Tool::Function(FunctionTool {
            name: flat_name(namespace, req_str(t, "name", path)?),
            description: opt_str(t, "description", path)?.map(str::to_owned),
            parameters: get(t, "parameters")
                .cloned()
                .unwrap_or_else(openai_chat::empty_schema),
            strict: opt_bool(t, "strict", path)?,
        })),
        "namespace" => {
            let ns = req_str(t, "name", path)?;
            for (i, inner) in opt_array(t, "tools", path)?.iter().enumerate() {
                let ipath = format!("{path}.tools[{i}]");
                decode_tool(as_obj(inner, &ipath)?, &ipath, Some(ns), tools)?;
            }
        }
        _ => tools.push(Tool::Hosted {
            dialect: Dialect::OpenaiResponses,
            spec: Value::Object(t.clone()),
        }),
    }
    Ok(())
}

pub(crate) fn encode_request(req: &ir::Request, model: &str) -> Value {
    let mut o = Map::new();
    o.insert("model".into(), json!(model));
    if !req.system.is_empty() {
        o.insert("instructions".into(), json!(req.system.join("\n\n")));
    }
    let mut input = Vec::new();
    for m in &req.messages {
        match m.role {
            Role::User => encode_user(&m.content, &mut input),
            Role::Assistant => encode_assistant(&m.content, &mut input),
        }
    }
    o.insert("input".into(), Value::Array(input));
    let tools: Vec<Value> = req
        .tools
        .iter()
        .filter_map(|t| match t {
            Tool::Function(f) => Some(json!({
                "type": "function",
                "name": f.name,
                "description": f.description,
                "parameters": f.parameters,
                // Responses defaults to strict, which rejects most hand-written schemas.
                "strict": schema::openai_strict(&f.parameters, f.strict).unwrap_or(false),
            })),
            Tool::Hosted {
                dialect: Dialect::OpenaiResponses,
                spec,
            } => Some(spec.clone()),
            Tool::Hosted { .. } => None,
        })
        .collect();
    if !tools.is_empty() {
        o.insert("tools".into(), Value::Array(tools));
        if let Some(tc) = &req.tool_choice {
            o.insert(
                "tool_choice".into(),
                match tc {
                    ToolChoice::Auto => json!("auto"),
                    ToolChoice::None => json!("none"),
                    ToolChoice::Required => json!("required"),
                    ToolChoice::Tool(name) => json!({"type": "function", "name": name}),
                },
            );
        }
        if let Some(p) = req.parallel_tool_calls {
            o.insert("parallel_tool_calls".into(), json!(p));
        }
    }
    let s = &req.sampling;
    if let Some(t) = s.temperature {
        o.insert("temperature".into(), json!(t));
    }
    if let Some(p) = s.top_p {
        o.insert("top_p".into(), json!(p));
    }
    if let Some(n) = s.max_tokens {
        o.insert("max_output_tokens".into(), json!(n));
    }
    // Responses has no stop sequences; they are dropped.
    if let Some(rf) = &req.response_format {
        let format = match rf {
            ResponseFormat::Text => json!({"type": "text"}),
            ResponseFormat::JsonObject => json!({"type": "json_object"}),
            ResponseFormat::JsonSchema {
                name,
                schema,
                strict,
            } => {
                let mut f = json!({"type": "json_schema", "name": name, "schema": schema});
                let strict = schema::openai_strict(schema, *strict);
                if let (Some(strict), Some(o)) = (strict, f.as_object_mut()) {
                    o.insert("strict".into(), json!(strict));
                }
                f
            }
        };
        o.insert("text".into(), json!({"format": format}));
    }
    if let Some(effort) = openai_chat::reasoning_effort(req.reasoning.as_ref()) {
        let mut r = json!({"effort": effort});
        if let (Some(summary), Some(obj)) = (
            req.reasoning.as_ref().and_then(|r| r.summary.as_ref()),
            r.as_object_mut(),
        ) {
            obj.insert("summary".into(), json!(summary));
        }
        o.insert("reasoning".into(), r);
        o.insert("include".into(), json!(["reasoning.encrypted_content"]));
    }
    o.insert("store".into(), json!(false));
    if req.stream {
        o.insert("stream".into(), json!(true));
    }
    if let Some(user) = req.metadata.user_id.as_deref().filter(|u| u.len() <= 64) {
        o.insert("user".into(), json!(user));
    }
    if let Some(key) = &req.metadata.prompt_cache_key {
        o.insert("prompt_cache_key".into(), json!(key));
    }
    Value::Object(o)
}

fn encode_user(parts: &[Part], input: &mut Vec<Value>) {
    let mut content = Vec::new();
    for p in parts {
        match p {
            Part::Text(t) => content.push(json!({"type": "input_text", "text": t})),
            Part::Image(img) => content.push(
                json!({"type": "input_image", "image_url": openai_chat::image_url(img), "detail": "auto"}),
            ),
            Part::ToolResult(r) => {
                let mut text = openai_chat::tool_result_text(r);
                if r.is_error && !text.starts_with("Error") {
                    text = format!("Error: {text}");
                }
                input.push(json!({"type": "function_call_output", "call_id": r.call_id, "output": text}));
            }
            Part::ToolCall(_) | Part::Reasoning(_) => {}
        }
    }
    if !content.is_empty() {
        input.push(json!({"type": "message", "role": "user", "content": content}));
    }
}

fn encode_assistant(parts: &[Part], input: &mut Vec<Value>) {
    for p in parts {
        match p {
            Part::Text(t) => input.push(json!({
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": t}],
            })),
            Part::ToolCall(c) => input.push(json!({
                "type": "function_call",
                "call_id": c.id,
                "name": c.name,
                "arguments": c.arguments,
            })),
            // Only OpenAI's own encrypted reasoning can be replayed to it.
            Part::Reasoning(r) => {
                if let Some(e) = r
                    .signature
                    .as_ref()
                    .and_then(|s| s.for_upstream(Dialect::OpenaiResponses))
                {
                    input.push(json!({
                        "type": "reasoning",
                        "summary": summary_json(&r.text),
                        "encrypted_content": e,
                    }));
                }
            }
            _ => {}
        }
    }
}

fn summary_json(text: &str) -> Value {
    if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    }
}

// ---------------------------------------------------------------------------------------------
// Responses (non-streaming)

pub(crate) fn decode_response(body: &[u8]) -> Result<ir::Response, ClientError> {
    let (o, mut resp) = crate::adapter::response_envelope(Dialect::OpenaiResponses, body)?;
    resp.usage = get(&o, "usage")
        .and_then(|u| serde_json::from_value::<ResponsesUsageWire>(u.clone()).ok())
        .map(|u| u.to_usage())
        .unwrap_or_default();
    for item in get(&o, "output")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item.get("type").and_then(Value::as_str) {
            Some("message") => {
                for c in item
                    .get("content")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let text = c
                        .get("text")
                        .or_else(|| c.get("refusal"))
                        .and_then(Value::as_str);
                    if let Some(t) = text {
                        resp.content.push(Part::Text(t.to_owned()));
                    }
                }
            }
            Some("reasoning") => resp.content.push(Part::Reasoning(ir::Reasoning {
                text: item.get("summary").map(text_of).unwrap_or_default(),
                signature: item
                    .get("encrypted_content")
                    .and_then(Value::as_str)
                    .map(|e| Signature::new(Dialect::OpenaiResponses, e)),
                redacted: false,
            })),
            Some("function_call") => {
                let s = |k: &str| {
                    item.get(k)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                resp.content.push(Part::ToolCall(ToolCall {
                    id: s("call_id"),
                    name: s("name"),
                    arguments: s("arguments"),
                }));
            }
            _ => {}
        }
    }
    let status = get(&o, "status")
        .and_then(Value::as_str)
        .unwrap_or("completed");
    let incomplete = o
        .get("incomplete_details")
        .and_then(|d| d.get("reason"))
        .and_then(Value::as_str);
    resp.stop_reason = Some(stop_from_status(
        status,
        incomplete,
        resp.content.iter().any(|p| matches!(p, Part::ToolCall(_))),
    ));
    Ok(resp)
}

fn stop_from_status(status: &str, incomplete: Option<&str>, has_calls: bool) -> StopReason {
    match (status, incomplete) {
        ("incomplete", Some("content_filter")) => StopReason::ContentFilter,
        ("incomplete", _) => StopReason::MaxTokens,
        _ if has_calls => StopReason::ToolUse,
        _ => StopReason::EndTurn,
    }
}

fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": u.cached_tokens},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    })
}

/// The response object's envelope; `output` and `usage` are filled by the caller.
fn response_object(
    id: &str,
    created_at: u64,
    model: &str,
    status: &str,
    output: Vec<Value>,
    usage: Option<&Usage>,
    stop: Option<StopReason>,
) -> Value {
    let incomplete = match stop {
        Some(StopReason::MaxTokens) => json!({"reason": "max_output_tokens"}),
        Some(StopReason::ContentFilter) => json!({"reason": "content_filter"}),
        _ => Value::Null,
    };
    json!({
        "id": id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": null,
        "incomplete_details": incomplete,
        "model": model,
        "output": output,
        "usage": usage.map(usage_json),
    })
}

fn status_for(stop: StopReason) -> &'static str {
    match stop {
        StopReason::MaxTokens | StopReason::ContentFilter => "incomplete",
        _ => "completed",
    }
}

pub(crate) fn encode_response(resp: &ir::Response, client_model: &str) -> Value {
    let mut output = Vec::new();
    for p in &resp.content {
        match p {
            Part::Text(t) => match output
                .last_mut()
                .and_then(|o: &mut Value| o.get_mut("content").and_then(Value::as_array_mut))
            {
                // Consecutive text parts are one message.
                Some(content) if !content.is_empty() => {
                    content.push(json!({"type": "output_text", "text": t, "annotations": []}))
                }
                _ => output.push(message_item(&fresh_id("msg_"), t, "completed")),
            },
            Part::Reasoning(r) if !r.redacted => {
                let encrypted = r
                    .signature
                    .as_ref()
                    .map(|s| s.to_client(Dialect::OpenaiResponses));
                output.push(reasoning_item(
                    &fresh_id("rs_"),
                    &r.text,
                    encrypted.as_deref(),
                ))
            }
            Part::ToolCall(c) => output.push(function_item(
                &fresh_id("fc_"),
                &c.id,
                &c.name,
                &c.arguments,
                "completed",
            )),
            _ => {}
        }
    }
    let stop = resp.stop_reason.unwrap_or(StopReason::EndTurn);
    let id = if resp.id.starts_with("resp_") {
        resp.id.clone()
    } else {
        fresh_id("resp_")
    };
    response_object(
        &id,
        now_secs(),
        client_model,
        status_for(stop),
        output,
        Some(&resp.usage),
        Some(stop),
    )
}

// ---------------------------------------------------------------------------------------------
// Compaction (`/v1/responses/compact`) through an upstream that has no such endpoint

/// The request that ends a compaction turn.
const COMPACTION_PROMPT: &str = "Context checkpoint: the conversation above is about to be \
replaced by a summary, and work will continue from that summary alone. Write the summary now, \
as plain text for whoever continues: the task and the user's requirements, decisions made and \
why, what has been done (files, commands, results), what remains, and any identifiers, paths \
or values that will be needed. Do not call tools.";

/// What the summary is introduced with in the compacted history.
const SUMMARY_PREFIX: &str = "Summary of the conversation so far (it was compacted):";

/// Turns a compaction request into an ordinary turn: the conversation, then the request to
/// summarise it, tool calls ruled out.
pub(crate) fn compaction_turn(req: &mut ir::Request) {
    req.tool_choice = Some(ToolChoice::None);
    req.response_format = None;
    req.stream = false;
    req.messages.push(Message {
        role: Role::User,
        content: vec![Part::Text(COMPACTION_PROMPT.to_owned())],
    });
}

/// The compaction reply (`object: "response.compaction"`; the client replaces its history
/// with `output`): the client's own user messages as it sent them, then the summary the
/// turn produced, as a user message. No summary text is the upstream's failure.
pub(crate) fn encode_compaction(
    client_body: &[u8],
    summary: &ir::Response,
    client_model: &str,
) -> Result<Vec<u8>, ClientError> {
    let text: String = summary
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect();
    if text.trim().is_empty() {
        return Err(ClientError::new(
            crate::ErrorKind::BadGateway,
            "the compaction turn produced no summary",
        ));
    }
    let o = parse_object(client_body)?;
    let mut output: Vec<Value> = match get(&o, "input") {
        Some(Value::String(s)) => vec![json!({
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": s}],
        })],
        Some(Value::Array(items)) => items
            .iter()
            .filter(|i| {
                i.get("role").and_then(Value::as_str) == Some("user")
                    && i.get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|t| t == "message")
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    };
    output.push(json!({
        "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": format!("{SUMMARY_PREFIX}\n{text}")}],
    }));
    Ok(json!({
        "id": fresh_id("resp_"),
        "object": "response.compaction",
        "created_at": now_secs(),
        "model": client_model,
        "output": output,
        "usage": usage_json(&summary.usage),
    })
    .to_string()
    .into_bytes())
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({
        "id": id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    })
}

fn reasoning_item(id: &str, text: &str, encrypted: Option<&str>) -> Value {
    let mut item = json!({"id": id, "type": "reasoning", "summary": summary_json(text)});
    if let (Some(e), Some(o)) = (encrypted, item.as_object_mut()) {
        o.insert("encrypted_content".into(), json!(e));
    }
    item
}

fn function_item(id: &str, call_id: &str, name: &str, arguments: &str, status: &str) -> Value {
    json!({
        "id": id,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    })
}

// ---------------------------------------------------------------------------------------------
// Streaming: upstream events → IR

#[derive(Default)]
pub(crate) struct ResponsesUpstream {
    /// output_index → tool-call ordinal
    calls: HashMap<u64, u32>,
    /// item id → tool-call ordinal (deltas name both; either may be missing on clones)
    call_items: HashMap<String, u32>,
    /// ordinals whose arguments arrived as deltas (so `.done` must not repeat them)
    streamed_args: Vec<u32>,
    next_call: u32,
    saw_call: bool,
}

impl ResponsesUpstream {
    fn call_of(&self, v: &Value) -> Option<u32> {
        v.get("output_index")
            .and_then(Value::as_u64)
            .and_then(|i| self.calls.get(&i).copied())
            .or_else(|| {
                v.get("item_id")
                    .and_then(Value::as_str)
                    .and_then(|id| self.call_items.get(id).copied())
            })
    }

    fn start_call(&mut self, v: &Value, item: &Value, out: &mut Vec<StreamEvent>) -> u32 {
        let index = self.next_call;
        self.next_call += 1;
        self.saw_call = true;
        if let Some(oi) = v.get("output_index").and_then(Value::as_u64) {
            self.calls.insert(oi, index);
        }
        if let Some(id) = item.get("id").and_then(Value::as_str) {
            self.call_items.insert(id.to_owned(), index);
        }
        let s = |k: &str| {
            item.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        out.push(StreamEvent::ToolCallStart {
            index,
            id: s("call_id"),
            name: flat_name(item.get("namespace").and_then(Value::as_str), &s("name")),
        });
        index
    }
}

impl UpstreamStream for ResponsesUpstream {
    fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
            return Ok(());
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(ev.event.as_deref())
            .unwrap_or_default();
        let delta = v.get("delta").and_then(Value::as_str).unwrap_or_default();
        match kind {
            "response.output_item.added" => {
                let item = v.get("item").cloned().unwrap_or(Value::Null);
                if item.get("type").and_then(Value::as_str) == Some("function_call") {
                    let index = self.start_call(&v, &item, out);
                    if let Some(args) = item
                        .get("arguments")
                        .and_then(Value::as_str)
                        .filter(|a| !a.is_empty())
                    {
                        self.streamed_args.push(index);
                        out.push(StreamEvent::ToolCallArgs {
                            index,
                            delta: args.to_owned(),
                        });
                    }
                }
            }
            "response.output_text.delta" | "response.refusal.delta" if !delta.is_empty() => {
                out.push(StreamEvent::Text(delta.to_owned()))
            }
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta"
                if !delta.is_empty() =>
            {
                out.push(StreamEvent::Reasoning(delta.to_owned()))
            }
            "response.function_call_arguments.delta" if !delta.is_empty() => {
                if let Some(index) = self.call_of(&v) {
                    self.streamed_args.push(index);
                    out.push(StreamEvent::ToolCallArgs {
                        index,
                        delta: delta.to_owned(),
                    });
                }
            }
            "response.output_item.done" => {
                let item = v.get("item").cloned().unwrap_or(Value::Null);
                match item.get("type").and_then(Value::as_str) {
                    Some("reasoning") => {
                        if let Some(e) = item.get("encrypted_content").and_then(Value::as_str) {
                            out.push(StreamEvent::ReasoningSignature(e.to_owned()));
                        }
                    }
                    Some("function_call") => {
                        let index = match self.call_of(&v) {
                            Some(i) => i,
                            None => self.start_call(&v, &item, out),
                        };
                        let args = item
                            .get("arguments")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        if !self.streamed_args.contains(&index) && !args.is_empty() {
                            self.streamed_args.push(index);
                            out.push(StreamEvent::ToolCallArgs {
                                index,
                                delta: args.to_owned(),
                            });
                        }
                    }
                    _ => {}
                }
            }
            "response.completed" | "response.incomplete" => {
                let r = v.get("response").cloned().unwrap_or(Value::Null);
                if let Some(u) = r
                    .get("usage")
                    .and_then(|u| serde_json::from_value::<ResponsesUsageWire>(u.clone()).ok())
                {
                    out.push(StreamEvent::Usage(u.to_usage()));
                }
                let status = r.get("status").and_then(Value::as_str).unwrap_or(
                    if kind == "response.incomplete" {
                        "incomplete"
                    } else {
                        "completed"
                    },
                );
                let reason = r
                    .pointer("/incomplete_details/reason")
                    .and_then(Value::as_str);
                out.push(StreamEvent::Stop(stop_from_status(
                    status,
                    reason,
                    self.saw_call,
                )));
                out.push(StreamEvent::Done);
            }
            "response.failed" => {
                let err = v.pointer("/response/error").cloned().unwrap_or(Value::Null);
                return Err(StreamError::from_client(upstream_error(
                    Dialect::OpenaiResponses,
                    0,
                    &err,
                )));
            }
            "error" => {
                let err = v.get("error").cloned().unwrap_or_else(|| v.clone());
                return Err(StreamError::from_client(upstream_error(
                    Dialect::OpenaiResponses,
                    0,
                    &err,
                )));
            }
            _ => {}
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming: IR → client events

enum ItemKind {
    Message {
        text: String,
    },
    Reasoning {
        text: String,
        encrypted: Option<String>,
    },
    Function {
        call: u32,
    },
}

/// A function call being streamed; its arguments accumulate for the `.done` events.
struct CallItem {
    output_index: usize,
    item_id: String,
    call_id: String,
    name: String,
    arguments: String,
}

struct OpenItem {
    output_index: usize,
    id: String,
    kind: ItemKind,
}

/// Writes the Responses event sequence Codex and the OpenAI SDK need: `response.created`,
/// `response.in_progress`, per item `output_item.added` … `output_item.done` (with the
/// complete item), and `response.completed` (or `.incomplete`) with the whole output. Every
/// event carries `type` and `sequence_number`, and its SSE event name equals its type.
pub(crate) struct ResponsesClient {
    /// Who issued the reasoning tokens in this stream.
    upstream: Dialect,
    id: String,
    model: String,
    created_at: u64,
    seq: u64,
    started: bool,
    open: Option<OpenItem>,
    /// Completed items, by output index.
    output: Vec<Value>,
    /// tool-call ordinal → the call's item
    calls: HashMap<u32, CallItem>,
}

impl ResponsesClient {
    pub(crate) fn new(client_model: &str, upstream: Dialect) -> Self {
        ResponsesClient {
            upstream,
            id: fresh_id("resp_"),
            model: client_model.to_owned(),
            created_at: now_secs(),
            seq: 0,
            started: false,
            open: None,
            output: Vec::new(),
            calls: HashMap::new(),
        }
    }

    fn emit(&mut self, kind: &str, mut data: Value) -> SseEvent {
        if let Some(o) = data.as_object_mut() {
            o.insert("type".into(), json!(kind));
            o.insert("sequence_number".into(), json!(self.seq));
        }
        self.seq += 1;
        SseEvent::named(kind, data.to_string())
    }

    fn envelope(&self, status: &str, usage: Option<&Usage>, stop: Option<StopReason>) -> Value {
        response_object(
            &self.id,
            self.created_at,
            &self.model,
            status,
            self.output.clone(),
            usage,
            stop,
        )
    }

    fn start(&mut self, out: &mut Vec<SseEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        let r = self.envelope("in_progress", None, None);
        let ev = self.emit("response.created", json!({"response": r}));
        out.push(ev);
        let ev = self.emit("response.in_progress", json!({"response": r}));
        out.push(ev);
    }

    fn open_item(&mut self, kind: ItemKind, out: &mut Vec<SseEvent>) -> (usize, String) {
        self.close(out);
        let output_index = self.output.len();
        // Reserve the slot so later items get the next index; filled when the item is done.
        self.output.push(Value::Null);
        let (id, item) = match &kind {
            ItemKind::Message { .. } => {
                let id = fresh_id("msg_");
                let mut item = message_item(&id, "", "in_progress");
                if let Some(o) = item.as_object_mut() {
                    o.insert("content".into(), json!([]));
                }
                (id, item)
            }
            ItemKind::Reasoning { .. } => {
                let id = fresh_id("rs_");
                (id.clone(), reasoning_item(&id, "", None))
            }
            ItemKind::Function { call } => {
                let id = fresh_id("fc_");
                let (call_id, name) = self
                    .calls
                    .get(call)
                    .map(|c| (c.call_id.clone(), c.name.clone()))
                    .unwrap_or_default();
                (
                    id.clone(),
                    function_item(&id, &call_id, &name, "", "in_progress"),
                )
            }
        };
        let ev = self.emit(
            "response.output_item.added",
            json!({"output_index": output_index, "item": item}),
        );
        out.push(ev);
        match &kind {
            ItemKind::Message { .. } => {
                let ev = self.emit(
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": output_index, "content_index": 0,
                           "part": {"type": "output_text", "text": "", "annotations": []}}),
                );
                out.push(ev);
            }
            // A summary part exists only once there is summary text (an item opened for an
            // encrypted token alone has none).
            ItemKind::Reasoning { text, .. } if !text.is_empty() => {
                self.summary_part_added(&id, output_index, out);
            }
            ItemKind::Reasoning { .. } | ItemKind::Function { .. } => {}
        }
        self.open = Some(OpenItem {
            output_index,
            id: id.clone(),
            kind,
        });
        (output_index, id)
    }

    fn summary_part_added(&mut self, item_id: &str, output_index: usize, out: &mut Vec<SseEvent>) {
        let ev = self.emit(
            "response.reasoning_summary_part.added",
            json!({"item_id": item_id, "output_index": output_index, "summary_index": 0,
                   "part": {"type": "summary_text", "text": ""}}),
        );
        out.push(ev);
    }

    fn close(&mut self, out: &mut Vec<SseEvent>) {
        let Some(item) = self.open.take() else {
            return;
        };
        let (oi, id) = (item.output_index, item.id);
        let done = match item.kind {
            ItemKind::Message { text } => {
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                let ev = self.emit(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0, "text": text, "logprobs": []}),
                );
                out.push(ev);
                let ev = self.emit(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": oi, "content_index": 0, "part": part}),
                );
                out.push(ev);
                message_item(&id, &text, "completed")
            }
            ItemKind::Reasoning { text, encrypted } if text.is_empty() => {
                reasoning_item(&id, &text, encrypted.as_deref())
            }
            ItemKind::Reasoning { text, encrypted } => {
                let ev = self.emit(
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0, "text": text}),
                );
                out.push(ev);
                let ev = self.emit(
                    "response.reasoning_summary_part.done",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0,
                           "part": {"type": "summary_text", "text": text}}),
                );
                out.push(ev);
                reasoning_item(&id, &text, encrypted.as_deref())
            }
            ItemKind::Function { call } => {
                let (call_id, name, args) = self
                    .calls
                    .get(&call)
                    .map(|c| (c.call_id.clone(), c.name.clone(), c.arguments.clone()))
                    .unwrap_or_default();
                let ev = self.emit(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": oi, "name": name, "arguments": args}),
                );
                out.push(ev);
                function_item(&id, &call_id, &name, &args, "completed")
            }
        };
        let ev = self.emit(
            "response.output_item.done",
            json!({"output_index": oi, "item": done}),
        );
        out.push(ev);
        if let Some(slot) = self.output.get_mut(oi) {
            *slot = done;
        }
    }
}

impl ClientStream for ResponsesClient {
    fn content(&mut self, ev: &StreamEvent, _usage: &Usage, out: &mut Vec<SseEvent>) {
        self.start(out);
        match ev {
            StreamEvent::Text(t) => {
                let (oi, id) = match &mut self.open {
                    Some(OpenItem {
                        output_index,
                        id,
                        kind: ItemKind::Message { text },
                    }) => {
                        text.push_str(t);
                        (*output_index, id.clone())
                    }
                    _ => {
                        let (oi, id) = self.open_item(ItemKind::Message { text: t.clone() }, out);
                        (oi, id)
                    }
                };
                let ev = self.emit(
                    "response.output_text.delta",
                    json!({"item_id": id, "output_index": oi, "content_index": 0, "delta": t, "logprobs": []}),
                );
                out.push(ev);
            }
            StreamEvent::Reasoning(t) => {
                let (oi, id) = match &mut self.open {
                    Some(OpenItem {
                        output_index,
                        id,
                        kind: ItemKind::Reasoning { text, .. },
                    }) => {
                        let first = text.is_empty();
                        text.push_str(t);
                        let (oi, id) = (*output_index, id.clone());
                        if first {
                            self.summary_part_added(&id, oi, out);
                        }
                        (oi, id)
                    }
                    _ => self.open_item(
                        ItemKind::Reasoning {
                            text: t.clone(),
                            encrypted: None,
                        },
                        out,
                    ),
                };
                let ev = self.emit(
                    "response.reasoning_summary_text.delta",
                    json!({"item_id": id, "output_index": oi, "summary_index": 0, "delta": t}),
                );
                out.push(ev);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let call_id = if id.is_empty() {
                    fresh_id("call_")
                } else {
                    id.clone()
                };
                self.calls.insert(
                    *index,
                    CallItem {
                        output_index: 0,
                        item_id: String::new(),
                        call_id,
                        name: name.clone(),
                        arguments: String::new(),
                    },
                );
                let (oi, item_id) = self.open_item(ItemKind::Function { call: *index }, out);
                if let Some(c) = self.calls.get_mut(index) {
                    c.output_index = oi;
                    c.item_id = item_id;
                }
            }
            StreamEvent::ToolCallArgs { index, delta } => {
                let Some(c) = self.calls.get_mut(index) else {
                    return;
                };
                c.arguments.push_str(delta);
                let (oi, item_id) = (c.output_index, c.item_id.clone());
                // A late delta for an already-closed call (interleaving providers) also
                // updates the finished item.
                if let Some(Value::Object(item)) = self.output.get_mut(oi) {
                    item.insert("arguments".into(), json!(c.arguments));
                }
                let ev = self.emit(
                    "response.function_call_arguments.delta",
                    json!({"item_id": item_id, "output_index": oi, "delta": delta}),
                );
                out.push(ev);
            }
            StreamEvent::ReasoningSignature(sig) => {
                let value =
                    Signature::new(self.upstream, sig.as_str()).to_client(Dialect::OpenaiResponses);
                match &mut self.open {
                    Some(OpenItem {
                        kind: ItemKind::Reasoning { encrypted, .. },
                        ..
                    }) => *encrypted = Some(value),
                    _ => {
                        self.open_item(
                            ItemKind::Reasoning {
                                text: String::new(),
                                encrypted: Some(value),
                            },
                            out,
                        );
                    }
                }
            }
            // Anthropic's redacted thinking cannot be carried by a Responses client.
            _ => {}
        }
    }

    fn finish(&mut self, stop: StopReason, usage: &Usage, out: &mut Vec<SseEvent>) {
        self.start(out);
        self.close(out);
        self.output.retain(|v| !v.is_null());
        let status = status_for(stop);
        let r = self.envelope(status, Some(usage), Some(stop));
        let kind = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        let ev = self.emit(kind, json!({"response": r}));
        out.push(ev);
    }

    fn fail(&mut self, err: &ClientError, out: &mut Vec<SseEvent>) {
        let events = error_events(err, self.seq);
        self.seq += events.len() as u64;
        out.extend(events);
    }
}

/// `error` then `response.failed`, numbered from `seq`.
pub(crate) fn error_events(err: &ClientError, seq: u64) -> Vec<SseEvent> {
    let code = err.code.unwrap_or(err.kind.openai_type());
    let error = json!({
        "type": "error",
        "sequence_number": seq,
        "code": code,
        "message": err.message,
        "param": err.param,
    });
    let failed = json!({
        "type": "response.failed",
        "sequence_number": seq + 1,
        "response": {
            "id": fresh_id("resp_"),
            "object": "response",
            "status": "failed",
            "error": {"code": code, "message": err.message},
            "output": [],
        },
    });
    vec![
        SseEvent::named("error", error.to_string()),
        SseEvent::named("response.failed", failed.to_string()),
    ]
}

// ---------------------------------------------------------------------------------------------
// Pass-through inspection

pub(crate) fn classify(ev: &SseEvent) -> EventClass {
    let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
        return EventClass::Meta;
    };
    let kind = v
        .get("type")
        .and_then(Value::as_str)
        .or(ev.event.as_deref())
        .unwrap_or_default();
    let has_delta = v
        .get("delta")
        .and_then(Value::as_str)
        .is_some_and(|d| !d.is_empty());
    match kind {
        "response.completed" | "response.incomplete" => EventClass::Done,
        "response.failed" => EventClass::Error {
            message: v
                .pointer("/response/error")
                .map_or_else(|| "response failed".to_owned(), error_message),
        },
        "error" => EventClass::Error {
            message: error_message(v.get("error").unwrap_or(&v)),
        },
        "response.output_text.delta"
        | "response.refusal.delta"
        | "response.reasoning_summary_text.delta"
        | "response.reasoning_text.delta"
        | "response.function_call_arguments.delta"
            if has_delta =>
        {
            EventClass::Content
        }
        "response.output_item.added"
            if v.pointer("/item/type").and_then(Value::as_str) == Some("function_call") =>
        {
            EventClass::Content
        }
        _ => EventClass::Meta,
    }
}

/// A pass-through request without the reasoning items whose encrypted content another dialect
/// issued (OpenAI would refuse it). `None` when there are none (found by a byte search first).
pub(crate) fn strip_foreign_reasoning(body: &[u8]) -> Option<Vec<u8>> {
    if !crate::passthrough::has_tagged_signature(body) {
        return None;
    }
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let input = v.get_mut("input")?.as_array_mut()?;
    let before = input.len();
    input.retain(|item| {
        item["type"] != "reasoning"
            || item["encrypted_content"]
                .as_str()
                .is_none_or(|e| Signature::is_native(Dialect::OpenaiResponses, e))
    });
    (input.len() != before).then(|| serde_json::to_vec(&v).ok())?
}
