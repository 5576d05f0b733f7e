//! Requests and streams shaped like the real clients in CLIENTS.md, through a Chat upstream.

use serde_json::{Value, json};
use switchboard_protocol::{
    Dialect, EventClass, Quirks, SseEvent, StreamTranslator, classify_event, decode_request,
    encode_request, usage_from_event,
};

fn chat_chunk(delta: Value, finish: Value) -> SseEvent {
    SseEvent::data(
        json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "deepseek-chat",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string(),
    )
}

fn data(ev: &SseEvent) -> Value {
    serde_json::from_str(&ev.data).unwrap()
}

#[test]
fn codex_request_through_a_chat_upstream() {
    let codex = json!({
        "model": "gpt-5.5", "stream": true, "store": false, "parallel_tool_calls": true,
        "tool_choice": "auto", "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "019a-session", "client_metadata": {"x": "y"},
        "reasoning": {"effort": "medium", "summary": "auto"},
        "input": [
            {"type": "message", "role": "developer", "id": "i0", "content": [{"type": "input_text", "text": "You are Codex."}]},
            {"type": "message", "role": "user", "id": "i1", "content": [{"type": "input_text", "text": "<environment_context>cwd=/src</environment_context>"}]},
            {"type": "message", "role": "user", "id": "i2", "content": [{"type": "input_text", "text": "List the files."}]},
        ],
        "tools": [
            {"type": "function", "name": "shell", "strict": false, "description": "Run a command",
             "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}, "required": ["command"]}},
            {"type": "namespace", "name": "github", "tools": [
                {"type": "function", "name": "list_prs", "description": "List PRs", "parameters": {"type": "object", "properties": {}}},
            ]},
            {"type": "web_search"},
        ],
    });
    let req = decode_request(Dialect::OpenaiResponses, codex.to_string().as_bytes()).unwrap();
    let body = encode_request(
        Dialect::OpenaiChat,
        &req,
        "deepseek-chat",
        &Quirks::default(),
    )
    .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["model"], "deepseek-chat");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "You are Codex."})
    );
    assert_eq!(body["messages"][2]["content"], "List the files.");
    let names: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["shell", "github__list_prs"],
        "namespace flattened, web_search dropped"
    );
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["reasoning_effort"], "medium");
    assert_eq!(body["prompt_cache_key"], "019a-session");
    assert!(body.get("include").is_none() && body.get("store").is_none());

    // The Chat upstream answers with text and a streamed tool call.
    let upstream = vec![
        chat_chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chat_chunk(json!({"content": "Listing."}), Value::Null),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_9", "type": "function", "function": {"name": "shell", "arguments": ""}}]}),
            Value::Null,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"command\":"}}]}),
            Value::Null,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "[\"ls\"]}"}}]}),
            Value::Null,
        ),
        chat_chunk(json!({}), json!("tool_calls")),
        SseEvent::data(
            r#"{"id":"c","choices":[],"usage":{"prompt_tokens":900,"completion_tokens":20,"prompt_tokens_details":{"cached_tokens":800}}}"#,
        ),
        SseEvent::data("[DONE]"),
    ];
    let mut t = StreamTranslator::new(Dialect::OpenaiChat, Dialect::OpenaiResponses, "gpt-5.5");
    let mut out = Vec::new();
    for ev in &upstream {
        t.push(ev, &mut out).unwrap();
    }
    t.finish(&mut out);
    let types: Vec<&str> = out.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        types,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, ev) in out.iter().enumerate() {
        let d = data(ev);
        assert_eq!(
            d["type"],
            ev.event.as_deref().unwrap(),
            "SSE name equals type"
        );
        assert_eq!(d["sequence_number"], i as u64);
    }
    let call_done = data(&out[12]);
    assert_eq!(
        call_done["item"],
        json!({"id": call_done["item"]["id"], "type": "function_call", "status": "completed",
               "call_id": "call_9", "name": "shell", "arguments": "{\"command\":[\"ls\"]}"})
    );
    let completed = data(&out[13]);
    assert_eq!(completed["response"]["status"], "completed");
    assert_eq!(completed["response"]["model"], "gpt-5.5");
    assert_eq!(
        completed["response"]["output"][0]["content"][0]["text"],
        "Listing."
    );
    assert_eq!(completed["response"]["output"][1]["call_id"], "call_9");
    assert_eq!(
        completed["response"]["usage"]["input_tokens_details"]["cached_tokens"],
        800
    );
}

