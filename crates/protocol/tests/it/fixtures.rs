//! Wire fixtures in each dialect: client requests of every kind, upstream responses, upstream
//! streams and upstream error bodies. Small on purpose, so every snapshot can be read whole.

use serde_json::{Value, json};
use switchboard_protocol::{Dialect, SseDecoder, SseEvent};

pub const REQUEST_KINDS: [&str; 7] = [
    "text",
    "system",
    "multi_turn",
    "image",
    "tools",
    "reasoning",
    "structured",
];
pub const RESPONSE_KINDS: [&str; 3] = ["text", "tool_call", "reasoning"];
pub const STREAM_KINDS: [&str; 3] = ["text", "tool_deltas", "reasoning"];

pub fn name(d: Dialect) -> &'static str {
    d.as_str()
}

const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

const WEATHER_SCHEMA: &str = r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"],"additionalProperties":false}"#;

fn schema() -> Value {
    serde_json::from_str(WEATHER_SCHEMA).unwrap()
}

/// The response schema of the `structured` kind, as JSON Schema (Gemini's fixture writes the
/// same in Gemini's OpenAPI subset).
pub fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1},
            "age": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}},
            "nickname": {"type": ["string", "null"]},
        },
        "required": ["name", "age", "tags", "nickname"],
        "additionalProperties": false,
    })
}

/// [`person_schema`] in Gemini's `responseSchema` form.
pub fn person_schema_gemini() -> Value {
    json!({
        "type": "OBJECT",
        "properties": {
            "name": {"type": "STRING"},
            "age": {"type": "INTEGER"},
            "tags": {"type": "ARRAY", "items": {"type": "STRING"}},
            "nickname": {"type": "STRING", "nullable": true},
        },
        "required": ["name", "age", "tags", "nickname"],
        "propertyOrdering": ["name", "age", "tags", "nickname"],
    })
}

/// A client request of `kind` in dialect `d`.
pub fn request(d: Dialect, kind: &str) -> Value {
    match d {
        Dialect::OpenaiChat => chat_request(kind),
        Dialect::OpenaiResponses => responses_request(kind),
        Dialect::Anthropic => anthropic_request(kind),
        Dialect::Gemini => gemini_request(kind),
    }
}

fn chat_request(kind: &str) -> Value {
    match kind {
        "structured" => json!({
            "model": "gpt-5.5",
            "response_format": {"type": "json_schema", "json_schema": {"name": "person", "schema": person_schema(), "strict": true}},
            "messages": [{"role": "user", "content": "Describe Ada as JSON."}],
        }),
        "text" => json!({
            "model": "gpt-5.5", "stream": true, "stream_options": {"include_usage": true},
            "temperature": 0.2, "top_p": 0.9, "max_tokens": 256, "stop": ["END"],
            "messages": [{"role": "user", "content": "Say hello."}],
        }),
        "system" => json!({
            "model": "gpt-5.5",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Say hello."},
            ],
        }),
        "multi_turn" => json!({
            "model": "gpt-5.5",
            "messages": [
                {"role": "user", "content": "My name is Ada."},
                {"role": "assistant", "content": "Nice to meet you, Ada."},
                {"role": "user", "content": "What is my name?"},
            ],
        }),
        "image" => json!({
            "model": "gpt-5.5",
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is in these images?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"}},
            ]}],
        }),
        "tools" => json!({
            "model": "gpt-5.5", "parallel_tool_calls": false,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Current weather", "parameters": schema(), "strict": true}}],
            "messages": [
                {"role": "user", "content": "Weather in Paris and Oslo?"},
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}},
                ]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": "Error: city not found"},
                {"role": "user", "content": "Thanks."},
            ],
        }),
        "reasoning" => json!({
            "model": "gpt-5.5", "reasoning_effort": "high", "max_completion_tokens": 4000,
            "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}, "strict": true}},
            "messages": [
                {"role": "user", "content": "What is 6*7?"},
                {"role": "assistant", "reasoning_content": "6*7 is 42.", "content": "{\"n\":42}"},
                {"role": "user", "content": "And 6*8?"},
            ],
        }),
        _ => unreachable!(),
    }
}

