//! Scheduling that rides out blips and passes refusals on: same-key retries before cooling,
//! the single-key wait, failover on a 4xx another target can serve, context windows, and the
//! loop guard.

use std::time::Duration;

use serde_json::{Value, json};
use switchboard_mock_upstream::{Dialect as MockDialect, Fault, MockUpstream};

use crate::common::*;

const A: &str = "sk-sched-a-aaaaaaaaaaaaaaaa";
const B: &str = "sk-sched-b-bbbbbbbbbbbbbbbb";

fn one_key(mock: &MockUpstream) -> String {
    provider_toml("p1", mock, &[A])
        + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
}

/// Health entries currently cooling (or in any non-healthy state).
fn unhealthy(sb: &Sb) -> Vec<switchboard_router::health::HealthEntry> {
    sb.handle().control().engine().health.entries()
}

async fn ask(sb: &Sb, n: usize) -> reqwest::Response {
    sb.post(
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [{"role": "user", "content": format!("question {n}")}]}),
    )
    .await
}

#[tokio::test]
async fn one_529_on_a_lone_key_is_retried_and_the_key_stays_healthy() {
    let sb = Sb::start(one_key).await;
    sb.mock.push_fault_for_key(A, Fault::status(529));
    let r = ask(&sb, 0).await;
    assert_eq!(r.status(), 200, "the retry on the same key answers");
    assert_eq!(sb.mock.count_for_key(A), 2);
    assert!(unhealthy(&sb).is_empty(), "{:?}", unhealthy(&sb));
    let rows = sb.logged(1).await;
    let outcomes: Vec<&str> = rows[0]
        .attempts
        .iter()
        .map(|a| a.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["temporary_error", "ok"]);
    assert_eq!(rows[0].status, 200);
    // And the next request goes straight through: nothing was cooled.
    assert_eq!(ask(&sb, 1).await.status(), 200);
}

#[tokio::test]
async fn a_blip_on_a_pooled_key_is_retried_before_it_cools() {
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[A, B])
            + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
    })
    .await;
    // Whichever key goes first fails once with a 503, then answers.
    sb.mock.push_fault_for_key(A, Fault::status(503));
    sb.mock.push_fault_for_key(B, Fault::status(503));
    assert_eq!(ask(&sb, 0).await.status(), 200);
    assert_eq!(sb.mock.request_count(), 2);
    let rows = sb.logged(1).await;
    assert_eq!(rows[0].attempts.len(), 2);
    assert_eq!(
        rows[0].attempts[0].key_id, rows[0].attempts[1].key_id,
        "the same key was retried"
    );
    assert!(unhealthy(&sb).is_empty(), "{:?}", unhealthy(&sb));
}

#[tokio::test]
async fn a_lone_key_rides_out_a_two_second_outage() {
    let sb = Sb::start(one_key).await;
    sb.mock.set_fault_for_key(A, Some(Fault::status(503)));
    let started = tokio::time::Instant::now();
    let recover = async {
        tokio::time::sleep(Duration::from_secs(2)).await;
        sb.mock.set_fault_for_key(A, None);
    };
    // Requests arriving at 0, 0.5 and 1 s into the outage.
    let late = async |n: usize, after_ms: u64| {
        tokio::time::sleep(Duration::from_millis(after_ms)).await;
        ask(&sb, n).await.status().as_u16()
    };
    let ((), s0, s1, s2) = tokio::join!(recover, late(0, 0), late(1, 500), late(2, 1_000));
    assert_eq!((s0, s1, s2), (200, 200, 200));
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        sb.mock.count_for_key(A) > 3,
        "the outage was met and retried"
    );
    assert!(unhealthy(&sb).is_empty(), "{:?}", unhealthy(&sb));
}

#[tokio::test]
async fn a_lone_key_that_keeps_failing_still_cools_after_its_wait() {
    let sb = Sb::start(one_key).await;
    sb.mock.set_fault_for_key(A, Some(Fault::status(500)));
    let started = tokio::time::Instant::now();
    let r = ask(&sb, 0).await;
    assert_eq!(r.status(), 500, "the upstream's error, relayed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(2_900),
        "held for the single-key wait: {waited:?}"
    );
    let entries = unhealthy(&sb);
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        entries[0].state,
        switchboard_router::health::HealthState::Cooling
    );
    // Cooling for longer than the wait: the next request is answered at once.
    let before = sb.mock.request_count();
    let r = ask(&sb, 1).await;
    assert!(matches!(r.status().as_u16(), 429 | 503), "{}", r.status());
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(sb.mock.request_count(), before);
}

