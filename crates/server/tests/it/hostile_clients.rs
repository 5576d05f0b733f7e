//! Attacks by clients and upstreams that misbehave on purpose (SECURITY.md T17–T21): an
//! upstream event that never ends, a second credential reaching for another's conversation,
//! idle sockets trying to take an authenticated client's slot, huge client strings, dripped
//! bodies, the admin token in the wrong header and a foreign port on `[::1]`. What needs a
//! process of its own (resident memory, 10,000 sockets) is in `crates/cli/tests/hostile.rs`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_mock_upstream::MockUpstream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::*;

/// A second access key, accepted besides [`ACCESS`].
const OTHER: &str = "sk-sb-test-second-access-key-9876543210";

fn addr(sb: &Sb) -> SocketAddr {
    sb.handle().local_addr()
}

/// Sends one request with `Connection: close` and reads the whole answer: (status, head, body).
async fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    read_all(&mut s).await
}

async fn read_all(s: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("the server never closed the connection")
        .unwrap();
    let end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response: {:?}", String::from_utf8_lossy(&buf)));
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, buf[end + 4..].to_vec())
}

fn get(path: &str, host: &str, auth: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n\r\n")
}

fn chat_route(mock: &MockUpstream) -> String {
    provider_toml("mock", mock, &["sk-mock-key-aaaaaaaaaaaa"])
        + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"mock\", model = \"deepseek-chat\" }]\n"
}

// ---------------------------------------------------------------------------------------
// An upstream event that never ends

/// The first provider's stream is one event that never ends (1 MiB `data:` lines with no
/// blank line); the decoder's event cap fails the attempt as malformed before commit, and the
/// request fails over to the second provider.
#[tokio::test]
async fn an_endless_upstream_event_fails_over_at_the_event_cap() {
    let sb = Sb::start(|mock| {
        provider_toml("endless", mock, &["sk-endless-key-aaaaaaaaaaaa"])
            + &provider_toml("good", mock, &["sk-good-key-bbbbbbbbbbbb"])
            + "[[routes]]\nalias = \"m\"\ntargets = [\
               { provider = \"endless\", model = \"x@fault=endless_event\" },\
               { provider = \"good\", model = \"y\" }]\n"
    })
    .await;
    let r = sb.chat_stream("m").await;
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    let rec = &sb.logged(1).await[0];
    assert_eq!(rec.provider.as_deref(), Some("good"));
    assert_eq!(rec.attempts.len(), 2, "{:?}", rec.attempts);
    assert_eq!(rec.attempts[0].provider, "endless");
    assert_ne!(rec.attempts[0].outcome, "ok");

    // Alone, it ends with a clean error in the client's dialect, not a hang or a crash.
    let sb = Sb::start(|mock| {
        provider_toml("endless", mock, &["sk-endless-key-aaaaaaaaaaaa"])
            + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"endless\", model = \"x@fault=endless_event\" }]\n"
    })
    .await;
    let r = sb.chat_stream("m").await;
    assert_eq!(r.status(), 502);
    let v: Value = r.json().await.unwrap();
    assert!(v["error"]["message"].is_string(), "{v}");
}

// ---------------------------------------------------------------------------------------
// Conversations belong to the credential that created them

fn two_keys_chat_upstream(mock: &MockUpstream) -> String {
    format!("[server]\naccess_keys = [{OTHER:?}]\n\n")
        + &provider_toml("chat", mock, &["sk-conv-key-aaaaaaaaaaaa"])
        + "[[routes]]\nalias = \"codex-model\"\ntargets = [{ provider = \"chat\", model = \"x\" }]\n"
}

