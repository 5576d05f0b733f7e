//! Google Gemini `generateContent` / `streamGenerateContent?alt=sse`: `contents` of `parts`,
//! `systemInstruction`, `functionDeclarations`, `generationConfig` to and from the IR.
//!
//! The model and the stream flag live in the URL, not the body: [`crate::decode_request`]
//! leaves them for the caller and the encoder does not write them. Field names are read in
//! both camelCase (REST) and snake_case (what `google-genai` sends for some fields, notably
//! `parameters_json_schema`). Function declarations are sent upstream as
//! `parametersJsonSchema`, which takes JSON Schema as clients write it (the older
//! `parameters` accepts only an OpenAPI subset and rejects e.g. `additionalProperties`).
//! Schemas written in that subset (upper-case types, `nullable`), in declarations and in
//! `responseSchema`, are read as JSON Schema (see `schema.rs`).
//! Calls without ids (older models) get `call_{n}` ids, and an unlabelled response answers
//! the earliest unanswered call of the same name.

use serde_json::{Map, Value, json};

use crate::adapter::{
    ClientStream, EventClass, StreamError, UpstreamStream, error_message, fresh_id, upstream_error,
};
use crate::error::ClientError;
use crate::ir::{
    self, FunctionTool, Image, Message, Part, ReasoningConfig, ResponseFormat, Role, Signature,
    StopReason, StreamEvent, Tool, ToolCall, ToolChoice, ToolResult, Usage,
};
use crate::lenient::{
    Obj, arguments_object, as_obj, get, invalid, opt_array, opt_bool, opt_f64, opt_obj, opt_str,
    opt_u64, parse_object, stop_list,
};
use crate::passthrough::GeminiUsageWire;
use crate::sse::SseEvent;
use crate::{Dialect, openai_chat, schema};

/// Field `camel` or its snake_case spelling `snake`.
fn pick<'a>(o: &'a Obj, camel: &str, snake: &str) -> Option<&'a Value> {
    get(o, camel).or_else(|| get(o, snake))
}

