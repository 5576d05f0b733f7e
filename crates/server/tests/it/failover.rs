//! Health-aware key pools and failover (DESIGN.md "Key health and failover", SECURITY.md
//! T13–T15). Time is a manual clock: cooldowns end when a test moves it, never by sleeping.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard_mock_upstream::{Fault, MockUpstream};
use switchboard_router::health::HealthState;

use crate::common::*;

const A: &str = "sk-key-a-aaaaaaaaaaaaaaaa";
const B: &str = "sk-key-b-bbbbbbbbbbbbbbbb";
const C: &str = "sk-key-c-cccccccccccccccc";

fn fault(s: &str) -> Fault {
    s.parse().unwrap()
}

fn two_keys(mock: &MockUpstream) -> String {
    provider_toml("p1", mock, &[A, B])
        + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
}

fn three_keys(mock: &MockUpstream) -> String {
    provider_toml("p1", mock, &[A, B, C])
        + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
}

/// A chat request for conversation `n` (distinct conversations do not share affinity).
async fn ask(sb: &Sb, n: usize) -> reqwest::Response {
    sb.post(
        "/v1/chat/completions",
        &json!({"model": "m", "messages": [{"role": "user", "content": format!("question {n}")}]}),
    )
    .await
}

async fn ask_stream(sb: &Sb, n: usize) -> reqwest::Response {
    sb.post(
        "/v1/chat/completions",
        &json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": format!("question {n}")}]}),
    )
    .await
}

#[tokio::test]
async fn t14_rate_limited_key_fails_over_and_cools_for_the_hint() {
    let sb = Sb::start(two_keys).await;
    sb.mock
        .push_fault_for_key(A, fault("fault=429,retry_after=7"));
    let r = ask(&sb, 0).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["model"], "m");
    assert_eq!(
        (sb.mock.count_for_key(A), sb.mock.count_for_key(B)),
        (1, 1),
        "one clean answer from B"
    );

    let a = sb.key("key 1").await;
    assert_eq!(a["state"], "cooling");
    assert_eq!(a["reason"], "rate_limited");
    assert_eq!(a["scope"], "key_model");
    assert_eq!(a["until_ms"], T0 + 7_000, "cooling exactly for the hint");

    // The request log shows the failover chain.
    let rows = sb.logged(1).await;
    let outcomes: Vec<(&str, Option<u16>)> = rows[0]
        .attempts
        .iter()
        .map(|a| (a.outcome.as_str(), a.status))
        .collect();
    assert_eq!(
        outcomes,
        vec![("rate_limited", Some(429)), ("ok", Some(200))]
    );

    for n in 1..=6 {
        assert_eq!(ask(&sb, n).await.status(), 200);
    }
    assert_eq!(
        sb.mock.count_for_key(A),
        1,
        "a cooling key receives nothing"
    );

    // The cooldown ends: the prober sends one cheap request, and the key is healthy again.
    sb.clock.advance_ms(7_000);
    assert!(eventually(5_000, async || sb.key("key 1").await["state"] == "healthy").await);
    assert_eq!(sb.mock.count_for_key(A), 2);
    let probe = sb
        .mock
        .requests()
        .into_iter()
        .filter(|r| r.key.as_deref() == Some(A))
        .last()
        .unwrap();
    assert_eq!(
        probe.json().unwrap()["max_tokens"],
        1,
        "the probe is a one-token completion"
    );
}

