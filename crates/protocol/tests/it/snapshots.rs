//! Snapshot translations for every (client dialect, upstream dialect) pair and fixture kind.
//! Each snapshot holds one fixture translated for all four counterparts, so a file reads as
//! "this input, as each dialect sees it".

use serde_json::{Map, Value, json};
use switchboard_protocol::{
    Dialect, Quirks, StreamTranslator, decode_error, decode_request, decode_response,
    encode_request, encode_response, stream_error_events,
};

use crate::fixtures::{self, REQUEST_KINDS, RESPONSE_KINDS, STREAM_KINDS, name};
use crate::{events_json, with_snapshot_settings};

pub fn decode_client_request(client: Dialect, body: &Value) -> switchboard_protocol::ir::Request {
    let mut req = decode_request(client, &serde_json::to_vec(body).unwrap()).unwrap();
    if client == Dialect::Gemini {
        // Gemini carries these in the URL.
        req.model = "gemini-client".into();
        req.stream = false;
    }
    req
}

#[test]
fn requests_client_to_every_upstream() {
    with_snapshot_settings(|| {
        for client in Dialect::ALL {
            for kind in REQUEST_KINDS {
                let req = decode_client_request(client, &fixtures::request(client, kind));
                let mut by_upstream = Map::new();
                for upstream in Dialect::ALL {
                    let body = encode_request(upstream, &req, "upstream-model", &Quirks::default())
                        .unwrap();
                    let body: Value = serde_json::from_slice(&body).unwrap();
                    by_upstream.insert(name(upstream).into(), body);
                }
                insta::assert_json_snapshot!(
                    format!("request__{}__{kind}", name(client)),
                    Value::Object(by_upstream)
                );
            }
        }
    });
}

#[test]
fn responses_upstream_to_every_client() {
    with_snapshot_settings(|| {
        for upstream in Dialect::ALL {
            for kind in RESPONSE_KINDS {
                let body = serde_json::to_vec(&fixtures::response(upstream, kind)).unwrap();
                let resp = decode_response(upstream, &body).unwrap();
                let mut by_client = Map::new();
                for client in Dialect::ALL {
                    let out: Value =
                        serde_json::from_slice(&encode_response(client, &resp, "client-model"))
                            .unwrap();
                    by_client.insert(name(client).into(), out);
                }
                insta::assert_json_snapshot!(
                    format!("response__{}__{kind}", name(upstream)),
                    Value::Object(by_client)
                );
            }
        }
    });
}

#[test]
fn streams_upstream_to_every_client() {
    with_snapshot_settings(|| {
        for upstream in Dialect::ALL {
            for kind in STREAM_KINDS {
                let events = fixtures::decode_sse(fixtures::stream(upstream, kind).as_bytes());
                let mut by_client = Map::new();
                for client in Dialect::ALL {
                    let mut t = StreamTranslator::new(upstream, client, "client-model");
                    let mut out = Vec::new();
                    for ev in &events {
                        t.push(ev, &mut out).unwrap();
                    }
                    t.finish(&mut out);
                    assert!(t.saw_content(), "{upstream} {kind}");
                    assert_eq!(t.usage().prompt_tokens, 12, "{upstream} → {client} {kind}");
                    assert_eq!(t.usage().cached_tokens, 4, "{upstream} → {client} {kind}");
                    assert_eq!(
                        t.usage().completion_tokens,
                        7,
                        "{upstream} → {client} {kind}"
                    );
                    by_client.insert(name(client).into(), events_json(&out));
                }
                insta::assert_json_snapshot!(
                    format!("stream__{}__{kind}", name(upstream)),
                    Value::Object(by_client)
                );
            }
        }
    });
}

#[test]
fn upstream_errors_in_every_client_shape() {
    with_snapshot_settings(|| {
        for upstream in Dialect::ALL {
            let (status, body) = fixtures::error_body(upstream);
            let err = decode_error(upstream, status, &serde_json::to_vec(&body).unwrap());
            // A JSON error body in reply to a request decodes to the same error.
            let via_response = decode_response(upstream, &serde_json::to_vec(&body).unwrap());
            assert_eq!(via_response.unwrap_err().message, err.message);
            let mut by_client = Map::new();
            for client in Dialect::ALL {
                by_client.insert(
                    name(client).into(),
                    json!({
                        "status": err.status(),
                        "body": err.to_body(client),
                        "stream": events_json(&stream_error_events(client, &err)),
                    }),
                );
            }
            insta::assert_json_snapshot!(
                format!("error__{}", name(upstream)),
                Value::Object(by_client)
            );
        }
    });
}

