//! Onboarding that checks: an added key is "untested" until a probe or a request says how it
//! stands; "test connection" answers in the provider's words (scrubbed of the key); failed
//! attempts keep the provider's message and reset hint; requests refused before routing are
//! in the request log.

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_mock_upstream::MockUpstream;

use crate::common::*;

const A: &str = "sk-key-a-aaaaaaaaaaaaaaaa";
const GOOD: &str = "sk-good-0123456789abcdef";
const REVOKED: &str = "sk-revoked-0123456789abcdef@fault=echo_key";
const LIMITED: &str = "sk-limited-0123456789abcdef@fault=429,retry_after=7";
const FRESH: &str = "sk-fresh-0123456789abcdef";

fn one_provider(mock: &MockUpstream) -> String {
    provider_toml("p1", mock, &[A])
        + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
}

async fn add(sb: &Sb, label: &str, secret: &str) -> i64 {
    let (s, v) = sb
        .admin(
            Method::POST,
            "/api/v1/keys",
            Some(json!({ "provider": "p1", "label": label, "secret": secret })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    v["id"].as_i64().unwrap()
}

async fn test_key(sb: &Sb, id: i64) -> Value {
    let (s, v) = sb
        .admin(Method::POST, &format!("/api/v1/keys/{id}/test"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    v
}

#[tokio::test]
async fn added_keys_are_untested_until_a_test_says_healthy_or_revoked_in_the_providers_words() {
    let mut sb = Sb::start(one_provider).await;
    let good = add(&sb, "good", GOOD).await;
    let revoked = add(&sb, "revoked", REVOKED).await;
    add(&sb, "fresh", FRESH).await;
    for label in ["good", "revoked", "fresh"] {
        let k = sb.key(label).await;
        assert_eq!(k["state"], "untested", "{k}");
        assert_eq!(k["class"], "healthy", "an untested key is usable: {k}");
    }
    assert_eq!(
        sb.key("key 1").await["state"],
        "healthy",
        "config keys are not new"
    );

    let t = test_key(&sb, good).await;
    assert_eq!(t["answer"]["outcome"], "ok", "{t}");
    assert_eq!(t["answer"]["status"], 200, "{t}");
    assert_eq!(t["key"]["state"], "healthy", "{t}");

    let t = test_key(&sb, revoked).await;
    assert_eq!(t["answer"]["outcome"], "auth_error", "{t}");
    assert_eq!(t["answer"]["status"], 401, "{t}");
    let said = t["answer"]["message"].as_str().unwrap();
    assert!(said.contains("Incorrect API key provided"), "{said}");
    assert!(
        !said.contains("sk-revoked-0123456789abcdef"),
        "scrubbed: {said}"
    );
    assert_eq!(t["key"]["state"], "auth_error", "{t}");
    let k = sb.key("revoked").await;
    assert_eq!(k["last_error"]["status"], 401, "the key row says why: {k}");
    assert_eq!(k["last_error"]["message"], said, "{k}");

    // The provider test probes every enabled key.
    let (s, all) = sb
        .admin(Method::POST, "/api/v1/providers/p1/test", None)
        .await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all.as_array().unwrap().len(), 4, "{all}");
    let (s, _) = sb
        .admin(Method::POST, "/api/v1/providers/nope/test", None)
        .await;
    assert_eq!(s, 404);

    // A restart keeps what is known, and what is not.
    let fresh2 = add(&sb, "fresh2", "sk-fresh2-0123456789abcdef").await;
    sb.restart().await;
    assert_eq!(sb.key("fresh2").await["state"], "untested");
    assert_eq!(sb.key("revoked").await["state"], "auth_error");
    assert_eq!(sb.key("good").await["state"], "healthy");
    // A request says it works (the other keys switched off, so it is the one used).
    for label in ["key 1", "good", "fresh"] {
        let id = sb.key(label).await["id"].as_i64().unwrap();
        let (s, v) = sb
            .admin(
                Method::PATCH,
                &format!("/api/v1/keys/{id}"),
                Some(json!({ "enabled": false })),
            )
            .await;
        assert_eq!(s, 200, "{v}");
    }
    assert_eq!(sb.chat("m").await.status(), 200);
    let rows = sb.logged(1).await;
    assert_eq!(rows[0].key_id, Some(fresh2));
    assert!(
        eventually(10_000, async || sb.key("fresh2").await["state"]
            == "healthy")
        .await,
        "served requests make an untested key healthy"
    );
}

#[tokio::test]
async fn a_failed_attempt_keeps_the_providers_message_and_reset_hint() {
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[LIMITED, A])
            + "[[routes]]\nalias = \"m\"\nstrategy = \"priority\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
    })
    .await;
    let mut failed = None;
    for _ in 0..6 {
        assert_eq!(sb.chat("m").await.status(), 200);
        let rows = sb.logged(1).await;
        failed = rows
            .iter()
            .flat_map(|r| r.attempts.iter())
            .find(|a| a.status == Some(429))
            .cloned();
        if failed.is_some() {
            break;
        }
    }
    let a = failed.expect("the rate-limited key was tried");
    assert_eq!(a.retry_after_ms, Some(7_000), "{a:?}");
    assert!(a.message.as_deref().is_some_and(|m| !m.is_empty()), "{a:?}");
    // Usage per key counts the rate-limited key's attempt although another key served.
    let limited = sb.key("key 1").await["id"].as_i64().unwrap();
    let other = sb.key("key 2").await["id"].as_i64().unwrap();
    let per_key = sb
        .get(&format!("/api/v1/usage/keys?since_ms={}", T0 - 86_400_000))
        .await;
    let of = |id: i64| {
        per_key
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("key {id} not counted: {per_key}"))
    };
    assert!(
        of(limited)["rate_limited"].as_u64().unwrap() >= 1,
        "{per_key}"
    );
    assert_eq!(of(limited)["ok"], 0, "{per_key}");
    assert!(of(other)["ok"].as_u64().unwrap() >= 1, "{per_key}");
    assert_eq!(of(other)["rate_limited"], 0, "{per_key}");
    let k = sb.key("key 1").await;
    assert_eq!(k["state"], "cooling", "{k}");
    assert_eq!(k["last_error"]["status"], 429, "{k}");
    assert_eq!(k["last_error"]["retry_after_ms"], 7_000, "{k}");
}

