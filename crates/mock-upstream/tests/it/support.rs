//! A plain HTTP client and an SSE splitter, kept independent of the crate under test.

use std::time::Duration;

use serde_json::Value;
use switchboard_mock_upstream::MockUpstream;

fn builder() -> reqwest::ClientBuilder {
    // reqwest is built without a crypto provider; only plain HTTP is used, but the client
    // still asks for one. A second install (another test got there first) is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy()
}

pub fn client() -> reqwest::Client {
    builder().build().unwrap()
}

pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    builder().timeout(timeout).build().unwrap()
}

pub async fn post(mock: &MockUpstream, path: &str, key: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("http://{}{path}", mock.addr()))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// One SSE event: its `event:` name if any, and its `data:` payload.
#[derive(Debug)]
pub struct Event {
    pub name: Option<String>,
    pub data: String,
}

impl Event {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap()
    }
}

/// Splits an SSE body into events (LF or CRLF line ends).
pub fn events(body: &str) -> Vec<Event> {
    let body = body.replace("\r\n", "\n");
    assert!(
        body.is_empty() || body.ends_with("\n\n"),
        "stream does not end on an event boundary: {body:?}"
    );
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            let mut name = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event: ") {
                    name = Some(v.to_owned());
                } else if let Some(v) = line.strip_prefix("data: ") {
                    data.push(v);
                }
            }
            Event {
                name,
                data: data.join("\n"),
            }
        })
        .collect()
}

pub fn chat_body(model: &str, stream: bool) -> Value {
    serde_json::json!({
        "model": model,
        "stream": stream,
        "stream_options": { "include_usage": true },
        "messages": [{ "role": "user", "content": "Hi" }],
    })
}