fn key<'a>(o: &'a Obj, camel: &'a str, snake: &'a str) -> &'a str {
    if o.contains_key(snake) && !o.contains_key(camel) {
        snake
    } else {
        camel
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

/// Ids for calls that come without one. Inside a request the history is renumbered the same
/// way every time (`call_{n}`), which is enough to pair calls with their responses. A call
/// in a response is new to the client and must not repeat an id it already holds (a history
/// with two `tool_use` blocks of one id is rejected by Anthropic, and clients match results
/// by id): it gets a fresh id, as streamed calls do.
#[derive(Default)]
struct CallIds {
    next: u32,
    /// (id, name) of calls not yet answered
    pending: Vec<(String, String)>,
    /// Issue unique ids (responses) rather than positional ones (requests).
    fresh: bool,
}

impl CallIds {
    fn for_response() -> CallIds {
        CallIds {
            fresh: true,
            ..CallIds::default()
        }
    }

    fn call(&mut self, id: Option<&str>, name: &str) -> String {
        let id = id.map_or_else(
            || {
                if self.fresh {
                    return fresh_id("call_");
                }
                let id = format!("call_{}", self.next);
                self.next += 1;
                id
            },
            str::to_owned,
        );
        self.pending.push((id.clone(), name.to_owned()));
        id
    }

    fn response(&mut self, id: Option<&str>, name: &str) -> String {
        let pos = match id {
            Some(id) => self.pending.iter().position(|(p, _)| p == id),
            None => self.pending.iter().position(|(_, n)| n == name),
        };
        match (pos, id) {
            (Some(i), _) => self.pending.remove(i).0,
            (None, Some(id)) => id.to_owned(),
            (None, None) => format!("call_{name}"),
        }
    }
}

pub(crate) fn decode_request(body: &[u8]) -> Result<ir::Request, ClientError> {
    let o = parse_object(body)?;
    let mut req = ir::Request::default();
    if let Some(si) = pick(&o, "systemInstruction", "system_instruction") {
        let text = match si {
            Value::String(s) => s.clone(),
            _ => parts_text(si.get("parts")),
        };
        if !text.is_empty() {
            req.system.push(text);
        }
    }
    let mut ids = CallIds::default();
    let contents_key = "contents";
    for (i, c) in opt_array(&o, contents_key, "")?.iter().enumerate() {
        let path = format!("contents[{i}]");
        let c = as_obj(c, &path)?;
        let role = match opt_str(c, "role", &path)? {
            Some("model") => Role::Assistant,
            _ => Role::User,
        };
        let mut content = Vec::new();
        for (j, p) in opt_array(c, "parts", &path)?.iter().enumerate() {
            let ppath = format!("{path}.parts[{j}]");
            decode_part(as_obj(p, &ppath)?, &ppath, &mut ids, &mut content)?;
        }
        req.messages.push(Message { role, content });
    }
    for (i, t) in opt_array(&o, "tools", "")?.iter().enumerate() {
        let path = format!("tools[{i}]");
        let t = as_obj(t, &path)?;
        let decl_key = key(t, "functionDeclarations", "function_declarations");
        for (j, d) in opt_array(t, decl_key, &path)?.iter().enumerate() {
            let dpath = format!("{path}.{decl_key}[{j}]");
            let d = as_obj(d, &dpath)?;
            let name = opt_str(d, "name", &dpath)?
                .ok_or_else(|| invalid(&format!("{dpath}.name"), "`name` is required"))?;
            let parameters = pick(d, "parametersJsonSchema", "parameters_json_schema")
                .or_else(|| get(d, "parameters"))
                .map_or_else(openai_chat::empty_schema, schema::from_gemini);
            req.tools.push(Tool::Function(FunctionTool {
                name: name.to_owned(),
                description: opt_str(d, "description", &dpath)?.map(str::to_owned),
                parameters,
                strict: None,
            }));
        }
        let rest: Map<String, Value> = t
            .iter()
            .filter(|(k, _)| *k != "functionDeclarations" && *k != "function_declarations")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !rest.is_empty() {
            req.tools.push(Tool::Hosted {
                dialect: Dialect::Gemini,
                spec: Value::Object(rest),
            });
        }
    }
    if let Some(tc) = pick(&o, "toolConfig", "tool_config").and_then(Value::as_object)
        && let Some(fc) =
            pick(tc, "functionCallingConfig", "function_calling_config").and_then(Value::as_object)
    {
        let allowed: Vec<&str> = pick(fc, "allowedFunctionNames", "allowed_function_names")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        req.tool_choice = match fc.get("mode").and_then(Value::as_str) {
            Some("ANY" | "VALIDATED") => Some(match allowed.as_slice() {
                [one] => ToolChoice::Tool((*one).to_owned()),
                _ => ToolChoice::Required,
            }),
            Some("NONE") => Some(ToolChoice::None),
            Some(_) => Some(ToolChoice::Auto),
            None => None,
        };
    }
    let gc_key = key(&o, "generationConfig", "generation_config");
    if let Some(gc) = opt_obj(&o, gc_key, "")? {
        decode_generation_config(gc, gc_key, &mut req)?;
    }
    Ok(req)
}

/// A `:countTokens` body: either the `contents` to count (what `google-genai` sends) or a
/// whole `generateContentRequest` (system instruction and tools included).
pub(crate) fn decode_count_tokens_request(body: &[u8]) -> Result<ir::Request, ClientError> {
    let o = parse_object(body)?;
    match pick(&o, "generateContentRequest", "generate_content_request") {
        Some(inner @ Value::Object(_)) => decode_request(inner.to_string().as_bytes()),
        Some(_) => Err(invalid(
            "generateContentRequest",
            "`generateContentRequest` must be an object",
        )),
        None => decode_request(body),
    }
}

fn decode_generation_config(
    gc: &Obj,
    path: &str,
    req: &mut ir::Request,
) -> Result<(), ClientError> {
    req.sampling.temperature = opt_f64(gc, "temperature", path)?;
    req.sampling.top_p = opt_f64(gc, key(gc, "topP", "top_p"), path)?;
    req.sampling.max_tokens = opt_u64(gc, key(gc, "maxOutputTokens", "max_output_tokens"), path)?;
    req.sampling.stop = stop_list(gc, key(gc, "stopSequences", "stop_sequences"), path)?;
    let mime = opt_str(gc, key(gc, "responseMimeType", "response_mime_type"), path)?;
    let schema = pick(gc, "responseJsonSchema", "response_json_schema")
        .or_else(|| pick(gc, "responseSchema", "response_schema"));
    req.response_format = match (mime, schema) {
        (Some("application/json"), Some(schema)) => Some(ResponseFormat::JsonSchema {
            name: "response".to_owned(),
            schema: schema::from_gemini(schema),
            strict: None,
        }),
        (Some("application/json"), None) => Some(ResponseFormat::JsonObject),
        _ => None,
    };
    let tc_key = key(gc, "thinkingConfig", "thinking_config");
    if let Some(tc) = opt_obj(gc, tc_key, path)? {
        let tpath = format!("{path}.{tc_key}");
        let budget = match pick(tc, "thinkingBudget", "thinking_budget") {
            // -1 asks for a dynamic budget: no fixed number.
            Some(v) if v.as_i64() == Some(-1) => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                invalid(
                    &format!("{tpath}.thinkingBudget"),
                    "`thinkingBudget` must be an integer",
                )
            })?),
            None => None,
        };
        let level = pick(tc, "thinkingLevel", "thinking_level").and_then(Value::as_str);
        req.reasoning = Some(ReasoningConfig {
            effort: level.map(str::to_lowercase),
            budget_tokens: budget.filter(|b| *b > 0),
            disabled: budget == Some(0),
            ..Default::default()
        });
    }
    Ok(())
}

