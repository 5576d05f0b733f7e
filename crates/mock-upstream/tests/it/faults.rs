//! Faults chosen by data: status codes with reset hints, hangs, resets, empty and failing
//! streams, slow chunks, key echo; selected by model, key, header or from code.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{Value, json};
use switchboard_mock_upstream::{Fault, MockUpstream, ResetHints};

use crate::support::{chat_body, client, client_with_timeout, events, post};

async fn chat(mock: &MockUpstream, key: &str, model: &str, stream: bool) -> reqwest::Response {
    post(mock, "/v1/chat/completions", key, chat_body(model, stream)).await
}

#[tokio::test]
async fn rate_limit_with_each_hint_format() {
    let mock = MockUpstream::start().await.unwrap();

    let res = chat(&mock, "sk-a", "m@fault=429,retry_after=7", false).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "7");
    assert!(res.headers().get("retry-after-ms").is_none());
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");

    let res = chat(&mock, "sk-a", "m@fault=429,retry_after_ms=1500", false).await;
    assert_eq!(res.headers()["retry-after-ms"], "1500");
    assert!(res.headers().get("retry-after").is_none());

    let res = chat(&mock, "sk-a", "m@fault=429,reset_requests=6m0s", false).await;
    assert_eq!(res.headers()["x-ratelimit-reset-requests"], "6m0s");

    let res = chat(&mock, "sk-a", "m@fault=429,retry_after_date=60", false).await;
    let date = res.headers()["retry-after"].to_str().unwrap();
    let at = httpdate::parse_http_date(date).unwrap();
    let ahead = at.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(ahead > Duration::from_secs(55) && ahead <= Duration::from_secs(60));

    let res = chat(&mock, "sk-a", "m@fault=429,anthropic_reset=30", false).await;
    let reset = res.headers()["anthropic-ratelimit-requests-reset"]
        .to_str()
        .unwrap();
    let at =
        time::OffsetDateTime::parse(reset, &time::format_description::well_known::Rfc3339).unwrap();
    let ahead = at - time::OffsetDateTime::now_utc();
    assert!(ahead > time::Duration::seconds(25) && ahead <= time::Duration::seconds(30));
    assert!(reset.ends_with('Z'));

    let res = post(
        &mock,
        "/v1beta/models/gemini-mock@fault=429,retry_delay=7:generateContent",
        "AIza-a",
        json!({ "contents": [{ "role": "user", "parts": [{ "text": "Hi" }] }] }),
    )
    .await;
    assert_eq!(res.status(), 429);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        v["error"]["details"][0]["@type"],
        "type.googleapis.com/google.rpc.RetryInfo"
    );
    assert_eq!(v["error"]["details"][0]["retryDelay"], "7s");
}

#[tokio::test]
async fn auth_and_balance_errors() {
    let mock = MockUpstream::start().await.unwrap();
    let res = chat(&mock, "sk-a@fault=401", "m", false).await;
    assert_eq!(res.status(), 401);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");

    let res = chat(&mock, "sk-a@fault=402", "m", false).await;
    assert_eq!(res.status(), 402);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "insufficient_quota");

    let res = chat(&mock, "sk-a@fault=quota", "m", false).await;
    assert_eq!(res.status(), 429);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["type"], "insufficient_quota");

    for status in [400, 403, 404, 500, 503] {
        let res = chat(&mock, "sk-a", &format!("m@fault={status}"), true).await;
        assert_eq!(res.status(), status);
        assert_eq!(res.headers()["content-type"], "application/json");
        let v: Value = res.json().await.unwrap();
        assert!(v["error"]["message"].is_string());
    }
}

#[tokio::test]
async fn echo_key_quotes_the_key_and_nothing_else_does() {
    let mock = MockUpstream::start().await.unwrap();
    let key = "sk-CANARY-1234@fault=echo_key";
    let res = chat(&mock, key, "m", false).await;
    assert_eq!(res.status(), 401);
    assert!(res.text().await.unwrap().contains("sk-CANARY-1234"));

    let res = chat(&mock, "sk-CANARY-5678", "m", true).await;
    assert!(!res.text().await.unwrap().contains("CANARY"));
    let res = chat(&mock, "sk-CANARY-5678@fault=500", "m", false).await;
    assert!(!res.text().await.unwrap().contains("CANARY"));
}

#[tokio::test]
async fn hang_ends_when_the_client_gives_up() {
    let mock = MockUpstream::start().await.unwrap();
    let started = Instant::now();
    let err = client_with_timeout(Duration::from_millis(300))
        .post(format!("http://{}/v1/chat/completions", mock.addr()))
        .bearer_auth("sk-a")
        .header("x-mock-fault", "fault=hang")
        .json(&chat_body("m", true))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        mock.wait_idle(Duration::from_millis(500)).await,
        "hung request still in flight"
    );
}

#[tokio::test]
async fn reset_mid_stream_drops_the_connection_without_terminal_event() {
    let mock = MockUpstream::start().await.unwrap();
    let res = chat(&mock, "sk-a", "m@fault=reset,after=3", true).await;
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    let mut received = Vec::new();
    let mut failed = false;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(b) => received.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "the body must end in an error, not a clean end");
    let text = String::from_utf8(received).unwrap();
    assert_eq!(events(&text).len(), 3);
    assert!(!text.contains("[DONE]"));
    assert!(!text.contains("finish_reason\":\"stop"));
    assert!(mock.wait_idle(Duration::from_millis(500)).await);
}

#[tokio::test]
async fn reset_on_a_json_reply_cuts_the_body() {
    let mock = MockUpstream::start().await.unwrap();
    let res = chat(&mock, "sk-a", "m@fault=reset", false).await;
    assert_eq!(res.status(), 200);
    assert!(res.bytes().await.is_err());
}

