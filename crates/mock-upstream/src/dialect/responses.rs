//! OpenAI Responses (`POST /v1/responses`), the only dialect Codex speaks. Codex takes the
//! answer from `response.output_item.done` and needs `response.completed` to end the stream.

use bytes::Bytes;
use serde_json::{Value, json};

use super::{CREATED, Failure, chat};
use crate::structured;
use crate::turn::{Answer, Ask, Last, TOOL_ARGS, TOOL_NAME, Turn, content_text, pieces, sse_event};

pub(crate) fn read(v: &Value) -> Ask {
    let last = match &v["input"] {
        Value::String(s) => Last::User(s.clone()),
        Value::Array(items) => match items.last() {
            Some(i) if i["type"] == "function_call_output" => {
                Last::ToolResult(content_text(&i["output"]))
            }
            Some(i) if i["role"] == "user" => Last::User(content_text(&i["content"])),
            _ => Last::Other,
        },
        _ => Last::Other,
    };
    Ask {
        model: v["model"].as_str().map(str::to_owned),
        stream: v["stream"].as_bool().unwrap_or(false),
        include_usage: false,
        has_tools: v["tools"].as_array().is_some_and(|t| !t.is_empty()),
        last,
        structured: structured::from_responses(v),
        tools_problem: structured::tools_problem(super::Dialect::OpenAiResponses, v),
    }
}

fn reasoning_item(t: &Turn, text: &str) -> Value {
    json!({
        "type": "reasoning",
        "id": format!("rs_{}", t.id),
        "summary": [{ "type": "summary_text", "text": text }],
    })
}

fn message_item(t: &Turn, text: &str, status: &str) -> Value {
    let content = if status == "completed" {
        json!([{ "type": "output_text", "text": text, "annotations": [] }])
    } else {
        json!([])
    };
    json!({
        "type": "message",
        "id": format!("msg_{}", t.id),
        "status": status,
        "role": "assistant",
        "content": content,
    })
}

fn call_item(t: &Turn, arguments: &str, status: &str) -> Value {
    json!({
        "type": "function_call",
        "id": format!("fc_{}", t.id),
        "call_id": format!("call_{}", t.id),
        "name": TOOL_NAME,
        "arguments": arguments,
        "status": status,
    })
}

fn output(t: &Turn) -> Vec<Value> {
    let mut out = Vec::with_capacity(2);
    if let Some(r) = &t.reasoning {
        out.push(reasoning_item(t, r));
    }
    out.push(match &t.answer {
        Answer::Text(text) => message_item(t, text, "completed"),
        Answer::Tool => call_item(t, TOOL_ARGS, "completed"),
    });
    out
}

fn response(t: &Turn, status: &str, output: Vec<Value>, usage: Value) -> Value {
    json!({
        "id": format!("resp_{}", t.id),
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "error": null,
        "incomplete_details": null,
        "model": t.model,
        "output": output,
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "tools": [],
        "usage": usage,
    })
}

fn usage(t: &Turn) -> Value {
    json!({
        "input_tokens": t.input_tokens,
        "input_tokens_details": { "cached_tokens": t.cached_tokens },
        "output_tokens": t.output_tokens,
        "output_tokens_details": { "reasoning_tokens": 0 },
        "total_tokens": t.total_tokens(),
    })
}

pub(crate) fn json(t: &Turn) -> Value {
    response(t, "completed", output(t), usage(t))
}

/// Numbers events as the real API does (`sequence_number`) while building them.
struct Seq {
    out: Vec<Bytes>,
}

impl Seq {
    fn push(&mut self, kind: &str, mut v: Value) {
        v["type"] = json!(kind);
        v["sequence_number"] = json!(self.out.len());
        self.out.push(sse_event(kind, &v));
    }
}

pub(crate) fn frames(t: &Turn, _ask: &Ask) -> Vec<Bytes> {
    let mut s = Seq { out: Vec::new() };
    let pending = response(t, "in_progress", vec![], Value::Null);
    s.push("response.created", json!({ "response": pending }));
    s.push("response.in_progress", json!({ "response": pending }));
    let mut index = 0;
    if let Some(r) = &t.reasoning {
        let item_id = format!("rs_{}", t.id);
        let empty = json!({ "type": "reasoning", "id": item_id, "summary": [] });
        s.push(
            "response.output_item.added",
            json!({ "output_index": index, "item": empty }),
        );
        let at = json!({ "item_id": item_id, "output_index": index, "summary_index": 0 });
        let with = |extra: Value| {
            let mut v = at.clone();
            if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                v.extend(extra);
            }
            v
        };
        s.push(
            "response.reasoning_summary_part.added",
            with(json!({ "part": { "type": "summary_text", "text": "" } })),
        );
        for p in pieces(r, t.chunks) {
            s.push(
                "response.reasoning_summary_text.delta",
                with(json!({ "delta": p })),
            );
        }
        s.push(
            "response.reasoning_summary_text.done",
            with(json!({ "text": r })),
        );
        s.push(
            "response.reasoning_summary_part.done",
            with(json!({ "part": { "type": "summary_text", "text": r } })),
        );
        s.push(
            "response.output_item.done",
            json!({ "output_index": index, "item": reasoning_item(t, r) }),
        );
        index += 1;
    }
    match &t.answer {
        Answer::Text(text) => {
            let item_id = format!("msg_{}", t.id);
            s.push(
                "response.output_item.added",
                json!({ "output_index": index, "item": message_item(t, "", "in_progress") }),
            );
            let part =
                |text: &str| json!({ "type": "output_text", "text": text, "annotations": [] });
            let at = |extra: Value| {
                let mut v =
                    json!({ "item_id": item_id, "output_index": index, "content_index": 0 });
                if let (Some(v), Value::Object(extra)) = (v.as_object_mut(), extra) {
                    v.extend(extra);
                }
                v
            };
            s.push(
                "response.content_part.added",
                at(json!({ "part": part("") })),
            );
            for p in pieces(text, t.chunks) {
                s.push(
                    "response.output_text.delta",
                    at(json!({ "delta": p, "logprobs": [] })),
                );
            }
            s.push(
                "response.output_text.done",
                at(json!({ "text": text, "logprobs": [] })),
            );
            s.push(
                "response.content_part.done",
                at(json!({ "part": part(text) })),
            );
            s.push(
                "response.output_item.done",
                json!({ "output_index": index, "item": message_item(t, text, "completed") }),
            );
        }
        Answer::Tool => {
            let item_id = format!("fc_{}", t.id);
            s.push(
                "response.output_item.added",
                json!({ "output_index": index, "item": call_item(t, "", "in_progress") }),
            );
            for p in pieces(TOOL_ARGS, t.chunks) {
                s.push(
                    "response.function_call_arguments.delta",
                    json!({ "item_id": item_id, "output_index": index, "delta": p }),
                );
            }
            s.push(
                "response.function_call_arguments.done",
                json!({ "item_id": item_id, "output_index": index, "arguments": TOOL_ARGS }),
            );
            s.push(
                "response.output_item.done",
                json!({ "output_index": index, "item": call_item(t, TOOL_ARGS, "completed") }),
            );
        }
    }
    s.push(
        "response.completed",
        json!({ "response": response(t, "completed", output(t), usage(t)) }),
    );
    s.out
}

pub(crate) fn error(f: &Failure) -> Value {
    chat::error(f)
}

pub(crate) fn error_event(f: &Failure) -> Bytes {
    let e = chat::error(f);
    sse_event(
        "error",
        &json!({
            "type": "error",
            "code": e["error"]["code"],
            "message": f.message,
            "param": null,
            "sequence_number": 0,
        }),
    )
}