#[tokio::test]
async fn t14_no_failover_after_the_first_byte() {
    let sb = Sb::start(two_keys).await;
    // A sends the role chunk and one content chunk, then drops the connection.
    sb.mock
        .set_fault_for_key(A, Some(fault("fault=reset,after=2")));
    let r = ask_stream(&sb, 0).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    let data = sse_data(&text);
    assert!(data.len() >= 3, "{text}");
    let content: String = data
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|v| {
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert!(
        !content.is_empty(),
        "the client keeps what it was sent: {text}"
    );
    let events: Vec<&String> = data.iter().filter(|d| *d != "[DONE]").collect();
    let last: Value = serde_json::from_str(events.last().unwrap()).unwrap();
    assert_eq!(
        last["error"]["code"], "stream_interrupted",
        "a protocol-correct error event ends it: {text}"
    );
    assert!(
        !text.contains("finish_reason\":\"stop"),
        "the stream is not passed off as complete"
    );
    assert_eq!(
        sb.mock.count_for_key(B),
        0,
        "B is never called: bytes had been sent"
    );
    let rows = sb.logged(1).await;
    assert_eq!(rows[0].attempts.len(), 1);
    assert_eq!(rows[0].attempts[0].outcome, "stream_error");
}

#[tokio::test]
async fn empty_streams_in_band_errors_and_early_resets_fail_over() {
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[A, B, C, "sk-key-d-dddddddddddddddd"])
            + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
    })
    .await;
    sb.mock.push_fault_for_key(A, fault("fault=error_event"));
    sb.mock.push_fault_for_key(B, fault("fault=empty"));
    sb.mock.push_fault_for_key(C, fault("fault=reset,after=1"));
    let r = ask_stream(&sb, 0).await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(
        !text.contains("error"),
        "nothing of the failed attempts reaches the client: {text}"
    );
    let rows = sb.logged(1).await;
    let outcomes: Vec<&str> = rows[0]
        .attempts
        .iter()
        .map(|a| a.outcome.as_str())
        .collect();
    assert_eq!(
        outcomes,
        vec![
            "temporary_error",
            "temporary_error",
            "temporary_error",
            "ok"
        ]
    );
}