#[tokio::test]
async fn requests_refused_before_routing_are_logged_without_secrets() {
    let sb = Sb::start(one_provider).await;
    let wrong = "sk-wrong-key-0123456789abcdef";
    let r = sb
        .http
        .post(format!("{}/v1/chat/completions?key={wrong}", sb.url))
        .bearer_auth(wrong)
        .json(&json!({"model": "m", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = sb.post("/v1/v1/messages", &json!({"model": "m"})).await;
    assert_eq!(r.status(), 404);
    let r = sb
        .http
        .post(format!("{}/v1/chat/completions", sb.url))
        .bearer_auth(ACCESS)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // The dashboard's own admin API is not the log's business.
    let _ = sb.admin(Method::GET, "/api/v1/nope", None).await;

    let rows = sb.logged(3).await;
    let refused: Vec<_> = rows.iter().filter(|r| r.refused.is_some()).collect();
    assert_eq!(refused.len(), 3, "{rows:?}");
    let by = |path: &str| {
        refused
            .iter()
            .find(|r| r.refused.as_deref() == Some(path))
            .unwrap_or_else(|| panic!("{path} not logged: {refused:?}"))
    };
    let auth = by("POST /v1/chat/completions");
    let (auth, json) = if auth.status == 401 {
        (auth, refused.iter().find(|r| r.status == 400).unwrap())
    } else {
        (refused.iter().find(|r| r.status == 401).unwrap(), auth)
    };
    assert!(
        auth.error.as_deref().unwrap().contains("access key"),
        "{auth:?}"
    );
    assert!(
        json.error.as_deref().unwrap().contains("not valid JSON"),
        "{json:?}"
    );
    let path = by("POST /v1/v1/messages");
    assert_eq!(path.status, 404);
    assert!(
        path.error.as_deref().unwrap().contains("No such endpoint"),
        "{path:?}"
    );
    let all = serde_json::to_string(&rows).unwrap();
    assert!(!all.contains(wrong), "no secret in the log");
    // The log filters them with the other errors.
    let errors = sb.get("/api/v1/requests?status=error").await;
    assert!(errors.as_array().unwrap().len() >= 3, "{errors}");
}
