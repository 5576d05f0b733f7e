//! The server's side of SECURITY.md: one test per threat property, named after the threat
//! (`t1_…` … `t15_…`). Each test drives a real router on a real socket, so a guard that is
//! removed or reordered fails here. T7 (secrets in logs) lives in its own binary
//! (`tests/canary.rs`: it installs a process-wide trace subscriber); T13 and T14 live in
//! `failover.rs`.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{Value, json};
use switchboard_mock_upstream::{Fault, MockOptions, MockUpstream};
use switchboard_server::{Options, StartError, Switchboard};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::common::*;

const KEY: &str = "sk-mock-key-aaaaaaaaaaaa";
const CHAT: &str = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;

fn one_route(mock: &MockUpstream) -> String {
    provider_toml("mock", mock, &[KEY])
        + "[[routes]]\nalias = \"m\"\ntargets = [{ provider = \"mock\", model = \"deepseek-chat\" }]\n"
}

// ---------------------------------------------------------------------------------------
// Raw HTTP: the tests need exact control over Host, Origin and half-sent requests.

#[derive(Debug)]
struct Raw {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response (head, then `Content-Length` bytes, or up to EOF) within `limit`.
async fn read_response(stream: &mut TcpStream, limit: Duration) -> Raw {
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len = head.lines().find_map(|l| {
                let (n, v) = l.split_once(':')?;
                n.trim()
                    .eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse::<usize>().ok())?
            });
            if len.is_some_and(|n| buf.len() >= end + 4 + n) {
                let status = head
                    .split(' ')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let body = buf[end + 4..end + 4 + len.unwrap_or(0)].to_vec();
                return Raw { status, head, body };
            }
        }
        let n = match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(n)) => n,
            Ok(Err(_)) => 0,
            Err(_) => panic!(
                "no complete response within {limit:?}; got {:?}",
                String::from_utf8_lossy(&buf)
            ),
        };
        if n == 0 {
            let end = buf
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or_else(|| {
                    panic!(
                        "connection closed before a response: {:?}",
                        String::from_utf8_lossy(&buf)
                    )
                });
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let status = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            return Raw {
                status,
                head,
                body: buf[end + 4..].to_vec(),
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body` on a new
/// connection. `host: None` sends no Host header at all.
async fn raw(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    raw_on(&mut stream, method, path, host, headers, body).await
}

async fn raw_on(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    host: Option<&str>,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Raw {
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if let Some(h) = host {
        req.push_str(&format!("Host: {h}\r\n"));
    }
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("Connection: close\r\n\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).await.unwrap();
    read_response(stream, Duration::from_secs(10)).await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn addr(sb: &Sb) -> SocketAddr {
    sb.handle().local_addr()
}

// ---------------------------------------------------------------------------------------
// T1 — DNS rebinding

#[tokio::test]
async fn t1_foreign_host_names_are_refused_before_routing_and_before_the_body() {
    let sb = Sb::start(one_route).await;
    let a = addr(&sb);
    let port = a.port();
    let auth = bearer(ACCESS);
    let admin = bearer(ADMIN);
    let bad: Vec<Option<String>> = vec![
        Some(format!("evil.example:{port}")),
        Some("evil.example".into()),
        Some(format!("127.0.0.1.nip.io:{port}")),
        Some(format!("localhost.evil.example:{port}")),
        Some(format!("0.0.0.0:{port}")),
        Some(format!("127.0.0.2:{port}")),
        Some(format!("[::ffff:127.0.0.1]:{port}")),
        Some(format!("localhost:{port}@evil.example")),
        Some(String::new()),
        None,
    ];
    for host in &bad {
        let h = host.as_deref();
        let r = raw(
            a,
            "POST",
            "/v1/chat/completions",
            h,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            CHAT.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 403, "Host {h:?}: {r:?}");
        assert!(r.text().contains("Host not allowed"), "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let r = raw(
            a,
            "GET",
            "/api/v1/status",
            h,
            &[("Authorization", &admin)],
            b"",
        )
        .await;
        assert_eq!(r.status, 403, "Host {h:?} on the admin API: {r:?}");
        let r = raw(a, "GET", "/", h, &[], b"").await;
        assert_eq!(r.status, 403, "Host {h:?} on the dashboard: {r:?}");
        // Refused before the body is read: the headers announce 1 MB that never comes, and
        // the answer arrives anyway.
        let mut s = TcpStream::connect(a).await.unwrap();
        let host_line = h.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\n{host_line}Authorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{{\"model\""
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let r = read_response(&mut s, Duration::from_secs(3)).await;
        assert_eq!(r.status, 403, "Host {h:?} with a pending body: {r:?}");
    }
    assert_eq!(
        sb.mock.request_count(),
        0,
        "a refused Host reached the upstream"
    );

    // The loopback names, any case, any port.
    for host in [
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("LocalHost:{port}"),
        "localhost".into(),
        format!("127.0.0.1:{port}"),
        "127.0.0.1".into(),
        format!("[::1]:{port}"),
        "[::1]".into(),
    ] {
        let r = raw(
            a,
            "POST",
            "/v1/chat/completions",
            Some(&host),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            CHAT.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "Host {host}: {r:?}");
    }
    assert_eq!(sb.mock.request_count(), 8);

    // A name that is not loopback is refused until configured.
    let r = raw(
        a,
        "GET",
        "/api/v1/status",
        Some("switchboard.internal"),
        &[("Authorization", &admin)],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
    let sb2 = Sb::start_with(one_route, |o| {
        o.allowed_hosts = vec!["switchboard.internal".into()]
    })
    .await;
    for host in ["switchboard.internal", "Switchboard.Internal:9911"] {
        let r = raw(
            addr(&sb2),
            "GET",
            "/api/v1/status",
            Some(host),
            &[("Authorization", &admin)],
            b"",
        )
        .await;
        assert_eq!(r.status, 200, "configured name {host}: {r:?}");
    }
    let r = raw(
        addr(&sb2),
        "GET",
        "/api/v1/status",
        Some("evil.example"),
        &[("Authorization", &admin)],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
}

// ---------------------------------------------------------------------------------------
// T2 — CSRF: cross-site "simple" requests

#[tokio::test]
async fn t2_cross_site_and_unauthenticated_requests_are_refused() {
    let sb = Sb::start(one_route).await;
    let a = addr(&sb);
    let host = format!("127.0.0.1:{}", a.port());
    let auth = bearer(ACCESS);
    let json_ct = ("Content-Type", "application/json");
    let post = |headers: Vec<(&'static str, String)>, body: &'static [u8]| {
        let host = host.clone();
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
            raw(a, "POST", "/v1/chat/completions", Some(&host), &h, body).await
        }
    };

    // No credential, a wrong one, an empty one.
    for headers in [
        vec![],
        vec![("Authorization", bearer("sk-wrong"))],
        vec![("Authorization", "Bearer ".to_owned())],
        vec![("x-api-key", String::new())],
        vec![("Authorization", bearer(ADMIN))],
    ] {
        let mut h = headers.clone();
        h.push((json_ct.0, json_ct.1.to_owned()));
        let r = post(h, CHAT.as_bytes()).await;
        assert_eq!(r.status, 401, "{headers:?}: {r:?}");
    }
    // The credential in every form the dialects use is accepted.
    for (n, v) in [
        ("Authorization", auth.clone()),
        ("x-api-key", ACCESS.to_owned()),
        ("x-goog-api-key", ACCESS.to_owned()),
    ] {
        let r = post(
            vec![(n, v), (json_ct.0, json_ct.1.to_owned())],
            CHAT.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 200, "{n}: {r:?}");
    }
    let before = sb.mock.request_count();

    // A valid token does not make a cross-site request acceptable.
    for (n, v) in [
        ("Origin", "http://evil.example".to_owned()),
        ("Origin", "https://evil.example".to_owned()),
        ("Origin", "null".to_owned()),
        ("Origin", format!("http://localhost:{}", a.port() ^ 1)),
        (
            "Origin",
            format!("http://127.0.0.1:{}.evil.example", a.port()),
        ),
        ("Sec-Fetch-Site", "cross-site".to_owned()),
        ("Sec-Fetch-Site", "Cross-Site".to_owned()),
    ] {
        let r = post(
            vec![
                ("Authorization", auth.clone()),
                (n, v.clone()),
                (json_ct.0, json_ct.1.to_owned()),
            ],
            CHAT.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 403, "{n}: {v}: {r:?}");
        let r = raw(
            a,
            "PUT",
            "/api/v1/routing",
            Some(&host),
            &[("Authorization", &bearer(ADMIN)), (n, &v), json_ct],
            br#"{"enabled":false}"#,
        )
        .await;
        assert_eq!(r.status, 403, "admin {n}: {v}: {r:?}");
    }
    // The "simple" content types a form or `fetch(no-cors)` can send never reach a handler.
    for ct in [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "",
    ] {
        let mut h = vec![("Authorization", auth.clone())];
        if !ct.is_empty() {
            h.push(("Content-Type", ct.to_owned()));
        }
        let r = post(h, CHAT.as_bytes()).await;
        assert_eq!(r.status, 415, "Content-Type {ct:?}: {r:?}");
    }
    assert_eq!(
        sb.mock.request_count(),
        before,
        "a refused request reached the upstream"
    );

    // CLI-style (token, JSON, no Origin) and same-origin (the dashboard) are fine.
    let r = post(
        vec![
            ("Authorization", auth.clone()),
            (json_ct.0, json_ct.1.to_owned()),
        ],
        CHAT.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = post(
        vec![
            ("Authorization", auth.clone()),
            ("Origin", format!("http://{host}")),
            ("Sec-Fetch-Site", "same-origin".into()),
            (json_ct.0, json_ct.1.to_owned()),
        ],
        CHAT.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    // The routing switch is still on: no refused admin request changed it.
    assert_eq!(sb.get("/api/v1/status").await["routing"], true);
}

/// The admin routes of the OpenAPI document, with path parameters filled in.
fn admin_routes(id: i64) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&switchboard_server::openapi_json()).unwrap();
    let mut out = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let path = path
            .replace("{id}", &id.to_string())
            .replace("{name}", "mock")
            .replace("{alias}", "m");
        // Any other parameter: a plausible value (the guard answers before the handler).
        let path = path.replace("{tool}", "codex").replace("{model}", "m");
        assert!(!path.contains('{'), "unfilled parameter in {path}");
        for method in ops.as_object().unwrap().keys() {
            // Signing in is open: its credential is the body, or comes from the identity
            // provider (single sign-on).
            if (path == "/api/v1/session" && method == "post")
                || path.starts_with("/api/v1/session/oidc/")
            {
                continue;
            }
            out.push((method.to_uppercase(), path.clone()));
        }
    }
    assert!(
        out.len() >= 30,
        "the OpenAPI document lists only {} operations",
        out.len()
    );
    out
}

/// Everything an admin request could change, read back.
async fn admin_state(sb: &Sb) -> Value {
    let mut status = sb.get("/api/v1/status").await;
    // Live counters, not state: requests under way, and records (refused requests are logged
    // too) still queued for the request log's writer.
    status["in_flight"] = json!(0);
    status["request_log_waiting"] = json!(0);
    json!({
        "status": status,
        "providers": sb.get("/api/v1/providers").await,
        "keys": sb.get("/api/v1/keys").await,
        "routes": sb.get("/api/v1/routes").await,
        "settings": sb.get("/api/v1/settings").await,
        "cooldowns": sb.get("/api/v1/settings/cooldowns").await,
        "access_key": sb.get("/api/v1/access-key").await,
    })
}

#[tokio::test]
async fn t2_no_get_changes_state() {
    let sb = Sb::start(one_route).await;
    let id = sb.get("/api/v1/keys").await[0]["id"].as_i64().unwrap();
    let before = admin_state(&sb).await;
    let routes = admin_routes(id);
    let gets: std::collections::BTreeSet<&str> = routes
        .iter()
        .filter(|(m, _)| m == "GET")
        .map(|(_, p)| p.as_str())
        .collect();
    for (method, path) in &routes {
        if method == "GET" || gets.contains(path.as_str()) {
            continue;
        }
        // A route that only changes state does not answer GET at all.
        let r = sb
            .http
            .get(format!("{}{path}", sb.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 404 | 405),
            "GET {path} (a {method} route) answered {}",
            r.status()
        );
    }
    // Every GET route, called: reads only.
    for path in &gets {
        if path.ends_with("/events") || path.ends_with("/live") {
            continue; // endless streams; they only read
        }
        let r = sb
            .http
            .get(format!("{}{path}", sb.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert!(r.status().as_u16() < 500, "GET {path}: {}", r.status());
    }
    // The public API's state-changing routes do not answer GET either.
    for path in [
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/responses",
        "/v1beta/models/m:generateContent",
    ] {
        let r = sb
            .http
            .get(format!("{}{path}", sb.url))
            .bearer_auth(ACCESS)
            .send()
            .await
            .unwrap();
        assert!(
            matches!(r.status().as_u16(), 404 | 405),
            "GET {path}: {}",
            r.status()
        );
    }
    assert_eq!(
        admin_state(&sb).await,
        before,
        "a GET changed the configuration"
    );
    assert_eq!(sb.mock.request_count(), 0);
}

// ---------------------------------------------------------------------------------------
// T3 — CORS

/// Method, path, headers, body.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [u8]);

#[tokio::test]
async fn t3_no_response_carries_cors_headers() {
    let sb = Sb::start(one_route).await;
    let a = addr(&sb);
    let host = format!("127.0.0.1:{}", a.port());
    let auth = bearer(ACCESS);
    let admin = bearer(ADMIN);
    let mut seen = 0;
    for origin in ["http://evil.example", &format!("http://{host}"), "null"] {
        let preflight = [
            ("Origin", origin),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
            ("Access-Control-Request-Private-Network", "true"),
        ];
        let mut cases: Vec<Case> = Vec::new();
        for path in [
            "/v1/chat/completions",
            "/v1/messages",
            "/api/v1/providers",
            "/api/v1/access-key",
            "/",
            "/health",
            "/nope",
        ] {
            cases.push(("OPTIONS", path, preflight.to_vec(), b""));
            cases.push((
                "OPTIONS",
                path,
                [preflight.to_vec(), vec![("Authorization", &auth)]].concat(),
                b"",
            ));
            cases.push(("GET", path, vec![("Origin", origin)], b""));
            cases.push((
                "GET",
                path,
                vec![("Origin", origin), ("Authorization", &admin)],
                b"",
            ));
        }
        cases.push((
            "POST",
            "/v1/chat/completions",
            vec![
                ("Origin", origin),
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            CHAT.as_bytes(),
        ));
        cases.push((
            "POST",
            "/v1/chat/completions",
            vec![("Origin", origin), ("Content-Type", "text/plain")],
            CHAT.as_bytes(),
        ));
        cases.push((
            "POST",
            "/v1/chat/completions",
            vec![
                ("Origin", origin),
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            b"{not json",
        ));
        for (method, path, headers, body) in cases {
            let r = raw(a, method, path, Some(&host), &headers, body).await;
            assert!(r.status > 0);
            for line in r.head.lines().skip(1) {
                let name = line
                    .split(':')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                assert!(
                    !name.starts_with("access-control-"),
                    "{method} {path} (Origin {origin}) answered {} with `{line}`",
                    r.status
                );
            }
            seen += 1;
        }
    }
    assert!(seen > 80);
}

// ---------------------------------------------------------------------------------------
// T4 — exposure beyond loopback

/// An address of this machine that is not loopback, if it has one.
fn own_non_loopback_ipv4() -> Option<IpAddr> {
    let out = std::process::Command::new("hostname")
        .arg("-I")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|s| s.parse::<IpAddr>().ok())
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
}

/// Connects to `to` from the local address `from` (both this machine's).
async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(from, 0)).unwrap();
    socket.connect(to).await.unwrap()
}

#[tokio::test]
async fn t4_binding_beyond_loopback_needs_remote_mode() {
    // The default is loopback.
    let dir = tempfile::tempdir().unwrap();
    let defaults = Options::new(dir.path());
    assert!(defaults.host.is_loopback() && !defaults.remote);
    // Anything else without remote mode is refused before a socket is opened.
    for host in [
        IpAddr::from([0, 0, 0, 0]),
        "::".parse().unwrap(),
        IpAddr::from([192, 0, 2, 2]),
    ] {
        let mut o = Options::new(dir.path().join("data"));
        o.port = 0;
        o.host = host;
        o.key_file = Some(dir.path().join("master.key"));
        match Switchboard::start(o).await {
            Err(StartError::NotLoopback(h)) => assert_eq!(h, host),
            Err(e) => panic!("{host}: unexpected error {e}"),
            Ok(_) => panic!("{host}: started without remote mode"),
        }
    }
}

#[tokio::test]
async fn t4_remote_peers_are_refused_unless_remote_mode_and_auth_stays_on() {
    let Some(own) = own_non_loopback_ipv4() else {
        eprintln!("skipped: this machine has no non-loopback IPv4 address");
        return;
    };
    let auth = bearer(ACCESS);
    let json_ct = ("Content-Type", "application/json");
    // Local mode: a connection from this machine's own non-loopback address (the peer a
    // remote client looks like) is refused, even with the right token and Host.
    let sb = Sb::start(one_route).await;
    let a = addr(&sb);
    let host = format!("127.0.0.1:{}", a.port());
    let mut s = connect_from(own, a).await;
    let r = raw_on(
        &mut s,
        "POST",
        "/v1/chat/completions",
        Some(&host),
        &[("Authorization", &auth), json_ct],
        CHAT.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 403, "{r:?}");
    let mut s = connect_from(own, a).await;
    let r = raw_on(
        &mut s,
        "GET",
        "/api/v1/status",
        Some(&host),
        &[("Authorization", &bearer(ADMIN))],
        b"",
    )
    .await;
    assert_eq!(r.status, 403, "{r:?}");
    assert_eq!(sb.mock.request_count(), 0);

    // Remote mode, bound to that address: remote peers are served, with the token only.
    let sb = Sb::start_with(one_route, |o| {
        o.remote = true;
        o.host = own_non_loopback_ipv4().unwrap();
    })
    .await;
    let a = addr(&sb);
    assert_eq!(a.ip(), own);
    let host = a.to_string();
    let mut s = connect_from(own, a).await;
    let r = raw_on(
        &mut s,
        "POST",
        "/v1/chat/completions",
        Some(&host),
        &[json_ct],
        CHAT.as_bytes(),
    )
    .await;
    assert_eq!(r.status, 403, "the Host check still applies: {r:?}");
    let sb = Sb::start_with(one_route, |o| {
        o.remote = true;
        o.host = own_non_loopback_ipv4().unwrap();
        o.allowed_hosts = vec![own_non_loopback_ipv4().unwrap().to_string()];
    })
    .await;
    let a = addr(&sb);
    let host = a.to_string();
    for (headers, want) in [
        (vec![json_ct], 401),
        (vec![("Authorization", "Bearer "), json_ct], 401),
        (vec![("Authorization", auth.as_str()), json_ct], 200),
    ] {
        let mut s = connect_from(own, a).await;
        let r = raw_on(
            &mut s,
            "POST",
            "/v1/chat/completions",
            Some(&host),
            &headers,
            CHAT.as_bytes(),
        )
        .await;
        assert_eq!(r.status, want, "{headers:?}: {r:?}");
    }
    let mut s = connect_from(own, a).await;
    let r = raw_on(&mut s, "GET", "/api/v1/status", Some(&host), &[], b"").await;
    assert_eq!(r.status, 401, "{r:?}");
}

#[tokio::test]
async fn t4_an_empty_access_key_never_turns_auth_off() {
    // A config file whose access key is empty (e.g. an unset variable's empty value) must
    // not make an empty credential valid.
    let sb = Sb::start_with(
        |mock| "[server]\naccess_keys = [\"\"]\n\n".to_owned() + &one_route(mock),
        |o| o.access_key = None,
    )
    .await;
    let a = addr(&sb);
    let host = format!("127.0.0.1:{}", a.port());
    for headers in [
        vec![("Authorization", "Bearer ")],
        vec![("Authorization", "")],
        vec![("x-api-key", "")],
        vec![("x-goog-api-key", " ")],
        vec![],
    ] {
        let mut h = headers.clone();
        h.push(("Content-Type", "application/json"));
        let r = raw(
            a,
            "POST",
            "/v1/chat/completions",
            Some(&host),
            &h,
            CHAT.as_bytes(),
        )
        .await;
        assert_eq!(r.status, 401, "{headers:?}: {r:?}");
        let r = raw(
            a,
            "POST",
            "/v1beta/models/m:generateContent?key=",
            Some(&host),
            &h,
            br#"{"contents":[]}"#,
        )
        .await;
        assert_eq!(r.status, 401, "{headers:?} ?key=: {r:?}");
    }
    assert_eq!(sb.mock.request_count(), 0);
}

// ---------------------------------------------------------------------------------------
// T5 — the client does not choose the upstream

/// A plain TCP listener that counts connections and answers nothing useful: any request
/// that reaches it went somewhere it must not.
struct Decoy {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Decoy {
    async fn start() -> Decoy {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                h.fetch_add(1, Ordering::SeqCst);
                let _ = s
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
                    )
                    .await;
            }
        });
        Decoy { addr, hits, task }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for Decoy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn t5_body_fields_and_headers_do_not_choose_the_upstream() {
    let decoy = Decoy::start().await;
    let sb = Sb::start(one_route).await;
    let elsewhere = format!("http://{}/v1", decoy.addr);
    let body = json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "api_base": elsewhere, "base_url": elsewhere, "api_url": elsewhere, "endpoint": elsewhere,
        "api_key": "sk-attacker", "custom_llm_provider": "openai",
        "extra_body": {"api_base": elsewhere},
    });
    for path in ["/v1/chat/completions", "/v1/messages", "/v1/responses"] {
        let mut b = body.clone();
        if path == "/v1/messages" {
            b["max_tokens"] = json!(16);
        }
        if path == "/v1/responses" {
            b["input"] = json!("hi");
        }
        let r = sb
            .http
            .post(format!("{}{path}", sb.url))
            .bearer_auth(ACCESS)
            .header("X-Upstream-Url", &elsewhere)
            .header("X-Base-Url", &elsewhere)
            .header("X-Forwarded-Host", decoy.addr.to_string())
            .header("Forwarded", format!("host={}", decoy.addr))
            .json(&b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap());
    }
    assert_eq!(decoy.hits(), 0, "a request went where the client said");
    let seen = sb.mock.requests();
    assert_eq!(seen.len(), 3);
    for req in seen {
        assert_eq!(
            req.key.as_deref(),
            Some(KEY),
            "the configured key, not the client's"
        );
        for h in [
            "x-upstream-url",
            "x-base-url",
            "x-forwarded-host",
            "forwarded",
        ] {
            assert!(req.header(h).is_none(), "{h} was forwarded");
        }
    }
}

#[tokio::test]
async fn t5_upstream_redirects_are_not_followed() {
    let decoy = Decoy::start().await;
    let location = format!("http://{}/v1/chat/completions", decoy.addr);
    let up = Scripted::start(Reply::Raw(
        format!("HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").into_bytes(),
    ))
    .await;
    for status in [301, 302, 303, 307, 308] {
        up.set(Reply::Raw(
            format!("HTTP/1.1 {status} Moved\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").into_bytes(),
        ));
        let upstream = up.base_url();
        let sb = Sb::start(move |_| scripted_toml(&upstream)).await;
        let r = sb.chat("m").await;
        assert_ne!(r.status(), 200, "{status}");
        let _ = sb
            .http
            .post(format!("{}/api/v1/providers/up/discover", sb.url))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert_eq!(decoy.hits(), 0, "a {status} redirect was followed");
    }
    assert!(up.connections() >= 10);
}

#[tokio::test]
async fn t5_provider_base_urls_must_be_https_unless_local() {
    let sb = Sb::start(one_route).await;
    let provider = |url: &str| json!({"name": "p", "kind": "openai_chat", "base_url": url});
    for url in [
        "http://api.example.com/v1",
        "http://127.0.0.1.nip.io/v1",
        "http://localhost.evil.example/v1",
        "ftp://127.0.0.1/v1",
        "file:///etc/passwd",
        "http://127.0.0.1@evil.example/v1",
        // WHATWG URL parsing (the HTTP client's) reads `\` as `/`: the host is evil.example.
        "http://evil.example\\@127.0.0.1/v1",
        "http://evil.example\\@localhost:8080/v1",
        "http://evil.example\t\\@127.0.0.1/v1",
        "nonsense",
    ] {
        let (status, body) = sb
            .admin(
                reqwest::Method::POST,
                "/api/v1/providers",
                Some(provider(url)),
            )
            .await;
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(body["error"]["field"], "base_url", "{url}: {body}");
        let (status, body) = sb
            .admin(
                reqwest::Method::PUT,
                "/api/v1/providers/mock",
                Some(json!({"name": "mock", "kind": "openai_chat", "base_url": url})),
            )
            .await;
        assert_eq!(status, 400, "PUT {url}: {body}");
    }
    for url in [
        "https://api.example.com/v1",
        "http://127.0.0.1:1/v1",
        "http://localhost:1/v1",
        "http://[::1]:1/v1",
    ] {
        let (status, body) = sb.admin(reqwest::Method::POST, "/api/v1/providers", Some(json!({"name": format!("ok-{}", url.len()), "kind": "openai_chat", "base_url": url}))).await;
        assert_eq!(status, 200, "{url}: {body}");
    }
    // The config file is held to the same rule.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.toml");
    std::fs::write(&file, "[[providers]]\nname = \"p\"\nkind = \"openai_chat\"\nbase_url = \"http://api.example.com/v1\"\n").unwrap();
    let mut o = Options::new(dir.path().join("data"));
    o.port = 0;
    o.key_file = Some(dir.path().join("master.key"));
    o.config_file = Some(file);
    match Switchboard::start(o).await {
        Err(e) => assert!(e.to_string().contains("base_url"), "{e}"),
        Ok(_) => panic!("a plain-http remote provider was accepted from the config file"),
    }
}

// ---------------------------------------------------------------------------------------
// T6 — admin surface and SQL

#[tokio::test]
async fn t6_every_admin_route_needs_the_admin_token() {
    let sb = Sb::start(one_route).await;
    let a = addr(&sb);
    let host = format!("127.0.0.1:{}", a.port());
    let before = admin_state(&sb).await;
    let mut routes = admin_routes(1);
    routes.push(("GET".into(), "/metrics".into()));
    for (method, path) in &routes {
        for creds in [
            vec![],
            vec![("Authorization", bearer("wrong"))],
            vec![("Authorization", bearer(ACCESS))],
            vec![("x-api-key", ACCESS.to_owned())],
            vec![("Authorization", "Bearer ".to_owned())],
        ] {
            let mut h: Vec<(&str, &str)> = creds.iter().map(|(n, v)| (*n, v.as_str())).collect();
            h.push(("Content-Type", "application/json"));
            let body: &[u8] = if method == "GET" || method == "DELETE" {
                b""
            } else {
                b"{}"
            };
            let r = raw(a, method, path, Some(&host), &h, body).await;
            assert_eq!(r.status, 401, "{method} {path} with {creds:?}: {r:?}");
        }
        // Not from the query string either (it ends up in logs and browser history).
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = raw(
            a,
            method,
            &format!("{path}{sep}key={ADMIN}"),
            Some(&host),
            &[("Content-Type", "application/json")],
            if method == "GET" { b"" } else { b"{}" },
        )
        .await;
        assert_eq!(r.status, 401, "{method} {path}?key=: {r:?}");
    }
    assert_eq!(admin_state(&sb).await, before);
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn t6_sql_injection_strings_are_stored_and_returned_verbatim() {
    let sb = Sb::start(one_route).await;
    let base = sb
        .mock
        .base_url(switchboard_mock_upstream::Dialect::OpenAiChat);
    let evil = [
        "x'); DROP TABLE providers; --",
        "\" OR 1=1 --",
        "' OR '1'='1",
        "a%_\\' UNION SELECT secret FROM secrets --",
        "Robert'); DELETE FROM keys;--",
    ];
    for name in evil {
        let (s, b) = sb
            .admin(
                reqwest::Method::POST,
                "/api/v1/providers",
                Some(json!({"name": name, "kind": "openai_chat", "base_url": base})),
            )
            .await;
        assert_eq!(s, 200, "{name}: {b}");
        assert_eq!(b["name"], name);
        let (s, b) = sb
            .admin(
                reqwest::Method::POST,
                "/api/v1/keys",
                Some(json!({"provider": name, "label": name, "secret": "sk-inj-0123456789abcdef"})),
            )
            .await;
        assert_eq!(s, 200, "{name}: {b}");
        assert_eq!(b["label"], name);
        let (s, b) = sb
            .admin(
                reqwest::Method::POST,
                "/api/v1/routes",
                Some(json!({"alias": name, "targets": [{"provider": name, "model": name}]})),
            )
            .await;
        assert_eq!(s, 200, "{name}: {b}");
        let (s, b) = sb
            .admin(
                reqwest::Method::GET,
                &format!("/api/v1/providers/{}", enc(name)),
                None,
            )
            .await;
        assert_eq!((s, b["name"].as_str()), (200, Some(name)), "{b}");
    }
    let providers = sb.get("/api/v1/providers").await;
    let names: Vec<&str> = providers
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in evil {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    assert!(names.contains(&"mock"), "a table lost rows: {names:?}");
    let keys = sb.get("/api/v1/keys").await;
    assert_eq!(keys.as_array().unwrap().len(), evil.len() + 1);

    // Requests through a route named by an injection string, then filters made of them.
    let r = sb.chat(evil[2]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(sb.chat("m").await.status(), 200);
    sb.logged(2).await;
    let all = sb.get("/api/v1/requests").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    for filter in [
        "' OR 1=1 --",
        "%",
        "_",
        "m' --",
        "\" OR \"\"=\"",
        "' OR '1'='1' --",
    ] {
        let v = sb
            .get(&format!("/api/v1/requests?provider={}", enc(filter)))
            .await;
        assert!(
            v.as_array().unwrap().is_empty(),
            "provider filter {filter:?} matched {v}"
        );
        let v = sb
            .get(&format!("/api/v1/requests?alias={}", enc(filter)))
            .await;
        assert!(
            v.as_array().unwrap().is_empty(),
            "alias filter {filter:?} matched {v}"
        );
    }
    let v = sb
        .get(&format!("/api/v1/requests?alias={}", enc(evil[2])))
        .await;
    assert_eq!(v.as_array().unwrap().len(), 1, "{v}");
    let v = sb
        .get(&format!("/api/v1/requests?before={}", enc("' OR 1=1 --")))
        .await;
    assert!(v.as_array().unwrap().len() <= 2);
    // And everything is still there after a restart.
    let mut sb = sb;
    sb.restart().await;
    assert_eq!(sb.get("/api/v1/providers").await, providers);
}

// ---------------------------------------------------------------------------------------
// A scripted upstream: answers every request with the reply set by the test, written in the
// pieces the test chooses (for SSE split tests, redirects and endless bodies).

#[derive(Clone)]
enum Reply {
    /// Bytes written as is (a whole response, head included), then close.
    Raw(Vec<u8>),
    /// 200 with this content type, chunked, each piece written and flushed on its own.
    Pieces {
        content_type: &'static str,
        pieces: Vec<Vec<u8>>,
    },
    /// 200 with this content type, then `prefix` and `filler` bytes for ever.
    Endless {
        content_type: &'static str,
        prefix: Vec<u8>,
        filler: u8,
    },
}

struct Scripted {
    addr: SocketAddr,
    reply: Arc<Mutex<Reply>>,
    conns: Arc<AtomicUsize>,
    open: Arc<AtomicUsize>,
    sent: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Scripted {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return true;
            }
        }
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

impl Scripted {
    async fn start(reply: Reply) -> Scripted {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let reply = Arc::new(Mutex::new(reply));
        let conns = Arc::new(AtomicUsize::new(0));
        let open = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(AtomicU64::new(0));
        let (r, c, o, st) = (reply.clone(), conns.clone(), open.clone(), sent.clone());
        let task = tokio::spawn(async move {
            let mut tasks = tokio::task::JoinSet::new();
            while let Ok((mut s, _)) = l.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let (r, o, st) = (r.clone(), o.clone(), st.clone());
                o.fetch_add(1, Ordering::SeqCst);
                tasks.spawn(async move {
                    let _ = s.set_nodelay(true);
                    if read_request(&mut s).await {
                        let reply = r.lock().clone();
                        let _ = Scripted::answer(&mut s, reply, &st).await;
                    }
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Scripted {
            addr,
            reply,
            conns,
            open,
            sent,
            task,
        }
    }

    async fn answer(s: &mut TcpStream, reply: Reply, sent: &AtomicU64) -> std::io::Result<()> {
        let head = |ct: &str| {
            format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {ct}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            )
        };
        match reply {
            Reply::Raw(bytes) => s.write_all(&bytes).await?,
            Reply::Pieces {
                content_type,
                pieces,
            } => {
                s.write_all(head(content_type).as_bytes()).await?;
                for (i, p) in pieces.iter().enumerate() {
                    if p.is_empty() {
                        continue;
                    }
                    s.write_all(format!("{:x}\r\n", p.len()).as_bytes()).await?;
                    s.write_all(p).await?;
                    s.write_all(b"\r\n").await?;
                    s.flush().await?;
                    if i + 1 < pieces.len() {
                        // Let the router read this piece on its own.
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                }
                s.write_all(b"0\r\n\r\n").await?;
            }
            Reply::Endless {
                content_type,
                prefix,
                filler,
            } => {
                s.write_all(head(content_type).as_bytes()).await?;
                s.write_all(format!("{:x}\r\n", prefix.len()).as_bytes())
                    .await?;
                s.write_all(&prefix).await?;
                s.write_all(b"\r\n").await?;
                let block = vec![filler; 256 * 1024];
                loop {
                    s.write_all(format!("{:x}\r\n", block.len()).as_bytes())
                        .await?;
                    s.write_all(&block).await?;
                    s.write_all(b"\r\n").await?;
                    sent.fetch_add(block.len() as u64, Ordering::Relaxed);
                }
            }
        }
        s.flush().await?;
        // Let the client read to the end before the socket goes.
        let mut sink = [0u8; 1024];
        let _ = tokio::time::timeout(Duration::from_millis(200), s.read(&mut sink)).await;
        Ok(())
    }

    fn set(&self, reply: Reply) {
        *self.reply.lock() = reply;
    }

    fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }
}

/// Config: provider `up` (OpenAI Chat) at `base`, one key, route `m` → `up-model`.
fn scripted_toml(base: &str) -> String {
    format!(
        "[[providers]]\nname = \"up\"\nkind = \"openai_chat\"\nbase_url = {base:?}\nkeys = [\"sk-up-key-0123456789abcdef\"]\ntimeouts = {{ first_byte_ms = 20000, idle_ms = 20000, total_ms = 60000 }}\n\n\
         [[routes]]\nalias = \"m\"\ntargets = [{{ provider = \"up\", model = \"up-model\" }}]\n"
    )
}

// ---------------------------------------------------------------------------------------
// T11 — slowloris, huge bodies, connection floods, upstream caps

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_stalled_half_sent_requests_are_closed_while_traffic_flows() {
    let sb = Sb::start_with(one_route, |o| {
        o.header_read_timeout = Duration::from_millis(1500)
    })
    .await;
    let a = addr(&sb);
    let started = Instant::now();
    let mut stalled = Vec::new();
    for i in 0..50 {
        let mut s = TcpStream::connect(a).await.unwrap();
        // Half a request line, or a request line and half the headers.
        let part: &[u8] = if i % 2 == 0 {
            b"POST /v1/chat/comp"
        } else {
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthor"
        };
        s.write_all(part).await.unwrap();
        stalled.push(s);
    }
    // Normal traffic meanwhile, on fresh connections each time.
    let traffic = {
        let url = sb.url.clone();
        tokio::spawn(async move {
            let mut ok = 0;
            let until = Instant::now() + Duration::from_millis(2500);
            while Instant::now() < until {
                let c = reqwest::Client::builder()
                    .pool_max_idle_per_host(0)
                    .build()
                    .unwrap();
                let r = c
                    .post(format!("{url}/v1/chat/completions"))
                    .bearer_auth(ACCESS)
                    .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                ok += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            ok
        })
    };
    // Every stalled connection is closed by the server within the timeout (plus slack).
    let mut closed_after = Vec::new();
    for mut s in stalled {
        let mut buf = [0u8; 1024];
        let deadline = started + Duration::from_millis(1500 + 1500);
        loop {
            match tokio::time::timeout_at(deadline.into(), s.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => break,
                Ok(Ok(_)) => continue, // a 408 before closing is fine
                Err(_) => panic!(
                    "a stalled connection was still open after {:?}",
                    started.elapsed()
                ),
            }
        }
        closed_after.push(started.elapsed());
    }
    let ok = traffic.await.unwrap();
    assert!(
        ok >= 10,
        "only {ok} normal requests completed during the attack"
    );
    let last = closed_after.iter().max().unwrap();
    assert!(
        *last >= Duration::from_millis(1000),
        "closed before the timeout: {last:?}"
    );
}

#[tokio::test]
async fn t11_connections_beyond_the_cap_are_closed() {
    let sb = Sb::start_with(one_route, |o| {
        o.max_connections = 4;
        o.header_read_timeout = Duration::from_millis(1000);
    })
    .await;
    let a = addr(&sb);
    let mut held = Vec::new();
    // Authenticated requests still sending their bodies: busy, so none can be shed to make
    // room (an idle unauthenticated one would be: `hostile_clients`).
    for _ in 0..4 {
        let mut s = TcpStream::connect(a).await.unwrap();
        let head = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ACCESS}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        held.push(s);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The fifth connection is closed at once, without an answer.
    let mut extra = TcpStream::connect(a).await.unwrap();
    let _ = extra
        .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await;
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_millis(800), extra.read(&mut buf)).await;
    assert!(
        matches!(n, Ok(Ok(0) | Err(_))),
        "a connection over the cap was served: {n:?}"
    );
    // The held ones go, and the slots come back.
    drop(held);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = raw(a, "GET", "/health", Some("127.0.0.1"), &[], b"").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn t11_bodies_over_the_limit_are_refused_without_buffering() {
    let sb = Sb::start(one_route).await;
    let a = addr(&sb);
    // A declared gigabyte with a few bytes sent: 413 at once.
    for path in ["/v1/chat/completions", "/v1/messages", "/api/v1/providers"] {
        let token = if path.starts_with("/api") {
            ADMIN
        } else {
            ACCESS
        };
        let mut s = TcpStream::connect(a).await.unwrap();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n{{\"model\":"
        );
        s.write_all(head.as_bytes()).await.unwrap();
        let started = Instant::now();
        let r = read_response(&mut s, Duration::from_secs(2)).await;
        assert_eq!(r.status, 413, "{path}: {r:?}");
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    // A chunked body that grows past the limit is cut off with 413 too.
    let (s, _) = sb
        .admin(
            reqwest::Method::PUT,
            "/api/v1/settings",
            Some(json!({"body_limit_bytes": 4096})),
        )
        .await;
    assert_eq!(s, 200);
    let mut s = TcpStream::connect(a).await.unwrap();
    let head = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {ACCESS}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let piece = vec![b' '; 1024];
    let mut sent = 0;
    let writer = async {
        // Keep sending until the server stops reading; it must answer well before 1 MiB.
        while sent < 64 * 1024 * 1024 {
            if s.write_all(format!("{:x}\r\n", piece.len()).as_bytes())
                .await
                .is_err()
                || s.write_all(&piece).await.is_err()
                || s.write_all(b"\r\n").await.is_err()
            {
                break;
            }
            sent += piece.len();
            if sent > 16 * 1024 {
                break;
            }
        }
    };
    writer.await;
    let r = read_response(&mut s, Duration::from_secs(3)).await;
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(sb.mock.request_count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t11_upstream_bodies_and_sse_lines_are_capped() {
    // A non-streaming answer that never ends.
    let up = Scripted::start(Reply::Endless {
        content_type: "application/json",
        prefix: b"{\"id\":\"".to_vec(),
        filler: b'a',
    })
    .await;
    let base = up.base_url();
    let sb = Sb::start(move |_| scripted_toml(&base)).await;
    let started = Instant::now();
    let r = sb.chat("m").await;
    let status = r.status();
    let body = r.bytes().await.unwrap();
    assert_ne!(status, 200, "an endless body was answered as a success");
    assert!(
        body.len() < 64 * 1024,
        "the client got {} bytes",
        body.len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let sent = up.sent.load(Ordering::Relaxed);
    assert!(sent < 200 * 1024 * 1024, "the router read {sent} bytes");
    assert!(
        eventually(3000, async || up.open() == 0).await,
        "the upstream connection stayed open"
    );

    // A stream whose one line never ends.
    up.set(Reply::Endless {
        content_type: "text/event-stream",
        prefix: b"data: {\"choices\":[{\"delta\":{\"content\":\"".to_vec(),
        filler: b'x',
    });
    let sb = {
        let base = up.base_url();
        Sb::start(move |_| scripted_toml(&base)).await
    };
    let before = up.sent.load(Ordering::Relaxed);
    let started = Instant::now();
    let r = sb.chat_stream("m").await;
    let body = r.bytes().await.unwrap();
    assert!(
        body.len() < 64 * 1024,
        "the client got {} bytes",
        body.len()
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let sent = up.sent.load(Ordering::Relaxed) - before;
    assert!(
        sent < 100 * 1024 * 1024,
        "the router read {sent} bytes of one line"
    );
    assert!(
        eventually(3000, async || up.open() == 0).await,
        "the upstream connection stayed open"
    );
}

// ---------------------------------------------------------------------------------------
// T12 — SSE framing through the router

/// An OpenAI Chat stream with multi-byte UTF-8 in every delta, a usage chunk and `[DONE]`.
fn chat_stream_fixture(eol: &str, space: bool) -> Vec<u8> {
    let sp = if space { " " } else { "" };
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up-model",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        .to_string()
    };
    let mut events = vec![
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Grüße, "}), Value::Null),
        chunk(json!({"content": "世界 🎉"}), Value::Null),
        chunk(json!({"content": " done."}), Value::Null),
        chunk(json!({}), json!("stop")),
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "up-model", "choices": [],
               "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9}})
        .to_string(),
    ];
    events.push("[DONE]".into());
    let mut out = String::from(": keep-alive comment");
    out.push_str(eol);
    out.push_str(eol);
    for e in events {
        out.push_str(&format!("data:{sp}{e}{eol}{eol}"));
    }
    out.into_bytes()
}

/// Client-visible events: `(event name, data)`, with generated ids and timestamps blanked.
fn client_events(body: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let (mut event, mut data) = (String::new(), Vec::<String>::new());
    for line in body.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            if !data.is_empty() {
                let text = data.join("\n");
                let mut v = serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text));
                blank_ids(&mut v);
                out.push((std::mem::take(&mut event), v));
                data.clear();
            }
            event.clear();
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim_start().to_owned();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push(v.strip_prefix(' ').unwrap_or(v).to_owned());
        }
    }
    assert!(
        data.is_empty(),
        "the stream ended inside an event: {body:?}"
    );
    out
}

fn blank_ids(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                if matches!(
                    k.as_str(),
                    "id" | "created" | "created_at" | "responseId" | "item_id" | "call_id"
                ) {
                    *v = Value::Null;
                } else {
                    blank_ids(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(blank_ids),
        _ => {}
    }
}

/// The four client dialects: path, request body, and whether `events` end properly.
/// Path, request body, and whether the client's events end with the dialect's terminal event.
type StreamClient = (&'static str, Value, fn(&[(String, Value)]) -> bool);

fn stream_clients() -> Vec<StreamClient> {
    let msgs = json!([{"role": "user", "content": "hi"}]);
    vec![
        (
            "/v1/chat/completions",
            json!({"model": "m", "stream": true, "messages": msgs}),
            |e| e.last().is_some_and(|(_, d)| d == "[DONE]"),
        ),
        (
            "/v1/messages",
            json!({"model": "m", "stream": true, "max_tokens": 64, "messages": msgs}),
            |e| {
                e.last()
                    .is_some_and(|(n, d)| n == "message_stop" && d["type"] == "message_stop")
            },
        ),
        (
            "/v1/responses",
            json!({"model": "m", "stream": true, "input": "hi"}),
            |e| {
                e.last().is_some_and(|(n, d)| {
                    n == "response.completed" && d["response"]["status"] == "completed"
                })
            },
        ),
        (
            "/v1beta/models/m:streamGenerateContent?alt=sse",
            json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
            |e| {
                e.last()
                    .is_some_and(|(_, d)| d["candidates"][0]["finishReason"].is_string())
            },
        ),
    ]
}

fn text_of(events: &[(String, Value)]) -> String {
    let mut s = String::new();
    for (_, d) in events {
        for t in [
            &d["choices"][0]["delta"]["content"],
            &d["delta"]["text"],
            &d["candidates"][0]["content"]["parts"][0]["text"],
        ] {
            s.push_str(t.as_str().unwrap_or(""));
        }
        if d["type"] == "response.output_text.delta" {
            s.push_str(d["delta"].as_str().unwrap_or(""));
        }
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t12_sse_split_anywhere_reaches_every_client_identically() {
    let fixture = chat_stream_fixture("\n", true);
    let up = Scripted::start(Reply::Pieces {
        content_type: "text/event-stream",
        pieces: vec![fixture.clone()],
    })
    .await;
    let base = up.base_url();
    let sb = Sb::start(move |_| scripted_toml(&base)).await;
    let clients = stream_clients();
    let run = async |path: &str, body: &Value| -> Vec<(String, Value)> {
        let r = sb
            .http
            .post(format!("{}{path}", sb.url))
            .bearer_auth(ACCESS)
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        client_events(&r.text().await.unwrap())
    };
    // Baselines: the fixture in one piece.
    let mut baselines = Vec::new();
    for (path, body, ends_well) in &clients {
        let events = run(path, body).await;
        assert!(
            ends_well(&events),
            "{path}: no proper terminal event: {events:?}"
        );
        assert_eq!(text_of(&events), "Grüße, 世界 🎉 done.", "{path}");
        baselines.push(events);
    }
    // CRLF line ends and `data:x` without the space: the same events for every client.
    for variant in [
        chat_stream_fixture("\r\n", true),
        chat_stream_fixture("\n", false),
        chat_stream_fixture("\r\n", false),
        chat_stream_fixture("\r", true),
    ] {
        up.set(Reply::Pieces {
            content_type: "text/event-stream",
            pieces: vec![variant.clone()],
        });
        for ((path, body, _), base) in clients.iter().zip(&baselines) {
            assert_eq!(
                &run(path, body).await,
                base,
                "{path}: {:?}",
                String::from_utf8_lossy(&variant[..40])
            );
        }
        // One byte per piece.
        up.set(Reply::Pieces {
            content_type: "text/event-stream",
            pieces: variant.iter().map(|b| vec![*b]).collect(),
        });
        let (path, body, _) = &clients[0];
        assert_eq!(
            &run(path, body).await,
            &baselines[0],
            "{path}: one byte per read"
        );
    }
    // Split in two at every byte offset (inside UTF-8 sequences, between CR and LF, inside
    // `data:`), for the pass-through client and for a translated one; every other offset
    // for the other two clients.
    let crlf = chat_stream_fixture("\r\n", true);
    for (ci, step) in [(0usize, 1usize), (1, 1), (2, 3), (3, 3)] {
        let (path, body, _) = &clients[ci];
        let fixture = if ci == 1 { &crlf } else { &fixture };
        for cut in (1..fixture.len()).step_by(step) {
            up.set(Reply::Pieces {
                content_type: "text/event-stream",
                pieces: vec![fixture[..cut].to_vec(), fixture[cut..].to_vec()],
            });
            assert_eq!(
                &run(path, body).await,
                &baselines[ci],
                "{path}: split at {cut}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// T15 — faults under load (short run here; `scripts/soak.sh` runs 60 s)

fn proc_status(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| {
            l.strip_prefix(field)
                .map(|v| v.trim().trim_end_matches(" kB").trim().parse().unwrap_or(0))
        })
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[derive(Default, Debug)]
struct SoakTally {
    sent: usize,
    ok: usize,
    streams_complete: usize,
    streams_cut_upstream: usize,
    failures: BTreeMap<String, usize>,
}

fn soak_toml(base: &str) -> String {
    // Three keys that get faults, one that never does; hangs are cut by the first-byte timeout.
    format!(
        "[[providers]]\nname = \"mock\"\nkind = \"openai_chat\"\nbase_url = {base:?}\n\
         keys = [\"sk-soak-a-0123456789\", \"sk-soak-b-0123456789\", \"sk-soak-c-0123456789\", \"sk-soak-healthy-0123456789\"]\n\
         timeouts = {{ connect_ms = 2000, first_byte_ms = 4000, idle_ms = 4000, total_ms = 20000 }}\n\n\
         [[routes]]\nalias = \"soak\"\nstrategy = \"round_robin\"\ntargets = [{{ provider = \"mock\", model = \"soak-model\" }}]\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn t15_faults_under_load_cause_no_router_failures() {
    let secs: u64 = std::env::var("SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let rps: u64 = std::env::var("SOAK_RPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // An upstream that keeps counters but not a copy of every request, so memory measures
    // the router.
    let mock = MockUpstream::start_with(MockOptions {
        record: false,
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let base = mock.base_url(switchboard_mock_upstream::Dialect::OpenAiChat);
    let sb = Sb::start_with(
        move |_| soak_toml(&base),
        |o| o.clock = Arc::new(switchboard_router::clock::SystemClock),
    )
    .await;
    mock.reset();
    let (s, _) = sb
        .admin(
            reqwest::Method::PUT,
            "/api/v1/settings",
            Some(json!({"attempt_budget": 6})),
        )
        .await;
    assert_eq!(s, 200);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // Warm up, then take the baseline for fds and memory.
    for _ in 0..50 {
        assert_eq!(sb.chat("soak").await.status(), 200);
    }
    let fds0 = open_fds();
    let rss0 = proc_status("VmRSS:");
    let tally = Arc::new(Mutex::new(SoakTally::default()));
    let faulty = [
        "sk-soak-a-0123456789",
        "sk-soak-b-0123456789",
        "sk-soak-c-0123456789",
    ];
    let mut injected: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rps));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = secs * rps;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    // (open fds, RSS kB), once a second.
    let mut samples: Vec<(usize, u64)> = Vec::new();
    for i in 0..total {
        tick.tick().await;
        // xorshift: deterministic fault draw and stream choice.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let draw = rng % 1000;
        let key = faulty[(rng >> 20) as usize % faulty.len()];
        let fault = match draw {
            0..100 => Some(("429", "fault=429,retry_after=1")),
            100..130 => Some(("500", "fault=500")),
            130..140 => Some(("hang", "fault=hang")),
            140..150 => Some(("reset", "fault=reset,after=2")),
            _ => None,
        };
        if let Some((name, spec)) = fault {
            sb.mock
                .push_fault_for_key(key, spec.parse::<Fault>().unwrap());
            *injected.entry(name).or_default() += 1;
        }
        let stream = (rng >> 40).is_multiple_of(2);
        let (http, url, tally) = (http.clone(), sb.url.clone(), tally.clone());
        tasks.spawn(async move {
            let body = json!({"model": "soak", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
            let r = http.post(format!("{url}/v1/chat/completions")).bearer_auth(ACCESS).json(&body).send().await;
            let t = |k: String| *tally.lock().failures.entry(k).or_default() += 1;
            let r = match r {
                Ok(r) => r,
                Err(e) => return t(format!("transport: {e}")),
            };
            let status = r.status().as_u16();
            let text = r.text().await;
            let mut tl = tally.lock();
            tl.sent += 1;
            match (status, text) {
                (200, Ok(text)) if !stream => {
                    if serde_json::from_str::<Value>(&text).is_ok_and(|v| v["choices"][0]["message"]["content"].is_string()) {
                        tl.ok += 1;
                    } else {
                        *tl.failures.entry(format!("bad body: {text}")).or_default() += 1;
                    }
                }
                (200, Ok(text)) => {
                    let data = sse_data(&text);
                    if data.last().is_some_and(|d| d == "[DONE]") && text.contains("\"finish_reason\":\"stop\"") {
                        tl.ok += 1;
                        tl.streams_complete += 1;
                    } else if text.contains("\"error\"") {
                        // The upstream dropped the stream after content reached the client:
                        // a protocol-correct error event, not a router failure.
                        tl.streams_cut_upstream += 1;
                    } else {
                        *tl.failures.entry(format!("stream ended badly: {text}")).or_default() += 1;
                    }
                }
                (s, Ok(text)) => *tl.failures.entry(format!("{s}: {}", &text[..text.len().min(300)])).or_default() += 1,
                (s, Err(e)) => *tl.failures.entry(format!("{s}: body {e}")).or_default() += 1,
            }
        });
        // Finished tasks are collected as we go: a JoinSet keeps each one until joined.
        while let Some(r) = tasks.try_join_next() {
            r.unwrap();
        }
        if i % rps == 0 {
            samples.push((open_fds(), proc_status("VmRSS:")));
        }
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let tally = std::mem::take(&mut *tally.lock());
    eprintln!("T15 soak: {secs} s at {rps} rps; injected {injected:?}; {tally:?}");
    if !tally.failures.is_empty() {
        eprintln!(
            "T15 key health at the end: {}",
            sb.get("/api/v1/health").await
        );
        let rows = sb
            .handle()
            .control()
            .store()
            .query_requests(&switchboard_store::RequestFilter {
                limit: 5000,
                ..Default::default()
            })
            .await
            .unwrap();
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        for r in &rows {
            for a in &r.attempts {
                *outcomes
                    .entry(format!("key {:?} {:?} {:?}", a.key_id, a.outcome, a.status))
                    .or_default() += 1;
            }
        }
        eprintln!("T15 attempts by key and outcome: {outcomes:#?}");
    }
    // Zero router-caused failures: every request was answered, every answer is a success
    // except streams the upstream cut after content had reached the client.
    assert!(
        tally.failures.is_empty(),
        "router-caused failures: {:#?}",
        tally.failures
    );
    assert_eq!(tally.sent as u64, total);
    assert!(tally.streams_cut_upstream <= injected.get("reset").copied().unwrap_or(0));
    // Nothing left running: the router's and the upstream's in-flight counters are back to 0.
    let engine = sb.handle().control().engine().clone();
    assert!(
        eventually(5000, async || engine.in_flight() == 0).await,
        "router in-flight {}",
        engine.in_flight()
    );
    assert!(
        mock.wait_idle(Duration::from_secs(5)).await,
        "upstream in-flight {}",
        mock.in_flight()
    );
    // Resources flat. Pooled keep-alive connections (client → router → upstream) account
    // for a bounded number of fds; what must not happen is growth through the run: the
    // second half may not climb above the first half's peak (plus slack), and once the
    // client's connections are gone the count falls back.
    drop(http);
    eprintln!(
        "T15 (fds, RSS kB) at start {:?}, each second {samples:?}, after {:?}",
        (fds0, rss0),
        (open_fds(), proc_status("VmRSS:"))
    );
    // Memory: after the first quarter (pools and caches warm), RSS may not keep climbing.
    // File descriptors follow the number of requests in flight (a stalled machine piles up
    // connections); what must hold is that they all come back.
    let quarter = samples.len() / 4;
    let rss_warm = samples[..quarter.max(1)]
        .iter()
        .map(|s| s.1)
        .max()
        .unwrap_or(rss0);
    let rss_end = samples.iter().map(|s| s.1).max().unwrap_or(rss0);
    assert!(
        rss_end <= rss_warm + 48 * 1024,
        "RSS kept growing: {rss_warm} kB after warm-up, {rss_end} kB at the end: {samples:?}"
    );
    // The router keeps up to 256 idle upstream connections per host (both ends are in this
    // process: 512 fds); anything beyond that after the clients left would be a leak.
    let fd_ok = eventually(5000, async || open_fds() <= fds0 + 2 * 256 + 64).await;
    assert!(
        fd_ok,
        "fds did not fall back: {fds0} at start, {} now",
        open_fds()
    );
    // Every client request reached the upstream at least once.
    assert!(
        mock.request_count() as u64 >= total,
        "upstream saw {} requests",
        mock.request_count()
    );
}

// ---------------------------------------------------------------------------------------
// T9 / T10 — the desktop shell's configuration (static checks; the behaviour is tested by
// `scripts/desktop-test.sh` and `ui/e2e`)

#[test]
fn t9_t10_desktop_webview_and_updater_are_locked_down() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../src-tauri");
    let Ok(conf) = std::fs::read_to_string(root.join("tauri.conf.json")) else {
        eprintln!("skipped: no src-tauri in this checkout");
        return;
    };
    let conf: Value = serde_json::from_str(&conf).unwrap();
    let app = &conf["app"];
    assert_eq!(
        app["withGlobalTauri"], false,
        "the Tauri API must not be a global of every page"
    );
    let csp = &app["security"]["csp"];
    assert!(csp.is_object() || csp.is_string(), "no CSP: {csp}");
    let csp_text = csp.to_string();
    assert!(
        !csp_text.contains("unsafe-eval"),
        "CSP allows eval: {csp_text}"
    );
    let script_src = if csp.is_object() {
        csp["script-src"].to_string()
    } else {
        csp_text.clone()
    };
    assert!(
        !script_src.contains("unsafe-inline") && !script_src.contains('*'),
        "script-src: {script_src}"
    );
    assert!(
        !app["security"]["dangerousDisableAssetCspModification"]
            .as_bool()
            .unwrap_or(false)
    );
    // Capabilities: explicit windows, no remote URLs, no broad plugin permissions.
    let caps = std::fs::read_dir(root.join("capabilities")).unwrap();
    let mut n = 0;
    for cap in caps.flatten() {
        let cap: Value =
            serde_json::from_str(&std::fs::read_to_string(cap.path()).unwrap()).unwrap();
        let windows = cap["windows"]
            .as_array()
            .unwrap_or_else(|| panic!("capability without windows: {cap}"));
        assert!(
            !windows.is_empty()
                && windows
                    .iter()
                    .all(|w| w.as_str().is_some_and(|w| !w.contains('*'))),
            "{cap}"
        );
        assert!(
            cap.get("remote").is_none(),
            "a capability for remote URLs: {cap}"
        );
        for p in cap["permissions"].as_array().unwrap() {
            let p = p
                .as_str()
                .unwrap_or_else(|| p["identifier"].as_str().unwrap_or(""));
            for broad in [
                "shell:",
                "fs:",
                "http:",
                "process:",
                "core:default",
                "opener:",
            ] {
                assert!(!p.starts_with(broad), "broad permission {p}");
            }
        }
        n += 1;
    }
    assert!(n >= 1);
    // Tauri at or above the release that fixed GHSA-7gmj-67g7-phm9.
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("\nname = \"tauri\"\n"))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| {
            v.trim_end_matches('"')
                .split('.')
                .map(|x| x.parse::<u32>().unwrap_or(0))
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert!(version >= vec![2, 11, 1], "tauri {version:?} < 2.11.1");
    // T10: updates are signed and fetched over https only.
    let upd = &conf["plugins"]["updater"];
    assert!(
        upd["pubkey"].as_str().is_some_and(|k| !k.is_empty()),
        "updates must be signed"
    );
    for e in upd["endpoints"].as_array().unwrap() {
        assert!(
            e.as_str().unwrap().starts_with("https://"),
            "updater endpoint {e}"
        );
    }
    // The UI build must not expose TAURI_* variables (signing keys) to the bundle.
    if let Ok(vite) = std::fs::read_to_string(root.join("../ui/vite.config.ts")) {
        assert!(
            !vite.contains("TAURI_"),
            "ui/vite.config.ts mentions TAURI_ variables"
        );
    }
}