fn responses_request(kind: &str) -> Value {
    match kind {
        "structured" => json!({
            "model": "gpt-5.5",
            "input": "Describe Ada as JSON.",
            "text": {"format": {"type": "json_schema", "name": "person", "schema": person_schema(), "strict": true}},
        }),
        "text" => json!({
            "model": "gpt-5.5", "stream": true, "temperature": 0.2, "top_p": 0.9,
            "max_output_tokens": 256, "input": "Say hello.",
        }),
        "system" => json!({
            "model": "gpt-5.5", "instructions": "You are terse.",
            "input": [
                {"type": "message", "role": "developer", "id": "m0", "content": [{"type": "input_text", "text": "Answer in French."}]},
                {"type": "message", "role": "user", "id": "m1", "content": [{"type": "input_text", "text": "Say hello."}]},
            ],
        }),
        "multi_turn" => json!({
            "model": "gpt-5.5",
            "input": [
                {"role": "user", "content": "My name is Ada."},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Nice to meet you, Ada."}]},
                {"role": "user", "content": "What is my name?"},
            ],
        }),
        "image" => json!({
            "model": "gpt-5.5",
            "input": [{"role": "user", "content": [
                {"type": "input_text", "text": "What is in these images?"},
                {"type": "input_image", "image_url": format!("data:image/png;base64,{PNG}")},
                {"type": "input_image", "image_url": "https://example.com/cat.jpg"},
            ]}],
        }),
        "tools" => json!({
            "model": "gpt-5.5", "parallel_tool_calls": false,
            "tool_choice": {"type": "function", "name": "get_weather"},
            "tools": [
                {"type": "function", "name": "get_weather", "description": "Current weather", "parameters": schema(), "strict": true},
                {"type": "web_search"},
            ],
            "input": [
                {"role": "user", "content": "Weather in Paris and Oslo?"},
                {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
                {"type": "function_call", "id": "fc_2", "call_id": "call_2", "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"},
                {"type": "function_call_output", "call_id": "call_1", "output": "18C, sunny"},
                {"type": "function_call_output", "call_id": "call_2", "output": "Error: city not found"},
                {"role": "user", "content": "Thanks."},
            ],
        }),
        "reasoning" => json!({
            "model": "gpt-5.5", "reasoning": {"effort": "high", "summary": "auto"}, "max_output_tokens": 4000,
            "include": ["reasoning.encrypted_content"], "store": false,
            "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}, "strict": true}},
            "input": [
                {"role": "user", "content": "What is 6*7?"},
                {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "6*7 is 42."}], "encrypted_content": "gAAAA-opaque"},
                {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "{\"n\":42}"}]},
                {"role": "user", "content": "And 6*8?"},
            ],
        }),
        _ => unreachable!(),
    }
}