#[tokio::test]
async fn auth_errors_park_the_key_until_an_edit_or_a_successful_probe() {
    let sb = Sb::start(two_keys).await;
    sb.mock.set_fault_for_key(A, Some(Fault::status(401)));
    assert_eq!(ask(&sb, 0).await.status(), 200);
    let a = sb.key("key 1").await;
    assert_eq!(
        (a["state"].as_str(), a["scope"].as_str()),
        (Some("auth_error"), Some("key"))
    );
    // Not a short cooldown: hours later it is still parked and never probed.
    sb.clock.advance_ms(6 * 3_600_000);
    tokio::time::sleep(Duration::from_millis(700)).await;
    for n in 1..=4 {
        assert_eq!(ask(&sb, n).await.status(), 200);
    }
    assert_eq!(sb.mock.count_for_key(A), 1);
    assert_eq!(sb.key("key 1").await["state"], "auth_error");

    // The user fixes the key: any edit restores it.
    sb.mock.set_fault_for_key(A, None);
    let id = a["id"].as_i64().unwrap();
    let (s, _) = sb
        .admin(
            reqwest::Method::PATCH,
            &format!("/api/v1/keys/{id}"),
            Some(json!({"label": "key 1"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(sb.key("key 1").await["state"], "healthy");
    for n in 10..14 {
        assert_eq!(ask(&sb, n).await.status(), 200);
    }
    assert!(
        sb.mock.count_for_key(A) > 1,
        "the restored key serves again"
    );

    // Broken again; "probe now" with a working key brings it back.
    sb.mock.set_fault_for_key(A, Some(Fault::status(403)));
    for n in 20..24 {
        ask(&sb, n).await;
    }
    assert_eq!(sb.key("key 1").await["state"], "auth_error");
    sb.mock.set_fault_for_key(A, None);
    let (s, v) = sb
        .admin(
            reqwest::Method::POST,
            &format!("/api/v1/keys/{id}/probe"),
            None,
        )
        .await;
    assert_eq!((s, v["state"].as_str()), (200, Some("healthy")), "{v}");
}

#[tokio::test]
async fn every_key_cooling_answers_at_once_naming_the_alias_and_recovery() {
    let sb = Sb::start(two_keys).await;
    sb.mock
        .set_fault_for_key(A, Some(fault("fault=429,retry_after=30")));
    sb.mock
        .set_fault_for_key(B, Some(fault("fault=429,retry_after=60")));
    let first = ask(&sb, 0).await;
    assert_eq!(
        first.status(),
        429,
        "both keys rate limited: the provider's own 429"
    );
    let started = std::time::Instant::now();
    let r = ask(&sb, 1).await;
    assert!(started.elapsed() < Duration::from_secs(2), "no hang");
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "30");
    let v: Value = r.json().await.unwrap();
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("`m`") && msg.contains("30 s"), "{msg}");
    assert_eq!(v["error"]["code"], "no_usable_key");
    assert_eq!(
        sb.mock.count_for_key(A) + sb.mock.count_for_key(B),
        2,
        "nothing more was sent upstream"
    );
}

#[tokio::test]
async fn a_conversation_sticks_to_its_key_and_moves_when_it_cools() {
    let sb = Sb::start(three_keys).await;
    let send = |n: usize| {
        sb.http
            .post(format!("{}/v1/chat/completions", sb.url))
            .bearer_auth(ACCESS)
            .header("session-id", "conversation-1")
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": format!("turn {n}")}]}))
            .send()
    };
    for n in 0..50 {
        assert_eq!(send(n).await.unwrap().status(), 200);
    }
    let counts: Vec<usize> = [A, B, C].iter().map(|k| sb.mock.count_for_key(k)).collect();
    assert_eq!(
        counts.iter().filter(|&&c| c == 50).count(),
        1,
        "one key served all 50: {counts:?}"
    );
    let sticky = [A, B, C][counts.iter().position(|&c| c == 50).unwrap()];
    sb.mock
        .set_fault_for_key(sticky, Some(fault("fault=429,retry_after=600")));
    for n in 50..60 {
        assert_eq!(send(n).await.unwrap().status(), 200);
    }
    assert_eq!(
        sb.mock.count_for_key(sticky),
        51,
        "one failed attempt, then it moved"
    );
    let others: Vec<usize> = [A, B, C]
        .iter()
        .filter(|k| **k != sticky)
        .map(|k| sb.mock.count_for_key(k))
        .collect();
    assert!(
        others.contains(&10),
        "the conversation moved to one other key and stayed: {others:?}"
    );
}

#[tokio::test]
async fn priority_tiers_spill_over_only_when_the_tier_above_is_unusable() {
    let sb = Sb::start(|mock| {
        provider_toml("main", mock, &[A]) + &provider_toml("backup", mock, &[B])
            + "[[routes]]\nalias = \"m\"\nstrategy = \"priority\"\ntargets = [{ provider = \"backup\", model = \"x\", priority = 1 }, { provider = \"main\", model = \"x\" }]\n"
    })
    .await;
    for n in 0..5 {
        assert_eq!(ask(&sb, n).await.status(), 200);
    }
    assert_eq!((sb.mock.count_for_key(A), sb.mock.count_for_key(B)), (5, 0));
    sb.mock
        .set_fault_for_key(A, Some(fault("fault=429,retry_after=100")));
    for n in 5..10 {
        assert_eq!(ask(&sb, n).await.status(), 200);
    }
    assert_eq!((sb.mock.count_for_key(A), sb.mock.count_for_key(B)), (6, 5));
    let (_, plan) = sb
        .admin(reqwest::Method::GET, "/api/v1/routes/m/plan", None)
        .await;
    let steps = plan["steps"].as_array().unwrap();
    assert_eq!(
        (
            steps[0]["provider"].as_str(),
            steps[0]["verdict"].as_str(),
            steps[0]["reason"].as_str()
        ),
        (Some("main"), Some("skipped"), Some("cooling"))
    );
    assert_eq!(
        (steps[1]["provider"].as_str(), steps[1]["verdict"].as_str()),
        (Some("backup"), Some("would_try"))
    );
}

#[tokio::test]
async fn a_restart_keeps_cooldowns_and_auth_errors() {
    let mut sb = Sb::start(three_keys).await;
    sb.mock.push_fault_for_key(A, Fault::status(401));
    sb.mock
        .push_fault_for_key(B, fault("fault=429,retry_after=600"));
    assert_eq!(ask(&sb, 0).await.status(), 200);
    sb.restart().await;
    let a = sb.key("key 1").await;
    let b = sb.key("key 2").await;
    assert_eq!(a["state"], "auth_error");
    assert_eq!(
        (b["state"].as_str(), b["reason"].as_str()),
        (Some("cooling"), Some("rate_limited"))
    );
    assert_eq!(b["until_ms"], T0 + 600_000);
    for n in 1..=4 {
        assert_eq!(ask(&sb, n).await.status(), 200);
    }
    assert_eq!(
        (
            sb.mock.count_for_key(A),
            sb.mock.count_for_key(B),
            sb.mock.count_for_key(C)
        ),
        (1, 1, 5)
    );
}

#[tokio::test]
async fn health_transitions_stream_over_sse() {
    let sb = Sb::start(two_keys).await;
    let resp = sb
        .http
        .get(format!("{}/api/v1/health/events", sb.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut events = resp.bytes_stream();
    sb.mock
        .push_fault_for_key(A, fault("fault=429,retry_after=5"));
    assert_eq!(ask(&sb, 0).await.status(), 200);
    let mut seen = String::new();
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(Ok(chunk)) = events.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains("event: health") && seen.contains("\"cooling\"") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "{seen}");
    assert!(
        seen.contains("\"rate_limited\"") && seen.contains(&format!("\"until_ms\":{}", T0 + 5_000)),
        "{seen}"
    );
}

/// 1,000 requests over four keys on two providers with faults injected at random, one key
/// always healthy: every request succeeds, a cooling key never gets a request, and the total
/// number of attempts stays within the budget.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_every_request_succeeds_while_a_healthy_key_exists() {
    const K1: &str = "sk-chaos-one-aaaaaaaaaaaa";
    const K2: &str = "sk-chaos-two-bbbbbbbbbbbb";
    const K3: &str = "sk-chaos-three-cccccccccc";
    const K4: &str = "sk-chaos-steady-dddddddddd";
    let sb = Sb::start(|mock| {
        (provider_toml("p1", mock, &[K1, K2]) + &provider_toml("p2", mock, &[K3, K4]))
            .replace("keys = [", "timeouts = { first_byte_ms = 1500 }\nkeys = [")
            + "[[routes]]\nalias = \"m\"\nstrategy = \"weighted\"\ntargets = [{ provider = \"p1\", model = \"x\" }, { provider = \"p2\", model = \"x\" }]\n"
    })
    .await;
    let ids: HashMap<String, i64> = sb
        .get("/api/v1/keys")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["last4"].as_str().unwrap().to_owned(),
                k["id"].as_i64().unwrap(),
            )
        })
        .collect();
    let key_of = |id: i64| {
        [K1, K2, K3, K4]
            .into_iter()
            .find(|k| ids.get(&k[k.len() - 4..]) == Some(&id))
            .unwrap()
    };
    let faults = [
        "fault=429,retry_after=2",
        "fault=429,reset_requests=1s",
        "fault=429,retry_after_ms=1500",
        "fault=500",
        "fault=503",
        "fault=reset,after=1",
        "fault=hang",
    ];
    let mut seed: u64 = 0x5eed_cafe_f00d_d00d;
    let mut rnd = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        usize::try_from(seed % n as u64).unwrap()
    };
    let mut ok = 0;
    let mut sent = 0;
    let mut failures = Vec::new();
    for batch in 0..20 {
        // Who is blocked now stays blocked for the whole batch: the clock only moves between
        // batches, so any request such a key receives during the batch would be a violation.
        let now = T0 + batch * 2_000;
        let entries = sb.handle().control().engine().health.entries();
        let blocked: Vec<&str> = entries
            .iter()
            // A key's own cooldowns (until later than the frozen clock) and parked keys may not
            // recover during the batch; a scope being probed may, and so may a provider's
            // breaker when a probe of one of its keys succeeds.
            .filter(|e| e.state != HealthState::Probing && e.until_ms.is_none_or(|u| u > now))
            .filter_map(|e| e.scope.key_id().map(key_of))
            .collect();
        let before: Vec<usize> = [K1, K2, K3, K4]
            .iter()
            .map(|k| sb.mock.count_for_key(k))
            .collect();
        for _ in 0..15 {
            let k = [K1, K2, K3][rnd(3)];
            sb.mock
                .push_fault_for_key(k, fault(faults[rnd(faults.len())]));
        }
        let results: Vec<Result<(), String>> = futures_util::stream::iter(0..50)
            .map(|i| {
                let sb = &sb;
                async move {
                    let n = usize::try_from(batch).unwrap() * 50 + i;
                    let r = if n % 3 == 0 {
                        ask_stream(sb, n).await
                    } else {
                        ask(sb, n).await
                    };
                    let status = r.status();
                    let body = r.text().await.unwrap_or_default();
                    if status == 200 && (n % 3 != 0 || body.trim_end().ends_with("[DONE]")) {
                        Ok(())
                    } else {
                        Err(format!(
                            "request {n}: {status} {body} health: {:?}",
                            sb.handle().control().engine().health.entries()
                        ))
                    }
                }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        failures.extend(results.iter().filter_map(|r| r.clone().err()));
        sent += results.len();
        ok += results.iter().filter(|r| r.is_ok()).count();
        for (i, k) in [K1, K2, K3, K4].iter().enumerate() {
            if blocked.contains(k) {
                assert_eq!(
                    sb.mock.count_for_key(k),
                    before[i],
                    "batch {batch}: cooling key {k} received a request"
                );
            }
        }
        sb.clock.advance_ms(2_000);
    }
    assert_eq!(
        (ok, sent),
        (1000, 1000),
        "every request succeeded: {failures:#?}"
    );
    let rows = sb.logged(1000).await;
    let attempts: usize = rows.iter().map(|r| r.attempts.len()).sum();
    assert!(
        attempts <= 1000 * 4,
        "attempts {attempts} within the budget"
    );
    assert!(
        attempts > 1000,
        "faults were injected and failed over: {attempts}"
    );
    assert!(rows.iter().all(|r| r.status == 200));
    assert_eq!(sb.handle().control().engine().in_flight(), 0);
}

#[tokio::test]
async fn t13_client_disconnect_during_ttfb_cancels_the_upstream_request() {
    let sb = Sb::start(two_keys).await;
    sb.mock.set_fault_for_key(A, Some(Fault::Hang));
    sb.mock.set_fault_for_key(B, Some(Fault::Hang));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/v1/chat/completions", sb.url))
        .bearer_auth(ACCESS)
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await;
    assert!(r.is_err(), "the client gave up");
    assert!(
        sb.mock.wait_idle(Duration::from_millis(500)).await,
        "upstream request closed within 500 ms"
    );
    assert!(
        eventually(500, async || sb.handle().control().engine().in_flight()
            == 0)
        .await
    );
    let rows = sb.logged(1).await;
    assert_eq!(rows[0].status, 499);
    assert_eq!(rows[0].attempts.last().unwrap().outcome, "cancelled");
}

#[tokio::test]
async fn t13_client_disconnect_mid_stream_cancels_the_upstream_request() {
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[A]) + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x@chunk_delay_ms=200,chunks=50\" }]\n"
    })
    .await;
    let mut r = ask_stream(&sb, 0).await;
    assert_eq!(r.status(), 200);
    r.chunk().await.unwrap().unwrap();
    assert_eq!(sb.mock.in_flight(), 1);
    drop(r);
    assert!(
        sb.mock.wait_idle(Duration::from_millis(500)).await,
        "upstream stream closed within 500 ms"
    );
    assert!(
        eventually(500, async || sb.handle().control().engine().in_flight()
            == 0)
        .await
    );
    let rows = sb.logged(1).await;
    assert_eq!(rows[0].status, 499);
    assert_eq!(rows[0].error.as_deref(), Some("client disconnected"));
}

