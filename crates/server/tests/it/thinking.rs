//! Thinking-safe switching: a conversation whose history carries thinking from another
//! provider is not refused by the next one. Native Anthropic (the mock's `native` mode)
//! refuses foreign signatures with its real 400; the router takes them out, on pass-through
//! as on translated routes, and leaves a history that needs nothing byte-exact.

use serde_json::{Value, json};
use switchboard_mock_upstream::Dialect as MockDialect;

use crate::common::*;

const DS: &str = "sk-think-ds-qpwoeirutyalsk";
const CLAUDE: &str = "sk-think-cl-zmxncbvlaksjdh";
const RAW: &str = "sk-think-raw-plokmijnuhbygv";

fn config(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    format!(
        "[[providers]]\nname = \"ds\"\nkind = \"openai_chat\"\nbase_url = {:?}\nkeys = [{DS:?}]\n\n\
         [[providers]]\nname = \"claude\"\nkind = \"anthropic\"\nbase_url = {:?}\nkeys = [{CLAUDE:?}]\n\n\
         [[providers]]\nname = \"raw\"\nkind = \"anthropic\"\nbase_url = {:?}\nkeys = [{RAW:?}]\n\
         quirks = {{ strip_foreign_signatures = false }}\n\n\
         [[routes]]\nalias = \"ds\"\ntargets = [{{ provider = \"ds\", model = \"reasoner@reasoning,tool\" }}]\n\n\
         [[routes]]\nalias = \"claude\"\ntargets = [{{ provider = \"claude\", model = \"opus@native,reasoning,tool\" }}]\n\n\
         [[routes]]\nalias = \"raw\"\ntargets = [{{ provider = \"raw\", model = \"opus@native\" }}]\n",
        mock.base_url(MockDialect::OpenAiChat),
        mock.base_url(MockDialect::Anthropic),
        mock.base_url(MockDialect::Anthropic),
    )
}

const TOOLS: &str = r#"[{"name": "read_file", "description": "Read a file", "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}]"#;

/// A Claude Code-shaped first turn: thinking on, tools offered.
fn first_turn(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 32000,
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "tools": serde_json::from_str::<Value>(TOOLS).unwrap(),
        "messages": [{"role": "user", "content": "Read main.rs and tell me what it does"}],
    })
}

/// The next turn: the assistant's answer replayed as the client got it, and the tool's result.
fn next_turn(model: &str, first: &Value, answer: &Value, stream: bool) -> Value {
    let mut body = first.clone();
    body["model"] = json!(model);
    body["stream"] = json!(stream);
    let tool_id = answer["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "tool_use")
        .map(|b| b["id"].clone())
        .unwrap_or_else(|| panic!("no tool call: {answer}"));
    let messages = body["messages"].as_array_mut().unwrap();
    messages.push(json!({"role": "assistant", "content": answer["content"]}));
    messages.push(json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": tool_id, "content": "fn main() {}"}
    ]}));
    body
}

