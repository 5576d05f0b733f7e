//! Hedged requests: a route with `hedge_after_ms` starts its next target when the first has
//! not answered in time; the first answer wins and the stalled attempt is cancelled.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::common::*;

const SLOW: &str = "sk-hedge-slow-qazwsxedcrfv";
const FAST: &str = "sk-hedge-fast-tgbyhnujmikl";

/// The first target stalls 20 s before its first byte; the route hedges after 300 ms.
fn stalled_first(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    provider_toml("slow", mock, &[SLOW])
        + &provider_toml("fast", mock, &[FAST])
        + "[[routes]]\nalias = \"m\"\nstrategy = \"priority\"\nhedge_after_ms = 300\ntargets = [\
           { provider = \"slow\", model = \"x@fault=slow_first_byte,delay_ms=20000\", priority = 0 }, \
           { provider = \"fast\", model = \"y\", priority = 1 }]\n"
}

#[tokio::test]
async fn a_stalled_first_target_is_hedged_and_cancelled() {
    let sb = Sb::start(stalled_first).await;
    for (n, stream) in [false, true].into_iter().enumerate() {
        let started = Instant::now();
        let r = sb
            .post(
                "/v1/chat/completions",
                &json!({"model": "m", "stream": stream, "messages": [{"role": "user", "content": format!("hedge {n}")}]}),
            )
            .await;
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        let took = started.elapsed();
        assert!(text.contains("mock"), "{text}");
        // The delay plus the second target's latency, far below the 20 s stall.
        assert!(took < Duration::from_secs(10), "stream {stream}: {took:?}");
        assert!(
            took >= Duration::from_millis(300),
            "stream {stream}: {took:?}"
        );
        let rows = sb.logged(n + 1).await;
        let row = &rows[0];
        assert_eq!(row.status, 200);
        assert_eq!(row.provider.as_deref(), Some("fast"), "stream {stream}");
        let outcomes: Vec<(&str, &str)> = row
            .attempts
            .iter()
            .map(|a| (a.provider.as_str(), a.outcome.as_str()))
            .collect();
        assert_eq!(
            outcomes,
            [("slow", "cancelled"), ("fast", "ok")],
            "stream {stream}"
        );
        assert_eq!(sb.mock.count_for_key(SLOW), n + 1);
        assert_eq!(sb.mock.count_for_key(FAST), n + 1);
    }
    // The stalled upstream requests were dropped, not left running for 20 s.
    assert!(
        eventually(5_000, async || sb.mock.in_flight() == 0).await,
        "the mock still serves {} requests",
        sb.mock.in_flight()
    );
}

#[tokio::test]
async fn a_first_target_that_answers_in_time_is_not_hedged() {
    let sb = Sb::start(|mock| {
        provider_toml("a", mock, &[SLOW])
            + &provider_toml("b", mock, &[FAST])
            + "[[routes]]\nalias = \"m\"\nstrategy = \"priority\"\nhedge_after_ms = 5000\ntargets = [\
               { provider = \"a\", model = \"x\", priority = 0 }, { provider = \"b\", model = \"y\", priority = 1 }]\n"
    })
    .await;
    for _ in 0..3 {
        assert_eq!(sb.chat("m").await.status(), 200);
        assert_eq!(sb.chat_stream("m").await.status(), 200);
    }
    assert_eq!(sb.mock.count_for_key(SLOW), 6);
    assert_eq!(sb.mock.count_for_key(FAST), 0, "nothing was started twice");
    let rows = sb.logged(6).await;
    assert!(
        rows.iter()
            .all(|r| r.attempts.len() == 1 && r.attempts[0].outcome == "ok")
    );
}

#[tokio::test]
async fn a_conversation_whose_target_stalls_moves_to_the_hedge_and_stays() {
    let sb = Sb::start(|mock| {
        provider_toml("slow", mock, &[SLOW])
            + &provider_toml("fast", mock, &[FAST])
            + "[[routes]]\nalias = \"m\"\nstrategy = \"priority\"\nhedge_after_ms = 300\ntargets = [\
               { provider = \"slow\", model = \"x\", priority = 0 }, { provider = \"fast\", model = \"y\", priority = 1 }]\n"
    })
    .await;
    let turn = |n: usize| {
        sb.http
            .post(format!("{}/v1/chat/completions", sb.url))
            .bearer_auth(ACCESS)
            .header("session-id", "hedged-conversation")
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": format!("turn {n}")}]}))
            .send()
    };
    assert_eq!(turn(0).await.unwrap().status(), 200);
    assert_eq!(sb.logged(1).await[0].provider.as_deref(), Some("slow"));
    sb.mock.set_fault_for_key(
        SLOW,
        Some("fault=slow_first_byte,delay_ms=20000".parse().unwrap()),
    );
    assert_eq!(turn(1).await.unwrap().status(), 200);
    let row = sb.logged(2).await.swap_remove(0);
    assert_eq!(row.provider.as_deref(), Some("fast"));
    assert_eq!(row.affinity.as_deref(), Some("moved: slow"));
    assert_eq!(row.attempts[0].outcome, "cancelled");
    assert_eq!(turn(2).await.unwrap().status(), 200);
    let row = sb.logged(3).await.swap_remove(0);
    assert_eq!(row.provider.as_deref(), Some("fast"));
    assert_eq!(row.affinity.as_deref(), Some("kept"));
    assert_eq!(row.attempts.len(), 1, "no hedge needed: {:?}", row.attempts);
}