fn anthropic_request(kind: &str) -> Value {
    match kind {
        "structured" => json!({
            "model": "claude-sonnet-4-5", "max_tokens": 1024,
            "output_config": {"format": {"type": "json_schema", "schema": person_schema()}},
            "messages": [{"role": "user", "content": "Describe Ada as JSON."}],
        }),
        "text" => json!({
            "model": "claude-sonnet-4-5", "stream": true, "max_tokens": 256,
            "temperature": 0.2, "top_p": 0.9, "stop_sequences": ["END"],
            "messages": [{"role": "user", "content": "Say hello."}],
        }),
        "system" => json!({
            "model": "claude-sonnet-4-5", "max_tokens": 1024,
            "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Say hello.", "cache_control": {"type": "ephemeral"}}]},
                {"role": "system", "content": "Answer in French."},
            ],
        }),
        "multi_turn" => json!({
            "model": "claude-sonnet-4-5", "max_tokens": 1024,
            "messages": [
                {"role": "user", "content": "My name is Ada."},
                {"role": "assistant", "content": [{"type": "text", "text": "Nice to meet you, Ada."}]},
                {"role": "user", "content": "What is my name?"},
            ],
        }),
        "image" => json!({
            "model": "claude-sonnet-4-5", "max_tokens": 1024,
            "messages": [{"role": "user", "content": [
                {"type": "text", "text": "What is in these images?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ]}],
        }),
        "tools" => json!({
            "model": "claude-sonnet-4-5", "max_tokens": 1024,
            "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true},
            "tools": [
                {"name": "get_weather", "description": "Current weather", "input_schema": schema(), "cache_control": {"type": "ephemeral"}},
                {"type": "web_search_20250305", "name": "web_search", "max_uses": 3},
            ],
            "messages": [
                {"role": "user", "content": "Weather in Paris and Oslo?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Oslo"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": "18C, sunny"},
                    {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "city not found"}], "is_error": true},
                    {"type": "text", "text": "Thanks."},
                ]},
            ],
        }),
        "reasoning" => json!({
            "model": "claude-sonnet-4-5", "max_tokens": 4000,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "context_management": {"edits": []},
            "metadata": {"user_id": "user_abc"},
            "messages": [
                {"role": "user", "content": "What is 6*7?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "6*7 is 42.", "signature": "sig-anthropic"},
                    {"type": "redacted_thinking", "data": "redacted-blob"},
                    {"type": "text", "text": "42"},
                ]},
                {"role": "user", "content": "And 6*8?"},
            ],
        }),
        _ => unreachable!(),
    }
}

fn gemini_request(kind: &str) -> Value {
    match kind {
        "structured" => json!({
            "tools": [{"functionDeclarations": [{
                "name": "lookup", "description": "Find a person",
                "parameters": {"type": "OBJECT", "properties": {
                    "name": {"type": "STRING"},
                    "limit": {"type": "INTEGER", "nullable": true},
                }, "required": ["name"]},
            }]}],
            "generationConfig": {"responseMimeType": "application/json", "responseSchema": person_schema_gemini()},
            "contents": [{"role": "user", "parts": [{"text": "Describe Ada as JSON."}]}],
        }),
        "text" => json!({
            "contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
            "generationConfig": {"temperature": 0.2, "topP": 0.9, "maxOutputTokens": 256, "stopSequences": ["END"]},
        }),
        "system" => json!({
            "systemInstruction": {"parts": [{"text": "You are terse."}, {"text": " Answer in French."}]},
            "contents": [{"role": "user", "parts": [{"text": "Say hello."}]}],
        }),
        "multi_turn" => json!({
            "contents": [
                {"role": "user", "parts": [{"text": "My name is Ada."}]},
                {"role": "model", "parts": [{"text": "Nice to meet you, Ada."}]},
                {"role": "user", "parts": [{"text": "What is my name?"}]},
            ],
        }),
        "image" => json!({
            "contents": [{"role": "user", "parts": [
                {"text": "What is in these images?"},
                {"inline_data": {"mime_type": "image/png", "data": PNG}},
                {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.jpg"}},
            ]}],
        }),
        "tools" => json!({
            "tools": [
                {"function_declarations": [{"name": "get_weather", "description": "Current weather", "parameters_json_schema": schema()}]},
                {"googleSearch": {}},
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}},
            "contents": [
                {"role": "user", "parts": [{"text": "Weather in Paris and Oslo?"}]},
                {"role": "model", "parts": [
                    {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                    {"functionCall": {"name": "get_weather", "args": {"city": "Oslo"}}},
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "get_weather", "response": {"output": "18C, sunny"}}},
                    {"functionResponse": {"name": "get_weather", "response": {"error": "city not found"}}},
                    {"text": "Thanks."},
                ]},
            ],
        }),
        "reasoning" => json!({
            "generationConfig": {
                "maxOutputTokens": 4000,
                "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": true},
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object", "properties": {"n": {"type": "integer"}}},
            },
            "contents": [
                {"role": "user", "parts": [{"text": "What is 6*7?"}]},
                {"role": "model", "parts": [
                    {"text": "6*7 is 42.", "thought": true},
                    {"text": "{\"n\":42}", "thoughtSignature": "sig-gemini"},
                ]},
                {"role": "user", "parts": [{"text": "And 6*8?"}]},
            ],
        }),
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------------------------------------
// Upstream non-streaming responses