/// An Anthropic stream folded into the message a client keeps (content blocks with their
/// deltas applied), as Claude Code does.
fn fold_stream(text: &str) -> Value {
    let mut blocks: Vec<Value> = Vec::new();
    let mut partial_json: Vec<String> = Vec::new();
    for data in sse_data(text) {
        let ev: Value = serde_json::from_str(&data).unwrap();
        match ev["type"].as_str().unwrap_or_default() {
            "content_block_start" => {
                blocks.push(ev["content_block"].clone());
                partial_json.push(String::new());
            }
            "content_block_delta" => {
                let i = usize::try_from(ev["index"].as_u64().unwrap()).unwrap();
                let d = &ev["delta"];
                let b = &mut blocks[i];
                match d["type"].as_str().unwrap_or_default() {
                    "text_delta" => {
                        b["text"] = json!(format!(
                            "{}{}",
                            b["text"].as_str().unwrap_or(""),
                            d["text"].as_str().unwrap()
                        ))
                    }
                    "thinking_delta" => {
                        b["thinking"] = json!(format!(
                            "{}{}",
                            b["thinking"].as_str().unwrap_or(""),
                            d["thinking"].as_str().unwrap()
                        ))
                    }
                    "signature_delta" => b["signature"] = d["signature"].clone(),
                    "input_json_delta" => {
                        partial_json[i].push_str(d["partial_json"].as_str().unwrap())
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    for (b, j) in blocks.iter_mut().zip(partial_json) {
        if b["type"] == "tool_use" && !j.is_empty() {
            b["input"] = serde_json::from_str(&j).unwrap();
        }
    }
    json!({"content": blocks})
}

async fn send(sb: &Sb, body: &Value) -> (u16, String) {
    let r = sb.post("/v1/messages", body).await;
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn a_conversation_moves_from_a_chat_upstream_to_native_anthropic_with_default_settings() {
    let sb = Sb::start(config).await;
    for first_stream in [false, true] {
        let first = first_turn("ds");
        let mut ask = first.clone();
        ask["stream"] = json!(first_stream);
        let (status, text) = send(&sb, &ask).await;
        assert_eq!(status, 200, "{text}");
        let answer: Value = if first_stream {
            fold_stream(&text)
        } else {
            serde_json::from_str(&text).unwrap()
        };
        let thinking = answer["content"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "thinking")
            .cloned()
            .unwrap_or_else(|| panic!("the DeepSeek-like answer carries thinking: {answer}"));
        assert_eq!(
            thinking["signature"], "",
            "no Anthropic signature: {thinking}"
        );

        // Native Anthropic refuses that history as it is (the quirk turned off)…
        let (status, text) = send(&sb, &next_turn("raw", &first, &answer, false)).await;
        assert_eq!(status, 400, "{text}");
        assert!(
            text.contains("Invalid `signature` in `thinking` block"),
            "{text}"
        );

        // …and takes it with the default settings, streaming and not.
        for stream in [false, true] {
            let before = sb.mock.count_for_key(CLAUDE);
            let (status, text) = send(&sb, &next_turn("claude", &first, &answer, stream)).await;
            assert_eq!(status, 200, "stream {stream}: {text}");
            if stream {
                assert!(text.contains("message_stop"), "{text}");
            } else {
                let v: Value = serde_json::from_str(&text).unwrap();
                assert_eq!(v["type"], "message", "{v}");
            }
            assert_eq!(
                sb.mock.count_for_key(CLAUDE),
                before + 1,
                "answered at once"
            );
            let sent = sb
                .mock
                .requests()
                .into_iter()
                .rfind(|r| r.key.as_deref() == Some(CLAUDE))
                .unwrap()
                .json()
                .unwrap();
            let assistant = &sent["messages"][1]["content"];
            assert!(
                assistant
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|b| b["type"] != "thinking"),
                "the unsigned thinking was taken out: {assistant}"
            );
            assert!(
                sent.get("thinking").is_none(),
                "thinking is left off for a tool turn that lost its signed thinking: {sent}"
            );
        }
    }
}

#[tokio::test]
async fn native_thinking_passes_through_byte_exact() {
    let sb = Sb::start(config).await;
    let first = first_turn("claude");
    let (status, text) = send(&sb, &first).await;
    assert_eq!(status, 200, "{text}");
    let answer: Value = serde_json::from_str(&text).unwrap();
    let signed = answer["content"][0].clone();
    assert_eq!(signed["type"], "thinking", "{answer}");
    assert_ne!(signed["signature"], "", "{answer}");
    let next = next_turn("claude", &first, &answer, false);
    let body = serde_json::to_vec(&next).unwrap();
    let r = sb
        .http
        .post(format!("{}/v1/messages", sb.url))
        .bearer_auth(ACCESS)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let sent = sb.mock.requests().into_iter().last().unwrap().body;
    let expected = String::from_utf8(body).unwrap().replace(
        "\"model\":\"claude\"",
        "\"model\":\"opus@native,reasoning,tool\"",
    );
    assert_eq!(String::from_utf8(sent.to_vec()).unwrap(), expected);
}