#[tokio::test]
async fn empty_stream() {
    let mock = MockUpstream::start().await.unwrap();
    let res = chat(&mock, "sk-a", "m@fault=empty", true).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert_eq!(res.text().await.unwrap(), "");
}

#[tokio::test]
async fn in_band_error_before_any_content() {
    let mock = MockUpstream::start().await.unwrap();
    let res = chat(&mock, "sk-a", "m@fault=error_event", true).await;
    assert_eq!(res.status(), 200);
    let evs = events(&res.text().await.unwrap());
    assert_eq!(evs.len(), 1);
    assert!(evs[0].json()["error"]["message"].is_string());
}

/// Time from sending to each received body chunk.
async fn chunk_times(res: reqwest::Response, sent: Instant) -> Vec<Duration> {
    let mut body = res.bytes_stream();
    let mut times = Vec::new();
    while let Some(chunk) = body.next().await {
        chunk.unwrap();
        times.push(sent.elapsed());
    }
    times
}

#[tokio::test]
async fn slow_second_chunk() {
    let mock = MockUpstream::start().await.unwrap();
    let sent = Instant::now();
    let res = chat(
        &mock,
        "sk-a",
        "m@fault=slow_second_chunk,delay_ms=400",
        true,
    )
    .await;
    let times = chunk_times(res, sent).await;
    assert!(times[0] < Duration::from_millis(300), "{times:?}");
    assert!(times[1] >= Duration::from_millis(400), "{times:?}");
}

#[tokio::test]
async fn slow_first_byte_sends_headers_first() {
    let mock = MockUpstream::start().await.unwrap();
    let sent = Instant::now();
    let res = chat(&mock, "sk-a", "m@fault=slow_first_byte,delay_ms=400", true).await;
    assert!(sent.elapsed() < Duration::from_millis(300));
    let times = chunk_times(res, sent).await;
    assert!(times[0] >= Duration::from_millis(400), "{times:?}");
}

#[tokio::test]
async fn latency_and_chunk_delay_directives() {
    let mock = MockUpstream::start().await.unwrap();
    let sent = Instant::now();
    let res = chat(
        &mock,
        "sk-a",
        "m@latency_ms=300,chunk_delay_ms=50,chunks=3",
        true,
    )
    .await;
    assert!(sent.elapsed() >= Duration::from_millis(300));
    let times = chunk_times(res, sent).await;
    let total = *times.last().unwrap();
    // Role chunk, 3 deltas, finish, usage, [DONE]: six gaps of 50 ms.
    assert!(total >= Duration::from_millis(600), "{times:?}");
}

#[tokio::test]
async fn header_directive_wins_over_key_and_model() {
    let mock = MockUpstream::start().await.unwrap();
    let res = client()
        .post(format!("http://{}/v1/chat/completions", mock.addr()))
        .bearer_auth("sk-a@fault=500")
        .header("x-mock-fault", "fault=403")
        .json(&chat_body("m@fault=429", false))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    let res = chat(&mock, "sk-a@fault=500", "m@fault=429", false).await;
    assert_eq!(res.status(), 500);
}

#[tokio::test]
async fn bad_directive_is_a_clear_400() {
    let mock = MockUpstream::start().await.unwrap();
    let res = chat(&mock, "sk-a", "m@fault=teapot", false).await;
    assert_eq!(res.status(), 400);
    let v: Value = res.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("teapot"));
}

#[tokio::test]
async fn programmatic_faults_one_shot_and_persistent() {
    let mock = MockUpstream::start().await.unwrap();
    mock.push_fault_for_key("sk-a", Fault::status(500));
    mock.push_fault_for_key(
        "sk-a",
        Fault::Status {
            status: 429,
            hints: ResetHints {
                retry_after: Some(3),
                ..ResetHints::default()
            },
        },
    );
    assert_eq!(chat(&mock, "sk-a", "m", false).await.status(), 500);
    let res = chat(&mock, "sk-a", "m", false).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "3");
    assert_eq!(chat(&mock, "sk-a", "m", false).await.status(), 200);
    assert_eq!(chat(&mock, "sk-b", "m", false).await.status(), 200);

    mock.set_fault_for_model("mock-large", Some("fault=503".parse().unwrap()));
    for _ in 0..3 {
        assert_eq!(chat(&mock, "sk-a", "mock-large", false).await.status(), 503);
    }
    assert_eq!(chat(&mock, "sk-a", "mock-small", false).await.status(), 200);
    // A directive in the request takes precedence over the persistent fault.
    assert_eq!(
        chat(&mock, "sk-a@fault=401", "mock-large", false)
            .await
            .status(),
        401
    );
    mock.set_fault_for_model("mock-large", None);
    assert_eq!(chat(&mock, "sk-a", "mock-large", false).await.status(), 200);

    mock.push_fault_for_model("mock-small", Fault::Hang);
    mock.set_fault_for_key("sk-c", Some(Fault::status(401)));
    mock.reset();
    assert_eq!(chat(&mock, "sk-c", "mock-small", false).await.status(), 200);
}

#[tokio::test]
async fn every_nth_request_gets_the_fault_counted_per_key() {
    let mock = MockUpstream::start().await.unwrap();
    let flaky = "sk-flaky@fault=429,retry_after=2,every=3";
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(chat(&mock, flaky, "m", false).await.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 429, 200, 200, 429]);
    // The 429s carry their reset hint.
    for _ in 0..2 {
        assert_eq!(chat(&mock, flaky, "m", false).await.status(), 200);
    }
    let res = chat(&mock, flaky, "m", false).await;
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["retry-after"], "2");
    // Another key with the same directive has its own count.
    let other = "sk-other@fault=429,every=3";
    assert_eq!(chat(&mock, other, "m", false).await.status(), 200);
}
