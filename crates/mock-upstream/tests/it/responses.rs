//! OpenAI Responses: JSON, the full SSE sequence Codex needs, errors.

use serde_json::{Value, json};
use switchboard_mock_upstream::MockUpstream;

use crate::support::{events, post};

pub fn body(model: &str, stream: bool) -> Value {
    json!({
        "model": model,
        "stream": stream,
        "store": false,
        "input": [
            { "type": "message", "role": "developer", "content": [{ "type": "input_text", "text": "Be brief." }] },
            { "type": "message", "role": "user", "content": [{ "type": "input_text", "text": "Hi" }] },
        ],
    })
}

#[tokio::test]
async fn json_reply() {
    let mock = MockUpstream::start().await.unwrap();
    let v: Value = post(&mock, "/v1/responses", "sk-a", body("mock-small", false))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["output"][0]["type"], "message");
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "Hello from mock model mock-small."
    );
    assert!(v["usage"]["total_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn string_input_is_a_user_message() {
    let mock = MockUpstream::start().await.unwrap();
    let v: Value = post(
        &mock,
        "/v1/responses",
        "sk-a",
        json!({ "model": "m", "input": "Hi" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "Hello from mock model m."
    );
}

#[tokio::test]
async fn sse_sequence_ends_with_completed() {
    let mock = MockUpstream::start().await.unwrap();
    let res = post(
        &mock,
        "/v1/responses",
        "sk-a",
        body("mock-small@chunks=2", true),
    )
    .await;
    let evs = events(&res.text().await.unwrap());
    let names: Vec<&str> = evs.iter().map(|e| e.name.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, e) in evs.iter().enumerate() {
        let v = e.json();
        assert_eq!(v["type"], e.name.as_deref().unwrap());
        assert_eq!(v["sequence_number"], i);
    }
    let done = evs[8].json();
    assert_eq!(
        done["item"]["content"][0]["text"],
        "Hello from mock model mock-small."
    );
    let completed = evs[9].json();
    assert_eq!(completed["response"]["status"], "completed");
    assert!(
        completed["response"]["usage"]["output_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[tokio::test]
async fn errors_and_in_band_error() {
    let mock = MockUpstream::start().await.unwrap();
    let res = post(
        &mock,
        "/v1/responses",
        "sk-a",
        body("m@fault=429,retry_after=2", true),
    )
    .await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "2");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");

    let res = post(
        &mock,
        "/v1/responses",
        "sk-a",
        body("m@fault=error_event", true),
    )
    .await;
    let evs = events(&res.text().await.unwrap());
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].name.as_deref(), Some("error"));
    assert_eq!(evs[0].json()["type"], "error");
}