#[tokio::test]
async fn a_timeout_before_the_first_byte_is_retried_on_the_same_key() {
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[A])
            .replace("keys = [", "timeouts = { first_byte_ms = 300 }\nkeys = [")
            + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
    })
    .await;
    sb.mock.push_fault_for_key(A, Fault::Hang);
    let r = ask(&sb, 0).await;
    assert_eq!(r.status(), 200);
    assert_eq!(sb.mock.count_for_key(A), 2);
    assert!(unhealthy(&sb).is_empty(), "{:?}", unhealthy(&sb));
}

#[tokio::test]
async fn a_lone_key_cooling_briefly_holds_the_request_by_default() {
    let sb = Sb::start(one_key).await;
    sb.mock
        .push_fault_for_key(A, "fault=429,retry_after=1".parse().unwrap());
    assert_eq!(
        ask(&sb, 0).await.status(),
        429,
        "a rate limit is not retried"
    );
    // No wait is configured, yet the only key recovering within the single-key wait holds
    // the next request until it does (1 s of the injected clock).
    let held = ask(&sb, 1);
    let advance = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sb.clock.advance_ms(1_000);
    };
    let (r, ()) = tokio::join!(held, advance);
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn retries_can_be_switched_off_per_provider() {
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[A, B])
            + "retry = { max_retries = 0 }\n\n[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
    })
    .await;
    sb.mock.push_fault_for_key(A, Fault::status(503));
    sb.mock.push_fault_for_key(B, Fault::status(503));
    let r = ask(&sb, 0).await;
    assert_eq!(r.status(), 503, "each key failed once, and was not retried");
    let rows = sb.logged(1).await;
    assert_eq!(rows[0].attempts.len(), 2);
    assert_ne!(
        rows[0].attempts[0].key_id, rows[0].attempts[1].key_id,
        "no retry: the next key"
    );
    assert_eq!(unhealthy(&sb).len(), 2, "each failed key cools at once");
    let provider = sb.get("/api/v1/providers/p1").await;
    assert_eq!(provider["retry"]["max_retries"], 0);
    assert_eq!(provider["retry"]["base_ms"], 200);
}

/// The mock's base URL and the provider kind for a mock dialect.
fn dialect_provider(mock: &MockUpstream, name: &str, dialect: MockDialect, key: &str) -> String {
    let kind = match dialect {
        MockDialect::OpenAiChat => "openai_chat",
        MockDialect::OpenAiResponses => "openai_responses",
        MockDialect::Anthropic => "anthropic",
        MockDialect::Gemini => "gemini",
    };
    format!(
        "[[providers]]\nname = {name:?}\nkind = {kind:?}\nbase_url = {:?}\nkeys = [{key:?}]\n\n",
        mock.base_url(dialect)
    )
}

const DIALECTS: [(MockDialect, &str); 4] = [
    (MockDialect::OpenAiChat, "sk-refuse-chat-qwhkfjdsurye"),
    (MockDialect::OpenAiResponses, "sk-refuse-resp-pzmxncbvlaks"),
    (MockDialect::Anthropic, "sk-refuse-anth-tgyhujikolpm"),
    (MockDialect::Gemini, "sk-refuse-gemi-rfvtgbyhnujm"),
];
const GOOD: &str = "sk-refuse-good-edcwsxqazplm";

/// One route per dialect whose first target refuses with `fault`, then a good target.
fn refusing_routes(mock: &MockUpstream, fault: &str, first_window: &str, second: &str) -> String {
    let mut toml = dialect_provider(mock, "good", MockDialect::OpenAiChat, GOOD);
    for (i, (d, key)) in DIALECTS.iter().enumerate() {
        toml += &dialect_provider(mock, &format!("d{i}"), *d, key);
        toml += &format!(
            "[[routes]]\nalias = \"r{i}\"\ntargets = [{{ provider = \"d{i}\", model = \"x@fault={fault}\"{first_window} }}, {{ provider = \"good\", model = \"y\"{second} }}]\n\n"
        );
    }
    toml
}