#[tokio::test]
async fn t13_client_disconnect_on_a_non_streaming_request_cancels_the_upstream_request() {
    let sb = Sb::start(two_keys).await;
    sb.mock
        .set_fault_for_key(A, Some(fault("fault=slow_first_byte,delay_ms=5000")));
    sb.mock
        .set_fault_for_key(B, Some(fault("fault=slow_first_byte,delay_ms=5000")));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let r = client
        .post(format!("{}/v1/chat/completions", sb.url))
        .bearer_auth(ACCESS)
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await;
    assert!(r.is_err());
    assert!(
        sb.mock.wait_idle(Duration::from_millis(500)).await,
        "upstream request closed within 500 ms"
    );
    assert!(
        eventually(500, async || sb.handle().control().engine().in_flight()
            == 0)
        .await
    );
    assert_eq!(sb.logged(1).await[0].status, 499);
}

#[tokio::test]
async fn with_a_wait_configured_a_request_is_held_until_a_key_recovers() {
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[A])
            + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
    })
    .await;
    let mut settings = sb.get("/api/v1/settings").await;
    settings["max_wait_ms"] = json!(5_000);
    assert_eq!(
        sb.admin(reqwest::Method::PUT, "/api/v1/settings", Some(settings))
            .await
            .0,
        200
    );
    sb.mock
        .push_fault_for_key(A, fault("fault=429,retry_after=1"));
    assert_eq!(
        ask(&sb, 0).await.status(),
        429,
        "the only key is rate limited"
    );
    // The key recovers in 1 s (of the injected clock): the next request waits instead of
    // failing, and is served by the key's first request after the cooldown.
    let held = ask(&sb, 1);
    let advance = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        sb.clock.advance_ms(1_000);
    };
    let (r, ()) = tokio::join!(held, advance);
    assert_eq!(r.status(), 200);
    // The failed request, the held one, and perhaps the background probe.
    assert!((2..=3).contains(&sb.mock.count_for_key(A)));
}