fn parts_text(parts: Option<&Value>) -> String {
    parts
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join("")
}

fn decode_part(
    p: &Obj,
    path: &str,
    ids: &mut CallIds,
    out: &mut Vec<Part>,
) -> Result<(), ClientError> {
    let signature = pick(p, "thoughtSignature", "thought_signature")
        .and_then(Value::as_str)
        .map(|s| Signature::from_client(Dialect::Gemini, s));
    let thought = opt_bool(p, "thought", path)?.unwrap_or(false);
    if let Some(text) = opt_str(p, "text", path)? {
        if thought {
            out.push(Part::Reasoning(ir::Reasoning {
                text: text.to_owned(),
                signature,
                ..Default::default()
            }));
        } else {
            push_signature(out, signature);
            out.push(Part::Text(text.to_owned()));
        }
        return Ok(());
    }
    if let Some(d) = pick(p, "inlineData", "inline_data").and_then(Value::as_object) {
        push_signature(out, signature);
        out.push(Part::Image(Image::Base64 {
            media_type: pick(d, "mimeType", "mime_type")
                .and_then(Value::as_str)
                .unwrap_or("image/png")
                .to_owned(),
            data: d
                .get("data")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        }));
    } else if let Some(d) = pick(p, "fileData", "file_data").and_then(Value::as_object) {
        push_signature(out, signature);
        let uri = pick(d, "fileUri", "file_uri")
            .and_then(Value::as_str)
            .unwrap_or_default();
        out.push(Part::Image(Image::Url(uri.to_owned())));
    } else if let Some(fc) = pick(p, "functionCall", "function_call").and_then(Value::as_object) {
        push_signature(out, signature);
        let name = fc.get("name").and_then(Value::as_str).unwrap_or_default();
        out.push(Part::ToolCall(ToolCall {
            id: ids.call(fc.get("id").and_then(Value::as_str), name),
            name: name.to_owned(),
            arguments: fc
                .get("args")
                .map_or_else(|| "{}".to_owned(), Value::to_string),
        }));
    } else if let Some(fr) =
        pick(p, "functionResponse", "function_response").and_then(Value::as_object)
    {
        let name = fr.get("name").and_then(Value::as_str).unwrap_or_default();
        let (text, is_error) = response_text(fr.get("response"));
        out.push(Part::ToolResult(ToolResult {
            call_id: ids.response(fr.get("id").and_then(Value::as_str), name),
            name: Some(name.to_owned()),
            content: vec![Part::Text(text)],
            is_error,
        }));
    } else if thought || signature.is_some() {
        out.push(Part::Reasoning(ir::Reasoning {
            signature,
            ..Default::default()
        }));
    }
    Ok(())
}