#[test]
fn claude_code_request_through_a_chat_upstream() {
    let tools: Vec<Value> = (0..25)
        .map(|i| json!({
            "name": format!("Tool{i}"), "description": format!("Tool number {i}"),
            "input_schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                             "properties": {"path": {"type": "string"}}, "required": ["path"], "additionalProperties": false},
        }))
        .collect();
    let claude = json!({
        "model": "claude-opus-4-8", "max_tokens": 32000, "stream": true,
        "thinking": {"type": "adaptive"}, "output_config": {"effort": "high"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "metadata": {"user_id": "{\"device_id\":\"0123456789abcdef0123456789abcdef0123456789abcdef\",\"session\":\"s\"}"},
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Read main.rs", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "Reminder: be careful."},
        ],
        "tools": tools,
    });
    let req = decode_request(Dialect::Anthropic, claude.to_string().as_bytes()).unwrap();
    let body = encode_request(
        Dialect::OpenaiChat,
        &req,
        "deepseek-chat",
        &Quirks::default(),
    )
    .unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        "You are Claude Code.\n\nReminder: be careful."
    );
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "Read main.rs"})
    );
    assert_eq!(body["messages"].as_array().unwrap().len(), 2);
    assert_eq!(body["tools"].as_array().unwrap().len(), 25);
    assert_eq!(
        body["tools"][3]["function"]["parameters"]["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert_eq!(body["reasoning_effort"], "high");
    assert_eq!(body["max_tokens"], 32000);
    assert!(
        body.get("user").is_none(),
        "a user id over 64 chars is not forwarded"
    );

    let upstream = vec![
        chat_chunk(
            json!({"role": "assistant", "reasoning_content": "Need to read it."}),
            Value::Null,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_r", "type": "function", "function": {"name": "Tool1", "arguments": ""}}]}),
            Value::Null,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"path\""}}]}),
            Value::Null,
        ),
        chat_chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": ":\"main.rs\"}"}}]}),
            Value::Null,
        ),
        chat_chunk(json!({}), json!("tool_calls")),
        SseEvent::data("[DONE]"),
    ];
    let mut t = StreamTranslator::new(Dialect::OpenaiChat, Dialect::Anthropic, "claude-opus-4-8");
    let mut out = Vec::new();
    for ev in &upstream {
        t.push(ev, &mut out).unwrap();
    }
    t.finish(&mut out);
    let names: Vec<&str> = out.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    assert_eq!(data(&out[1])["content_block"]["type"], "thinking");
    let start = data(&out[4]);
    assert_eq!(start["index"], 1);
    assert_eq!(
        start["content_block"],
        json!({"type": "tool_use", "id": "call_r", "name": "Tool1", "input": {}})
    );
    let partial: String = out[5..7]
        .iter()
        .map(|e| {
            let d = data(e);
            assert_eq!(d["delta"]["type"], "input_json_delta");
            assert_eq!(d["index"], 1);
            d["delta"]["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(partial, "{\"path\":\"main.rs\"}");
    assert_eq!(data(&out[8])["delta"]["stop_reason"], "tool_use");
    assert_eq!(data(&out[0])["message"]["model"], "claude-opus-4-8");
}

#[test]
fn chat_stream_always_ends_with_finish_reason_then_done() {
    // The upstream dies after some text: `finish` must still give OpenCode a finish_reason.
    for from in Dialect::ALL {
        let mut t = StreamTranslator::new(from, Dialect::OpenaiChat, "alias");
        let mut out = Vec::new();
        let ev = match from {
            Dialect::OpenaiChat => chat_chunk(json!({"content": "partial"}), Value::Null),
            Dialect::Anthropic => SseEvent::named(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"partial"}}"#,
            ),
            Dialect::OpenaiResponses => SseEvent::named(
                "response.output_text.delta",
                r#"{"type":"response.output_text.delta","item_id":"m","output_index":0,"content_index":0,"delta":"partial"}"#,
            ),
            Dialect::Gemini => SseEvent::data(
                r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"partial"}]}}]}"#,
            ),
        };
        t.push(&ev, &mut out).unwrap();
        t.finish(&mut out);
        let n = out.len();
        assert!(out[n - 1].is_done(), "{from}");
        assert_eq!(
            data(&out[n - 2])["choices"][0]["finish_reason"],
            "stop",
            "{from}"
        );
        // A second finish adds nothing.
        t.finish(&mut out);
        assert_eq!(out.len(), n);
    }
}