pub fn response(d: Dialect, kind: &str) -> Value {
    match (d, kind) {
        (Dialect::OpenaiChat, "text") => json!({
            "id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": "deepseek-chat",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15, "prompt_tokens_details": {"cached_tokens": 4}},
        }),
        (Dialect::OpenaiChat, "tool_call") => json!({
            "id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": "deepseek-chat",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Checking.", "tool_calls": [
                {"id": "call_x", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
            ]}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
        }),
        (Dialect::OpenaiChat, "reasoning") => json!({
            "id": "chatcmpl-up", "object": "chat.completion", "created": 1, "model": "deepseek-reasoner",
            "choices": [{"index": 0, "finish_reason": "length", "message": {"role": "assistant", "reasoning_content": "6*8 is 48.", "content": "48"}}],
            "usage": {"prompt_tokens": 30, "completion_tokens": 40, "total_tokens": 70, "completion_tokens_details": {"reasoning_tokens": 35}},
        }),
        (Dialect::OpenaiResponses, "text") => json!({
            "id": "resp_up", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-5", "error": null,
            "output": [{"id": "msg_up", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": "Hello!", "annotations": []}]}],
            "usage": {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15},
        }),
        (Dialect::OpenaiResponses, "tool_call") => json!({
            "id": "resp_up", "object": "response", "status": "completed", "model": "gpt-5", "error": null,
            "output": [
                {"id": "msg_up", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
                {"id": "fc_up", "type": "function_call", "status": "completed", "call_id": "call_x", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
            ],
            "usage": {"input_tokens": 20, "output_tokens": 9, "total_tokens": 29},
        }),
        (Dialect::OpenaiResponses, "reasoning") => json!({
            "id": "resp_up", "object": "response", "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}, "model": "gpt-5",
            "output": [
                {"id": "rs_up", "type": "reasoning", "summary": [{"type": "summary_text", "text": "6*8 is 48."}], "encrypted_content": "gAAAA-up"},
                {"id": "msg_up", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "48"}]},
            ],
            "usage": {"input_tokens": 30, "output_tokens": 40, "output_tokens_details": {"reasoning_tokens": 35}, "total_tokens": 70},
        }),
        (Dialect::Anthropic, "text") => json!({
            "id": "msg_up", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hello!"}], "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 8, "cache_read_input_tokens": 4, "cache_creation_input_tokens": 0, "output_tokens": 3},
        }),
        (Dialect::Anthropic, "tool_call") => json!({
            "id": "msg_up", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Checking."}, {"type": "tool_use", "id": "toolu_x", "name": "get_weather", "input": {"city": "Paris"}}],
            "stop_reason": "tool_use", "usage": {"input_tokens": 20, "output_tokens": 9},
        }),
        (Dialect::Anthropic, "reasoning") => json!({
            "id": "msg_up", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
            "content": [{"type": "thinking", "thinking": "6*8 is 48.", "signature": "sig-up"}, {"type": "text", "text": "48"}],
            "stop_reason": "max_tokens", "usage": {"input_tokens": 30, "output_tokens": 40},
        }),
        (Dialect::Gemini, "text") => json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Hello!"}]}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 3, "totalTokenCount": 15, "cachedContentTokenCount": 4},
            "modelVersion": "gemini-2.5-pro", "responseId": "gem-up",
        }),
        (Dialect::Gemini, "tool_call") => json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "Checking."}, {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 9, "totalTokenCount": 29},
        }),
        (Dialect::Gemini, "reasoning") => json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": "6*8 is 48.", "thought": true}, {"text": "48", "thoughtSignature": "sig-gem"}]}, "finishReason": "MAX_TOKENS"}],
            "usageMetadata": {"promptTokenCount": 30, "candidatesTokenCount": 5, "thoughtsTokenCount": 35, "totalTokenCount": 70},
        }),
        _ => unreachable!(),
    }
}

// ---------------------------------------------------------------------------------------------
// Upstream streams, as raw SSE bytes

fn chat_chunk(delta: Value, finish: Value) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "up",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    )
}