/// A signature riding on a non-thought part becomes an empty reasoning part just before it;
/// the encoder puts it back on the following part.
fn push_signature(out: &mut Vec<Part>, signature: Option<Signature>) {
    if let Some(signature) = signature {
        out.push(Part::Reasoning(ir::Reasoning {
            signature: Some(signature),
            ..Default::default()
        }));
    }
}

/// `{"output": s}` and `{"error": s}` are the shapes Gemini documents; anything else is kept as
/// JSON text.
fn response_text(v: Option<&Value>) -> (String, bool) {
    let Some(Value::Object(o)) = v else {
        return (v.map(Value::to_string).unwrap_or_default(), false);
    };
    if o.len() == 1 {
        if let Some(Value::String(s)) = o.get("output") {
            return (s.clone(), false);
        }
        if let Some(Value::String(s)) = o.get("error") {
            return (s.clone(), true);
        }
    }
    (Value::Object(o.clone()).to_string(), false)
}

pub(crate) fn encode_request(req: &ir::Request) -> Value {
    let mut o = Map::new();
    let mut names = std::collections::HashMap::new();
    let mut contents: Vec<(Role, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let mut parts = encode_parts(&m.content, &mut names, false);
        if parts.is_empty() {
            continue;
        }
        match contents.last_mut() {
            // One turn per role change, as Gemini expects (Chat splits tool results off).
            Some((role, prev)) if *role == m.role => prev.append(&mut parts),
            _ => contents.push((m.role, parts)),
        }
    }
    let contents: Vec<Value> = contents
        .into_iter()
        .map(|(role, parts)| {
            let role = if role == Role::User { "user" } else { "model" };
            json!({"role": role, "parts": parts})
        })
        .collect();
    if !req.system.is_empty() {
        o.insert(
            "systemInstruction".into(),
            json!({"parts": [{"text": req.system.join("\n\n")}]}),
        );
    }
    o.insert("contents".into(), Value::Array(contents));
    let decls: Vec<Value> = req
        .tools
        .iter()
        .filter_map(|t| match t {
            Tool::Function(f) => {
                let mut d = json!({
                    "name": f.name,
                    "parametersJsonSchema": schema::for_gemini(&f.parameters),
                });
                if let (Some(desc), Some(obj)) = (&f.description, d.as_object_mut()) {
                    obj.insert("description".into(), json!(desc));
                }
                Some(d)
            }
            Tool::Hosted { .. } => None,
        })
        .collect();
    let mut tools = Vec::new();
    if !decls.is_empty() {
        tools.push(json!({"functionDeclarations": decls}));
    }
    tools.extend(req.tools.iter().filter_map(|t| match t {
        Tool::Hosted {
            dialect: Dialect::Gemini,
            spec,
        } => Some(spec.clone()),
        _ => None,
    }));
    if !tools.is_empty() {
        o.insert("tools".into(), Value::Array(tools));
        if let Some(tc) = &req.tool_choice {
            let config = match tc {
                ToolChoice::Auto => json!({"mode": "AUTO"}),
                ToolChoice::None => json!({"mode": "NONE"}),
                ToolChoice::Required => json!({"mode": "ANY"}),
                ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
            };
            o.insert(
                "toolConfig".into(),
                json!({"functionCallingConfig": config}),
            );
        }
    }
    let mut gc = Map::new();
    let s = &req.sampling;
    if let Some(t) = s.temperature {
        gc.insert("temperature".into(), json!(t));
    }
    if let Some(p) = s.top_p {
        gc.insert("topP".into(), json!(p));
    }
    if let Some(n) = s.max_tokens {
        gc.insert("maxOutputTokens".into(), json!(n));
    }
    if !s.stop.is_empty() {
        gc.insert("stopSequences".into(), json!(s.stop));
    }
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => {
            gc.insert("responseMimeType".into(), json!("application/json"));
        }
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            gc.insert("responseMimeType".into(), json!("application/json"));
            gc.insert("responseJsonSchema".into(), schema::for_gemini(schema));
        }
        Some(ResponseFormat::Text) | None => {}
    }
    if let Some(r) = &req.reasoning {
        let config = if r.disabled {
            json!({"thinkingBudget": 0})
        } else {
            let budget = r
                .budget_tokens
                .or_else(|| r.effort.as_deref().map(ir::effort_to_budget))
                // Thoughts count against maxOutputTokens: leave room for the answer.
                .map(|b| match s.max_tokens {
                    Some(max) if b >= max => max / 2,
                    _ => b,
                });
            match budget {
                Some(b) => json!({"thinkingBudget": b, "includeThoughts": true}),
                None => json!({"includeThoughts": true}),
            }
        };
        gc.insert("thinkingConfig".into(), config);
    }
    if !gc.is_empty() {
        o.insert("generationConfig".into(), Value::Object(gc));
    }
    Value::Object(o)
}