async fn responses_as(sb: &Sb, key: &str, body: &Value) -> (u16, Value) {
    let r = sb
        .http
        .post(format!("{}/v1/responses", sb.url))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn another_credential_presenting_a_response_id_gets_404() {
    let sb = Sb::start(two_keys_chat_upstream).await;
    let (s, first) = responses_as(
        &sb,
        ACCESS,
        &json!({"model": "codex-model", "input": "My secret is 4242."}),
    )
    .await;
    assert_eq!(s, 200, "{first}");
    let id = first["id"].as_str().unwrap().to_owned();

    // The second key gets exactly what an id that never existed gets: no oracle.
    let (s, stolen) = responses_as(
        &sb,
        OTHER,
        &json!({"model": "codex-model", "previous_response_id": id, "input": "What is my secret?"}),
    )
    .await;
    let (s2, never) = responses_as(
        &sb,
        OTHER,
        &json!({"model": "codex-model", "previous_response_id": "resp_00000000000000000000000000000000", "input": "?"}),
    )
    .await;
    assert_eq!(s, 404, "{stolen}");
    assert_eq!(s2, 404, "{never}");
    assert_eq!(stolen["error"]["type"], "invalid_request_error");
    assert_eq!(stolen["error"]["code"], "previous_response_not_found");
    assert_eq!(stolen["error"]["param"], "previous_response_id");
    assert_eq!(stolen["error"]["code"], never["error"]["code"]);
    assert!(!stolen.to_string().contains("4242"));
    assert_eq!(
        sb.mock.request_count(),
        1,
        "another credential's request reached the upstream"
    );

    // The owner continues it.
    let (s, _) = responses_as(
        &sb,
        ACCESS,
        &json!({"model": "codex-model", "previous_response_id": id, "input": "And now?"}),
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn response_ids_are_128_random_bits() {
    let sb = Sb::start(two_keys_chat_upstream).await;
    let mut ids = std::collections::HashSet::new();
    for i in 0..8 {
        let (s, v) = responses_as(
            &sb,
            ACCESS,
            &json!({"model": "codex-model", "input": format!("turn {i}")}),
        )
        .await;
        assert_eq!(s, 200);
        let id = v["id"].as_str().unwrap().to_owned();
        let hex = id.strip_prefix("resp_").unwrap();
        assert_eq!(hex.len(), 32, "{id}");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        ids.insert(hex.to_owned());
    }
    assert_eq!(ids.len(), 8);
    // Random, not a clock and a counter: consecutive ids share no long common prefix.
    let ids: Vec<_> = ids.into_iter().collect();
    let common = |a: &str, b: &str| a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count();
    let longest = ids
        .iter()
        .flat_map(|a| {
            ids.iter()
                .filter(move |b| *b != a)
                .map(move |b| common(a, b))
        })
        .max()
        .unwrap();
    assert!(longest < 8, "ids share a {longest}-digit prefix: {ids:?}");
}

/// Ten large inputs keep the store within its byte budget, oldest evicted (2 MiB inputs and a
/// 5 MiB budget here, so this process stays small for the tests beside it; the real binary
/// with ten 20 MiB inputs: `crates/cli/tests/hostile.rs`).
#[tokio::test]
async fn large_responses_inputs_keep_the_conversation_store_within_its_budget() {
    const MIB: usize = 1024 * 1024;
    let sb = Sb::start_with(two_keys_chat_upstream, |o| {
        o.conversation_store_bytes = 5 * MIB;
    })
    .await;
    let big = "x".repeat(2 * MIB);
    let mut ids = Vec::new();
    for _ in 0..10 {
        let (s, v) =
            responses_as(&sb, ACCESS, &json!({"model": "codex-model", "input": big})).await;
        assert_eq!(s, 200);
        ids.push(v["id"].as_str().unwrap().to_owned());
        let held = sb.handle().control().engine().conversation_bytes();
        assert!(held <= 5 * MIB, "the store holds {held} bytes");
    }
    assert!(sb.handle().control().engine().conversation_bytes() >= 4 * MIB);
    // The newest conversation is still there; the oldest is gone.
    for (id, want) in [(&ids[9], 200), (&ids[0], 404)] {
        let (s, v) = responses_as(
            &sb,
            ACCESS,
            &json!({"model": "codex-model", "previous_response_id": id, "input": "more", "store": false}),
        )
        .await;
        assert_eq!(s, want, "{v}");
    }
}

// ---------------------------------------------------------------------------------------
// Idle connections cannot starve everyone

/// An authenticated connection keeps its slot: idle sockets opened after it are shed
/// instead, and an unauthenticated idle one goes first.
#[tokio::test]
async fn authenticated_connections_keep_their_slot_at_the_cap() {
    let sb = Sb::start_with(chat_route, |o| o.max_connections = 4).await;
    let a = addr(&sb);
    let host = format!("127.0.0.1:{}", a.port());
    // A keep-alive connection that made an authenticated request.
    let mut authed = TcpStream::connect(a).await.unwrap();
    let req = format!(
        "GET /v1/models HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ACCESS}\r\n\r\n"
    );
    authed.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = authed.read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    // Fill the rest, then keep opening idle sockets.
    let mut idle = Vec::new();
    for _ in 0..12 {
        idle.push(TcpStream::connect(a).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The authenticated connection still answers.
    authed.write_all(req.as_bytes()).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), authed.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buf[..n])
    );
    // The oldest idle ones were closed by the server.
    let mut first = idle.remove(0);
    let mut b = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(5), first.read(&mut b)).await;
    assert!(matches!(n, Ok(Ok(0) | Err(_))), "{n:?}");
    // And /health answers.
    let (s, _, _) = raw(a, &get("/health", &host, ""), b"").await;
    assert_eq!(s, 200);
}

// ---------------------------------------------------------------------------------------
// Client strings are capped where they are stored and echoed

#[tokio::test]
async fn a_huge_model_name_is_stored_and_echoed_truncated() {
    let sb = Sb::start(chat_route).await;
    let model = "m".repeat(5 * 1024 * 1024);
    let r = sb
        .post(
            "/v1/chat/completions",
            &json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(body.len() < 1024, "the error echoed {} bytes", body.len());
    assert!(body.contains("[5242880 bytes]"), "{body}");
    let rec = &sb.logged(1).await[0];
    assert!(
        rec.alias.len() <= 256 + 20,
        "stored {} bytes",
        rec.alias.len()
    );
    assert!(rec.alias.starts_with("mmmm"));
    assert!(rec.error.as_ref().unwrap().len() < 1024);
    let (s, v) = sb
        .admin(reqwest::Method::GET, "/api/v1/requests?limit=10", None)
        .await;
    assert_eq!(s, 200);
    assert!(
        v.to_string().len() < 8 * 1024,
        "{} bytes",
        v.to_string().len()
    );
}

// ---------------------------------------------------------------------------------------
// A request body dripped forever

#[tokio::test]
async fn a_dripping_request_body_gets_408_at_the_deadline() {
    let sb = Sb::start_with(chat_route, |o| {
        o.body_read_timeout = Duration::from_millis(1500);
    })
    .await;
    let a = addr(&sb);
    for (path, dialect_check) in [
        ("/v1/chat/completions", "openai"),
        ("/v1/messages", "anthropic"),
    ] {
        let mut s = TcpStream::connect(a).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ACCESS}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"model\":\"m\",\"x\":\""
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        // One byte every 100 ms: never idle long, never done.
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{path}: still open after {:?}",
                started.elapsed()
            );
            tokio::select! {
                r = s.read(&mut chunk) => match r {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                },
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    if s.write_all(b"a").await.is_err() {
                        // The server closed; read what it said.
                    }
                }
            }
        }
        let took = started.elapsed();
        let text = String::from_utf8_lossy(&buf);
        assert!(text.starts_with("HTTP/1.1 408"), "{path}: {text}");
        assert!(
            took >= Duration::from_millis(1400),
            "{path}: cut after {took:?}"
        );
        let body: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        match dialect_check {
            "anthropic" => assert_eq!(body["type"], "error", "{body}"),
            _ => assert!(body["error"]["message"].is_string(), "{body}"),
        }
    }
    assert_eq!(sb.mock.request_count(), 0);
}

