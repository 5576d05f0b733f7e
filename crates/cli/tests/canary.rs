//! SECURITY.md T7: canary keys never leave as plain text — not in any log line at trace level
//! (tracing and `log` records, set up the way `switchboard serve` sets up logging), not in any
//! response body or header, not in any byte of the SQLite files or the secrets file, not in a
//! panic message — across success, 401, 429, 500, timeout, mid-stream errors and an upstream
//! error body that quotes the key.
//!
//! Its own test binary: it installs a process-wide subscriber and panic hook.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_mock_upstream::{Dialect as MockDialect, MockUpstream};
use switchboard_router::Secret;
use switchboard_server::{Options, Switchboard};

/// Every canary contains this; nothing else the test produces does.
const MARK: &str = "CANARY";
const ACCESS: &str = "sk-sb-CANARY-local-access-0123456789";
const ADMIN: &str = "sbadm-CANARY-local-admin-0123456789";

static CAPTURED: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Trace-level logging for the whole process, as `switchboard serve --log-level trace` sets it
/// up (fmt + env filter; `log` records bridged), and panic messages into the same buffer.
fn capture_everything() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
        std::panic::set_hook(Box::new(|info| {
            let _ = writeln!(Capture, "PANIC: {info}");
            // And to stderr as usual, so the test's own failures stay visible.
            eprintln!("{info}");
        }));
    });
}

const SCENARIOS: &[(&str, &str)] = &[
    ("ok", "mock-small"),
    ("ok-reasoning", "mock-small@reasoning,tool"),
    ("s401", "m@fault=401"),
    ("s403", "m@fault=403"),
    ("s429", "m@fault=429,retry_after=1"),
    ("quota", "m@fault=quota"),
    ("s500", "m@fault=500"),
    ("hang", "m@fault=hang"),
    ("slow", "m@fault=slow_second_chunk,delay_ms=2000"),
    ("reset", "m@fault=reset,after=2"),
    ("inband", "m@fault=error_event"),
    ("echo401", "m@fault=echo_key"),
    ("echo400", "m@fault=echo_key,status=400"),
    ("echo429", "m@fault=echo_key,status=429"),
    ("echo500", "m@fault=echo_key,status=500"),
];

const DIALECTS: &[(&str, &str, MockDialect)] = &[
    ("oa", "openai_chat", MockDialect::OpenAiChat),
    ("rs", "openai_responses", MockDialect::OpenAiResponses),
    ("an", "anthropic", MockDialect::Anthropic),
    ("ge", "gemini", MockDialect::Gemini),
];

fn canary_key(dialect: &str, scenario: &str) -> String {
    match dialect {
        "ge" => format!("AIzaCANARY-{scenario}-0123456789abcdefghij"),
        "an" => format!("sk-ant-api03-CANARY-{scenario}-0123456789abcdef"),
        _ => format!("sk-CANARY-{dialect}-{scenario}-0123456789abcdef"),
    }
}

/// The request for `alias` in client dialect `client`, streaming or not: (path, body).
fn request(client: &str, alias: &str, stream: bool) -> (String, Value) {
    let msgs = json!([{"role": "user", "content": "what is the weather in Paris?"}]);
    match client {
        "oa" => (
            "/v1/chat/completions".into(),
            json!({"model": alias, "stream": stream, "messages": msgs}),
        ),
        "rs" => (
            "/v1/responses".into(),
            json!({"model": alias, "stream": stream, "input": "hi"}),
        ),
        "an" => (
            "/v1/messages".into(),
            json!({"model": alias, "stream": stream, "max_tokens": 64, "messages": msgs}),
        ),
        _ => {
            let action = if stream {
                "streamGenerateContent?alt=sse"
            } else {
                "generateContent"
            };
            (
                format!("/v1beta/models/{alias}:{action}"),
                json!({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}),
            )
        }
    }
}