fn named(event: &str, data: Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

fn data(v: Value) -> String {
    format!("data: {v}\n\n")
}

pub fn stream(d: Dialect, kind: &str) -> String {
    let mut s = String::new();
    match (d, kind) {
        (Dialect::OpenaiChat, _) => {
            s += &chat_chunk(json!({"role": "assistant", "content": ""}), Value::Null);
            match kind {
                "text" => {
                    s += &chat_chunk(json!({"content": "Hello"}), Value::Null);
                    s += &chat_chunk(json!({"content": " world"}), Value::Null);
                    s += &chat_chunk(json!({}), json!("stop"));
                }
                "tool_deltas" => {
                    s += &chat_chunk(json!({"content": "Checking."}), Value::Null);
                    s += &chat_chunk(
                        json!({"tool_calls": [{"index": 0, "id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": ""}}]}),
                        Value::Null,
                    );
                    s += &chat_chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"city\":"}}]}),
                        Value::Null,
                    );
                    s += &chat_chunk(
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
                        Value::Null,
                    );
                    s += &chat_chunk(
                        json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}}]}),
                        Value::Null,
                    );
                    s += &chat_chunk(json!({}), json!("tool_calls"));
                }
                _ => {
                    s += &chat_chunk(json!({"reasoning_content": "6*8 "}), Value::Null);
                    s += &chat_chunk(json!({"reasoning_content": "is 48."}), Value::Null);
                    s += &chat_chunk(json!({"content": "48"}), Value::Null);
                    s += &chat_chunk(json!({}), json!("stop"));
                }
            }
            s += &data(
                json!({"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": [],
                "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19, "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": if kind == "reasoning" {5} else {0}}}}),
            );
            s += "data: [DONE]\n\n";
        }
        (Dialect::Anthropic, _) => {
            s += &named(
                "message_start",
                json!({"type": "message_start", "message": {"id": "msg_up", "type": "message", "role": "assistant", "model": "claude", "content": [], "stop_reason": null,
                "usage": {"input_tokens": 8, "cache_read_input_tokens": 4, "output_tokens": 1}}}),
            );
            s += &named("ping", json!({"type": "ping"}));
            let block = |i: u64, b: Value| {
                named(
                    "content_block_start",
                    json!({"type": "content_block_start", "index": i, "content_block": b}),
                )
            };
            let delta = |i: u64, d: Value| {
                named(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": i, "delta": d}),
                )
            };
            let stop = |i: u64| {
                named(
                    "content_block_stop",
                    json!({"type": "content_block_stop", "index": i}),
                )
            };
            let reason = match kind {
                "text" => {
                    s += &block(0, json!({"type": "text", "text": ""}));
                    s += &delta(0, json!({"type": "text_delta", "text": "Hello"}));
                    s += &delta(0, json!({"type": "text_delta", "text": " world"}));
                    s += &stop(0);
                    "end_turn"
                }
                "tool_deltas" => {
                    s += &block(0, json!({"type": "text", "text": ""}));
                    s += &delta(0, json!({"type": "text_delta", "text": "Checking."}));
                    s += &stop(0);
                    s += &block(
                        1,
                        json!({"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}),
                    );
                    s += &delta(1, json!({"type": "input_json_delta", "partial_json": ""}));
                    s += &delta(
                        1,
                        json!({"type": "input_json_delta", "partial_json": "{\"city\":"}),
                    );
                    s += &delta(
                        1,
                        json!({"type": "input_json_delta", "partial_json": "\"Paris\"}"}),
                    );
                    s += &stop(1);
                    s += &block(
                        2,
                        json!({"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {}}),
                    );
                    s += &delta(
                        2,
                        json!({"type": "input_json_delta", "partial_json": "{\"tz\":\"CET\"}"}),
                    );
                    s += &stop(2);
                    "tool_use"
                }
                _ => {
                    s += &block(0, json!({"type": "thinking", "thinking": ""}));
                    s += &delta(0, json!({"type": "thinking_delta", "thinking": "6*8 "}));
                    s += &delta(0, json!({"type": "thinking_delta", "thinking": "is 48."}));
                    s += &delta(0, json!({"type": "signature_delta", "signature": "sig-up"}));
                    s += &stop(0);
                    s += &block(1, json!({"type": "text", "text": ""}));
                    s += &delta(1, json!({"type": "text_delta", "text": "48"}));
                    s += &stop(1);
                    "end_turn"
                }
            };
            s += &named(
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": null}, "usage": {"output_tokens": 7}}),
            );
            s += &named("message_stop", json!({"type": "message_stop"}));
        }
        (Dialect::OpenaiResponses, _) => {
            let resp = |status: &str, usage: Value| json!({"id": "resp_up", "object": "response", "status": status, "model": "gpt-5", "output": [], "usage": usage});
            let mut seq = 0;
            let mut ev = |s: &mut String, t: &str, mut v: Value| {
                v["type"] = json!(t);
                v["sequence_number"] = json!(seq);
                seq += 1;
                *s += &named(t, v);
            };
            ev(
                &mut s,
                "response.created",
                json!({"response": resp("in_progress", Value::Null)}),
            );
            ev(
                &mut s,
                "response.in_progress",
                json!({"response": resp("in_progress", Value::Null)}),
            );
            let message = |s: &mut String,
                           ev: &mut dyn FnMut(&mut String, &str, Value),
                           oi: u64,
                           text: &[&str]| {
                ev(
                    s,
                    "response.output_item.added",
                    json!({"output_index": oi, "item": {"id": "msg_up", "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
                );
                ev(
                    s,
                    "response.content_part.added",
                    json!({"item_id": "msg_up", "output_index": oi, "content_index": 0, "part": {"type": "output_text", "text": ""}}),
                );
                for t in text {
                    ev(
                        s,
                        "response.output_text.delta",
                        json!({"item_id": "msg_up", "output_index": oi, "content_index": 0, "delta": t}),
                    );
                }
                let full: String = text.concat();
                ev(
                    s,
                    "response.output_text.done",
                    json!({"item_id": "msg_up", "output_index": oi, "content_index": 0, "text": full}),
                );
                ev(
                    s,
                    "response.output_item.done",
                    json!({"output_index": oi, "item": {"id": "msg_up", "type": "message", "status": "completed", "role": "assistant", "content": [{"type": "output_text", "text": full}]}}),
                );
            };
            match kind {
                "text" => message(&mut s, &mut ev, 0, &["Hello", " world"]),
                "tool_deltas" => {
                    message(&mut s, &mut ev, 0, &["Checking."]);
                    ev(
                        &mut s,
                        "response.output_item.added",
                        json!({"output_index": 1, "item": {"id": "fc_a", "type": "function_call", "status": "in_progress", "call_id": "call_a", "name": "get_weather", "arguments": ""}}),
                    );
                    ev(
                        &mut s,
                        "response.function_call_arguments.delta",
                        json!({"item_id": "fc_a", "output_index": 1, "delta": "{\"city\":"}),
                    );
                    ev(
                        &mut s,
                        "response.function_call_arguments.delta",
                        json!({"item_id": "fc_a", "output_index": 1, "delta": "\"Paris\"}"}),
                    );
                    ev(
                        &mut s,
                        "response.function_call_arguments.done",
                        json!({"item_id": "fc_a", "output_index": 1, "arguments": "{\"city\":\"Paris\"}"}),
                    );
                    ev(
                        &mut s,
                        "response.output_item.done",
                        json!({"output_index": 1, "item": {"id": "fc_a", "type": "function_call", "status": "completed", "call_id": "call_a", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}),
                    );
                    ev(
                        &mut s,
                        "response.output_item.added",
                        json!({"output_index": 2, "item": {"id": "fc_b", "type": "function_call", "status": "in_progress", "call_id": "call_b", "name": "get_time", "arguments": ""}}),
                    );
                    ev(
                        &mut s,
                        "response.function_call_arguments.done",
                        json!({"item_id": "fc_b", "output_index": 2, "arguments": "{\"tz\":\"CET\"}"}),
                    );
                    ev(
                        &mut s,
                        "response.output_item.done",
                        json!({"output_index": 2, "item": {"id": "fc_b", "type": "function_call", "status": "completed", "call_id": "call_b", "name": "get_time", "arguments": "{\"tz\":\"CET\"}"}}),
                    );
                }
                _ => {
                    ev(
                        &mut s,
                        "response.output_item.added",
                        json!({"output_index": 0, "item": {"id": "rs_up", "type": "reasoning", "summary": []}}),
                    );
                    ev(
                        &mut s,
                        "response.reasoning_summary_text.delta",
                        json!({"item_id": "rs_up", "output_index": 0, "summary_index": 0, "delta": "6*8 "}),
                    );
                    ev(
                        &mut s,
                        "response.reasoning_summary_text.delta",
                        json!({"item_id": "rs_up", "output_index": 0, "summary_index": 0, "delta": "is 48."}),
                    );
                    ev(
                        &mut s,
                        "response.output_item.done",
                        json!({"output_index": 0, "item": {"id": "rs_up", "type": "reasoning", "summary": [{"type": "summary_text", "text": "6*8 is 48."}], "encrypted_content": "gAAAA-up"}}),
                    );
                    message(&mut s, &mut ev, 1, &["48"]);
                }
            }
            let usage = json!({"input_tokens": 12, "input_tokens_details": {"cached_tokens": 4}, "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": if kind == "reasoning" {5} else {0}}, "total_tokens": 19});
            ev(
                &mut s,
                "response.completed",
                json!({"response": resp("completed", usage)}),
            );
        }
        (Dialect::Gemini, _) => {
            let chunk = |parts: Value, finish: Option<&str>, usage: Value| {
                let mut c = json!({"content": {"role": "model", "parts": parts}, "index": 0});
                if let Some(f) = finish {
                    c["finishReason"] = json!(f);
                }
                data(
                    json!({"candidates": [c], "usageMetadata": usage, "modelVersion": "gemini-2.5-pro", "responseId": "gem-up"}),
                )
            };
            let partial = json!({"promptTokenCount": 12, "totalTokenCount": 12});
            let full = json!({"promptTokenCount": 12, "cachedContentTokenCount": 4, "candidatesTokenCount": if kind == "reasoning" {2} else {7}, "thoughtsTokenCount": if kind == "reasoning" {5} else {0}, "totalTokenCount": 19});
            match kind {
                "text" => {
                    s += &chunk(json!([{"text": "Hello"}]), None, partial.clone());
                    s += &chunk(json!([{"text": " world"}]), Some("STOP"), full);
                }
                "tool_deltas" => {
                    s += &chunk(json!([{"text": "Checking."}]), None, partial.clone());
                    s += &chunk(
                        json!([{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "sig-gem"},
                                       {"functionCall": {"id": "call_b", "name": "get_time", "args": {"tz": "CET"}}}]),
                        Some("STOP"),
                        full,
                    );
                }
                _ => {
                    s += &chunk(
                        json!([{"text": "6*8 is 48.", "thought": true}]),
                        None,
                        partial.clone(),
                    );
                    s += &chunk(
                        json!([{"text": "48", "thoughtSignature": "sig-gem"}]),
                        Some("STOP"),
                        full,
                    );
                }
            }
        }
    }
    s
}

pub fn decode_sse(bytes: &[u8]) -> Vec<SseEvent> {
    let mut d = SseDecoder::default();
    let mut out = d.decode(bytes).unwrap();
    d.finish(&mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Upstream error bodies

pub fn error_body(d: Dialect) -> (u16, Value) {
    match d {
        Dialect::OpenaiChat => (
            429,
            json!({"error": {"message": "Rate limit reached for requests", "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
        ),
        Dialect::OpenaiResponses => (
            400,
            json!({"error": {"message": "Invalid 'input[2].content': empty.", "type": "invalid_request_error", "param": "input[2].content", "code": "invalid_value"}}),
        ),
        Dialect::Anthropic => (
            529,
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
        Dialect::Gemini => (
            403,
            json!({"error": {"code": 403, "message": "Method doesn't allow unregistered callers.", "status": "PERMISSION_DENIED"}}),
        ),
    }
}
