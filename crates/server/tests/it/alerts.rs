//! Alert webhooks through the real server: a burst of fifty cooldowns is one message, signed
//! with the webhook's secret, retried after a receiver's 500; a test message reaches a
//! Slack-style receiver; a bad URL is refused naming the field; listings never show the URL.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use parking_lot::Mutex;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::*;

/// A local receiver: answers 500 to the first `fail` deliveries, then 200; keeps them all.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    fail: Arc<Mutex<usize>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    r.got.lock().push((headers, body));
    let mut fail = r.fail.lock();
    if *fail > 0 {
        *fail -= 1;
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn receiver(fail: usize) -> (Receiver, String) {
    let r = Receiver::default();
    *r.fail.lock() = fail;
    let app = axum::Router::new()
        .route("/hook/secret-path-token", axum::routing::post(receive))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hook/secret-path-token",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (r, url)
}

/// Fifty keys that all answer 429 with a 30 s reset (random-looking keys: the router masks
/// key fragments in what it relays).
fn fifty(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    let keys: Vec<String> = (0..50)
        .map(|i| format!("\"sk-v{i:02}q8w3e5r7t9@fault=429,retry_after=30\""))
        .collect();
    format!(
        "[[providers]]\nname = \"pool\"\nkind = \"openai_chat\"\nbase_url = {:?}\nkeys = [{}]\n\
         retry = {{ max_retries = 0 }}\n\n[[routes]]\nalias = \"gpt-5.5\"\ntargets = [{{ provider = \"pool\", model = \"m\" }}]\n",
        mock.base_url(switchboard_mock_upstream::Dialect::OpenAiChat),
        keys.join(", ")
    )
}

#[tokio::test]
async fn fifty_cooldowns_make_one_signed_message_retried_after_a_500() {
    let sb = Sb::start(fifty).await;
    let (rx, url) = receiver(2).await;
    let (status, created) = sb
        .admin(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"label": "ops", "url": url})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["signing_secret"].as_str().unwrap().to_owned();
    let listed = sb.get("/api/v1/webhooks").await;
    assert!(
        !listed.to_string().contains("secret-path-token"),
        "{listed}"
    );
    assert!(!listed.to_string().contains(&secret));

    // Every key tried in one request, each answering 429.
    let mut settings = sb.get("/api/v1/settings").await;
    settings["attempt_budget"] = json!(60);
    let (status, v) = sb
        .admin(Method::PUT, "/api/v1/settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{v}");
    let resp = sb.chat("gpt-5.5").await;
    assert_eq!(resp.status(), 429, "{}", resp.text().await.unwrap());
    let keys = sb.get("/api/v1/keys").await;
    let cooling = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["state"] == "cooling")
        .count();
    assert_eq!(cooling, 50, "{keys}");

    // Two 500s, then the third delivery is taken.
    assert!(
        eventually(20_000, async || rx.got.lock().len() >= 3).await,
        "deliveries: {}",
        rx.got.lock().len()
    );
    // Nothing more arrives: the burst was one message.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let got = rx.got.lock().clone();
    assert_eq!(got.len(), 3, "one message, delivered on the third try");
    assert!(
        got.iter().all(|(_, b)| b == &got[0].1),
        "the same message each time"
    );
    let (headers, body) = &got[2];
    let msg: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(msg["type"], "switchboard.alert");
    let keys_named = msg["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s.as_str().unwrap().starts_with("pool/"))
        .count();
    assert_eq!(keys_named, 50, "{msg}");
    assert!(
        msg["text"]
            .as_str()
            .unwrap()
            .contains("gpt-5.5 has no usable key"),
        "{msg}"
    );
    assert!(
        !String::from_utf8_lossy(body).contains("q8w3e5r7t9"),
        "no key in {msg}"
    );

    // The signature is HMAC-SHA256 of "<t>.<body>" with the webhook's secret.
    let sig = headers["x-switchboard-signature"].to_str().unwrap();
    let t: i64 = sig
        .strip_prefix("t=")
        .and_then(|s| s.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        sig,
        switchboard_control::signature(secret.as_bytes(), t, body)
    );
    assert_ne!(
        sig,
        switchboard_control::signature(b"another secret", t, body)
    );
}

#[tokio::test]
async fn a_test_message_reaches_a_slack_receiver_and_bad_urls_are_refused() {
    let sb = Sb::start(|m| provider_toml("p", m, &["sk-n4m6b8v2c1x3"])).await;
    let (rx, url) = receiver(0).await;
    let (status, created) = sb
        .admin(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": url, "format": "slack"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["webhook"]["id"].as_i64().unwrap();
    assert_eq!(created["webhook"]["format"], "slack");
    let (status, report) = sb
        .admin(Method::POST, &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["delivered"].as_bool(), report["attempts"].as_u64()),
        (Some(true), Some(1))
    );
    let got = rx.got.lock().clone();
    let msg: Value = serde_json::from_slice(&got[0].1).unwrap();
    assert!(
        msg["text"]
            .as_str()
            .unwrap()
            .starts_with("*Switchboard: test alert*"),
        "{msg}"
    );

    for bad in ["not a url", "ftp://example.com/x", "file:///etc/passwd"] {
        let (status, v) = sb
            .admin(Method::POST, "/api/v1/webhooks", Some(json!({"url": bad})))
            .await;
        assert_eq!(status, 400, "{bad}: {v}");
        assert_eq!(v["error"]["field"], "url");
    }

    let (status, _) = sb
        .admin(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = sb
        .admin(Method::POST, &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(status, 404);
}

/// A provider whose model `m` is priced at $1 / $2 per million input / output tokens.
fn priced(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    format!(
        "[[providers]]\nname = \"acme\"\nkind = \"openai_chat\"\nbase_url = {:?}\n\
         keys = [\"sk-g5h7j9k2l4m6\"]\nmodels = [{{ id = \"m\", source = \"manual\", input_price = 1.0, output_price = 2.0 }}]\n",
        mock.base_url(switchboard_mock_upstream::Dialect::OpenAiChat)
    )
}

#[tokio::test]
async fn a_client_reaching_its_budget_is_one_webhook_message() {
    let sb = Sb::start(priced).await;
    let (rx, url) = receiver(0).await;
    let (status, v) = sb
        .admin(Method::POST, "/api/v1/webhooks", Some(json!({"url": url})))
        .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(sb.chat("m").await.status(), 200);
    let cost = sb.logged(1).await[0].cost_micros.unwrap();
    // Room for one and a half requests: the soft threshold, then the budget, are crossed.
    let (status, created) = sb
        .admin(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"name": "codex", "daily_budget_usd": cost as f64 * 1.5 / 1e6, "soft_limit_pct": 50})),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let send = || {
        sb.http
            .post(format!("{}/v1/chat/completions", sb.url))
            .bearer_auth(&key)
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
            .send()
    };
    assert_eq!(send().await.unwrap().status(), 200);
    assert_eq!(send().await.unwrap().status(), 200);
    assert_eq!(send().await.unwrap().status(), 429, "stopped at the budget");
    assert!(
        eventually(15_000, async || !rx.got.lock().is_empty()).await,
        "no webhook"
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let got = rx.got.lock().clone();
    assert_eq!(got.len(), 1, "warning and stop in one message");
    let msg: Value = serde_json::from_slice(&got[0].1).unwrap();
    let text = msg["text"].as_str().unwrap();
    assert!(text.contains("codex (daily budget"), "{msg}");
    assert!(text.contains("reached its spend budget"), "{msg}");
    assert!(text.contains("passed its budget alert threshold"), "{msg}");
    assert_eq!(msg["link"], "#/clients");
}
