//! The direct upstream client's connections, seen from the mock: one connection serves
//! request after request (whole answers and streams alike), an upstream that closes an idle
//! connection costs no request, and a client that leaves mid-stream takes the upstream
//! connection with it (it is closed, never pooled half-read).

use std::time::Duration;

use switchboard_mock_upstream::MockOptions;

use crate::common::*;

const KEY: &str = "sk-conn-key-aaaaaaaaaaaaaaaa";

fn one_provider(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    provider_toml("p1", mock, &[KEY])
        + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"p1\", model = \"x\" }]\n"
        + "[[routes]]\nalias = \"bad\"\ntargets = [{ provider = \"p1\", model = \"x@fault=400\" }]\n"
        + "[[routes]]\nalias = \"slow\"\ntargets = [{ provider = \"p1\", model = \"x@chunk_delay_ms=200,chunks=50\" }]\n"
}

#[tokio::test]
async fn one_upstream_connection_serves_answers_and_streams_in_turn() {
    let sb = Sb::start(one_provider).await;
    for _ in 0..4 {
        let r = sb.chat("m").await;
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        let r = sb.chat_stream("m").await;
        assert_eq!(r.status(), 200);
        let body = r.text().await.unwrap();
        assert!(sse_data(&body).iter().any(|d| d == "[DONE]"), "{body}");
    }
    // An error answer is read to its end too, and its connection reused.
    let r = sb.chat("bad").await;
    assert_eq!(r.status(), 400);
    let r = sb.chat("m").await;
    assert_eq!(r.status(), 200);
    assert_eq!(sb.mock.request_count(), 4 * 2 + 2);
    assert_eq!(sb.mock.accepted_connections(), 1);
    assert_eq!(sb.mock.open_connections(), 1);
}

#[tokio::test]
async fn an_upstream_closing_an_idle_connection_costs_no_request() {
    let opts = MockOptions {
        idle_close: Some(Duration::from_millis(50)),
        ..MockOptions::default()
    };
    let sb = Sb::start_with_mock(opts, one_provider, |_| {}).await;
    for round in 1..=3 {
        let r = sb.chat("m").await;
        assert_eq!(r.status(), 200, "round {round}");
        r.bytes().await.unwrap();
        // The mock closes the pooled connection while it waits.
        assert!(eventually(10_000, async || sb.mock.open_connections() == 0).await);
    }
    assert_eq!(sb.mock.accepted_connections(), 3);
    // No request failed, was retried or failed over.
    assert_eq!(sb.mock.request_count(), 3);
    let rows = sb.logged(3).await;
    assert!(
        rows.iter()
            .all(|r| r.status == 200 && r.attempts.len() == 1),
        "{rows:?}"
    );
}

#[tokio::test]
async fn a_client_leaving_mid_stream_closes_the_upstream_connection() {
    let sb = Sb::start(one_provider).await;
    let mut r = sb.chat_stream("slow").await;
    assert_eq!(r.status(), 200);
    r.chunk().await.unwrap().unwrap();
    assert_eq!(sb.mock.open_connections(), 1);
    drop(r);
    // Closed, not kept: a half-read answer's connection is never reused.
    assert!(eventually(10_000, async || sb.mock.open_connections() == 0).await);
    let r = sb.chat("m").await;
    assert_eq!(r.status(), 200);
    assert_eq!(sb.mock.accepted_connections(), 2);
}
