//! Properties of Switchboard's parsers and translators (SECURITY.md T16), written once and run
//! two ways: by the cargo-fuzz targets in `fuzz_targets/` (libFuzzer feeds the bytes) and by
//! the proptest suite in `tests/properties.rs` (on stable, in the test script). Each property
//! takes raw bytes and panics when it does not hold; "no panic" is part of every one.
//!
//! - SSE decoding is split-invariant: any chunking of the same bytes gives the same events.
//! - Encoded SSE frames are complete: every event the translators emit decodes back to itself.
//! - Request and response round trips are stable: decode → encode → decode → encode reaches a
//!   fixpoint after one pass (the second encoding equals the first).
//! - Stream translation between any two dialects is split-invariant and never panics.
//! - The pass-through scanner reads a top-level object as serde does: every member, keys
//!   unescaped, duplicates of the routed keys found, the model patched where parsers read it.

use serde_json::Value;
use switchboard_protocol::{
    Dialect, Quirks, SseDecoder, SseEvent, StreamTranslator, decode_request, decode_response,
    encode_request, encode_response,
};

/// Dialect chosen by a byte.
pub fn dialect(b: u8) -> Dialect {
    Dialect::ALL[usize::from(b) % Dialect::ALL.len()]
}

/// Splits `data` at the cut points encoded in `cuts` (each byte a relative offset).
fn chunks<'a>(data: &'a [u8], cuts: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut at = 0;
    for c in cuts {
        if at >= data.len() {
            break;
        }
        let n = (usize::from(*c) % 17).min(data.len() - at);
        out.push(&data[at..at + n]);
        at += n;
    }
    out.push(&data[at..]);
    out
}

/// Decodes `chunks` with a small line cap and an event cap of four lines (so both caps are
/// exercised too).
fn decode_sse(chunks: &[&[u8]], max_line: usize) -> Result<Vec<SseEvent>, ()> {
    let mut dec = SseDecoder::new(max_line).with_max_event(max_line.saturating_mul(4));
    let mut out = Vec::new();
    for c in chunks {
        dec.push(c, &mut out).map_err(|_| ())?;
    }
    dec.finish(&mut out);
    Ok(out)
}

/// Input: `[n_cuts, cuts…, sse bytes…]`.
pub fn sse_split_invariance(input: &[u8]) {
    let Some((&n, rest)) = input.split_first() else {
        return;
    };
    let n = usize::from(n % 32).min(rest.len());
    let (cuts, data) = rest.split_at(n);
    let max_line = 256;
    let whole = decode_sse(&[data], max_line);
    let split = decode_sse(&chunks(data, cuts), max_line);
    let bytewise: Vec<&[u8]> = data.chunks(1).collect();
    let bytewise = decode_sse(&bytewise, max_line);
    assert_eq!(whole, split, "chunking changed the events");
    assert_eq!(whole, bytewise, "byte-by-byte decoding changed the events");
    // Frames we encode decode back to the same events.
    if let Ok(events) = whole {
        for ev in events {
            assert_frame_round_trips(&ev);
        }
    }
}

fn assert_frame_round_trips(ev: &SseEvent) {
    let bytes = ev.encode();
    let back = decode_sse(&[&bytes], usize::MAX).unwrap_or_default();
    // An event without data is not an event on the wire; a data value with a lone `\r` is
    // split into lines by the framing, which is the SSE rule for any line end.
    if ev.data.contains('\r') {
        return;
    }
    assert_eq!(
        back.len(),
        1,
        "frame {:?} decoded to {back:?}",
        String::from_utf8_lossy(&bytes)
    );
    assert_eq!(back[0].data, ev.data, "frame data changed");
    // An empty event name means the default type; either spelling is the same event.
    let name = |e: &SseEvent| e.event.clone().filter(|n| !n.is_empty());
    assert_eq!(name(&back[0]), name(ev), "frame name changed");
}

fn fix_gemini(d: Dialect, req: &mut switchboard_protocol::ir::Request) {
    if d == Dialect::Gemini {
        // Gemini carries model and stream flag in the URL, not the body.
        req.model = "m".into();
        req.stream = false;
    }
}

/// Input: a client request body in dialect `d`. Decoding never panics; what decodes encodes
/// to something that decodes again, and a second pass changes nothing.
pub fn request_round_trip(d: Dialect, input: &[u8]) {
    let Ok(mut ir1) = decode_request(d, input) else {
        return;
    };
    fix_gemini(d, &mut ir1);
    for to in Dialect::ALL {
        let _ = encode_request(to, &ir1, "m", &Quirks::default());
    }
    let _ = switchboard_protocol::count_tokens(&ir1);
    let Ok(x1) = encode_request(d, &ir1, "m", &Quirks::default()) else {
        return;
    };
    let mut ir2 = decode_request(d, &x1).unwrap_or_else(|e| {
        panic!(
            "own encoding rejected: {e:?}: {}",
            String::from_utf8_lossy(&x1)
        )
    });
    fix_gemini(d, &mut ir2);
    let x2 = encode_request(d, &ir2, "m", &Quirks::default())
        .unwrap_or_else(|e| panic!("second encoding failed: {e:?}"));
    let mut ir3 = decode_request(d, &x2).unwrap_or_else(|e| panic!("own encoding rejected: {e:?}"));
    fix_gemini(d, &mut ir3);
    let x3 = encode_request(d, &ir3, "m", &Quirks::default())
        .unwrap_or_else(|e| panic!("third encoding failed: {e:?}"));
    assert_eq!(json(&x2), json(&x3), "{d}: request encoding is not stable");
    assert_eq!(ir2, ir3, "{d}: request decoding is not stable");
}

