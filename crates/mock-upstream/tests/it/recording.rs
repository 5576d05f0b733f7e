//! What the mock remembers: requests with all headers and the presented key, counters, and
//! the in-flight and connection gauges after clients go away.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use switchboard_mock_upstream::{Dialect, MockOptions, MockUpstream};

use crate::support::{chat_body, client, post};

#[tokio::test]
async fn records_method_path_query_headers_body_and_key() {
    let mock = MockUpstream::start().await.unwrap();
    let body = chat_body("mock-small", false);
    let res = client()
        .post(format!(
            "http://{}/v1/chat/completions?trace=1",
            mock.addr()
        ))
        .bearer_auth("sk-rec")
        .header("x-client-extra", "leak?")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.method, http::Method::POST);
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.query.as_deref(), Some("trace=1"));
    assert_eq!(r.header("authorization"), Some("Bearer sk-rec"));
    assert_eq!(r.header("x-client-extra"), Some("leak?"));
    assert_eq!(r.key.as_deref(), Some("sk-rec"));
    assert_eq!(r.model.as_deref(), Some("mock-small"));
    assert_eq!(r.dialect, Some(Dialect::OpenAiChat));
    assert_eq!(r.json(), Some(body));
}

#[tokio::test]
async fn key_from_every_place() {
    let mock = MockUpstream::start().await.unwrap();
    let http = client();
    let base = format!("http://{}", mock.addr());
    let anthropic = json!({ "model": "claude-mock", "max_tokens": 10, "messages": [{ "role": "user", "content": "Hi" }] });
    let gemini = json!({ "contents": [{ "parts": [{ "text": "Hi" }] }] });
    http.post(format!("{base}/v1/messages"))
        .header("x-api-key", "sk-ant-x")
        .json(&anthropic)
        .send()
        .await
        .unwrap();
    http.post(format!("{base}/v1beta/models/gemini-mock:generateContent"))
        .header("x-goog-api-key", "AIza-h")
        .json(&gemini)
        .send()
        .await
        .unwrap();
    http.post(format!(
        "{base}/v1beta/models/gemini-mock:generateContent?key=AIza-q"
    ))
    .json(&gemini)
    .send()
    .await
    .unwrap();
    let keys: Vec<_> = mock.requests().into_iter().map(|r| r.key).collect();
    assert_eq!(
        keys,
        vec![
            Some("sk-ant-x".into()),
            Some("AIza-h".into()),
            Some("AIza-q".into())
        ]
    );
    assert_eq!(mock.count_for_model("gemini-mock"), 2);
}

#[tokio::test]
async fn counters_per_key_and_model() {
    let mock = MockUpstream::start().await.unwrap();
    for (key, model) in [
        ("sk-a", "m1"),
        ("sk-a", "m2"),
        ("sk-b", "m1"),
        ("sk-a@fault=500", "m1"),
    ] {
        post(&mock, "/v1/chat/completions", key, chat_body(model, false)).await;
    }
    assert_eq!(mock.count_for_key("sk-a"), 2);
    assert_eq!(mock.count_for_key("sk-b"), 1);
    assert_eq!(mock.count_for_key("sk-a@fault=500"), 1);
    assert_eq!(mock.count_for_model("m1"), 3);
    assert_eq!(mock.count_for_model("m2"), 1);
    assert_eq!(mock.request_count(), 4);
    mock.reset();
    assert_eq!(mock.count_for_key("sk-a"), 0);
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn counters_without_recording() {
    let mock = MockUpstream::start_with(MockOptions {
        record: false,
        ..MockOptions::default()
    })
    .await
    .unwrap();
    post(&mock, "/v1/chat/completions", "sk-a", chat_body("m", false)).await;
    assert!(mock.requests().is_empty());
    assert_eq!(mock.count_for_key("sk-a"), 1);
}

#[tokio::test]
async fn in_flight_returns_to_zero_after_client_leaves_mid_stream() {
    let mock = MockUpstream::start_with(MockOptions {
        chunk_delay: Duration::from_millis(200),
        chunks: 20,
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let res = post(&mock, "/v1/chat/completions", "sk-a", chat_body("m", true)).await;
    let mut body = res.bytes_stream();
    body.next().await.unwrap().unwrap();
    assert_eq!(mock.in_flight(), 1);
    assert_eq!(mock.open_connections(), 1);
    drop(body);
    assert!(
        mock.wait_idle(Duration::from_millis(500)).await,
        "still in flight"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(mock.open_connections(), 0);
}

#[tokio::test]
async fn in_flight_counts_until_the_body_is_done() {
    let mock = MockUpstream::start().await.unwrap();
    assert_eq!(mock.in_flight(), 0);
    let res = post(
        &mock,
        "/v1/chat/completions",
        "sk-a",
        chat_body("m@chunk_delay_ms=100", true),
    )
    .await;
    assert_eq!(mock.in_flight(), 1);
    res.text().await.unwrap();
    assert!(mock.wait_idle(Duration::from_millis(200)).await);
}

#[tokio::test]
async fn shutdown_ends_hung_requests() {
    let mock = MockUpstream::start().await.unwrap();
    let addr = mock.addr();
    let pending = tokio::spawn(async move {
        client()
            .post(format!("http://{addr}/v1/chat/completions"))
            .bearer_auth("sk-a@fault=hang")
            .json(&chat_body("m", false))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(2), mock.shutdown())
        .await
        .unwrap();
    assert!(pending.await.unwrap().is_err());
}

#[tokio::test]
async fn in_flight_returns_to_zero_after_client_leaves_before_headers() {
    let mock = MockUpstream::start().await.unwrap();
    let err = crate::support::client_with_timeout(Duration::from_millis(200))
        .post(format!("http://{}/v1/chat/completions", mock.addr()))
        .bearer_auth("sk-a")
        .json(&chat_body("m@latency_ms=5000", false))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout());
    assert!(
        mock.wait_idle(Duration::from_millis(500)).await,
        "still in flight"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(mock.open_connections(), 0);
    assert_eq!(mock.count_for_model("m@latency_ms=5000"), 1);
}