#[tokio::test]
async fn t14_the_attempt_budget_bounds_every_request() {
    const KEYS: [&str; 6] = [
        "sk-budget-1-aaaaaaaaaaaa",
        "sk-budget-2-bbbbbbbbbbbb",
        "sk-budget-3-cccccccccccc",
        "sk-budget-4-dddddddddddd",
        "sk-budget-5-eeeeeeeeeeee",
        "sk-budget-6-ffffffffffff",
    ];
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &KEYS)
            + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
    })
    .await;
    for k in KEYS {
        sb.mock.set_fault_for_key(k, Some(Fault::status(500)));
    }
    let r = ask(&sb, 0).await;
    assert_eq!(r.status(), 500, "the last upstream error, relayed");
    assert_eq!(
        sb.mock.request_count(),
        4,
        "the default budget is 4 attempts"
    );
    assert_eq!(sb.logged(1).await[0].attempts.len(), 4);
}

#[tokio::test]
async fn t14_the_breaker_opens_when_a_provider_fails_every_request() {
    let sb = Sb::start(three_keys).await;
    for k in [A, B, C] {
        sb.mock.set_fault_for_key(k, Some(Fault::status(500)));
    }
    let breaker_open = async || {
        sb.handle()
            .control()
            .engine()
            .health
            .entries()
            .iter()
            .any(|e| {
                matches!(e.scope, switchboard_router::health::Scope::Provider { .. })
                    && e.state == HealthState::Cooling
            })
    };
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds <= 12, "the breaker never opened");
        ask(&sb, rounds).await;
        if breaker_open().await {
            break;
        }
        // Let every key's cooldown end, and the prober (or the next request) try again.
        sb.clock.advance_ms(300_000);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Open: requests are answered at once, nothing reaches the failing provider.
    let before = sb.mock.request_count();
    let r = ask(&sb, 100).await;
    assert!(matches!(r.status().as_u16(), 429 | 503), "{}", r.status());
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(sb.mock.request_count(), before);
}

#[tokio::test]
async fn a_relayed_429_without_a_hint_still_says_when_to_come_back() {
    let sb = Sb::start(|mock| {
        provider_toml("p1", mock, &[A])
            + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
    })
    .await;
    sb.mock.push_fault_for_key(A, Fault::status(429));
    let r = ask(&sb, 0).await;
    assert_eq!(r.status(), 429);
    let default_secs = sb
        .handle()
        .control()
        .engine()
        .health
        .policy()
        .rate_limited_ms
        / 1000;
    assert_eq!(
        r.headers()["retry-after"],
        default_secs.to_string().as_str()
    );
}