#[test]
fn in_band_stream_errors_are_returned_not_translated() {
    let cases = [
        (Dialect::OpenaiChat, fixtures::stream(Dialect::OpenaiChat, "text").replace("data: [DONE]", "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}")),
        (Dialect::Anthropic, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"boom\"}}\n\n".to_owned()),
        (Dialect::OpenaiResponses, "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n".to_owned()),
        (Dialect::Gemini, "data: {\"error\":{\"code\":503,\"message\":\"boom\",\"status\":\"UNAVAILABLE\"}}\n\n".to_owned()),
    ];
    for (upstream, sse) in cases {
        for client in Dialect::ALL {
            let mut t = StreamTranslator::new(upstream, client, "m");
            let mut out = Vec::new();
            let err = fixtures::decode_sse(sse.as_bytes())
                .iter()
                .find_map(|ev| t.push(ev, &mut out).err())
                .unwrap_or_else(|| panic!("{upstream}: no error surfaced"));
            assert_eq!(err.message, "boom");
            // After output began, the translator ends the client stream in its own dialect.
            t.fail(&err.to_client_error(), &mut out);
            let last = out.last().unwrap();
            match client {
                Dialect::OpenaiChat => assert!(last.is_done()),
                Dialect::OpenaiResponses => {
                    assert_eq!(last.event.as_deref(), Some("response.failed"))
                }
                Dialect::Anthropic => assert_eq!(last.event.as_deref(), Some("error")),
                Dialect::Gemini => assert!(last.data.contains("\"error\"")),
            }
        }
    }
}

/// "Any JSON object": native everywhere but Anthropic, which gets one forced tool taking any
/// object (and no thinking, which Anthropic does not allow with a forced tool).
#[test]
fn json_object_reaches_every_upstream() {
    with_snapshot_settings(|| {
        let body = json!({
            "model": "gpt-5.5", "reasoning_effort": "high",
            "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": "Describe Ada as JSON."}],
        });
        let req = decode_client_request(Dialect::OpenaiChat, &body);
        let mut by_upstream = Map::new();
        for upstream in Dialect::ALL {
            let body =
                encode_request(upstream, &req, "upstream-model", &Quirks::default()).unwrap();
            by_upstream.insert(
                name(upstream).into(),
                serde_json::from_slice(&body).unwrap(),
            );
        }
        insta::assert_json_snapshot!(
            "request__openai_chat__json_object",
            Value::Object(by_upstream)
        );
    });
}

/// The forced JSON tool's input comes back as plain text in every client dialect, streamed
/// or not, and the turn ends normally rather than with a tool call.
#[test]
fn anthropic_json_tool_answer_reads_as_text() {
    with_snapshot_settings(|| {
        let answer = json!({
            "id": "msg_up", "type": "message", "role": "assistant", "model": "claude",
            "content": [{"type": "tool_use", "id": "toolu_j", "name": "json_response", "input": {"name": "Ada"}}],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 12, "output_tokens": 7},
        });
        let resp =
            decode_response(Dialect::Anthropic, &serde_json::to_vec(&answer).unwrap()).unwrap();
        let sse = [
            ("message_start", json!({"type": "message_start", "message": {"id": "msg_up", "type": "message", "role": "assistant", "model": "claude", "content": [], "usage": {"input_tokens": 12, "output_tokens": 0}}})),
            ("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_j", "name": "json_response", "input": {}}})),
            ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{\"name\":"}})),
            ("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "\"Ada\"}"}})),
            ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
            ("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}})),
            ("message_stop", json!({"type": "message_stop"})),
        ]
        .iter()
        .map(|(e, d)| format!("event: {e}\ndata: {d}\n\n"))
        .collect::<String>();
        let events = fixtures::decode_sse(sse.as_bytes());
        let mut by_client = Map::new();
        for client in Dialect::ALL {
            let body: Value =
                serde_json::from_slice(&encode_response(client, &resp, "client-model")).unwrap();
            let mut t = StreamTranslator::new(Dialect::Anthropic, client, "client-model");
            let mut out = Vec::new();
            for ev in &events {
                t.push(ev, &mut out).unwrap();
            }
            t.finish(&mut out);
            by_client.insert(
                name(client).into(),
                json!({"response": body, "stream": events_json(&out)}),
            );
        }
        insta::assert_json_snapshot!("response__anthropic__json_tool", Value::Object(by_client));
    });
}
