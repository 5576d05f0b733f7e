//! OpenAI Chat Completions (`POST /v1/chat/completions`), the dialect most providers copy.

use bytes::Bytes;
use serde_json::{Value, json};

use super::{CREATED, Failure};
use crate::structured;
use crate::turn::{Answer, Ask, Last, TOOL_ARGS, TOOL_NAME, Turn, content_text, pieces, sse_data};

pub(crate) fn read(v: &Value) -> Ask {
    let last = v["messages"].as_array().and_then(|m| m.last());
    Ask {
        model: v["model"].as_str().map(str::to_owned),
        stream: v["stream"].as_bool().unwrap_or(false),
        include_usage: v["stream_options"]["include_usage"]
            .as_bool()
            .unwrap_or(false),
        has_tools: v["tools"].as_array().is_some_and(|t| !t.is_empty()),
        last: match last {
            Some(m) if m["role"] == "tool" => Last::ToolResult(content_text(&m["content"])),
            Some(m) if m["role"] == "user" => Last::User(content_text(&m["content"])),
            _ => Last::Other,
        },
        structured: structured::from_chat(v),
        tools_problem: structured::tools_problem(super::Dialect::OpenAiChat, v),
    }
}

fn usage(t: &Turn) -> Value {
    json!({
        "prompt_tokens": t.input_tokens,
        "completion_tokens": t.output_tokens,
        "total_tokens": t.total_tokens(),
        "prompt_tokens_details": { "cached_tokens": t.cached_tokens },
    })
}

fn finish_reason(t: &Turn) -> &'static str {
    match t.answer {
        Answer::Text(_) => "stop",
        Answer::Tool => "tool_calls",
    }
}

fn call_id(t: &Turn) -> String {
    format!("call_{}", t.id)
}

pub(crate) fn json(t: &Turn) -> Value {
    let mut message = json!({ "role": "assistant", "content": t.text() });
    if let Some(r) = &t.reasoning {
        // DeepSeek's field for reasoning, which OpenAI-compatible clients have adopted.
        message["reasoning_content"] = json!(r);
    }
    if let Answer::Tool = t.answer {
        message["tool_calls"] = json!([{
            "id": call_id(t),
            "type": "function",
            "function": { "name": TOOL_NAME, "arguments": TOOL_ARGS },
        }]);
    }
    json!({
        "id": format!("chatcmpl-{}", t.id),
        "object": "chat.completion",
        "created": CREATED,
        "model": t.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": finish_reason(t),
        }],
        "usage": usage(t),
    })
}

pub(crate) fn frames(t: &Turn, ask: &Ask) -> Vec<Bytes> {
    let id = format!("chatcmpl-{}", t.id);
    let chunk = |delta: Value, finish: Option<&str>| {
        sse_data(&json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": t.model,
            "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
        }))
    };
    let mut out = vec![chunk(json!({ "role": "assistant", "content": "" }), None)];
    if let Some(r) = &t.reasoning {
        for p in pieces(r, t.chunks) {
            out.push(chunk(json!({ "reasoning_content": p }), None));
        }
    }
    match &t.answer {
        Answer::Text(text) => {
            for p in pieces(text, t.chunks) {
                out.push(chunk(json!({ "content": p }), None));
            }
        }
        Answer::Tool => {
            out.push(chunk(
                json!({ "tool_calls": [{
                    "index": 0,
                    "id": call_id(t),
                    "type": "function",
                    "function": { "name": TOOL_NAME, "arguments": "" },
                }]}),
                None,
            ));
            for p in pieces(TOOL_ARGS, t.chunks) {
                out.push(chunk(
                    json!({ "tool_calls": [{ "index": 0, "function": { "arguments": p } }] }),
                    None,
                ));
            }
        }
    }
    out.push(chunk(json!({}), Some(finish_reason(t))));
    if ask.include_usage {
        out.push(sse_data(&json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": CREATED,
            "model": t.model,
            "choices": [],
            "usage": usage(t),
        })));
    }
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

/// The OpenAI error object, shared with the Responses API.
pub(crate) fn error(f: &Failure) -> Value {
    let (kind, code) = match f.status {
        _ if f.quota => ("insufficient_quota", "insufficient_quota"),
        400 => ("invalid_request_error", "invalid_request"),
        401 => ("invalid_request_error", "invalid_api_key"),
        402 => ("insufficient_quota", "insufficient_quota"),
        403 => (
            "invalid_request_error",
            "unsupported_country_region_territory",
        ),
        404 => ("invalid_request_error", "model_not_found"),
        429 => ("requests", "rate_limit_exceeded"),
        s if s >= 500 => ("server_error", "server_error"),
        _ => ("invalid_request_error", "invalid_request"),
    };
    json!({ "error": { "message": f.message, "type": kind, "param": null, "code": code } })
}

/// OpenAI-compatible providers report a failure after the headers as a data line with an
/// error object and no `[DONE]`.
pub(crate) fn error_event(f: &Failure) -> Bytes {
    sse_data(&error(f))
}