#[tokio::test]
async fn model_not_found_on_the_first_target_is_served_by_the_second() {
    let sb = Sb::start(|mock| refusing_routes(mock, "model_not_found", "", "")).await;
    for (i, (d, key)) in DIALECTS.iter().enumerate() {
        let r = sb.chat(&format!("r{i}")).await;
        assert_eq!(r.status(), 200, "{d:?}: {}", r.text().await.unwrap());
        assert_eq!(sb.mock.count_for_key(key), 1, "{d:?}: asked once");
        assert_eq!(
            sb.mock.count_for_key(GOOD),
            i + 1,
            "{d:?}: then the next target"
        );
    }
    let rows = sb.logged(4).await;
    for row in &rows {
        let outcomes: Vec<&str> = row.attempts.iter().map(|a| a.outcome.as_str()).collect();
        assert_eq!(outcomes, ["client_error", "ok"]);
        assert_eq!(row.provider.as_deref(), Some("good"));
    }
    assert!(
        unhealthy(&sb).is_empty(),
        "nobody is blamed: {:?}",
        unhealthy(&sb)
    );
}

#[tokio::test]
async fn a_refusal_with_no_other_target_is_relayed_in_the_clients_dialect() {
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[A])
            + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x@fault=model_not_found\" }]\n"
    })
    .await;
    let r = sb
        .post(
            "/v1/messages",
            &json!({"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    // The upstream's error, translated to the client's dialect (the translation reads
    // OpenAI's `invalid_request_error` type as a 400).
    assert!(matches!(status.as_u16(), 400 | 404), "{status} {body}");
    assert_eq!(body["type"], "error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{body}"
    );
    assert_eq!(sb.mock.count_for_key(A), 1, "not retried");
    assert!(unhealthy(&sb).is_empty());
}

#[tokio::test]
async fn context_length_exceeded_is_served_by_the_larger_window_target() {
    let sb = Sb::start(|mock| {
        refusing_routes(
            mock,
            "context_length",
            ", context_window = 8192",
            ", context_window = 200000",
        )
    })
    .await;
    for (i, (d, key)) in DIALECTS.iter().enumerate() {
        let r = sb.chat(&format!("r{i}")).await;
        assert_eq!(r.status(), 200, "{d:?}: {}", r.text().await.unwrap());
        assert_eq!(sb.mock.count_for_key(key), 1, "{d:?}");
        assert_eq!(sb.mock.count_for_key(GOOD), i + 1, "{d:?}");
    }
    assert!(unhealthy(&sb).is_empty(), "{:?}", unhealthy(&sb));
}

#[tokio::test]
async fn after_a_context_refusal_only_larger_windows_are_tried() {
    const SMALL: &str = "sk-window-small-kdjfhgytrew";
    const SAME: &str = "sk-window-same-mznxbcvlkajs";
    let sb = Sb::start(|mock| {
        provider_toml("small", mock, &[SMALL])
            + &provider_toml("same", mock, &[SAME])
            + &provider_toml("big", mock, &[GOOD])
            + "[[routes]]\nalias = \"m\"\ntargets = [\
               { provider = \"small\", model = \"x@fault=context_length\", context_window = 8192, priority = 0 },\
               { provider = \"same\", model = \"x\", context_window = 8192, priority = 1 },\
               { provider = \"big\", model = \"x\", context_window = 200000, priority = 2 }]\n"
    })
    .await;
    assert_eq!(ask(&sb, 0).await.status(), 200);
    assert_eq!(
        (
            sb.mock.count_for_key(SMALL),
            sb.mock.count_for_key(SAME),
            sb.mock.count_for_key(GOOD)
        ),
        (1, 0, 1),
        "a target no larger than the one that refused is skipped"
    );
}

#[tokio::test]
async fn an_oversize_request_is_never_sent_to_the_small_target() {
    const SMALL: &str = "sk-window-small-poiuytrewqa";
    let sb = Sb::start(|mock| {
        provider_toml("small", mock, &[SMALL])
            + &provider_toml("big", mock, &[GOOD])
            + "[[routes]]\nalias = \"m\"\ntargets = [\
               { provider = \"small\", model = \"x\", context_window = 1000, priority = 0 },\
               { provider = \"big\", model = \"x\", context_window = 200000, priority = 1 }]\n\
               [[routes]]\nalias = \"only-small\"\ntargets = [{ provider = \"small\", model = \"x\", context_window = 1000 }]\n"
    })
    .await;
    // Thousands of words: far above 1,000 tokens by any estimate.
    let long = "lorem ipsum dolor sit amet ".repeat(2_000);
    let r = sb
        .post(
            "/v1/chat/completions",
            &json!({"model": "m", "messages": [{"role": "user", "content": long}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        (sb.mock.count_for_key(SMALL), sb.mock.count_for_key(GOOD)),
        (0, 1)
    );
    // A short request still goes to the first target.
    assert_eq!(ask(&sb, 1).await.status(), 200);
    assert_eq!(sb.mock.count_for_key(SMALL), 1);
    // With no target large enough, the client is told so in its own dialect.
    let r = sb
        .post(
            "/v1/messages",
            &json!({"model": "only-small", "max_tokens": 16, "messages": [{"role": "user", "content": long}]}),
        )
        .await;
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("context window"),
        "{body}"
    );
    assert_eq!(sb.mock.count_for_key(SMALL), 1, "never sent");
}

#[tokio::test]
async fn a_provider_pointing_at_the_router_itself_is_refused() {
    let sb = Sb::start(one_key).await;
    let own = sb.handle().local_addr();
    for base in [
        format!("http://{own}/v1"),
        format!("http://localhost:{}/v1", own.port()),
    ] {
        let (status, body) = sb
            .admin(
                reqwest::Method::POST,
                "/api/v1/providers",
                Some(json!({"name": "loop", "kind": "openai_chat", "base_url": base})),
            )
            .await;
        assert_eq!(status, 400, "{base}: {body}");
        assert!(body.to_string().contains("base_url"), "{body}");
    }
    let providers = sb.get("/api/v1/providers").await;
    assert!(
        providers
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["name"] != "loop")
    );
}

#[tokio::test]
async fn a_request_that_comes_back_is_answered_508() {
    let sb = Sb::start(one_key).await;
    assert_eq!(ask(&sb, 0).await.status(), 200);
    // Upstream calls carry this router's hop marker...
    let sent = sb.mock.requests();
    let hop = sent[0]
        .headers
        .get("x-switchboard-hop")
        .expect("hop header sent upstream")
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(hop, sb.handle().control().engine().hop_id());
    // ...so a request arriving with it has looped: 508 in the client's dialect, nothing sent.
    let before = sb.mock.request_count();
    for (path, body, chain) in [
        (
            "/v1/chat/completions",
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            hop.clone(),
        ),
        (
            "/v1/messages",
            json!({"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
            format!("0123456789abcdef, {hop}"),
        ),
    ] {
        let r = sb
            .http
            .post(format!("{}{path}", sb.url))
            .bearer_auth(ACCESS)
            .header("x-switchboard-hop", chain)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 508, "{path}");
        let v: Value = r.json().await.unwrap();
        if path == "/v1/messages" {
            assert_eq!(v["type"], "error", "{v}");
        } else {
            assert_eq!(v["error"]["code"], "loop_detected", "{v}");
        }
    }
    assert_eq!(sb.mock.request_count(), before);
    // Another router's marker is passed on, with ours after it.
    let r = sb
        .http
        .post(format!("{}/v1/chat/completions", sb.url))
        .bearer_auth(ACCESS)
        .header("x-switchboard-hop", "fedcba9876543210")
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let last = sb.mock.requests().pop().unwrap();
    assert_eq!(
        last.headers.get("x-switchboard-hop").unwrap(),
        &format!("fedcba9876543210, {hop}")
    );
}

#[tokio::test]
async fn an_import_pointing_a_provider_at_the_router_itself_is_refused() {
    let sb = Sb::start(one_key).await;
    let (status, exported) = sb
        .admin(
            reqwest::Method::POST,
            "/api/v1/config/export",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{exported}");
    let mut export = exported["export"].clone();
    export["providers"][0]["base_url"] = json!(format!("http://{}/v1", sb.handle().local_addr()));
    let data = serde_json::to_string(&export).unwrap();
    for path in ["/api/v1/config/import/plan", "/api/v1/config/import/apply"] {
        let (status, body) = sb
            .admin(reqwest::Method::POST, path, Some(json!({ "data": data })))
            .await;
        assert!((400..500).contains(&status), "{path}: {status} {body}");
        assert!(
            body.to_string().contains("points at this Switchboard"),
            "{body}"
        );
    }
    let providers = sb.get("/api/v1/providers").await;
    assert_ne!(
        providers[0]["base_url"],
        json!(format!("http://{}/v1", sb.handle().local_addr()))
    );
}
