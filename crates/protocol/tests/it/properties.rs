//! Properties: translation round trips are stable, stream translation does not depend on how
//! the upstream split its bytes or its deltas, and no decoder panics on any JSON.

use proptest::prelude::*;
use serde_json::{Value, json};
use switchboard_protocol::ir::{self, Image, Message, Part, Role, ToolCall, ToolResult};
use switchboard_protocol::{
    Dialect, Quirks, SseDecoder, SseEvent, StreamTranslator, classify_event, decode_error,
    decode_request, decode_response, encode_request, usage_from_body, usage_from_event,
};

use crate::fixtures::{self, REQUEST_KINDS, STREAM_KINDS};
use crate::snapshots::decode_client_request;

fn encode(d: Dialect, req: &ir::Request) -> Value {
    serde_json::from_slice(&encode_request(d, req, "m", &Quirks::default()).unwrap()).unwrap()
}

fn decode(d: Dialect, body: &Value, like: &ir::Request) -> ir::Request {
    let mut req = decode_request(d, &serde_json::to_vec(body).unwrap()).unwrap();
    if d == Dialect::Gemini {
        req.model = like.model.clone();
        req.stream = like.stream;
    }
    req
}

#[test]
fn fixture_round_trips_reach_a_fixpoint() {
    for d in Dialect::ALL {
        for kind in REQUEST_KINDS {
            let ir1 = decode_client_request(d, &fixtures::request(d, kind));
            let x2 = encode(d, &ir1);
            let ir2 = decode(d, &x2, &ir1);
            let x3 = encode(d, &ir2);
            let ir3 = decode(d, &x3, &ir2);
            assert_eq!(x2, x3, "{d} {kind}");
            assert_eq!(ir2, ir3, "{d} {kind}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arbitrary IR requests

fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 .,!?\"{}\n\u{e9}\u{4e2d}]{1,24}"
}

fn args() -> impl Strategy<Value = String> {
    (text(), 0i64..1000).prop_map(|(s, n)| json!({"s": s, "n": n}).to_string())
}

fn user_part() -> impl Strategy<Value = Part> {
    prop_oneof![
        3 => text().prop_map(Part::Text),
        1 => Just(Part::Image(Image::Base64 { media_type: "image/png".into(), data: "iVBORw0KGgo=".into() })),
    ]
}

/// A conversation: user turns, assistant turns with optional reasoning and tool calls, and
/// tool results answering every call in the following user turn.
fn conversation() -> impl Strategy<Value = Vec<Message>> {
    let turn = (
        prop::collection::vec(user_part(), 1..3),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::collection::vec(
            (
                prop::sample::select(vec!["get_weather", "read_file"]),
                args(),
            ),
            0..3,
        ),
        any::<bool>(),
        prop::sample::select(Dialect::ALL.to_vec()),
    );
    prop::collection::vec(turn, 1..4).prop_map(|turns| {
        let mut messages = Vec::new();
        let mut call_n = 0;
        let mut pending: Vec<(String, bool)> = Vec::new();
        for (user, reasoning, answer, calls, error, origin) in turns {
            let mut content: Vec<Part> = pending
                .drain(..)
                .map(|(id, is_error)| {
                    Part::ToolResult(ToolResult {
                        call_id: id,
                        name: None,
                        content: vec![Part::Text("result".into())],
                        is_error,
                    })
                })
                .collect();
            content.extend(user);
            messages.push(Message {
                role: Role::User,
                content,
            });
            let mut content = Vec::new();
            if let Some(r) = reasoning {
                content.push(Part::Reasoning(ir::Reasoning {
                    text: r,
                    signature: Some(ir::Signature::new(origin, "sig")),
                    redacted: false,
                }));
            }
            if let Some(a) = answer {
                content.push(Part::Text(a));
            }
            for (name, arguments) in calls {
                let id = format!("call_{call_n}");
                call_n += 1;
                pending.push((id.clone(), error));
                content.push(Part::ToolCall(ToolCall {
                    id,
                    name: name.into(),
                    arguments,
                }));
            }
            if !content.is_empty() {
                messages.push(Message {
                    role: Role::Assistant,
                    content,
                });
            }
        }
        messages
    })
}

fn request() -> impl Strategy<Value = ir::Request> {
    (
        conversation(),
        prop::collection::vec(text(), 0..2),
        prop::option::of(0.0f64..2.0),
        prop::option::of(1u64..100_000),
        prop::collection::vec("[A-Z]{1,5}", 0..2),
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["low", "medium", "high"])),
    )
        .prop_map(|(messages, system, temperature, max_tokens, stop, stream, effort)| ir::Request {
            model: "client-model".into(),
            system,
            messages,
            tools: vec![
                ir::Tool::Function(ir::FunctionTool {
                    name: "get_weather".into(),
                    description: Some("Weather".into()),
                    parameters: json!({"type": "object", "properties": {"s": {"type": "string"}}}),
                    strict: None,
                }),
                ir::Tool::Function(ir::FunctionTool {
                    name: "read_file".into(),
                    description: None,
                    parameters: json!({"type": "object"}),
                    strict: None,
                }),
            ],
            sampling: ir::Sampling { temperature, top_p: None, stop, max_tokens },
            reasoning: effort.map(|e| ir::ReasoningConfig { effort: Some(e.into()), ..Default::default() }),
            stream,
            ..Default::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// IR → X → IR → X: the second encoding equals the first.
    #[test]
    fn encoding_is_stable_through_decoding(req in request()) {
        for d in Dialect::ALL {
            let x1 = encode(d, &req);
            let ir2 = decode(d, &x1, &req);
            let x2 = encode(d, &ir2);
            prop_assert_eq!(&x1, &x2, "{}", d);
            let ir3 = decode(d, &x2, &req);
            prop_assert_eq!(&ir2, &ir3, "{}", d);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Stream split invariance

/// Replaces generated ids and timestamps so two runs compare equal.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                if k == "created" || k == "created_at" {
                    *v = json!(0);
                } else {
                    normalize(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        Value::String(s) => {
            // Generated ids end in 32 hex digits (18 in upstream fixtures).
            let n = s.len();
            if let Some(k) = [32, 18]
                .into_iter()
                .find(|&k| n >= k && s[n - k..].bytes().all(|b| b.is_ascii_hexdigit()))
            {
                *s = format!("{}[id]", &s[..n - k]);
            }
        }
        _ => {}
    }
}

fn translate_chunks(from: Dialect, to: Dialect, chunks: &[&[u8]]) -> Vec<Value> {
    let mut dec = SseDecoder::default();
    let mut t = StreamTranslator::new(from, to, "client-model");
    let mut events = Vec::new();
    let mut out = Vec::new();
    for c in chunks {
        dec.push(c, &mut events).unwrap();
        for ev in events.drain(..) {
            t.push(&ev, &mut out).unwrap();
        }
    }
    dec.finish(&mut events);
    for ev in events.drain(..) {
        t.push(&ev, &mut out).unwrap();
    }
    t.finish(&mut out);
    out.iter()
        .map(|e| {
            let mut d =
                serde_json::from_str::<Value>(&e.data).unwrap_or(Value::String(e.data.clone()));
            normalize(&mut d);
            json!([e.event, d])
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn stream_translation_is_split_invariant(
        from in prop::sample::select(Dialect::ALL.to_vec()),
        to in prop::sample::select(Dialect::ALL.to_vec()),
        kind in prop::sample::select(STREAM_KINDS.to_vec()),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..16),
    ) {
        let bytes = fixtures::stream(from, kind).into_bytes();
        let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for c in cuts {
            chunks.push(&bytes[last..c]);
            last = c;
        }
        chunks.push(&bytes[last..]);
        prop_assert_eq!(translate_chunks(from, to, &chunks), translate_chunks(from, to, &[&bytes]));
    }

    /// However a Chat upstream splits its text and tool arguments into deltas, every client
    /// dialect carries the same text and arguments (read back through the Chat translator).
    #[test]
    fn delta_splits_do_not_change_content(
        text in "[a-z ]{1,40}",
        city in "[A-Za-z]{1,12}",
        text_cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        arg_cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let args = json!({"city": city}).to_string();
        let split = |s: &str, cuts: &[prop::sample::Index]| -> Vec<String> {
            let chars: Vec<char> = s.chars().collect();
            let mut at: Vec<usize> = cuts.iter().map(|i| i.index(chars.len() + 1)).collect();
            at.sort_unstable();
            at.dedup();
            let mut pieces = Vec::new();
            let mut last = 0;
            for c in at.into_iter().chain([chars.len()]) {
                if c > last {
                    pieces.push(chars[last..c].iter().collect());
                }
                last = c;
            }
            pieces
        };
        let chunk = |delta: Value, finish: Value| SseEvent::data(json!({"id": "c", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}).to_string());
        let mut upstream = Vec::new();
        for piece in split(&text, &text_cuts) {
            upstream.push(chunk(json!({"content": piece}), Value::Null));
        }
        upstream.push(chunk(json!({"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "get_weather", "arguments": ""}}]}), Value::Null));
        for piece in split(&args, &arg_cuts) {
            upstream.push(chunk(json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}), Value::Null));
        }
        upstream.push(chunk(json!({}), json!("tool_calls")));
        upstream.push(SseEvent::data("[DONE]"));

        for client in Dialect::ALL {
            let mut there = StreamTranslator::new(Dialect::OpenaiChat, client, "m");
            let mut client_events = Vec::new();
            for ev in &upstream {
                there.push(ev, &mut client_events).unwrap();
            }
            there.finish(&mut client_events);
            let mut back = StreamTranslator::new(client, Dialect::OpenaiChat, "m");
            let mut chat = Vec::new();
            for ev in &client_events {
                back.push(ev, &mut chat).unwrap();
            }
            back.finish(&mut chat);
            let (mut got_text, mut got_args, mut finish) = (String::new(), String::new(), None);
            for ev in chat.iter().filter(|e| !e.is_done()) {
                let v: Value = serde_json::from_str(&ev.data).unwrap();
                let Some(choice) = v["choices"].get(0) else { continue };
                got_text.push_str(choice["delta"]["content"].as_str().unwrap_or(""));
                for c in choice["delta"]["tool_calls"].as_array().into_iter().flatten() {
                    got_args.push_str(c["function"]["arguments"].as_str().unwrap_or(""));
                }
                if let Some(f) = choice["finish_reason"].as_str() {
                    finish = Some(f.to_owned());
                }
            }
            prop_assert_eq!(&got_text, &text, "{}", client);
            let got_args: Value = serde_json::from_str(&got_args).unwrap();
            prop_assert_eq!(got_args, json!({"city": city}), "{}", client);
            prop_assert_eq!(finish.as_deref(), Some("tool_calls"), "{}", client);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// No panics on arbitrary input

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        prop::sample::select(vec![
            "text",
            "user",
            "assistant",
            "system",
            "tool",
            "model",
            "function_call",
            "message",
            "tool_use",
            "tool_result",
            "thinking",
            "image",
            "base64",
            "[DONE]",
            "",
            "{",
            "type",
        ])
        .prop_map(|s| json!(s)),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "model",
                    "messages",
                    "input",
                    "contents",
                    "content",
                    "parts",
                    "role",
                    "type",
                    "text",
                    "tools",
                    "tool_choice",
                    "system",
                    "choices",
                    "delta",
                    "tool_calls",
                    "function",
                    "arguments",
                    "name",
                    "id",
                    "index",
                    "candidates",
                    "output",
                    "item",
                    "usage",
                    "error",
                    "source",
                    "functionCall",
                    "generationConfig",
                    "thinking",
                    "max_tokens",
                    "stop",
                    "response_format",
                    "reasoning",
                    "content_block",
                ])
                .prop_map(str::to_owned),
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Replaces the `n`-th subtree of `v` (pre-order) with `with`.
fn graft(v: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *v = with.clone();
        return true;
    }
    *n -= 1;
    match v {
        Value::Object(o) => o.values_mut().any(|c| graft(c, n, with)),
        Value::Array(a) => a.iter_mut().any(|c| graft(c, n, with)),
        _ => false,
    }
}

fn exercise_everything(d: Dialect, bytes: &[u8]) {
    let _ = decode_request(d, bytes);
    let _ = decode_response(d, bytes);
    let _ = decode_error(d, 500, bytes);
    let _ = usage_from_body(d, bytes);
    let text = String::from_utf8_lossy(bytes).into_owned();
    for ev in [
        SseEvent::data(text.clone()),
        SseEvent::named("message_start", text),
    ] {
        let _ = classify_event(d, &ev);
        let _ = usage_from_event(d, &ev);
        for to in Dialect::ALL {
            let mut t = StreamTranslator::new(d, to, "m");
            let mut out = Vec::new();
            let _ = t.push(&ev, &mut out);
            t.finish(&mut out);
        }
    }
    if let Ok(req) = decode_request(d, bytes) {
        for to in Dialect::ALL {
            let _ = encode_request(to, &req, "m", &Quirks::default());
        }
        let _ = switchboard_protocol::count_tokens(&req);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_arbitrary_json(v in arb_json()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        for d in Dialect::ALL {
            exercise_everything(d, &bytes);
        }
    }

    #[test]
    fn decoders_never_panic_on_mutated_fixtures(
        d in prop::sample::select(Dialect::ALL.to_vec()),
        kind in prop::sample::select(REQUEST_KINDS.to_vec()),
        at in 0usize..200,
        with in arb_json(),
    ) {
        let mut body = fixtures::request(d, kind);
        let mut n = at;
        graft(&mut body, &mut n, &with);
        exercise_everything(d, &serde_json::to_vec(&body).unwrap());
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for d in Dialect::ALL {
            exercise_everything(d, &bytes);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The pass-through scanner reads the top level as serde would, in any key spelling.

/// A key written with some of its characters as `\uXXXX` escapes (chosen by `mask`).
fn spell(key: &str, mask: u32) -> String {
    let mut out = String::from("\"");
    for (i, c) in key.chars().enumerate() {
        if mask & (1 << (i % 32)) != 0 {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z\"\\\\{}\\[\\],:]{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("(model|stream|[a-z]{1,4})", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn the_scanner_agrees_with_serde_on_any_top_level_object(
        members in prop::collection::vec(
            (prop::sample::select(vec!["model", "stream", "store", "messages", "x"]), json_value(), any::<u32>(), 0usize..3),
            0..7,
        ),
    ) {
        use switchboard_protocol::passthrough::{
            ROUTED_KEYS, duplicate_key, replace_top_level_str, top_level_members, top_level_value,
        };
        let ws = ["", " ", "\n\t "];
        let mut body = String::from("{");
        for (i, (key, value, mask, w)) in members.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(ws[*w]);
            body.push_str(&spell(key, *mask));
            body.push_str(ws[*w]);
            body.push(':');
            body.push_str(ws[*w]);
            body.push_str(&value.to_string());
        }
        body.push('}');
        let bytes = body.as_bytes();
        let parsed: serde_json::Map<String, Value> = serde_json::from_str(&body).unwrap();
        let scanned = top_level_members(bytes).unwrap();
        prop_assert_eq!(scanned.len(), members.len());
        for (m, (key, value, _, _)) in scanned.iter().zip(&members) {
            prop_assert_eq!(m.key.as_ref(), *key);
            let v: Value = serde_json::from_slice(&bytes[m.value.clone()]).unwrap();
            prop_assert_eq!(&v, value);
        }
        for key in ["model", "stream", "store", "messages", "x"] {
            let first = members.iter().find(|m| m.0 == key).map(|m| &m.1);
            let read = top_level_value(bytes, key)
                .map(|r| serde_json::from_slice::<Value>(&bytes[r]).unwrap());
            prop_assert_eq!(read.as_ref(), first);
            prop_assert_eq!(parsed.contains_key(key), first.is_some());
        }
        let twice = |k: &str| members.iter().filter(|m| m.0 == k).count() > 1;
        let dup = ROUTED_KEYS.iter().any(|k| twice(k));
        let found = duplicate_key(bytes, ROUTED_KEYS);
        prop_assert_eq!(found.is_some(), dup);
        prop_assert!(found.is_none_or(twice));
        if !dup && parsed.contains_key("model") {
            // Without duplicates, what the scanner patches is what an upstream parser reads.
            let out = replace_top_level_str(bytes, "model", "routed").unwrap();
            let v: Value = serde_json::from_slice(&out).unwrap();
            prop_assert_eq!(&v["model"], &Value::String("routed".into()));
        }
    }

    #[test]
    fn the_scanner_never_panics_on_any_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = switchboard_protocol::passthrough::top_level_members(&bytes);
        let _ = switchboard_protocol::passthrough::duplicate_key(&bytes, switchboard_protocol::passthrough::ROUTED_KEYS);
        let _ = switchboard_protocol::passthrough::top_level_value(&bytes, "model");
    }
}
