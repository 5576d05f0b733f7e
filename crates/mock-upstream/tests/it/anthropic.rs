//! Anthropic Messages: JSON and the full SSE event sequence, errors, in-band error event.

use serde_json::{Value, json};
use switchboard_mock_upstream::MockUpstream;

use crate::support::{client, events};

pub fn body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "max_tokens": 100,
        "stream": stream,
        "messages": [{ "role": "user", "content": [{ "type": "text", "text": "Hi" }] }],
    })
}

pub async fn send(mock: &MockUpstream, body: &Value) -> reqwest::Response {
    client()
        .post(format!("http://{}/v1/messages?beta=true", mock.addr()))
        .header("x-api-key", "sk-ant-a")
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn json_reply() {
    let mock = MockUpstream::start().await.unwrap();
    let v: Value = send(&mock, &body("claude-mock", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(
        v["content"][0]["text"],
        "Hello from mock model claude-mock."
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["input_tokens"].as_u64().unwrap() > 0);
    assert!(v["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn sse_sequence() {
    let mock = MockUpstream::start().await.unwrap();
    let res = send(&mock, &body("claude-mock", true)).await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let evs = events(&res.text().await.unwrap());
    let names: Vec<&str> = evs.iter().map(|e| e.name.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    for e in &evs {
        assert_eq!(
            e.json()["type"],
            e.name.as_deref().unwrap(),
            "type matches event name"
        );
    }
    let text: String = evs
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let d = e.json()["delta"].clone();
            assert_eq!(d["type"], "text_delta");
            d["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "Hello from mock model claude-mock.");
    let delta = evs[7].json();
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert!(delta["usage"]["output_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn errors_in_anthropic_shape() {
    let mock = MockUpstream::start().await.unwrap();
    for (status, kind) in [
        (401, "authentication_error"),
        (402, "billing_error"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (503, "overloaded_error"),
    ] {
        let res = send(&mock, &body(&format!("claude-mock@fault={status}"), true)).await;
        assert_eq!(res.status(), status);
        let v: Value = res.json().await.unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind);
    }
}

#[tokio::test]
async fn in_band_error_event() {
    let mock = MockUpstream::start().await.unwrap();
    let res = send(&mock, &body("claude-mock@fault=error_event", true)).await;
    assert_eq!(res.status(), 200);
    let evs = events(&res.text().await.unwrap());
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].name.as_deref(), Some("error"));
    assert_eq!(evs[0].json()["type"], "error");
    assert!(evs[0].json()["error"]["type"].is_string());
}

#[tokio::test]
async fn count_tokens_and_probe() {
    let mock = MockUpstream::start().await.unwrap();
    let http = client();
    let v: Value = http
        .post(format!("http://{}/v1/messages/count_tokens", mock.addr()))
        .json(&body("claude-mock", false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["input_tokens"].as_u64().unwrap() > 0);
    let probe = http
        .head(format!("http://{}/", mock.addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
}
