//! `GET /metrics`: guarded like the admin API, Prometheus text, and counters that move by
//! exactly what the traffic did (requests, attempts, failovers, tokens, timings, key states,
//! requests in flight).

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::common::*;

/// Two keys on one provider; the first answers 500 to every request (a key directive the
/// mock reads), so the first request retries it (twice, a 5xx being transient) and then fails
/// over to the second key.
fn failing_first_key(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    provider_toml(
        "p1",
        mock,
        &["sk-first-key-fails@fault=500", "sk-second-key-works"],
    ) + "[[routes]]\nalias = \"fast\"\ntargets = [{ provider = \"p1\", model = \"mock-small\" }]\n\n"
        + "[[routes]]\nalias = \"slow\"\ntargets = [{ provider = \"p1\", model = \"mock-slow@chunks=4,chunk_delay_ms=400\" }]\n"
}

/// Series name with labels (as printed) → value. Comments and `# EOF` are skipped.
fn parse(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// `/metrics` as the admin reads it, by series.
pub async fn scrape(sb: &Sb) -> HashMap<String, f64> {
    let resp = sb
        .http
        .get(format!("{}/metrics", sb.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    parse(&text)
}

fn delta(before: &HashMap<String, f64>, after: &HashMap<String, f64>, series: &str) -> f64 {
    after.get(series).copied().unwrap_or(0.0) - before.get(series).copied().unwrap_or(0.0)
}

fn usage_in(body: &Value) -> (u64, u64) {
    (
        body["usage"]["prompt_tokens"].as_u64().unwrap(),
        body["usage"]["completion_tokens"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn counters_move_by_the_traffic_sent() {
    let sb = Sb::start(failing_first_key).await;
    let before = scrape(&sb).await;

    // Three plain requests: the first tries the failing key, then the working one.
    let mut tokens = (0, 0);
    for _ in 0..3 {
        let resp = sb.chat("fast").await;
        assert_eq!(resp.status(), 200);
        let (i, o) = usage_in(&resp.json().await.unwrap());
        tokens = (tokens.0 + i, tokens.1 + o);
    }
    // One stream, with usage in its last chunk.
    let resp = sb.chat_stream("fast").await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let usage = sse_data(&text)
        .iter()
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .find(|c| c["usage"].is_object())
        .unwrap();
    let (i, o) = usage_in(&usage);
    tokens = (tokens.0 + i, tokens.1 + o);
    assert!(tokens.0 > 0 && tokens.1 > 0);
    // Two model names nobody serves: one series, whatever the name.
    for model in ["no-such-model-1", "no-such-model-2"] {
        assert_eq!(sb.chat(model).await.status(), 404);
    }

    let after = scrape(&sb).await;
    let d = |s: &str| delta(&before, &after, s);
    assert_eq!(
        d(r#"switchboard_requests_total{alias="fast",provider="p1",status="200"}"#),
        4.0
    );
    assert_eq!(
        d(r#"switchboard_requests_total{alias="unrouted",provider="",status="404"}"#),
        2.0
    );
    assert!(
        !after.keys().any(|k| k.contains("no-such-model")),
        "client model names do not become series"
    );
    assert_eq!(
        d(r#"switchboard_attempts_total{provider="p1",outcome="ok"}"#),
        4.0
    );
    assert_eq!(
        d(r#"switchboard_attempts_total{provider="p1",outcome="temporary_error"}"#),
        3.0
    );
    // Attempts after a failed one: the two same-key retries and the move to the second key.
    assert_eq!(d(r#"switchboard_failovers_total{alias="fast"}"#), 3.0);
    assert_eq!(
        d(r#"switchboard_tokens_total{alias="fast",provider="p1",kind="input"}"#),
        tokens.0 as f64
    );
    assert_eq!(
        d(r#"switchboard_tokens_total{alias="fast",provider="p1",kind="output"}"#),
        tokens.1 as f64
    );
    assert_eq!(
        d(r#"switchboard_request_duration_seconds_count{alias="fast",provider="p1"}"#),
        4.0
    );
    assert_eq!(
        d(r#"switchboard_ttfb_seconds_count{alias="fast",provider="p1"}"#),
        4.0
    );
    // Against a local mock every request finishes within a second.
    assert_eq!(
        d(r#"switchboard_request_duration_seconds_bucket{le="1.0",alias="fast",provider="p1"}"#),
        4.0
    );
    // The failing key is cooling for a temporary error; the other is healthy.
    assert_eq!(
        after[r#"switchboard_key_states{provider="p1",state="cooling",reason="temporary_error"}"#],
        1.0
    );
    assert_eq!(
        after[r#"switchboard_key_states{provider="p1",state="healthy",reason=""}"#],
        1.0
    );
    assert_eq!(after["switchboard_in_flight_requests"], 0.0);

    // A stream held open is in flight until it ends.
    let mut resp = sb
        .post("/v1/chat/completions", &json!({"model": "slow", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.chunk().await.unwrap().is_some());
    assert_eq!(scrape(&sb).await["switchboard_in_flight_requests"], 1.0);
    while resp.chunk().await.unwrap().is_some() {}
    let end = scrape(&sb).await;
    assert_eq!(end["switchboard_in_flight_requests"], 0.0);
    assert_eq!(
        delta(
            &after,
            &end,
            r#"switchboard_requests_total{alias="slow",provider="p1",status="200"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn metrics_need_the_admin_token_unless_opened() {
    let sb = Sb::start(failing_first_key).await;
    let url = format!("{}/metrics", sb.url);
    assert_eq!(sb.http.get(&url).send().await.unwrap().status(), 401);
    assert_eq!(
        sb.http
            .get(&url)
            .bearer_auth(ACCESS)
            .send()
            .await
            .unwrap()
            .status(),
        401,
        "the access key is not enough"
    );
    assert_eq!(
        sb.http
            .get(&url)
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    let open = Sb::start_with(failing_first_key, |o| o.open_metrics = true).await;
    let resp = open
        .http
        .get(format!("{}/metrics", open.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("switchboard_in_flight_requests 0"), "{text}");
    // Opening metrics opens nothing else.
    assert_eq!(
        open.http
            .get(format!("{}/api/v1/status", open.url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}
