//! Anthropic Messages (`POST /v1/messages`), the dialect of Claude Code. Without
//! `content_block_stop` Claude Code shows an empty answer, so every block is closed.

use bytes::Bytes;
use serde_json::{Value, json};

use super::Failure;
use crate::structured;
use crate::turn::{Answer, Ask, Last, Turn, content_text, pieces, sse_event};

/// Thinking blocks carry a signature the client must send back unchanged; any opaque string
/// serves for the mock.
const SIGNATURE: &str = "bW9jay10aGlua2luZy1zaWduYXR1cmU=";

pub(crate) fn read(v: &Value) -> Ask {
    let last = v["messages"].as_array().and_then(|m| m.last());
    let last = match last {
        Some(m) if m["role"] == "user" => {
            let result = m["content"]
                .as_array()
                .and_then(|blocks| blocks.iter().rfind(|b| b["type"] == "tool_result"));
            match result {
                Some(r) => Last::ToolResult(content_text(&r["content"])),
                None => Last::User(content_text(&m["content"])),
            }
        }
        _ => Last::Other,
    };
    Ask {
        model: v["model"].as_str().map(str::to_owned),
        stream: v["stream"].as_bool().unwrap_or(false),
        include_usage: false,
        has_tools: v["tools"].as_array().is_some_and(|t| !t.is_empty()),
        last,
        structured: structured::from_anthropic(v),
        tools_problem: structured::tools_problem(super::Dialect::Anthropic, v),
    }
}

fn stop_reason(t: &Turn) -> &'static str {
    match t.answer {
        Answer::Text(_) => "end_turn",
        Answer::Tool => "tool_use",
    }
}

fn tool_id(t: &Turn) -> String {
    format!("toolu_{}", t.id)
}

fn message(t: &Turn, content: Vec<Value>, stop: Option<&str>, output_tokens: u64) -> Value {
    json!({
        "id": format!("msg_{}", t.id),
        "type": "message",
        "role": "assistant",
        "model": t.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": {
            // Anthropic's input excludes cache reads.
            "input_tokens": t.input_tokens - t.cached_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": t.cached_tokens,
            "output_tokens": output_tokens,
        },
    })
}

pub(crate) fn json(t: &Turn) -> Value {
    let mut content = Vec::with_capacity(2);
    if let Some(r) = &t.reasoning {
        content.push(json!({ "type": "thinking", "thinking": r, "signature": SIGNATURE }));
    }
    content.push(match &t.answer {
        Answer::Text(text) => json!({ "type": "text", "text": text }),
        Answer::Tool => json!({
            "type": "tool_use",
            "id": tool_id(t),
            "name": t.tool_name(),
            "input": serde_json::from_str::<Value>(t.tool_args()).unwrap_or_default(),
        }),
    });
    message(t, content, Some(stop_reason(t)), t.output_tokens)
}

pub(crate) fn frames(t: &Turn, _ask: &Ask) -> Vec<Bytes> {
    let mut out = vec![sse_event(
        "message_start",
        &json!({ "type": "message_start", "message": message(t, vec![], None, 1) }),
    )];
    let block = |out: &mut Vec<Bytes>, index: usize, start: Value, deltas: Vec<Value>| {
        out.push(sse_event(
            "content_block_start",
            &json!({ "type": "content_block_start", "index": index, "content_block": start }),
        ));
        for d in deltas {
            out.push(sse_event(
                "content_block_delta",
                &json!({ "type": "content_block_delta", "index": index, "delta": d }),
            ));
        }
        out.push(sse_event(
            "content_block_stop",
            &json!({ "type": "content_block_stop", "index": index }),
        ));
    };
    let mut index = 0;
    if let Some(r) = &t.reasoning {
        let mut deltas: Vec<Value> = pieces(r, t.chunks)
            .into_iter()
            .map(|p| json!({ "type": "thinking_delta", "thinking": p }))
            .collect();
        deltas.push(json!({ "type": "signature_delta", "signature": SIGNATURE }));
        block(
            &mut out,
            index,
            json!({ "type": "thinking", "thinking": "" }),
            deltas,
        );
        index += 1;
    }
    match &t.answer {
        Answer::Text(text) => block(
            &mut out,
            index,
            json!({ "type": "text", "text": "" }),
            pieces(text, t.chunks)
                .into_iter()
                .map(|p| json!({ "type": "text_delta", "text": p }))
                .collect(),
        ),
        Answer::Tool => block(
            &mut out,
            index,
            json!({ "type": "tool_use", "id": tool_id(t), "name": t.tool_name(), "input": {} }),
            pieces(t.tool_args(), t.chunks)
                .into_iter()
                .map(|p| json!({ "type": "input_json_delta", "partial_json": p }))
                .collect(),
        ),
    }
    out.push(sse_event(
        "message_delta",
        &json!({
            "type": "message_delta",
            "delta": { "stop_reason": stop_reason(t), "stop_sequence": null },
            "usage": { "output_tokens": t.output_tokens },
        }),
    ));
    out.push(sse_event(
        "message_stop",
        &json!({ "type": "message_stop" }),
    ));
    out
}

/// What native Anthropic refuses in a history (the `native` directive), in its own words: a
/// thinking block whose signature it did not issue, redacted thinking it did not issue, or
/// with thinking on, a last assistant turn with tool calls that does not open with thinking.
pub(crate) fn thinking_problem(v: &Value) -> Option<String> {
    let messages = v["messages"].as_array()?;
    for (i, m) in messages.iter().enumerate() {
        let Some(blocks) = m["content"].as_array().filter(|_| m["role"] == "assistant") else {
            continue;
        };
        for (j, b) in blocks.iter().enumerate() {
            match b["type"].as_str() {
                Some("thinking") if b["signature"] != SIGNATURE => {
                    return Some(format!(
                        "messages.{i}.content.{j}: Invalid `signature` in `thinking` block"
                    ));
                }
                Some("redacted_thinking") if b["data"] != SIGNATURE => {
                    return Some(format!(
                        "messages.{i}.content.{j}: Invalid `data` in `redacted_thinking` block"
                    ));
                }
                _ => {}
            }
        }
    }
    let thinking = matches!(v["thinking"]["type"].as_str(), Some("enabled" | "adaptive"));
    let (i, last) = messages
        .iter()
        .enumerate()
        .rfind(|(_, m)| m["role"] == "assistant")?;
    let blocks = last["content"].as_array()?;
    let opens_with_thinking = blocks
        .first()
        .is_some_and(|b| matches!(b["type"].as_str(), Some("thinking" | "redacted_thinking")));
    (thinking && blocks.iter().any(|b| b["type"] == "tool_use") && !opens_with_thinking).then(|| {
        format!(
            "messages.{i}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{}`. \
             When `thinking` is enabled, a final `assistant` message must start with a thinking block \
             (preceeding the lastmost set of `tool_use` and `tool_result` blocks). We recommend you \
             include thinking blocks from previous turns. To avoid this requirement, disable `thinking`. \
             Please consult our documentation at https://docs.claude.com/en/docs/build-with-claude/extended-thinking",
            blocks.first().and_then(|b| b["type"].as_str()).unwrap_or("text")
        )
    })
}

pub(crate) fn error(f: &Failure) -> Value {
    let kind = match f.status {
        _ if f.quota => "billing_error",
        400 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        s if s >= 500 => "api_error",
        _ => "invalid_request_error",
    };
    json!({ "type": "error", "error": { "type": kind, "message": f.message } })
}

pub(crate) fn error_event(f: &Failure) -> Bytes {
    sse_event("error", &error(f))
}