/// Input: an upstream response body in dialect `d`; the same fixpoint property.
pub fn response_round_trip(d: Dialect, input: &[u8]) {
    let Ok(r1) = decode_response(d, input) else {
        return;
    };
    for to in Dialect::ALL {
        let _ = encode_response(to, &r1, "m");
    }
    let x1 = encode_response(d, &r1, "m");
    let r2 = decode_response(d, &x1).unwrap_or_else(|e| {
        panic!(
            "own encoding rejected: {e:?}: {}",
            String::from_utf8_lossy(&x1)
        )
    });
    let x2 = encode_response(d, &r2, "m");
    let r3 = decode_response(d, &x2).unwrap_or_else(|e| panic!("own encoding rejected: {e:?}"));
    let x3 = encode_response(d, &r3, "m");
    assert_eq!(
        normalized(&x2),
        normalized(&x3),
        "{d}: response encoding is not stable"
    );
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// Generated ids and timestamps blanked so two runs compare equal.
fn normalize(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                if k == "created"
                    || k == "created_at"
                    || k == "id"
                    || k == "responseId"
                    || k == "item_id"
                {
                    *v = Value::Null;
                } else {
                    normalize(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        _ => {}
    }
}

fn normalized(bytes: &[u8]) -> Value {
    let mut v = json(bytes);
    normalize(&mut v);
    v
}

fn translate(from: Dialect, to: Dialect, chunks: &[&[u8]]) -> Vec<(Option<String>, Value)> {
    let mut dec = SseDecoder::new(64 * 1024);
    let mut t = StreamTranslator::new(from, to, "client-model");
    let mut events = Vec::new();
    let mut out = Vec::new();
    let mut failed = false;
    for c in chunks {
        if dec.push(c, &mut events).is_err() {
            failed = true;
            break;
        }
        for ev in events.drain(..) {
            if let Err(e) = t.push(&ev, &mut out) {
                t.fail(&e.to_client_error(), &mut out);
                failed = true;
                break;
            }
        }
        if failed {
            break;
        }
    }
    if !failed {
        dec.finish(&mut events);
        for ev in events.drain(..) {
            let _ = t.push(&ev, &mut out);
        }
        t.finish(&mut out);
    }
    for ev in &out {
        assert_frame_round_trips(ev);
    }
    out.iter()
        .map(|e| {
            let mut d = json(e.data.as_bytes());
            normalize(&mut d);
            (e.event.clone(), d)
        })
        .collect()
}

/// Input: `[from, to, n_cuts, cuts…, upstream sse bytes…]`. Translating never panics, every
/// frame emitted is complete, and the output does not depend on how the bytes were split.
pub fn stream_translation(input: &[u8]) {
    let [f, t, n, rest @ ..] = input else { return };
    let (from, to) = (dialect(*f), dialect(*t));
    let n = usize::from(n % 32).min(rest.len());
    let (cuts, data) = rest.split_at(n);
    let whole = translate(from, to, &[data]);
    let split = translate(from, to, &chunks(data, cuts));
    assert_eq!(
        whole, split,
        "{from} → {to}: splitting the upstream bytes changed the output"
    );
}

/// Input: any bytes. If they are a JSON object, the scanner must see the members serde sees.
pub fn passthrough_scanner(input: &[u8]) {
    use switchboard_protocol::passthrough::{
        ROUTED_KEYS, duplicate_key, replace_top_level_str, top_level_members, top_level_value,
    };
    let members = top_level_members(input);
    let dup = duplicate_key(input, ROUTED_KEYS);
    let Ok(Value::Object(parsed)) = serde_json::from_slice::<Value>(input) else {
        return;
    };
    let Some(members) = members else {
        panic!("a JSON object the scanner cannot read");
    };
    for m in &members {
        let Some(v) = parsed.get(m.key.as_ref()) else {
            panic!("the scanner saw a key serde did not: {:?}", m.key);
        };
        let Ok(scanned) = serde_json::from_slice::<Value>(&input[m.value.clone()]) else {
            panic!("a member's range is not a JSON value");
        };
        // serde keeps the last of duplicates.
        if members.iter().rev().find(|o| o.key == m.key).is_some_and(|o| o.value == m.value) {
            assert_eq!(&scanned, v, "last member of {:?}", m.key);
        }
    }
    assert_eq!(
        members.iter().map(|m| m.key.as_ref()).collect::<std::collections::BTreeSet<_>>().len(),
        parsed.len()
    );
    let twice = |k: &str| members.iter().filter(|m| m.key == k).count() > 1;
    assert_eq!(dup.is_some(), ROUTED_KEYS.iter().any(|k| twice(k)));
    assert!(dup.is_none_or(twice));
    if dup.is_none() && top_level_value(input, "model").is_some() {
        let Some(out) = replace_top_level_str(input, "model", "routed") else {
            panic!("model found but not replaced");
        };
        let Ok(v) = serde_json::from_slice::<Value>(&out) else {
            panic!("patched body is not JSON");
        };
        assert_eq!(v["model"], Value::String("routed".into()));
    }
}

/// Seeds: one realistic input per property, for the fuzzers' corpora and for proptest to
/// mutate.
pub mod seeds {
    pub const CHAT_REQUEST: &str = r#"{"model":"gpt","stream":true,"temperature":0.2,"max_tokens":64,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"weather?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},{"role":"assistant","content":null,"reasoning_content":"think","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"sunny"}],"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],"tool_choice":"auto","stop":["X"]}"#;
    pub const RESPONSES_REQUEST: &str = r#"{"model":"gpt","instructions":"be brief","input":[{"role":"user","content":[{"type":"input_text","text":"weather?"}]},{"type":"reasoning","summary":[{"type":"summary_text","text":"think"}],"encrypted_content":"enc"},{"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}"},{"type":"function_call_output","call_id":"call_1","output":"sunny"}],"tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}}],"max_output_tokens":64,"reasoning":{"effort":"low"},"stream":true}"#;
    pub const ANTHROPIC_REQUEST: &str = r#"{"model":"claude","max_tokens":64,"system":[{"type":"text","text":"be brief"}],"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"thinking","thinking":"think","signature":"sig"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"sunny"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}],"tools":[{"name":"get_weather","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":1024},"stream":true}"#;
    pub const GEMINI_REQUEST: &str = r#"{"systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"weather?"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}}]},{"role":"model","parts":[{"text":"think","thought":true},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"result":"sunny"}}}]}],"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"object"}}]}],"generationConfig":{"temperature":0.2,"maxOutputTokens":64,"stopSequences":["X"]}}"#;

    pub const CHAT_RESPONSE: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","reasoning_content":"think","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":5,"completion_tokens":3,"total_tokens":8}}"#;
    pub const RESPONSES_RESPONSE: &str = r#"{"id":"resp_1","object":"response","created_at":1,"status":"completed","model":"m","output":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"think"}]},{"type":"message","id":"msg_1","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[]}]},{"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{}"}],"usage":{"input_tokens":5,"output_tokens":3,"total_tokens":8}}"#;
    pub const ANTHROPIC_RESPONSE: &str = r#"{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"thinking","thinking":"think","signature":"sig"},{"type":"text","text":"Hi"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris"}}],"stop_reason":"tool_use","usage":{"input_tokens":5,"output_tokens":3}}"#;
    pub const GEMINI_RESPONSE: &str = r#"{"candidates":[{"content":{"role":"model","parts":[{"text":"think","thought":true},{"text":"Hi"},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"totalTokenCount":8}}"#;

    pub const CHAT_STREAM: &str = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Gr\u{fc}\u{df}e \u{4e16}\"}}]}\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"call_1\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"ci\"}}]}}]}\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\"ty\\\":1}\"}}]},\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3}}\r\n\r\ndata:[DONE]\n\n";
    pub const ANTHROPIC_STREAM: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"m\",\"usage\":{\"input_tokens\":5,\"output_tokens\":0}}}\n\nevent: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\nevent: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi \u{1f389}\"}}\n\nevent: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\nevent: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":3}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    pub const RESPONSES_STREAM: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"output\":[]}}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\nevent: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"output\":[{\"type\":\"message\",\"id\":\"msg_1\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi\"}]}],\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\n\n";
    pub const GEMINI_STREAM: &str = "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"Hi\"}]}}]}\r\n\r\ndata: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\" there\"}]},\"finishReason\":\"STOP\"}],\"usageMetadata\":{\"promptTokenCount\":5,\"candidatesTokenCount\":2}}\r\n\r\n";

    pub const REQUESTS: [&str; 4] = [
        CHAT_REQUEST,
        RESPONSES_REQUEST,
        ANTHROPIC_REQUEST,
        GEMINI_REQUEST,
    ];
    pub const RESPONSES: [&str; 4] = [
        CHAT_RESPONSE,
        RESPONSES_RESPONSE,
        ANTHROPIC_RESPONSE,
        GEMINI_RESPONSE,
    ];
    pub const STREAMS: [&str; 4] = [
        CHAT_STREAM,
        RESPONSES_STREAM,
        ANTHROPIC_STREAM,
        GEMINI_STREAM,
    ];
}

/// The seed for dialect `d` (in `Dialect::ALL` order).
pub fn seed_index(d: Dialect) -> usize {
    Dialect::ALL.iter().position(|x| *x == d).unwrap_or(0)
}