/// Encodes one message's parts. `names` maps call ids to function names, which Gemini's
/// `functionResponse` requires and other dialects do not carry. Only Gemini's own thought
/// signatures are written; thoughts without one are kept only for a client
/// (`keep_unsigned_thoughts`): an upstream gains nothing from them.
fn encode_parts(
    parts: &[Part],
    names: &mut std::collections::HashMap<String, String>,
    keep_unsigned_thoughts: bool,
) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut pending_signature: Option<&str> = None;
    for p in parts {
        let mut part = match p {
            Part::Reasoning(r) if r.redacted => continue,
            Part::Reasoning(r) => {
                let sig = r
                    .signature
                    .as_ref()
                    .and_then(|s| s.for_upstream(Dialect::Gemini));
                if r.text.is_empty() {
                    // The signature of a non-thought part: it rides on the next part.
                    pending_signature = sig.or(pending_signature);
                    continue;
                }
                if sig.is_none() && !keep_unsigned_thoughts {
                    continue;
                }
                let mut v = json!({"text": r.text, "thought": true});
                if let (Some(sig), Some(o)) = (sig, v.as_object_mut()) {
                    o.insert("thoughtSignature".into(), json!(sig));
                }
                out.push(v);
                continue;
            }
            Part::Text(t) => json!({"text": t}),
            Part::Image(Image::Base64 { media_type, data }) => {
                json!({"inlineData": {"mimeType": media_type, "data": data}})
            }
            Part::Image(Image::Url(url)) => {
                json!({"fileData": {"mimeType": guess_media_type(url), "fileUri": url}})
            }
            Part::ToolCall(c) => {
                names.insert(c.id.clone(), c.name.clone());
                json!({"functionCall": {"id": c.id, "name": c.name, "args": arguments_object(&c.arguments)}})
            }
            Part::ToolResult(r) => {
                let name = r
                    .name
                    .clone()
                    .or_else(|| names.get(&r.call_id).cloned())
                    .unwrap_or_default();
                let text = openai_chat::tool_result_text(r);
                let response = if r.is_error {
                    json!({"error": text})
                } else {
                    json!({"output": text})
                };
                json!({"functionResponse": {"id": r.call_id, "name": name, "response": response}})
            }
        };
        if let (Some(sig), Some(o)) = (pending_signature.take(), part.as_object_mut()) {
            o.insert("thoughtSignature".into(), json!(sig));
        }
        out.push(part);
    }
    if let Some(sig) = pending_signature {
        out.push(json!({"text": "", "thought": true, "thoughtSignature": sig}));
    }
    out
}

