//! Tool calls (streamed argument deltas), tool results and reasoning, in every dialect.

use serde_json::{Value, json};
use switchboard_mock_upstream::MockUpstream;

use crate::support::{events, post};
use crate::{anthropic, gemini, responses};

const ARGS: &str = r#"{"city":"Paris"}"#;

fn weather_tool_chat() -> Value {
    json!([{ "type": "function", "function": {
        "name": "get_weather",
        "parameters": { "type": "object", "properties": { "city": { "type": "string" } } },
    }}])
}

fn chat_weather(stream: bool) -> Value {
    json!({
        "model": "mock-small",
        "stream": stream,
        "tools": weather_tool_chat(),
        "messages": [{ "role": "user", "content": "What's the weather in Paris?" }],
    })
}

#[tokio::test]
async fn chat_tool_call_streams_argument_deltas() {
    let mock = MockUpstream::start().await.unwrap();
    let res = post(&mock, "/v1/chat/completions", "sk-a", chat_weather(true)).await;
    let evs = events(&res.text().await.unwrap());
    assert_eq!(evs.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = evs[..evs.len() - 1].iter().map(|e| e.json()).collect();
    let calls: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"].get("tool_calls"))
        .collect();
    assert_eq!(calls[0][0]["function"]["name"], "get_weather");
    assert!(calls[0][0]["id"].is_string());
    let args: String = calls
        .iter()
        .map(|c| c[0]["function"]["arguments"].as_str().unwrap())
        .collect();
    assert_eq!(args, ARGS);
    assert!(calls.len() > 2, "arguments split over several chunks");
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
}

#[tokio::test]
async fn chat_tool_call_json_and_result_round() {
    let mock = MockUpstream::start().await.unwrap();
    let v: Value = post(&mock, "/v1/chat/completions", "sk-a", chat_weather(false))
        .await
        .json()
        .await
        .unwrap();
    let msg = &v["choices"][0]["message"];
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(msg["tool_calls"][0]["function"]["arguments"], ARGS);

    let round = json!({
        "model": "mock-small",
        "tools": weather_tool_chat(),
        "messages": [
            { "role": "user", "content": "What's the weather in Paris?" },
            { "role": "assistant", "content": null, "tool_calls": msg["tool_calls"] },
            { "role": "tool", "tool_call_id": msg["tool_calls"][0]["id"], "content": "Sunny, 21 C" },
        ],
    });
    let v: Value = post(&mock, "/v1/chat/completions", "sk-a", round)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(
        v["choices"][0]["message"]["content"]
            .as_str()
            .unwrap()
            .contains("Sunny, 21 C")
    );
}

#[tokio::test]
async fn no_tool_call_without_tools_and_forced_by_directive() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = chat_weather(false);
    body.as_object_mut().unwrap().remove("tools");
    let v: Value = post(&mock, "/v1/chat/completions", "sk-a", body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    let forced = json!({
        "model": "mock-small@tool",
        "tools": weather_tool_chat(),
        "messages": [{ "role": "user", "content": "Hi" }],
    });
    let v: Value = post(&mock, "/v1/chat/completions", "sk-a", forced)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
}

#[tokio::test]
async fn chat_reasoning_comes_first() {
    let mock = MockUpstream::start().await.unwrap();
    let body = json!({
        "model": "deepseek-mock@reasoning",
        "stream": true,
        "messages": [{ "role": "user", "content": "Hi" }],
    });
    let res = post(&mock, "/v1/chat/completions", "sk-a", body).await;
    let evs = events(&res.text().await.unwrap());
    let deltas: Vec<Value> = evs[..evs.len() - 1]
        .iter()
        .map(|e| e.json()["choices"][0]["delta"].clone())
        .collect();
    let first_reasoning = deltas
        .iter()
        .position(|d| d["reasoning_content"].is_string());
    let first_content = deltas
        .iter()
        .position(|d| d["content"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(first_reasoning.unwrap() < first_content.unwrap());
}

#[tokio::test]
async fn anthropic_tool_use_streams_input_json_deltas() {
    let mock = MockUpstream::start().await.unwrap();
    let body = json!({
        "model": "claude-mock",
        "max_tokens": 100,
        "stream": true,
        "tools": [{ "name": "get_weather", "input_schema": { "type": "object" } }],
        "messages": [{ "role": "user", "content": "weather in Paris?" }],
    });
    let evs = events(&anthropic::send(&mock, &body).await.text().await.unwrap());
    let start = evs
        .iter()
        .find(|e| e.name.as_deref() == Some("content_block_start"))
        .unwrap()
        .json();
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "get_weather");
    let partial: Vec<String> = evs
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let d = e.json()["delta"].clone();
            assert_eq!(d["type"], "input_json_delta");
            d["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(partial.len() > 1);
    assert_eq!(partial.concat(), ARGS);
    let stop = evs
        .iter()
        .find(|e| e.name.as_deref() == Some("message_delta"))
        .unwrap()
        .json();
    assert_eq!(stop["delta"]["stop_reason"], "tool_use");
    assert_eq!(evs.last().unwrap().name.as_deref(), Some("message_stop"));
}

#[tokio::test]
async fn anthropic_tool_result_and_thinking() {
    let mock = MockUpstream::start().await.unwrap();
    let body = json!({
        "model": "claude-mock@reasoning",
        "max_tokens": 100,
        "stream": true,
        "messages": [
            { "role": "user", "content": "weather?" },
            { "role": "assistant", "content": [{ "type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {} }] },
            { "role": "user", "content": [{ "type": "tool_result", "tool_use_id": "toolu_1", "content": [{ "type": "text", "text": "Rain" }] }] },
        ],
    });
    let evs = events(&anthropic::send(&mock, &body).await.text().await.unwrap());
    let starts: Vec<Value> = evs
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_start"))
        .map(|e| e.json())
        .collect();
    assert_eq!(starts[0]["content_block"]["type"], "thinking");
    assert_eq!(starts[0]["index"], 0);
    assert_eq!(starts[1]["content_block"]["type"], "text");
    assert_eq!(starts[1]["index"], 1);
    let deltas: Vec<Value> = evs
        .iter()
        .filter(|e| e.name.as_deref() == Some("content_block_delta"))
        .map(|e| e.json())
        .collect();
    assert!(
        deltas
            .iter()
            .any(|d| d["delta"]["type"] == "signature_delta")
    );
    let text: String = deltas
        .iter()
        .filter_map(|d| d["delta"]["text"].as_str())
        .collect();
    assert!(text.contains("Rain"), "{text}");
    assert_eq!(
        evs.iter()
            .filter(|e| e.name.as_deref() == Some("content_block_stop"))
            .count(),
        2
    );

    let mut json_body = body.clone();
    json_body["stream"] = json!(false);
    let v: Value = anthropic::send(&mock, &json_body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["content"][0]["type"], "thinking");
    assert!(v["content"][0]["signature"].is_string());
}

#[tokio::test]
async fn responses_function_call_and_output() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = responses::body("mock-small", true);
    body["tools"] =
        json!([{ "type": "function", "name": "get_weather", "parameters": {}, "strict": false }]);
    body["input"][1]["content"][0]["text"] = json!("How is the weather?");
    let evs = events(
        &post(&mock, "/v1/responses", "sk-a", body.clone())
            .await
            .text()
            .await
            .unwrap(),
    );
    let by = |name: &str| -> Vec<Value> {
        evs.iter()
            .filter(|e| e.name.as_deref() == Some(name))
            .map(|e| e.json())
            .collect()
    };
    let added = &by("response.output_item.added")[0];
    assert_eq!(added["item"]["type"], "function_call");
    let deltas: String = by("response.function_call_arguments.delta")
        .iter()
        .map(|d| d["delta"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(deltas, ARGS);
    assert_eq!(
        by("response.function_call_arguments.done")[0]["arguments"],
        ARGS
    );
    let done = &by("response.output_item.done")[0]["item"];
    assert_eq!(done["name"], "get_weather");
    assert_eq!(done["arguments"], ARGS);
    assert_eq!(
        evs.last().unwrap().name.as_deref(),
        Some("response.completed")
    );

    let mut round = body;
    round["stream"] = json!(false);
    let items = round["input"].as_array_mut().unwrap();
    items.push(done.clone());
    items.push(
        json!({ "type": "function_call_output", "call_id": done["call_id"], "output": "Foggy" }),
    );
    let v: Value = post(&mock, "/v1/responses", "sk-a", round)
        .await
        .json()
        .await
        .unwrap();
    let text = v["output"][0]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("Foggy"), "{text}");
}

#[tokio::test]
async fn responses_reasoning_item_first() {
    let mock = MockUpstream::start().await.unwrap();
    let res = post(
        &mock,
        "/v1/responses",
        "sk-a",
        responses::body("m@reasoning", true),
    )
    .await;
    let evs = events(&res.text().await.unwrap());
    let done: Vec<Value> = evs
        .iter()
        .filter(|e| e.name.as_deref() == Some("response.output_item.done"))
        .map(|e| e.json())
        .collect();
    assert_eq!(done[0]["item"]["type"], "reasoning");
    assert_eq!(done[0]["output_index"], 0);
    assert_eq!(done[1]["item"]["type"], "message");
    assert_eq!(done[1]["output_index"], 1);
    assert!(
        evs.iter()
            .any(|e| e.name.as_deref() == Some("response.reasoning_summary_text.delta"))
    );
    let completed = evs.last().unwrap().json();
    assert_eq!(completed["response"]["output"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn gemini_function_call_response_and_thoughts() {
    let mock = MockUpstream::start().await.unwrap();
    let mut body = gemini::body();
    body["contents"][0]["parts"][0]["text"] = json!("weather in Paris");
    body["tools"] = json!([{ "functionDeclarations": [{ "name": "get_weather" }] }]);
    let evs = events(
        &gemini::send(&mock, "gemini-mock:streamGenerateContent?alt=sse", &body)
            .await
            .text()
            .await
            .unwrap(),
    );
    let last = evs.last().unwrap().json();
    let call = &last["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["args"], json!({ "city": "Paris" }));
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");

    let contents = body["contents"].as_array_mut().unwrap();
    contents.push(json!({ "role": "model", "parts": [{ "functionCall": call }] }));
    contents.push(json!({ "role": "user", "parts": [{ "functionResponse": {
        "name": "get_weather", "response": { "forecast": "Windy" } } }] }));
    let v: Value = gemini::send(&mock, "gemini-mock@reasoning:generateContent", &body)
        .await
        .json()
        .await
        .unwrap();
    let parts = &v["candidates"][0]["content"]["parts"];
    assert_eq!(parts[0]["thought"], true);
    assert!(parts[1]["text"].as_str().unwrap().contains("Windy"));
}
