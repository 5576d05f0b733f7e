//! The upstream network: a global proxy and a provider's own (HTTP and SOCKS5, through a real
//! proxy server whose own log proves the path), NO_PROXY hosts reached directly, "direct", an
//! unreachable proxy failing over without a hang, proxy URLs refused with their reason, and
//! proxy credentials kept in the secret store only.
//!
//! The proxy is `pproxy` (tests/sdk/requirements.txt; scripts/test.sh installs it before the
//! workspace tests). A missing `pproxy` fails these tests: it is never skipped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchboard_mock_upstream::{Dialect as MockDialect, MockUpstream};

use crate::common::*;

const A: &str = "sk-net-key-a-aaaaaaaaaaaaaaaa";
const B: &str = "sk-net-key-b-bbbbbbbbbbbbbbbb";

/// The proxy binary: `SWITCHBOARD_PPROXY`, else the SDK venv's, else `pproxy` on the PATH.
fn pproxy_binary() -> PathBuf {
    if let Ok(p) = std::env::var("SWITCHBOARD_PPROXY") {
        return PathBuf::from(p);
    }
    let venv = std::env::var("SWITCHBOARD_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/switchboard-venv")
        });
    let in_venv = venv.join("bin/pproxy");
    if in_venv.is_file() {
        return in_venv;
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("pproxy"))
            .find(|p| p.is_file())
    });
    on_path.unwrap_or_else(|| {
        panic!(
            "pproxy is not installed (looked in {} and on PATH): run \
             `bash tests/sdk/venv.sh` (scripts/test.sh does) or set SWITCHBOARD_PPROXY",
            in_venv.display()
        )
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real proxy server on a free port, logging every connection it carries.
struct Proxy {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Proxy {
    /// `scheme`: `http` or `socks5`; `auth`: `user:password` the proxy demands on every
    /// connection.
    async fn start(scheme: &str, auth: Option<&str>, dir: &Path) -> Proxy {
        let port = free_port();
        let log = dir.join(format!("pproxy-{scheme}-{port}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let mut listen = format!("{scheme}://127.0.0.1:{port}");
        let mut cmd = Command::new(pproxy_binary());
        if let Some(a) = auth {
            listen.push_str(&format!("#{a}"));
            // Ask for the credentials on every connection, not once per client address.
            cmd.args(["--auth", "0"]);
        }
        let child = cmd
            .args(["-l", &listen, "-v"])
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start pproxy: {e}"));
        let proxy = Proxy { child, port, log };
        let up = eventually(30_000, async || {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        })
        .await;
        assert!(up, "pproxy did not listen: {}", proxy.log_text());
        proxy
    }

    fn url(&self, scheme: &str) -> String {
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Connections the proxy carried to `dest` (`host:port`), by its own log.
    fn carried(&self, dest: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.ends_with(&format!("-> {dest}")))
            .count()
    }

    async fn wait_carried(&self, dest: &str, n: usize) {
        let seen = eventually(10_000, async || self.carried(dest) >= n).await;
        assert!(
            seen,
            "the proxy carried fewer than {n} to {dest}:\n{}",
            self.log_text()
        );
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mock_dest(mock: &MockUpstream) -> String {
    format!("127.0.0.1:{}", mock.addr().port())
}

fn provider_block(name: &str, base_url: &str, key: &str, extra: &str) -> String {
    format!(
        "[[providers]]\nname = {name:?}\nkind = \"openai_chat\"\nbase_url = {base_url:?}\n\
         keys = [{{ label = \"{name}-key\", secret = {key:?} }}]\n{extra}\n"
    )
}

fn route(alias: &str, targets: &[&str]) -> String {
    let t: Vec<String> = targets
        .iter()
        .map(|p| format!("{{ provider = {p:?}, model = \"x\" }}"))
        .collect();
    format!(
        "[[routes]]\nalias = {alias:?}\ntargets = [{}]\n\n",
        t.join(", ")
    )
}

async fn put_provider_proxy(sb: &Sb, name: &str, proxy: Value) -> (u16, Value) {
    let mut p = sb.get(&format!("/api/v1/providers/{name}")).await;
    p["proxy"] = proxy;
    sb.admin(
        reqwest::Method::PUT,
        &format!("/api/v1/providers/{name}"),
        Some(p),
    )
    .await
}

async fn put_global_proxy(sb: &Sb, proxy: Value) -> (u16, Value) {
    let mut s = sb.get("/api/v1/settings").await;
    s["proxy"] = proxy;
    sb.admin(reqwest::Method::PUT, "/api/v1/settings", Some(s))
        .await
}

/// Log lines written while the guard lives, on this thread (the test's current-thread
/// runtime runs the server's tasks too).
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn assert_absent(what: &str, haystack: &[u8], needle: &str) {
    assert!(
        !haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes()),
        "the proxy password leaked into {what}"
    );
}

const PROXY_PASSWORD: &str = "pw-CANARY-proxy-5e1f9c";

#[tokio::test(flavor = "current_thread")]
async fn an_http_proxy_with_credentials_carries_a_providers_requests_and_its_password_stays_secret()
{
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // Also bridges the `log` records of the HTTP stack.
    let _logging = tracing_subscriber::util::SubscriberInitExt::set_default(subscriber);

    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start("http", Some(&format!("sb:{PROXY_PASSWORD}")), dir.path()).await;
    // Configured through the admin API only: a config file would set the provider again at
    // the restart below.
    let mut sb = Sb::start(|_| String::new()).await;
    let dest = mock_dest(&sb.mock);
    let base_url = sb.mock.base_url(MockDialect::OpenAiChat);
    for (path, body) in [
        (
            "/api/v1/providers",
            json!({"name": "p1", "kind": "openai_chat", "base_url": base_url}),
        ),
        (
            "/api/v1/keys",
            json!({"provider": "p1", "label": "p1-key", "secret": A}),
        ),
        (
            "/api/v1/routes",
            json!({"alias": "m", "targets": [{"provider": "p1", "model": "x"}]}),
        ),
    ] {
        let (status, v) = sb.admin(reqwest::Method::POST, path, Some(body)).await;
        assert!(status < 300, "{path}: {v}");
    }

    // The credentials go in the URL; what is kept and shown has none.
    let with_auth = format!("http://sb:{PROXY_PASSWORD}@127.0.0.1:{}", proxy.port);
    let (status, saved) =
        put_provider_proxy(&sb, "p1", json!({"mode": "url", "url": with_auth})).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["proxy"]["url"], proxy.url("http"));
    let cred_ref = saved["proxy"]["credential_ref"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(cred_ref.starts_with("proxy/"), "{cred_ref}");
    assert_absent(
        "the admin API",
        saved.to_string().as_bytes(),
        PROXY_PASSWORD,
    );

    let r = sb.chat("m").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    proxy.wait_carried(&dest, 1).await;
    assert_eq!(sb.mock.count_for_key(A), 1);

    // Saved again as shown (the reference sent back): the credentials stay.
    let (status, again) = put_provider_proxy(&sb, "p1", saved["proxy"].clone()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["proxy"]["credential_ref"], cred_ref.as_str());
    // A reference to any other secret is refused: a setting cannot borrow a key.
    let mut borrowed = saved["proxy"].clone();
    borrowed["credential_ref"] = json!("proxy/someone-elses");
    let (status, err) = put_provider_proxy(&sb, "p1", borrowed).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["field"], "proxy.credential_ref");

    // After a restart the credentials come from the secret store.
    sb.restart().await;
    let r = sb.chat("m").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    proxy.wait_carried(&dest, 2).await;
    assert_eq!(sb.mock.count_for_key(A), 2);

    // Without its credentials the proxy refuses (it asks on every connection): the path
    // really went through it.
    let mut bare = again["proxy"].clone();
    bare.as_object_mut().unwrap().remove("credential_ref");
    let (status, _) = put_provider_proxy(&sb, "p1", bare).await;
    assert_eq!(status, 200);
    let r = sb.chat("m").await;
    assert_ne!(r.status(), 200);
    assert_eq!(sb.mock.count_for_key(A), 2);
    assert!(
        proxy.log_text().contains("Unauthorized HTTP"),
        "{}",
        proxy.log_text()
    );

    // The password is in no file Switchboard wrote (database, WAL, secrets file) and in no
    // log line.
    sb.logged(3).await;
    let mut files = Vec::new();
    files_under(sb.dir.path(), &mut files);
    assert!(files.iter().any(|f| f.to_string_lossy().contains("data")));
    for f in files {
        assert_absent(
            &f.display().to_string(),
            &std::fs::read(&f).unwrap(),
            PROXY_PASSWORD,
        );
    }
    let text = logs.0.lock().unwrap().clone();
    assert!(!text.is_empty(), "no log lines were captured");
    assert_absent("the logs", &text, PROXY_PASSWORD);
}

#[tokio::test]
async fn a_global_socks5_proxy_carries_requests_except_to_no_proxy_hosts_and_direct_providers() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start("socks5", None, dir.path()).await;
    let sb = Sb::start(|mock| {
        let far = mock.base_url(MockDialect::OpenAiChat);
        let near = far.replace("127.0.0.1", "localhost");
        provider_block("far", &far, A, "")
            + &provider_block("near", &near, B, "")
            + &route("far", &["far"])
            + &route("near", &["near"])
    })
    .await;
    let dest = mock_dest(&sb.mock);

    let (status, v) = put_global_proxy(
        &sb,
        json!({"mode": "url", "url": proxy.url("socks5h"), "no_proxy": ["localhost"]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["proxy"]["no_proxy"], json!(["localhost"]));

    let r = sb.chat("far").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    proxy.wait_carried(&dest, 1).await;

    // A NO_PROXY host is reached directly: the mock answers, the proxy never sees it.
    let r = sb.chat("near").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(sb.mock.count_for_key(B), 1);
    let log = proxy.log_text();
    assert!(!log.contains("localhost"), "{log}");
    assert_eq!(proxy.carried(&dest), 1, "{log}");

    // A provider's own "direct" overrides the global proxy.
    let (status, v) = put_provider_proxy(&sb, "far", json!({"mode": "direct"})).await;
    assert_eq!(status, 200, "{v}");
    let r = sb.chat("far").await;
    assert_eq!(r.status(), 200);
    assert_eq!(sb.mock.count_for_key(A), 2);
    assert_eq!(proxy.carried(&dest), 1, "{}", proxy.log_text());

    // Its own SOCKS5 proxy, one that asks for credentials on every connection (names
    // resolved locally).
    let own = Proxy::start("socks5", Some("sb:socks-pass"), dir.path()).await;
    let url = format!("socks5://sb:socks-pass@127.0.0.1:{}", own.port);
    let (status, v) = put_provider_proxy(&sb, "far", json!({"mode": "url", "url": url})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["proxy"]["url"], own.url("socks5"));
    let r = sb.chat("far").await;
    assert_eq!(r.status(), 200);
    own.wait_carried(&dest, 1).await;
    assert!(
        !own.log_text().contains("Unauthorized"),
        "{}",
        own.log_text()
    );
    assert_eq!(sb.mock.count_for_key(A), 3);
    assert_eq!(proxy.carried(&dest), 1, "{}", proxy.log_text());

    // Back to the global setting (no override).
    let (status, v) = put_provider_proxy(&sb, "far", Value::Null).await;
    assert_eq!(status, 200, "{v}");
    assert!(v.get("proxy").is_none(), "{v}");
}

#[tokio::test]
async fn an_unreachable_proxy_cools_the_key_and_the_request_fails_over_without_a_hang() {
    // One proxy port nobody listens on (refused), one that accepts connections and never
    // answers the SOCKS handshake (only the connect timeout ends it).
    let closed = free_port();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_port = silent.local_addr().unwrap().port();
    let sb = Sb::start(move |mock| {
        let url = mock.base_url(MockDialect::OpenAiChat);
        let refused = format!(
            "proxy = {{ mode = \"url\", url = \"http://127.0.0.1:{closed}\" }}\n\
             timeouts = {{ connect_ms = 1500 }}\nretry = {{ max_retries = 0 }}"
        );
        let stalled = format!(
            "proxy = {{ mode = \"url\", url = \"socks5://127.0.0.1:{silent_port}\" }}\n\
             timeouts = {{ connect_ms = 1500 }}\nretry = {{ max_retries = 0 }}"
        );
        provider_block("refused", &url, A, &refused)
            + &provider_block("stalled", &url, B, &stalled)
            + &provider_block("fine", &url, "sk-net-key-c-cccccccccccccccc", "")
            + &route("m", &["refused", "stalled", "fine"])
    })
    .await;

    let started = Instant::now();
    let r = sb.chat("m").await;
    let took = started.elapsed();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert!(took < Duration::from_secs(20), "took {took:?}");
    assert_eq!(sb.mock.count_for_key("sk-net-key-c-cccccccccccccccc"), 1);
    assert_eq!((sb.mock.count_for_key(A), sb.mock.count_for_key(B)), (0, 0));

    for label in ["refused-key", "stalled-key"] {
        let k = sb.key(label).await;
        assert_eq!(k["state"], "cooling", "{label}: {k}");
    }
    let rows = sb.logged(1).await;
    let outcomes: Vec<(&str, &str)> = rows[0]
        .attempts
        .iter()
        .map(|a| (a.provider.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(outcomes[2], ("fine", "ok"));
    assert!(
        outcomes[..2].iter().all(|(_, o)| *o != "ok"),
        "{outcomes:?}"
    );
    drop(silent);
}

#[tokio::test]
async fn a_proxy_url_that_does_not_parse_is_refused_with_the_reason() {
    let sb = Sb::start(|mock| provider_block("p1", &mock.base_url(MockDialect::OpenAiChat), A, ""))
        .await;
    let (status, v) = put_provider_proxy(
        &sb,
        "p1",
        json!({"mode": "url", "url": "socks5://[::1:1080"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["field"], "proxy.url");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("invalid IPv6 address"), "{msg}");

    let (status, v) = put_global_proxy(&sb, json!({"mode": "url", "url": "proxy.corp:3128"})).await;
    assert_eq!(status, 400, "{v}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("proxy.url") && msg.contains("scheme `proxy.corp`"),
        "{msg}"
    );

    let (status, v) = put_global_proxy(&sb, json!({"mode": "url"})).await;
    assert_eq!(status, 400, "{v}");
    let (status, v) = put_provider_proxy(
        &sb,
        "p1",
        json!({"mode": "url", "url": "http://127.0.0.1:3128", "no_proxy": ["a.example b.example"]}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error"]["field"], "proxy.no_proxy[0]");
    // Nothing was saved.
    let p = sb.get("/api/v1/providers/p1").await;
    assert!(p.get("proxy").is_none(), "{p}");

    // The config file: refused at load, naming the provider's field.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchboard.toml");
    std::fs::write(
        &file,
        provider_block(
            "p1",
            &sb.mock.base_url(MockDialect::OpenAiChat),
            A,
            "proxy = { mode = \"url\", url = \"socks5://proxy.corp:99999\" }",
        ),
    )
    .unwrap();
    let mut o = sb.options(0);
    o.config_file = Some(file);
    o.data_dir = dir.path().join("data");
    let err = switchboard_server::Switchboard::start(o)
        .await
        .err()
        .expect("a bad proxy URL in the config file is refused")
        .to_string();
    assert!(err.contains("providers[0].proxy.url"), "{err}");
    assert!(err.contains("invalid port number"), "{err}");
}

#[tokio::test]
async fn proxy_credentials_are_not_exported_and_an_import_keeps_only_its_own() {
    let from =
        Sb::start(|mock| provider_block("p1", &mock.base_url(MockDialect::OpenAiChat), A, ""))
            .await;
    let with_auth = format!("http://sb:{PROXY_PASSWORD}@127.0.0.1:9");
    let (status, saved) =
        put_provider_proxy(&from, "p1", json!({"mode": "url", "url": with_auth})).await;
    assert_eq!(status, 200, "{saved}");
    let (status, settings) = put_global_proxy(
        &from,
        json!({"mode": "url", "url": format!("socks5://sb:{PROXY_PASSWORD}@127.0.0.1:9")}),
    )
    .await;
    assert_eq!(status, 200, "{settings}");

    let (status, exported) = from
        .admin(
            reqwest::Method::POST,
            "/api/v1/config/export",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{exported}");
    let text = serde_json::to_string(&exported["export"]).unwrap();
    assert_absent("the export", text.as_bytes(), PROXY_PASSWORD);

    // Into another Switchboard: the references name nothing there and are dropped; the
    // proxies stay.
    let to = Sb::start(|_| String::new()).await;
    let (status, applied) = to
        .admin(
            reqwest::Method::POST,
            "/api/v1/config/import/apply",
            Some(json!({"data": text})),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let p = to.get("/api/v1/providers/p1").await;
    assert_eq!(p["proxy"]["url"], "http://127.0.0.1:9");
    assert!(p["proxy"].get("credential_ref").is_none(), "{p}");
    let s = to.get("/api/v1/settings").await;
    assert_eq!(s["proxy"]["url"], "socks5://127.0.0.1:9");
    assert!(s["proxy"].get("credential_ref").is_none(), "{s}");

    // Back into the one it came from: its own credentials are kept.
    let (status, applied) = from
        .admin(
            reqwest::Method::POST,
            "/api/v1/config/import/apply",
            Some(json!({"data": text})),
        )
        .await;
    assert_eq!(status, 200, "{applied}");
    let p = from.get("/api/v1/providers/p1").await;
    assert_eq!(
        p["proxy"]["credential_ref"],
        saved["proxy"]["credential_ref"]
    );
    let s = from.get("/api/v1/settings").await;
    assert_eq!(
        s["proxy"]["credential_ref"],
        settings["proxy"]["credential_ref"]
    );
}

#[tokio::test]
async fn a_system_proxy_setting_follows_what_the_host_reports_of_the_os() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = Proxy::start("http", None, dir.path()).await;
    let sb = Sb::start(|mock| {
        provider_block("p1", &mock.base_url(MockDialect::OpenAiChat), A, "") + &route("m", &["p1"])
    })
    .await;
    let dest = mock_dest(&sb.mock);
    let control = sb.handle().control();

    // The desktop app read a manual proxy in the OS settings: "system" (the default) follows.
    let os = switchboard_router::ProxySetting {
        mode: switchboard_router::ProxyMode::Url,
        url: Some(proxy.url("http")),
        credential_ref: None,
        no_proxy: vec![],
    };
    control.set_system_proxy(Some(os)).await.unwrap();
    let r = sb.chat("m").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    proxy.wait_carried(&dest, 1).await;

    // The OS setting changed to "no proxy": the next request goes direct.
    let direct = switchboard_router::ProxySetting {
        mode: switchboard_router::ProxyMode::Direct,
        ..Default::default()
    };
    control.set_system_proxy(Some(direct)).await.unwrap();
    let r = sb.chat("m").await;
    assert_eq!(r.status(), 200);
    assert_eq!(sb.mock.count_for_key(A), 2);
    assert_eq!(proxy.carried(&dest), 1, "{}", proxy.log_text());

    // A provider with its own setting is not affected by the OS one.
    let os = switchboard_router::ProxySetting {
        mode: switchboard_router::ProxyMode::Url,
        url: Some(proxy.url("http")),
        credential_ref: None,
        no_proxy: vec![],
    };
    control.set_system_proxy(Some(os)).await.unwrap();
    let (status, v) = put_provider_proxy(&sb, "p1", json!({"mode": "direct"})).await;
    assert_eq!(status, 200, "{v}");
    let r = sb.chat("m").await;
    assert_eq!(r.status(), 200);
    assert_eq!(proxy.carried(&dest), 1, "{}", proxy.log_text());

    // A setting that is not valid is refused.
    let bad = switchboard_router::ProxySetting {
        mode: switchboard_router::ProxyMode::Url,
        url: Some("nonsense".into()),
        credential_ref: None,
        no_proxy: vec![],
    };
    assert!(control.set_system_proxy(Some(bad)).await.is_err());
}