fn guess_media_type(url: &str) -> &'static str {
    let lower = url.to_ascii_lowercase();
    if lower.ends_with(".png") {
        "image/png"
    } else if lower.ends_with(".gif") {
        "image/gif"
    } else if lower.ends_with(".webp") {
        "image/webp"
    } else {
        "image/jpeg"
    }
}

// ---------------------------------------------------------------------------------------------
// Responses (non-streaming)

pub(crate) fn decode_response(body: &[u8]) -> Result<ir::Response, ClientError> {
    let o = parse_object(body).map_err(crate::adapter::bad_upstream)?;
    if let Some(err) = get(&o, "error") {
        return Err(upstream_error(Dialect::Gemini, 502, err));
    }
    let mut resp = ir::Response {
        id: pick(&o, "responseId", "response_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        model: pick(&o, "modelVersion", "model_version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        usage: usage_of(pick(&o, "usageMetadata", "usage_metadata")),
        ..Default::default()
    };
    let mut ids = CallIds::for_response();
    let candidate = get(&o, "candidates").and_then(|c| c.get(0));
    for p in candidate
        .and_then(|c| c.pointer("/content/parts"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(p) = p.as_object() {
            // Parts that fail to decode are skipped: a response is best-effort.
            let _ = decode_part(p, "", &mut ids, &mut resp.content);
        }
    }
    let finish = candidate
        .and_then(|c| c.get("finishReason").or_else(|| c.get("finish_reason")))
        .and_then(Value::as_str);
    let blocked = o
        .get("promptFeedback")
        .and_then(|f| f.get("blockReason"))
        .is_some();
    let has_calls = resp.content.iter().any(|p| matches!(p, Part::ToolCall(_)));
    resp.stop_reason = Some(match finish.map(stop_from_finish) {
        _ if blocked => StopReason::ContentFilter,
        Some(StopReason::EndTurn) | None if has_calls => StopReason::ToolUse,
        Some(s) => s,
        None => StopReason::EndTurn,
    });
    Ok(resp)
}

fn stop_from_finish(s: &str) -> StopReason {
    match s {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::ContentFilter
        }
        _ => StopReason::EndTurn,
    }
}

fn finish_to_wire(s: StopReason) -> &'static str {
    match s {
        StopReason::MaxTokens => "MAX_TOKENS",
        StopReason::ContentFilter => "SAFETY",
        _ => "STOP",
    }
}

fn usage_of(v: Option<&Value>) -> Usage {
    v.and_then(|u| serde_json::from_value::<GeminiUsageWire>(u.clone()).ok())
        .map(|u| u.to_usage())
        .unwrap_or_default()
}

fn usage_json(u: &Usage) -> Value {
    let candidates = u.completion_tokens.saturating_sub(u.reasoning_tokens);
    let mut v = json!({
        "promptTokenCount": u.prompt_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": u.prompt_tokens + u.completion_tokens,
    });
    if let Some(o) = v.as_object_mut() {
        if u.cached_tokens > 0 {
            o.insert("cachedContentTokenCount".into(), json!(u.cached_tokens));
        }
        if u.reasoning_tokens > 0 {
            o.insert("thoughtsTokenCount".into(), json!(u.reasoning_tokens));
        }
    }
    v
}