// ---------------------------------------------------------------------------------------
// The admin token only as Bearer; `[::1]` only on our port

#[tokio::test]
async fn the_admin_token_is_accepted_only_as_bearer() {
    let sb = Sb::start(chat_route).await;
    let a = addr(&sb);
    let host = format!("127.0.0.1:{}", a.port());
    let path = "/api/v1/status";
    for (auth, want) in [
        (format!("Authorization: Bearer {ADMIN}\r\n"), 200),
        (format!("x-api-key: {ADMIN}\r\n"), 401),
        (format!("x-goog-api-key: {ADMIN}\r\n"), 401),
        (format!("Authorization: {ADMIN}\r\n"), 401),
        (String::new(), 401),
    ] {
        let (s, _, _) = raw(a, &get(path, &host, &auth), b"").await;
        assert_eq!(s, want, "{auth}");
    }
    let (s, _, _) = raw(a, &get(&format!("{path}?key={ADMIN}"), &host, ""), b"").await;
    assert_eq!(s, 401);
}

#[tokio::test]
async fn ipv6_loopback_host_is_accepted_only_on_our_port() {
    let sb = Sb::start(chat_route).await;
    let a = addr(&sb);
    let port = a.port();
    let auth = format!("Authorization: Bearer {ADMIN}\r\n");
    let other = if port == 65535 { 1 } else { port + 1 };
    for (host, want) in [
        (format!("[::1]:{port}"), 200),
        ("[::1]".to_owned(), 200),
        (format!("[::1]:{other}"), 403),
        ("[::1]:80".to_owned(), 403),
        (format!("[::1]:0{port}"), 403),
    ] {
        let (s, _, _) = raw(a, &get("/api/v1/status", &host, &auth), b"").await;
        assert_eq!(s, want, "Host {host}");
    }
}
