//! A running Switchboard in front of a mock upstream, on free ports, with a real data
//! directory (SQLite + encrypted secrets) and fixed local credentials.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use switchboard_mock_upstream::{Dialect as MockDialect, MockOptions, MockUpstream};
use switchboard_router::clock::{ManualClock, SharedClock};
use switchboard_router::log::RequestRecord;
use switchboard_server::{Options, Switchboard, SwitchboardHandle};
use switchboard_store::RequestFilter;
use tempfile::TempDir;

pub const ACCESS: &str = "sk-sb-test-access-key-0123456789";
pub const ADMIN: &str = "sbadm-test-admin-token-0123456789";
/// Start of the manual clock (a fixed, recent instant).
pub const T0: i64 = 1_790_000_000_000;

pub struct Sb {
    pub mock: MockUpstream,
    pub handle: Option<SwitchboardHandle>,
    pub url: String,
    pub http: reqwest::Client,
    pub dir: TempDir,
    pub clock: ManualClock,
    toml: String,
    tweak: fn(&mut Options),
}

/// A provider block for the config file, pointing at the mock.
pub fn provider_toml(name: &str, mock: &MockUpstream, keys: &[&str]) -> String {
    let keys: Vec<String> = keys.iter().map(|k| format!("{k:?}")).collect();
    format!(
        "[[providers]]\nname = {name:?}\nkind = \"openai_chat\"\nbase_url = {:?}\nkeys = [{}]\n\n",
        mock.base_url(MockDialect::OpenAiChat),
        keys.join(", ")
    )
}

impl Sb {
    /// Starts a mock and a router whose config file is `toml(mock)`.
    pub async fn start(toml: impl FnOnce(&MockUpstream) -> String) -> Sb {
        Sb::start_with(toml, |_| {}).await
    }

    pub async fn start_with(
        toml: impl FnOnce(&MockUpstream) -> String,
        tweak: fn(&mut Options),
    ) -> Sb {
        Sb::start_with_mock(MockOptions::default(), toml, tweak).await
    }

    /// As [`Sb::start_with`], with a mock started with `opts`.
    pub async fn start_with_mock(
        opts: MockOptions,
        toml: impl FnOnce(&MockUpstream) -> String,
        tweak: fn(&mut Options),
    ) -> Sb {
        // The server installs the same provider; tests build clients before it starts.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mock = MockUpstream::start_with(opts).await.unwrap();
        let toml = toml(&mock);
        let dir = tempfile::tempdir().unwrap();
        let mut sb = Sb {
            mock,
            handle: None,
            url: String::new(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            dir,
            clock: ManualClock::new(T0),
            toml,
            tweak,
        };
        sb.boot(0).await;
        sb
    }

    pub fn options(&self, port: u16) -> Options {
        let config = self.dir.path().join("switchboard.toml");
        std::fs::write(&config, &self.toml).unwrap();
        let mut o = Options::new(self.dir.path().join("data"));
        o.port = port;
        o.config_file = Some(config);
        o.key_file = Some(self.dir.path().join("keys").join("master.key"));
        o.access_key = Some(switchboard_router::Secret::new(ACCESS));
        o.admin_token = Some(switchboard_router::Secret::new(ADMIN));
        o.clock = Arc::new(self.clock.clone()) as SharedClock;
        o.shutdown_grace = Duration::from_secs(2);
        (self.tweak)(&mut o);
        o
    }

    async fn boot(&mut self, port: u16) {
        let handle = Switchboard::start(self.options(port)).await.unwrap();
        self.url = format!("http://{}", handle.local_addr());
        self.handle = Some(handle);
    }

    /// Stops and starts again on the same data directory (and config file).
    pub async fn restart(&mut self) {
        let port = self.handle().local_addr().port();
        self.handle.take().unwrap().shutdown().await;
        self.boot(port).await;
    }

    pub fn handle(&self) -> &SwitchboardHandle {
        self.handle.as_ref().unwrap()
    }

    pub async fn post(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.url))
            .bearer_auth(ACCESS)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// GET on the public API with the access key, as JSON.
    pub async fn public_get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(ACCESS)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn chat(&self, model: &str) -> reqwest::Response {
        self.post(
            "/v1/chat/completions",
            &json!({"model": model, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
    }

    pub async fn chat_stream(&self, model: &str) -> reqwest::Response {
        self.post(
            "/v1/chat/completions",
            &json!({"model": model, "stream": true, "stream_options": {"include_usage": true}, "messages": [{"role": "user", "content": "hi"}]}),
        )
        .await
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(ADMIN);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, v) = self.admin(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// Waits until the request log holds at least `n` requests; newest first.
    pub async fn logged(&self, n: usize) -> Vec<RequestRecord> {
        let store = self.handle().control().store();
        for _ in 0..200 {
            let rows = store
                .query_requests(&RequestFilter {
                    limit: 1000,
                    ..Default::default()
                })
                .await
                .unwrap();
            if rows.len() >= n {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("request log never reached {n} rows");
    }

    /// The key view (state, reason, until) of the key labelled `label`.
    pub async fn key(&self, label: &str) -> Value {
        let keys = self.get("/api/v1/keys").await;
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["label"] == label)
            .cloned()
            .unwrap_or_else(|| panic!("no key {label}: {keys}"))
    }
}

/// Polls `cond` for up to `ms` milliseconds.
pub async fn eventually(ms: u64, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_millis(ms);
    loop {
        if cond().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The `data:` payloads of an SSE body.
pub fn sse_data(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| l.strip_prefix("data: ").or_else(|| l.strip_prefix("data:")))
        .map(str::to_owned)
        .collect()
}