pub(crate) fn encode_response(resp: &ir::Response, client_model: &str) -> Value {
    let mut parts = encode_parts(&resp.content, &mut std::collections::HashMap::new(), true);
    if parts.is_empty() {
        parts.push(json!({"text": ""}));
    }
    json!({
        "candidates": [{
            "content": {"role": "model", "parts": parts},
            "finishReason": finish_to_wire(resp.stop_reason.unwrap_or(StopReason::EndTurn)),
            "index": 0,
        }],
        "usageMetadata": usage_json(&resp.usage),
        "modelVersion": client_model,
        "responseId": if resp.id.is_empty() { fresh_id("") } else { resp.id.clone() },
    })
}

// ---------------------------------------------------------------------------------------------
// Streaming: upstream chunks → IR

#[derive(Default)]
pub(crate) struct GeminiUpstream {
    next_call: u32,
}

impl UpstreamStream for GeminiUpstream {
    fn push(&mut self, ev: &SseEvent, out: &mut Vec<StreamEvent>) -> Result<(), StreamError> {
        let Ok(Value::Object(o)) = serde_json::from_str::<Value>(&ev.data) else {
            return Ok(());
        };
        if let Some(err) = get(&o, "error") {
            return Err(StreamError::from_client(upstream_error(
                Dialect::Gemini,
                0,
                err,
            )));
        }
        let candidate = get(&o, "candidates").and_then(|c| c.get(0));
        for p in candidate
            .and_then(|c| c.pointer("/content/parts"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let signature = p
                .get("thoughtSignature")
                .or_else(|| p.get("thought_signature"))
                .and_then(Value::as_str)
                .map(|s| StreamEvent::ReasoningSignature(s.to_owned()));
            let thought = p.get("thought").and_then(Value::as_bool) == Some(true);
            // A thought's signature closes it; any other part's signature precedes the part.
            if !thought {
                out.extend(signature.clone());
            }
            if let Some(t) = p
                .get("text")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
            {
                out.push(if thought {
                    StreamEvent::Reasoning(t.to_owned())
                } else {
                    StreamEvent::Text(t.to_owned())
                });
            }
            if thought {
                out.extend(signature);
            }
            if let Some(fc) = p.get("functionCall").or_else(|| p.get("function_call")) {
                let index = self.next_call;
                self.next_call += 1;
                out.push(StreamEvent::ToolCallStart {
                    index,
                    id: fc
                        .get("id")
                        .and_then(Value::as_str)
                        .map_or_else(|| fresh_id("call_"), str::to_owned),
                    name: fc
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned(),
                });
                out.push(StreamEvent::ToolCallArgs {
                    index,
                    delta: fc
                        .get("args")
                        .map_or_else(|| "{}".to_owned(), Value::to_string),
                });
            }
        }
        let usage = pick(&o, "usageMetadata", "usage_metadata");
        if usage.is_some() {
            out.push(StreamEvent::Usage(usage_of(usage)));
        }
        if o.get("promptFeedback")
            .and_then(|f| f.get("blockReason"))
            .is_some()
        {
            out.push(StreamEvent::Stop(StopReason::ContentFilter));
            out.push(StreamEvent::Done);
        } else if let Some(f) = candidate
            .and_then(|c| c.get("finishReason").or_else(|| c.get("finish_reason")))
            .and_then(Value::as_str)
        {
            out.push(StreamEvent::Stop(stop_from_finish(f)));
            out.push(StreamEvent::Done);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Streaming: IR → client chunks

/// Writes one complete `GenerateContentResponse` per text / thought delta; a function call is
/// written whole once its arguments are complete (Gemini never streams partial arguments); the
/// last chunk carries `finishReason` and `usageMetadata`.
pub(crate) struct GeminiClient {
    /// Who issued the thought signatures in this stream.
    upstream: Dialect,
    id: String,
    model: String,
    /// The call being assembled: (id, name, arguments)
    call: Option<(String, String, String)>,
    signature: Option<String>,
}

impl GeminiClient {
    pub(crate) fn new(client_model: &str, upstream: Dialect) -> Self {
        GeminiClient {
            upstream,
            id: fresh_id(""),
            model: client_model.to_owned(),
            call: None,
            signature: None,
        }
    }

    fn chunk(&self, parts: Vec<Value>, finish: Option<(StopReason, &Usage)>) -> SseEvent {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        let mut v = json!({"candidates": [], "modelVersion": self.model, "responseId": self.id});
        if let Some((stop, usage)) = finish {
            if let Some(c) = candidate.as_object_mut() {
                c.insert("finishReason".into(), json!(finish_to_wire(stop)));
            }
            if let Some(o) = v.as_object_mut() {
                o.insert("usageMetadata".into(), usage_json(usage));
            }
        }
        if let Some(o) = v.as_object_mut() {
            o.insert("candidates".into(), json!([candidate]));
        }
        SseEvent::data(v.to_string())
    }

    fn flush_call(&mut self) -> Option<Value> {
        let (id, name, args) = self.call.take()?;
        let mut part =
            json!({"functionCall": {"id": id, "name": name, "args": arguments_object(&args)}});
        if let (Some(sig), Some(o)) = (self.signature.take(), part.as_object_mut()) {
            o.insert("thoughtSignature".into(), json!(sig));
        }
        Some(part)
    }
}

impl ClientStream for GeminiClient {
    fn content(&mut self, ev: &StreamEvent, _usage: &Usage, out: &mut Vec<SseEvent>) {
        if let StreamEvent::ToolCallArgs { delta, .. } = ev {
            if let Some(call) = &mut self.call {
                call.2.push_str(delta);
            }
            return;
        }
        if let StreamEvent::ReasoningSignature(sig) = ev {
            // google-genai reads the slot as base64 bytes: only Gemini's own tokens fit.
            if self.upstream == Dialect::Gemini {
                self.signature = Some(sig.clone());
            }
            return;
        }
        if let Some(part) = self.flush_call() {
            out.push(self.chunk(vec![part], None));
        }
        let part = match ev {
            StreamEvent::Text(t) => json!({"text": t}),
            StreamEvent::Reasoning(t) => json!({"text": t, "thought": true}),
            StreamEvent::ToolCallStart { id, name, .. } => {
                self.call = Some((id.clone(), name.clone(), String::new()));
                return;
            }
            _ => return,
        };
        out.push(self.chunk(vec![part], None));
    }

    fn finish(&mut self, stop: StopReason, usage: &Usage, out: &mut Vec<SseEvent>) {
        let parts = match self.flush_call() {
            Some(part) => vec![part],
            None => vec![json!({"text": ""})],
        };
        out.push(self.chunk(parts, Some((stop, usage))));
    }

    fn fail(&mut self, err: &ClientError, out: &mut Vec<SseEvent>) {
        out.push(SseEvent::data(err.to_body(Dialect::Gemini).to_string()));
    }
}

// ---------------------------------------------------------------------------------------------
// Pass-through inspection

pub(crate) fn classify(ev: &SseEvent) -> EventClass {
    let Ok(v) = serde_json::from_str::<Value>(&ev.data) else {
        return EventClass::Meta;
    };
    if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
        return EventClass::Error {
            message: error_message(err),
        };
    }
    let candidate = v.pointer("/candidates/0");
    let has_content = candidate
        .and_then(|c| c.pointer("/content/parts"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|p| {
            p.get("text")
                .and_then(Value::as_str)
                .is_some_and(|t| !t.is_empty())
                || p.get("functionCall").is_some()
                || p.get("function_call").is_some()
        });
    if has_content {
        EventClass::Content
    } else if candidate.and_then(|c| c.get("finishReason")).is_some() {
        EventClass::Done
    } else {
        EventClass::Meta
    }
}
