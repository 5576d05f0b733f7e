//! Gemini: generateContent, streamGenerateContent as SSE (CRLF framed) and as a JSON array,
//! keys from header or query, errors.

use serde_json::{Value, json};
use switchboard_mock_upstream::{Dialect, MockUpstream};

use crate::support::{client, events};

pub fn body() -> Value {
    json!({ "contents": [{ "role": "user", "parts": [{ "text": "Hi" }] }] })
}

pub async fn send(mock: &MockUpstream, target: &str, body: &Value) -> reqwest::Response {
    client()
        .post(format!(
            "{}/models/{target}",
            mock.base_url(Dialect::Gemini)
        ))
        .header("x-goog-api-key", "AIza-a")
        .json(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn generate_content() {
    let mock = MockUpstream::start().await.unwrap();
    let v: Value = send(&mock, "gemini-mock:generateContent", &body())
        .await
        .json()
        .await
        .unwrap();
    let c = &v["candidates"][0];
    assert_eq!(c["content"]["role"], "model");
    assert_eq!(
        c["content"]["parts"][0]["text"],
        "Hello from mock model gemini-mock."
    );
    assert_eq!(c["finishReason"], "STOP");
    let u = &v["usageMetadata"];
    assert_eq!(
        u["totalTokenCount"].as_u64().unwrap(),
        u["promptTokenCount"].as_u64().unwrap() + u["candidatesTokenCount"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn stream_sse_with_crlf_framing() {
    let mock = MockUpstream::start().await.unwrap();
    let res = send(&mock, "gemini-mock:streamGenerateContent?alt=sse", &body()).await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let raw = res.text().await.unwrap();
    assert!(raw.ends_with("\r\n\r\n"));
    let chunks: Vec<Value> = events(&raw).iter().map(|e| e.json()).collect();
    assert_eq!(chunks.len(), 4);
    let text: String = chunks
        .iter()
        .map(|c| {
            c["candidates"][0]["content"]["parts"][0]["text"]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(text, "Hello from mock model gemini-mock.");
    assert!(
        chunks[..3]
            .iter()
            .all(|c| c["candidates"][0].get("finishReason").is_none())
    );
    assert_eq!(chunks[3]["candidates"][0]["finishReason"], "STOP");
    assert!(chunks[3]["usageMetadata"]["candidatesTokenCount"].is_u64());
}

#[tokio::test]
async fn stream_without_sse_is_a_json_array() {
    let mock = MockUpstream::start().await.unwrap();
    let res = send(&mock, "gemini-mock:streamGenerateContent", &body()).await;
    assert_eq!(res.headers()["content-type"], "application/json");
    let v: Value = res.json().await.unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn v1_path_and_query_key() {
    let mock = MockUpstream::start().await.unwrap();
    let res = client()
        .post(format!(
            "http://{}/v1/models/gemini-mock:generateContent?key=AIza-q",
            mock.addr()
        ))
        .json(&body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(mock.count_for_key("AIza-q"), 1);
}

#[tokio::test]
async fn errors_and_in_band_error() {
    let mock = MockUpstream::start().await.unwrap();
    let res = send(&mock, "gemini-mock@fault=503:generateContent", &body()).await;
    assert_eq!(res.status(), 503);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], 503);
    assert_eq!(v["error"]["status"], "UNAVAILABLE");

    let res = send(
        &mock,
        "gemini-mock@fault=error_event:streamGenerateContent?alt=sse",
        &body(),
    )
    .await;
    assert_eq!(res.status(), 200);
    let evs = events(&res.text().await.unwrap());
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].json()["error"]["status"], "INTERNAL");
}

#[tokio::test]
async fn percent_encoded_directives_in_the_path() {
    let mock = MockUpstream::start().await.unwrap();
    let res = send(&mock, "gemini-mock%40fault%3D401:generateContent", &body()).await;
    assert_eq!(res.status(), 401);
    assert_eq!(mock.count_for_model("gemini-mock@fault=401"), 1);
}