/// Every response as text: status line, headers and body.
fn transcript(status: u16, headers: &reqwest::header::HeaderMap, body: &[u8]) -> String {
    let mut s = format!("{status}\n");
    for (n, v) in headers {
        s.push_str(&format!("{n}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    s.push_str(&String::from_utf8_lossy(body));
    s
}

fn files_under(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn assert_clean(what: &str, haystack: &[u8]) {
    if let Some(pos) = haystack
        .windows(MARK.len())
        .position(|w| w == MARK.as_bytes())
    {
        let from = pos.saturating_sub(200);
        let to = (pos + 200).min(haystack.len());
        panic!(
            "a canary leaked into {what}: …{}…",
            String::from_utf8_lossy(&haystack[from..to])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn t7_canary_keys_never_leak() {
    capture_everything();
    let mock = MockUpstream::start().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let mut opts = Options::new(data.path().join("data"));
    opts.port = 0;
    opts.key_file = Some(keys.path().join("master.key"));
    opts.access_key = Some(Secret::new(ACCESS));
    opts.admin_token = Some(Secret::new(ADMIN));
    let sb = Switchboard::start(opts).await.unwrap();
    let url = format!("http://{}", sb.local_addr());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let mut responses = String::new();

    // Providers, keys and routes through the admin API: one provider and key per dialect and
    // scenario, so one scenario's cooldown does not hide another's path.
    let admin = |method: reqwest::Method, path: &str, body: Value| {
        http.request(method, format!("{url}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    for (d, kind, md) in DIALECTS {
        for (s, model) in SCENARIOS {
            let name = format!("{d}-{s}");
            let p = json!({"name": name, "kind": kind, "base_url": mock.base_url(*md),
                           "timeouts": {"first_byte_ms": 400, "idle_ms": 400, "total_ms": 5000}});
            let r = admin(reqwest::Method::POST, "/api/v1/providers", p)
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            let r = admin(
                reqwest::Method::POST,
                "/api/v1/keys",
                json!({"provider": name, "label": s, "secret": canary_key(d, s)}),
            )
            .await
            .unwrap();
            let (st, h) = (r.status().as_u16(), r.headers().clone());
            responses.push_str(&transcript(st, &h, &r.bytes().await.unwrap()));
            assert_eq!(st, 200);
            let r = admin(
                reqwest::Method::POST,
                "/api/v1/routes",
                json!({"alias": name, "targets": [{"provider": name, "model": model}]}),
            )
            .await
            .unwrap();
            assert_eq!(r.status(), 200);
        }
    }

    // Every scenario, from the provider's own dialect and from a foreign one, JSON and SSE.
    let mut calls = Vec::new();
    for (d, _, _) in DIALECTS {
        for (s, _) in SCENARIOS {
            let alias = format!("{d}-{s}");
            for client in [*d, if *d == "oa" { "an" } else { "oa" }] {
                for stream in [false, true] {
                    let (path, body) = request(client, &alias, stream);
                    let alias = alias.clone();
                    let req = http
                        .post(format!("{url}{path}"))
                        .bearer_auth(ACCESS)
                        .json(&body);
                    calls.push(async move {
                        let r = req.send().await.unwrap();
                        let (st, h) = (r.status().as_u16(), r.headers().clone());
                        let body = r.bytes().await.unwrap_or_default();
                        (alias, st, transcript(st, &h, &body))
                    });
                }
            }
        }
    }
    let mut statuses = std::collections::BTreeSet::new();
    for (alias, st, text) in futures_join(calls).await {
        statuses.insert(st);
        responses.push_str(&format!("== {alias}\n{text}\n"));
    }
    // The paths above include success, client and upstream errors of every kind.
    for want in [200, 401, 429, 502, 504] {
        assert!(statuses.contains(&want), "no {want} among {statuses:?}");
    }

    // The router's own 401s: no token, a wrong one, a near miss of the real one.
    for token in [
        None,
        Some("sk-sb-CANARY-local-access-012345678X"),
        Some("wrong"),
    ] {
        let mut req = http
            .post(format!("{url}/v1/chat/completions"))
            .json(&json!({"model": "oa-ok", "messages": []}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        let (st, h) = (r.status().as_u16(), r.headers().clone());
        // The presented (wrong) token is the client's own; the answer must not carry it back
        // either, but it is not a stored secret, so it is not part of the scan.
        let body = r.bytes().await.unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("012345678X"));
        responses.push_str(&transcript(st, &h, &body));
    }

    // Every admin read (the access-key route exists to show the access key to the admin, so
    // it is left out), and the actions that use keys.
    let doc: Value = serde_json::from_str(&switchboard_server::openapi_json()).unwrap();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        if ops.get("get").is_none()
            || path.contains('{')
            || path.ends_with("/live")
            || path.ends_with("/events")
            || path == "/api/v1/access-key"
            || path.contains("integrations")
        {
            continue;
        }
        let r = http
            .get(format!("{url}{path}"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let (st, h) = (r.status().as_u16(), r.headers().clone());
        responses.push_str(&format!(
            "== GET {path}\n{}\n",
            transcript(st, &h, &r.bytes().await.unwrap())
        ));
    }
    let key_list: Value = http
        .get(format!("{url}/api/v1/keys"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for k in key_list.as_array().unwrap().iter().take(20) {
        let id = k["id"].as_i64().unwrap();
        for path in [
            format!("/api/v1/keys/{id}/probe"),
            format!("/api/v1/keys/{id}/clear"),
        ] {
            let r = http
                .post(format!("{url}{path}"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap();
            let (st, h) = (r.status().as_u16(), r.headers().clone());
            responses.push_str(&transcript(st, &h, &r.bytes().await.unwrap()));
        }
    }
    for p in ["oa-ok", "oa-echo401", "ge-echo400", "an-s500"] {
        let r = http
            .post(format!("{url}/api/v1/providers/{p}/discover"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        let (st, h) = (r.status().as_u16(), r.headers().clone());
        responses.push_str(&transcript(st, &h, &r.bytes().await.unwrap()));
    }
    let rows: Value = http
        .get(format!("{url}/api/v1/requests?limit=1000"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        rows.as_array().unwrap().len() > 100,
        "the request log holds {} rows",
        rows.as_array().unwrap().len()
    );

    // Panics: secrets and the structures holding them print masked.
    let secret = Secret::new("sk-CANARY-panic-0123456789abcdef");
    let config = sb
        .control()
        .store()
        .load_config_with_problems()
        .await
        .unwrap()
        .0;
    assert!(
        config.keys.iter().any(|k| k.secret.expose().contains(MARK)),
        "the config holds the canaries"
    );
    let caught = std::panic::catch_unwind(|| {
        panic!("forced: {secret:?} {secret} {:?} {config:?}", Some(&secret))
    });
    assert!(caught.is_err());
    let snapshot = sb.control().engine().snapshot();
    let join = tokio::spawn(async move { panic!("forced in a task: {snapshot:?}") }).await;
    let err = join.unwrap_err();
    assert!(err.is_panic());

    let mut admin_state = String::new();
    sb.shutdown().await;
    mock.shutdown().await;

    // Scan: logs and panics, responses, every file the router wrote.
    let logs = CAPTURED.lock().unwrap().clone();
    assert!(
        logs.len() > 10_000,
        "trace logging captured only {} bytes",
        logs.len()
    );
    assert!(
        String::from_utf8_lossy(&logs).contains("PANIC: "),
        "the panic hook saw no panic"
    );
    assert_clean("the trace logs or a panic message", &logs);
    assert_clean("a response", responses.as_bytes());
    let mut files = Vec::new();
    files_under(data.path(), &mut files);
    files_under(keys.path(), &mut files);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for must in ["switchboard.db", "secrets.enc"] {
        assert!(
            names.iter().any(|n| n == must),
            "{must} missing from {names:?}"
        );
    }
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        assert_clean(&f.display().to_string(), &bytes);
        admin_state.push_str(&format!("{} ({} bytes)\n", f.display(), bytes.len()));
    }
    eprintln!(
        "T7 scanned {} bytes of logs, {} bytes of responses, files:\n{admin_state}",
        logs.len(),
        responses.len()
    );
}

/// A secret type cannot be serialised by accident: `Secret` has no `Serialize` impl (checked
/// here without a compile-fail harness: an inherent method with a `Serialize` bound wins over
/// the trait fallback only when the bound holds).
#[test]
fn t7_secret_is_masked_and_not_serialisable() {
    struct Probe<T>(std::marker::PhantomData<T>);
    trait NotSerialize {
        fn serializable(&self) -> bool {
            false
        }
    }
    impl<T> NotSerialize for Probe<T> {}
    impl<T: serde::Serialize> Probe<T> {
        #[allow(dead_code)]
        fn serializable(&self) -> bool {
            true
        }
    }
    assert!(
        Probe::<String>(std::marker::PhantomData).serializable(),
        "the probe works"
    );
    assert!(
        !Probe::<Secret>(std::marker::PhantomData).serializable(),
        "Secret must not be Serialize"
    );
    let s = Secret::new("sk-CANARY-0123456789abcdef");
    for shown in [
        format!("{s}"),
        format!("{s:?}"),
        format!("{:?}", Some(&s)),
        format!("{:#?}", vec![s.clone()]),
    ] {
        assert!(!shown.contains(MARK), "{shown}");
    }
}

async fn futures_join<F>(fs: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (i, f) in fs.into_iter().enumerate() {
        set.spawn(async move { (i, f.await) });
    }
    let mut out = Vec::new();
    while let Some(r) = set.join_next().await {
        out.push(r.unwrap());
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, o)| o).collect()
}