#[test]
fn empty_upstream_stream_yields_nothing() {
    for from in Dialect::ALL {
        for to in Dialect::ALL {
            let mut t = StreamTranslator::new(from, to, "m");
            let mut out = Vec::new();
            t.push(&SseEvent::named("ping", r#"{"type":"ping"}"#), &mut out)
                .unwrap();
            t.finish(&mut out);
            assert!(out.is_empty() && !t.saw_content(), "{from} → {to}");
        }
    }
}

#[test]
fn pass_through_classification_and_usage() {
    use Dialect::*;
    let cases: Vec<(Dialect, SseEvent, EventClass)> = vec![
        (
            OpenaiChat,
            chat_chunk(json!({"role": "assistant", "content": ""}), Value::Null),
            EventClass::Meta,
        ),
        (
            OpenaiChat,
            chat_chunk(json!({"content": "hi"}), Value::Null),
            EventClass::Content,
        ),
        (
            OpenaiChat,
            chat_chunk(
                json!({"tool_calls": [{"index": 0, "id": "c"}]}),
                Value::Null,
            ),
            EventClass::Content,
        ),
        (
            OpenaiChat,
            SseEvent::data(r#"{"error":{"message":"boom"}}"#),
            EventClass::Error {
                message: "boom".into(),
            },
        ),
        (OpenaiChat, SseEvent::data("[DONE]"), EventClass::Done),
        (
            Anthropic,
            SseEvent::named(
                "message_start",
                r#"{"type":"message_start","message":{"usage":{"input_tokens":5}}}"#,
            ),
            EventClass::Meta,
        ),
        (
            Anthropic,
            SseEvent::named(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            ),
            EventClass::Meta,
        ),
        (
            Anthropic,
            SseEvent::named(
                "content_block_start",
                r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}}"#,
            ),
            EventClass::Content,
        ),
        (
            Anthropic,
            SseEvent::named(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x"}}"#,
            ),
            EventClass::Content,
        ),
        (
            Anthropic,
            SseEvent::named(
                "error",
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
            EventClass::Error {
                message: "Overloaded".into(),
            },
        ),
        (
            Anthropic,
            SseEvent::named("message_stop", r#"{"type":"message_stop"}"#),
            EventClass::Done,
        ),
        (
            OpenaiResponses,
            SseEvent::named(
                "response.created",
                r#"{"type":"response.created","response":{}}"#,
            ),
            EventClass::Meta,
        ),
        (
            OpenaiResponses,
            SseEvent::named(
                "response.output_text.delta",
                r#"{"type":"response.output_text.delta","delta":"x"}"#,
            ),
            EventClass::Content,
        ),
        (
            OpenaiResponses,
            SseEvent::named(
                "response.failed",
                r#"{"type":"response.failed","response":{"error":{"message":"bad"}}}"#,
            ),
            EventClass::Error {
                message: "bad".into(),
            },
        ),
        (
            OpenaiResponses,
            SseEvent::named(
                "response.completed",
                r#"{"type":"response.completed","response":{}}"#,
            ),
            EventClass::Done,
        ),
        (
            Gemini,
            SseEvent::data(r#"{"candidates":[{"content":{"parts":[{"text":"x"}]}}]}"#),
            EventClass::Content,
        ),
        (
            Gemini,
            SseEvent::data(
                r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}]}"#,
            ),
            EventClass::Done,
        ),
        (
            Gemini,
            SseEvent::data(r#"{"error":{"code":429,"message":"quota"}}"#),
            EventClass::Error {
                message: "quota".into(),
            },
        ),
    ];
    for (d, ev, want) in cases {
        assert_eq!(classify_event(d, &ev), want, "{d}: {}", ev.data);
    }

    let u = usage_from_event(Anthropic, &SseEvent::named("message_start", r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"cache_read_input_tokens":10,"output_tokens":1}}}"#)).unwrap();
    assert_eq!((u.prompt_tokens, u.cached_tokens), (15, 10));
    let u = usage_from_event(
        Anthropic,
        &SseEvent::named(
            "message_delta",
            r#"{"type":"message_delta","delta":{},"usage":{"output_tokens":42}}"#,
        ),
    )
    .unwrap();
    assert_eq!(u.completion_tokens, 42);
    let u = usage_from_event(OpenaiResponses, &SseEvent::named("response.completed", r#"{"type":"response.completed","response":{"usage":{"input_tokens":3,"output_tokens":4,"output_tokens_details":{"reasoning_tokens":2}}}}"#)).unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens),
        (3, 4, 2)
    );
    let u = usage_from_event(Gemini, &SseEvent::data(r#"{"candidates":[],"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":2,"thoughtsTokenCount":3}}"#)).unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens),
        (7, 5, 3)
    );
    assert_eq!(
        usage_from_event(
            OpenaiResponses,
            &SseEvent::named(
                "response.created",
                r#"{"type":"response.created","response":{"usage":null}}"#
            )
        ),
        None
    );
    let body = br#"{"id":"m","type":"message","usage":{"input_tokens":1,"output_tokens":2}}"#;
    assert_eq!(
        switchboard_protocol::usage_from_body(Anthropic, body)
            .unwrap()
            .completion_tokens,
        2
    );
}

#[test]
fn quirks_are_applied() {
    let req = decode_request(
        Dialect::Anthropic,
        json!({
            "model": "m", "max_tokens": 100, "temperature": 0.5,
            "messages": [
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sbsig:gemini:foreign"},
                    {"type": "redacted_thinking", "data": "blob"},
                    {"type": "thinking", "thinking": "own", "signature": "own-sig"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {}},
                ]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            ],
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    let quirks = Quirks {
        drop_params: vec!["temperature".into(), "stream_options".into()],
        max_tokens_field: Some(switchboard_protocol::MaxTokensField::MaxCompletionTokens),
        replay_reasoning_content: true,
        ..Default::default()
    };
    let chat: Value = serde_json::from_slice(
        &encode_request(Dialect::OpenaiChat, &req, "deepseek-reasoner", &quirks).unwrap(),
    )
    .unwrap();
    assert!(chat.get("temperature").is_none());
    assert_eq!(chat["max_completion_tokens"], 100);
    let plain: Value = serde_json::from_slice(
        &encode_request(Dialect::OpenaiChat, &req, "x", &Quirks::default()).unwrap(),
    )
    .unwrap();
    assert!(plain["messages"][1].get("reasoning_content").is_none());
    assert_eq!(plain["max_tokens"], 100);

    // Anthropic upstream: only its own signatures are ever sent; with the quirk, foreign ones
    // are dropped before encoding as well, and the target's own stay.
    let kept: Value = serde_json::from_slice(
        &encode_request(Dialect::Anthropic, &req, "claude", &Quirks::default()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        kept["messages"][1]["content"],
        json!([
            {"type": "redacted_thinking", "data": "blob"},
            {"type": "thinking", "thinking": "own", "signature": "own-sig"},
            {"type": "tool_use", "id": "t1", "name": "f", "input": {}}
        ])
    );
    let strip = Quirks {
        strip_foreign_signatures: true,
        ..Default::default()
    };
    let stripped: Value = serde_json::from_slice(
        &encode_request(Dialect::Anthropic, &req, "claude", &strip).unwrap(),
    )
    .unwrap();
    assert_eq!(
        stripped["messages"][1]["content"],
        kept["messages"][1]["content"]
    );
    // An OpenAI Chat upstream gets the thinking text without any signature.
    assert_eq!(chat["messages"][1]["reasoning_content"], "hmmown");
    // Nested paths drop nested fields.
    let gem_quirks = Quirks {
        drop_params: vec!["generationConfig.temperature".into()],
        ..Default::default()
    };
    let gem: Value =
        serde_json::from_slice(&encode_request(Dialect::Gemini, &req, "g", &gem_quirks).unwrap())
            .unwrap();
    assert!(gem["generationConfig"].get("temperature").is_none());
    assert_eq!(gem["generationConfig"]["maxOutputTokens"], 100);
}

#[test]
fn bad_requests_name_the_field() {
    let cases = [
        (Dialect::OpenaiChat, json!({"model": "m"}), "messages"),
        (
            Dialect::OpenaiChat,
            json!({"model": "m", "messages": [{"role": "user", "content": 5}]}),
            "messages[0].content",
        ),
        (
            Dialect::OpenaiChat,
            json!({"model": "m", "messages": [], "temperature": "hot"}),
            "temperature",
        ),
        (Dialect::Anthropic, json!({"messages": []}), "model"),
        (
            Dialect::Anthropic,
            json!({"model": "m", "messages": [{"role": "user", "content": [{"type": "tool_result"}]}]}),
            "messages[0].content[0].tool_use_id",
        ),
        (
            Dialect::OpenaiResponses,
            json!({"model": "m", "input": [{"type": "function_call", "name": "f"}]}),
            "input[0].call_id",
        ),
        (
            Dialect::Gemini,
            json!({"contents": [{"parts": "x"}]}),
            "contents[0].parts",
        ),
        (
            Dialect::Gemini,
            json!({"generationConfig": {"maxOutputTokens": -1}}),
            "generationConfig.maxOutputTokens",
        ),
    ];
    for (d, body, param) in cases {
        let err = decode_request(d, body.to_string().as_bytes()).unwrap_err();
        assert_eq!(err.status(), 400, "{d} {body}");
        assert_eq!(
            err.param.as_deref(),
            Some(param),
            "{d} {body}: {}",
            err.message
        );
    }
    let err = decode_request(Dialect::OpenaiChat, b"{not json").unwrap_err();
    assert_eq!((err.status(), err.code), (400, Some("invalid_json")));
}

#[test]
fn reasoning_tokens_find_their_way_back_through_a_foreign_client() {
    // Claude answers Codex with signed thinking and a tool call…
    let upstream = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Run ls.\"}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBsig\"}}\n\n\
        event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n\
        event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"shell\",\"input\":{}}}\n\n\
        event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"command\\\":[\\\"ls\\\"]}\"}}\n\n\
        event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n\
        event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":9}}\n\n\
        event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let mut t = StreamTranslator::new(Dialect::Anthropic, Dialect::OpenaiResponses, "gpt-5.5");
    let mut out = Vec::new();
    for ev in crate::fixtures::decode_sse(upstream.as_bytes()) {
        t.push(&ev, &mut out).unwrap();
    }
    let completed = data(out.last().unwrap());
    let reasoning = completed["response"]["output"][0].clone();
    assert_eq!(reasoning["type"], "reasoning");
    assert_eq!(reasoning["encrypted_content"], "sbsig:anthropic:EqQBsig");
    let call = completed["response"]["output"][1].clone();

    // …Codex replays the items with the tool output; the next request to Claude carries the
    // signed thinking block first, so thinking can stay on for the tool loop.
    let next = json!({
        "model": "gpt-5.5", "reasoning": {"effort": "high"},
        "input": [
            {"role": "user", "content": "list files"},
            reasoning,
            call,
            {"type": "function_call_output", "call_id": "toolu_1", "output": "a.rs"},
        ],
    });
    let req = decode_request(Dialect::OpenaiResponses, next.to_string().as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(
        &encode_request(Dialect::Anthropic, &req, "claude", &Quirks::default()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        body["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "Run ls.", "signature": "EqQBsig"})
    );
    assert_eq!(body["messages"][1]["content"][1]["type"], "tool_use");
    assert_eq!(body["thinking"]["type"], "enabled");

    // The same history sent to a Responses upstream does not leak Claude's token to OpenAI,
    // and to Gemini not at all.
    let openai: Value = serde_json::from_slice(
        &encode_request(Dialect::OpenaiResponses, &req, "gpt-5", &Quirks::default()).unwrap(),
    )
    .unwrap();
    assert!(!openai.to_string().contains("EqQBsig"));
    let gemini: Value = serde_json::from_slice(
        &encode_request(Dialect::Gemini, &req, "g", &Quirks::default()).unwrap(),
    )
    .unwrap();
    assert!(!gemini.to_string().contains("EqQBsig"));

    // Without a signed thinking block on the tool turn, Anthropic would reject thinking: it
    // is left off.
    let unsigned = json!({
        "model": "m", "reasoning_effort": "high",
        "messages": [
            {"role": "user", "content": "list files"},
            {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "shell", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "a.rs"},
        ],
    });
    let req = decode_request(Dialect::OpenaiChat, unsigned.to_string().as_bytes()).unwrap();
    let body: Value = serde_json::from_slice(
        &encode_request(Dialect::Anthropic, &req, "claude", &Quirks::default()).unwrap(),
    )
    .unwrap();
    assert!(body.get("thinking").is_none());
}

#[test]
fn gemini_calls_without_ids_get_a_new_id_in_every_response() {
    // Gemini answers calls without ids. Each answer is a new turn of the same conversation:
    // the ids a client receives must not repeat, or its history ends up with two tool_use
    // blocks of one id (Anthropic rejects that) and results match the wrong call.
    let gemini = json!({
        "candidates": [{"content": {"role": "model", "parts": [
            {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        ]}, "finishReason": "STOP"}],
    })
    .to_string();
    let ids: Vec<String> = (0..2)
        .map(|_| {
            let resp =
                switchboard_protocol::decode_response(Dialect::Gemini, gemini.as_bytes()).unwrap();
            let body = switchboard_protocol::encode_response(Dialect::Anthropic, &resp, "m");
            let body: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["content"][0]["type"], "tool_use");
            body["content"][0]["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert!(ids.iter().all(|id| id.starts_with("call_")), "{ids:?}");

    // Inside a request the history is numbered by position, so a call and its response still
    // pair up when neither carries an id.
    let history = json!({"contents": [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "sun"}}}]},
    ]});
    let req = decode_request(Dialect::Gemini, history.to_string().as_bytes()).unwrap();
    let body = encode_request(Dialect::Anthropic, &req, "m", &Quirks::default()).unwrap();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        body["messages"][1]["content"][0]["id"],
        body["messages"][2]["content"][0]["tool_use_id"]
    );
}
