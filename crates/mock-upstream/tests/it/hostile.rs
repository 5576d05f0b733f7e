//! Hostile faults: the key echoed in a 200 and in encoded forms, HTML 200, redirects and a
//! flood of non-content events before the answer.

use serde_json::Value;
use switchboard_mock_upstream::MockUpstream;

use crate::support::{chat_body, post};

const KEY: &str = "sk-CANARY/ab+cd=ef";

async fn chat(mock: &MockUpstream, model: &str, stream: bool) -> reqwest::Response {
    post(mock, "/v1/chat/completions", KEY, chat_body(model, stream)).await
}

#[tokio::test]
async fn echo_key_writes_the_key_in_the_form_asked_for() {
    let mock = MockUpstream::start().await.unwrap();
    let res = chat(&mock, "m@fault=echo_key,status=200", false).await;
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains(KEY), "{v}");

    let res = chat(&mock, "m@fault=echo_key,status=200,echo=escaped", false).await;
    let text = res.text().await.unwrap();
    assert!(text.contains(r"\u002f") && !text.contains(KEY), "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert!(
        v["error"]["message"].as_str().unwrap().contains(KEY),
        "decodes to the key: {v}"
    );

    let res = chat(&mock, "m@fault=echo_key,status=500,echo=url", false).await;
    assert_eq!(res.status(), 500);
    let text = res.text().await.unwrap();
    assert!(text.contains("sk%2DCANARY%2Fab%2Bcd%3Def"), "{text}");

    let res = chat(&mock, "m@fault=echo_key,status=401,echo=partial", false).await;
    let text = res.text().await.unwrap();
    assert!(
        text.contains("ARY/ab+cd=ef") && !text.contains("sk-CAN"),
        "{text}"
    );

    let res = chat(&mock, "m@fault=echo_key,status=200", true).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let text = res.text().await.unwrap();
    assert!(text.starts_with("data: ") && text.contains(KEY), "{text}");
}

#[tokio::test]
async fn html_redirect_and_flood() {
    let mock = MockUpstream::start().await.unwrap();
    let res = chat(&mock, "m@fault=html", false).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/html");
    assert!(res.text().await.unwrap().starts_with("<!doctype html>"));

    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("http://{}/v1/chat/completions", mock.addr()))
        .bearer_auth(KEY)
        .json(&chat_body("m@fault=redirect,status=302", false))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(res.headers().get("location").is_some());

    let res = chat(&mock, "m@fault=flood,mib=2", true).await;
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(text.len() >= 2 * 1024 * 1024, "{} bytes", text.len());
    let first_content = text.find("\"content\"").unwrap();
    assert_eq!(
        text[..first_content].matches("event: ping").count(),
        32,
        "2 MiB of pings come first"
    );
    assert!(text.trim_end().ends_with("data: [DONE]"));
}
