//! Key standings: with a provider's breaker open, every view shows the same per-key standing
//! and the same counts (`/api/v1/keys`, `/api/v1/status`, the control plane's summary), and
//! the live feed carries the standing changes.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use switchboard_mock_upstream::{Fault, MockUpstream};

use crate::common::*;

const A: &str = "sk-key-a-aaaaaaaaaaaaaaaa";
const B: &str = "sk-key-b-bbbbbbbbbbbbbbbb";
const C: &str = "sk-key-c-cccccccccccccccc";

/// `p1` with two keys behind alias `m`, `p2` with one key behind alias `n`.
fn two_providers(mock: &MockUpstream) -> String {
    provider_toml("p1", mock, &[A, B])
        + &provider_toml("p2", mock, &[C])
        + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n\n"
        + "[[routes]]\nalias = \"n\"\ntargets = [{ provider = \"p2\", model = \"x\" }]\n"
}

/// Opens `p1`'s breaker: two temporary errors from its two keys (threshold lowered to 2).
async fn open_the_breaker(sb: &Sb) {
    let (status, _) = sb
        .admin(
            Method::PUT,
            "/api/v1/settings/cooldowns",
            Some(json!({ "breaker_threshold": 2 })),
        )
        .await;
    assert_eq!(status, 200);
    for k in [A, B] {
        sb.mock.set_fault_for_key(k, Some(Fault::status(500)));
    }
    let r = sb.chat("m").await;
    assert!(!r.status().is_success(), "{}", r.status());
    assert!(
        sb.handle()
            .control()
            .engine()
            .health
            .entries()
            .iter()
            .any(|e| matches!(e.scope, switchboard_router::health::Scope::Provider { .. })),
        "the breaker is open"
    );
}

#[tokio::test]
async fn with_the_breaker_open_status_keys_and_summary_agree() {
    let sb = Sb::start(two_providers).await;
    open_the_breaker(&sb).await;

    let keys = sb.get("/api/v1/keys").await;
    let p1: Vec<&Value> = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["provider"] == "p1")
        .collect();
    assert_eq!(p1.len(), 2);
    for k in &p1 {
        assert_eq!(k["scope"], "provider", "{k}");
        assert_eq!(k["state"], "cooling", "{k}");
        assert_eq!(k["class"], "cooling", "{k}");
        assert_eq!(k["reason"], "temporary_error", "{k}");
        assert!(k["until_ms"].as_i64().unwrap() > T0, "{k}");
    }
    let c = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["provider"] == "p2")
        .unwrap();
    assert_eq!(
        (c["state"].as_str(), c["class"].as_str()),
        (Some("healthy"), Some("healthy"))
    );

    let status = sb.get("/api/v1/status").await;
    let summary = serde_json::to_value(sb.handle().control().summary()).unwrap();
    assert_eq!(status["summary"], summary);
    assert_eq!(
        summary["counts"],
        json!({ "keys": 3, "healthy": 1, "cooling": 2, "down": 0 })
    );
    assert_eq!(
        (
            &status["keys_healthy"],
            &status["keys_cooling"],
            &status["keys_failed"]
        ),
        (&json!(1), &json!(2), &json!(0))
    );
    assert_eq!(summary["state"], "some_cooling");
    assert_eq!(summary["unusable_aliases"], json!(["m"]));
    // The same standing, key by key, in the control plane's views and the health view.
    let views = serde_json::to_value(sb.handle().control().key_views(None)).unwrap();
    assert_eq!(views, keys);
    assert_eq!(sb.get("/api/v1/health").await["keys"], keys);
}

#[tokio::test]
async fn the_live_feed_carries_standing_changes() {
    let sb = Sb::start(two_providers).await;
    let resp = sb
        .http
        .get(format!("{}/api/v1/health/events", sb.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let mut events = resp.bytes_stream();
    open_the_breaker(&sb).await;
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(chunk)) = events.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            let provider_scoped = seen
                .split("\n\n")
                .filter(|e| e.starts_with("event: standing"))
                .filter_map(|e| e.split_once("data: ").map(|(_, d)| d.to_owned()))
                .filter_map(|d| serde_json::from_str::<Value>(&d).ok())
                .filter(|d| d["to"]["scope"] == "provider")
                .filter_map(|d| d["key_id"].as_i64())
                .collect::<std::collections::BTreeSet<_>>();
            if provider_scoped.len() == 2 {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "{seen}");
    assert!(
        seen.contains("event: health"),
        "raw transitions still flow: {seen}"
    );
    let standing = seen
        .split("\n\n")
        .find(|e| e.starts_with("event: standing") && e.contains("\"provider\":\"p1\""))
        .unwrap();
    let data: Value = serde_json::from_str(standing.split_once("data: ").unwrap().1).unwrap();
    assert_eq!(data["provider"], "p1");
    assert!(data["label"].is_string());
    assert!(
        data["from"]["state"].is_string() && data["to"]["class"] == "cooling",
        "{data}"
    );
}
