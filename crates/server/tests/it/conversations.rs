//! `previous_response_id` for Responses clients on a non-Responses upstream: the router keeps
//! the conversation (unless `store: false`) and replays it upstream.

use serde_json::{Value, json};

use crate::common::*;

fn chat_upstream(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    provider_toml("chat", mock, &["sk-conv-key-aaaaaaaaaaaa"])
        + "[[routes]]\nalias = \"codex-model\"\ntargets = [{ provider = \"chat\", model = \"x\" }]\n"
}

fn upstream_messages(sb: &Sb) -> Vec<Value> {
    let last = sb.mock.requests().pop().unwrap();
    last.json().unwrap()["messages"].as_array().unwrap().clone()
}

#[tokio::test]
async fn previous_response_id_replays_the_conversation_to_a_chat_upstream() {
    let sb = Sb::start(chat_upstream).await;
    let first: Value = sb
        .post("/v1/responses", &json!({"model": "codex-model", "instructions": "Be brief.", "input": "My name is Ada."}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["object"], "response");
    let id = first["id"].as_str().unwrap().to_owned();

    // Second turn, streamed, continuing from the first.
    let text = sb
        .post("/v1/responses", &json!({"model": "codex-model", "stream": true, "previous_response_id": id, "input": "What is my name?"}))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(sb.mock.request_count(), 2, "{text}");
    let messages = upstream_messages(&sb);
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        vec!["system", "user", "assistant", "user"],
        "{messages:?}"
    );
    assert_eq!(messages[1]["content"], "My name is Ada.");
    assert_eq!(messages[2]["content"], "Hello from mock model x.");
    assert_eq!(messages[3]["content"], "What is my name?");

    // The streamed response's id continues the chain too.
    let completed = sse_data(&text)
        .into_iter()
        .filter_map(|d| serde_json::from_str::<Value>(&d).ok())
        .find(|v| v["type"] == "response.completed")
        .unwrap();
    let second = completed["response"]["id"].as_str().unwrap().to_owned();
    let r = sb
        .post(
            "/v1/responses",
            &json!({"model": "codex-model", "previous_response_id": second, "input": "Thanks."}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(upstream_messages(&sb).len(), 6);
}

#[tokio::test]
async fn store_false_keeps_nothing_and_unknown_ids_are_a_clear_404() {
    let sb = Sb::start(chat_upstream).await;
    let first: Value = sb
        .post(
            "/v1/responses",
            &json!({"model": "codex-model", "store": false, "input": "Remember nothing."}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = first["id"].as_str().unwrap();
    let r = sb
        .post(
            "/v1/responses",
            &json!({"model": "codex-model", "previous_response_id": id, "input": "Hi"}),
        )
        .await;
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["param"], "previous_response_id");
    assert_eq!(v["error"]["code"], "previous_response_not_found");
    assert_eq!(
        sb.mock.request_count(),
        1,
        "nothing sent upstream for the failed turn"
    );
}
