//! OpenAI Chat Completions: JSON and SSE replies, model list.

use serde_json::json;
use switchboard_mock_upstream::MockUpstream;

use crate::support::{chat_body, events, post};

#[tokio::test]
async fn json_reply() {
    let mock = MockUpstream::start().await.unwrap();
    let res = post(
        &mock,
        "/v1/chat/completions",
        "sk-a",
        chat_body("mock-small", false),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "mock-small");
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from mock model mock-small."
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let usage = &v["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
}

#[tokio::test]
async fn sse_reply_with_usage_ends_with_done() {
    let mock = MockUpstream::start().await.unwrap();
    let res = post(
        &mock,
        "/v1/chat/completions",
        "sk-a",
        chat_body("mock-small", true),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let evs = events(&res.text().await.unwrap());
    assert_eq!(evs.last().unwrap().data, "[DONE]");
    assert!(
        evs.iter().all(|e| e.name.is_none()),
        "Chat streams carry no event names"
    );
    let chunks: Vec<_> = evs[..evs.len() - 1].iter().map(|e| e.json()).collect();
    assert!(
        chunks
            .iter()
            .all(|c| c["object"] == "chat.completion.chunk")
    );
    let deltas: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(deltas.len(), 4, "default chunk count");
    assert_eq!(deltas.concat(), "Hello from mock model mock-small.");
    let finish: Vec<_> = chunks
        .iter()
        .filter(|c| c["choices"][0]["finish_reason"] == "stop")
        .collect();
    assert_eq!(finish.len(), 1);
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert!(usage["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn usage_chunk_only_when_asked() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat_body("mock-small", true);
    body.as_object_mut().unwrap().remove("stream_options");
    let res = post(&mock, "/v1/chat/completions", "sk-a", body).await;
    let evs = events(&res.text().await.unwrap());
    assert!(evs.iter().all(|e| !e.data.contains("\"usage\"")));
}

#[tokio::test]
async fn chunk_count_directive() {
    let mock = MockUpstream::start().await.unwrap();
    let res = post(
        &mock,
        "/v1/chat/completions",
        "sk-a",
        chat_body("m@chunks=7", true),
    )
    .await;
    let evs = events(&res.text().await.unwrap());
    let deltas = evs
        .iter()
        .filter(|e| e.data != "[DONE]")
        .filter_map(|e| {
            e.json()["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .filter(|s| !s.is_empty())
        .count();
    assert_eq!(deltas, 7);
}

#[tokio::test]
async fn model_lists() {
    let mock = MockUpstream::start().await.unwrap();
    let http = crate::support::client();
    let openai: serde_json::Value = http
        .get(format!(
            "{}/models",
            mock.base_url(switchboard_mock_upstream::Dialect::OpenAiChat)
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(openai["object"], "list");
    let data = openai["data"].as_array().unwrap();
    assert!(data.iter().any(|m| m["context_window"].is_u64()));
    assert!(data.iter().any(|m| m.get("context_window").is_none()));

    let anthropic: serde_json::Value = http
        .get(format!("http://{}/v1/models", mock.addr()))
        .header("anthropic-version", "2023-06-01")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert_eq!(anthropic["has_more"], false);

    let gemini: serde_json::Value = http
        .get(format!(
            "{}/models",
            mock.base_url(switchboard_mock_upstream::Dialect::Gemini)
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        gemini["models"][0]["name"]
            .as_str()
            .unwrap()
            .starts_with("models/")
    );
}
