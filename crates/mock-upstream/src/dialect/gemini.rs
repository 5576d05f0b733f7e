//! Gemini (`POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`). Every
//! stream event is a complete `GenerateContentResponse`; function calls arrive whole, as the
//! real API sends them, never as argument deltas.

use bytes::Bytes;
use serde_json::{Value, json};

use super::Failure;
use crate::structured;
use crate::turn::{Answer, Ask, Last, TOOL_NAME, Turn, content_text, pieces, sse_data_crlf};

pub(crate) fn read(v: &Value) -> Ask {
    let last = v["contents"].as_array().and_then(|c| c.last());
    let last = match last {
        Some(c) if c["role"] != "model" => {
            let parts = c["parts"].as_array();
            let result =
                parts.and_then(|p| p.iter().rfind(|p| p.get("functionResponse").is_some()));
            match result {
                Some(r) => Last::ToolResult(r["functionResponse"]["response"].to_string()),
                None => Last::User(content_text(&c["parts"])),
            }
        }
        _ => Last::Other,
    };
    let has_tools = v["tools"].as_array().is_some_and(|tools| {
        tools.iter().any(|t| {
            [&t["functionDeclarations"], &t["function_declarations"]]
                .iter()
                .any(|d| d.as_array().is_some_and(|d| !d.is_empty()))
        })
    });
    Ask {
        model: None,
        stream: false,
        include_usage: false,
        has_tools,
        last,
        structured: structured::from_gemini(v),
        tools_problem: structured::tools_problem(super::Dialect::Gemini, v),
    }
}

fn usage(t: &Turn, done: bool) -> Value {
    let mut u = json!({ "promptTokenCount": t.input_tokens });
    if done {
        u["candidatesTokenCount"] = json!(t.output_tokens);
        u["totalTokenCount"] = json!(t.total_tokens());
    } else {
        u["totalTokenCount"] = json!(t.input_tokens);
    }
    u
}

fn response(t: &Turn, parts: Vec<Value>, done: bool) -> Value {
    let mut candidate = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
    if done {
        candidate["finishReason"] = json!("STOP");
    }
    json!({
        "candidates": [candidate],
        "usageMetadata": usage(t, done),
        "modelVersion": t.model,
        "responseId": t.id,
    })
}

fn call_part() -> Value {
    json!({ "functionCall": { "name": TOOL_NAME, "args": { "city": "Paris" } } })
}

pub(crate) fn json(t: &Turn) -> Value {
    let mut parts = Vec::with_capacity(2);
    if let Some(r) = &t.reasoning {
        parts.push(json!({ "text": r, "thought": true }));
    }
    parts.push(match &t.answer {
        Answer::Text(text) => json!({ "text": text }),
        Answer::Tool => call_part(),
    });
    response(t, parts, true)
}

/// The stream as a list of complete responses; the last carries `finishReason` and usage.
pub(crate) fn chunks(t: &Turn) -> Vec<Value> {
    let mut parts: Vec<Value> = Vec::new();
    if let Some(r) = &t.reasoning {
        parts.extend(
            pieces(r, t.chunks)
                .into_iter()
                .map(|p| json!({ "text": p, "thought": true })),
        );
    }
    match &t.answer {
        Answer::Text(text) => parts.extend(
            pieces(text, t.chunks)
                .into_iter()
                .map(|p| json!({ "text": p })),
        ),
        Answer::Tool => parts.push(call_part()),
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| response(t, vec![p], i + 1 == n))
        .collect()
}

pub(crate) fn frames(t: &Turn, _ask: &Ask) -> Vec<Bytes> {
    chunks(t).iter().map(sse_data_crlf).collect()
}

pub(crate) fn error(f: &Failure) -> Value {
    let status = match f.status {
        _ if f.quota => "RESOURCE_EXHAUSTED",
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        402 => "FAILED_PRECONDITION",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        500 => "INTERNAL",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "UNKNOWN",
    };
    let mut e = json!({ "error": { "code": f.status, "message": f.message, "status": status } });
    if let Some(secs) = f.retry_delay {
        e["error"]["details"] = json!([{
            "@type": "type.googleapis.com/google.rpc.RetryInfo",
            "retryDelay": format!("{secs}s"),
        }]);
    }
    e
}

pub(crate) fn error_event(f: &Failure) -> Bytes {
    sse_data_crlf(&error(f))
}
