//! SECURITY.md T11 against the real binary: a provider that streams 300 MiB of non-content
//! events before any content cannot grow the router's memory. The read-ahead gives up at its
//! cap, blames the provider and fails over; the router's peak RSS (`VmHWM`) stays under
//! 100 MB above its idle size.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_mock_upstream::{Dialect, MockOptions, MockUpstream};

const ACCESS: &str = "sk-sb-memory-access-0123456789";
const ADMIN: &str = "sbadm-memory-admin-0123456789";

/// Starts `switchboard serve` on a free port; returns the child and its base URL.
fn serve(dir: &Path, config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--port", "0", "--log-level", "warn"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(config)
        .env("SWITCHBOARD_ACCESS_KEY", ACCESS)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN)
        .env("SWITCHBOARD_MASTER_KEY", "memory test passphrase")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("share"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        assert!(Instant::now() < deadline, "no start banner");
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.trim().strip_prefix("Endpoint:") {
            break rest.trim().trim_end_matches("/v1").to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

/// Kills the router when the test ends, passed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A `/proc/<pid>/status` field in kB.
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_content_flood_leaves_peak_memory_flat_and_fails_over() {
    let mock = MockUpstream::start_with(MockOptions {
        record: false,
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    let base = mock.base_url(Dialect::OpenAiChat);
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nname = \"flood\"\nkind = \"openai_chat\"\nbase_url = {base:?}\nkeys = [\"sk-flood-key-0123456789\"]\n\
             timeouts = {{ first_byte_ms = 120000, idle_ms = 60000, total_ms = 300000 }}\n\n\
             [[providers]]\nname = \"calm\"\nkind = \"openai_chat\"\nbase_url = {base:?}\nkeys = [\"sk-calm-key-0123456789\"]\n\n\
             [[routes]]\nalias = \"a\"\ntargets = [{{ provider = \"flood\", model = \"m@fault=flood,mib=300\", priority = 0 }}, {{ provider = \"calm\", model = \"m\", priority = 1 }}]\n\n\
             [[routes]]\nalias = \"warm\"\ntargets = [{{ provider = \"calm\", model = \"m\" }}]\n"
        ),
    )
    .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let (child, url) = serve(dir.path(), &config);
    let pid = child.id();
    let _router = Killed(child);

    let ask = |n: usize| {
        http.post(format!("{url}/v1/chat/completions"))
            .bearer_auth(ACCESS)
            .json(&json!({"model": "a", "stream": true,
                          "messages": [{"role": "user", "content": format!("hello {n}")}]}))
            .send()
    };
    // Idle: started and warmed up by one ordinary request through the calm provider.
    let warm = http
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(ACCESS)
        .json(&json!({"model": "warm", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    let _ = warm.text().await;
    let idle_kb = status_kb(pid, "VmRSS:");

    let keys: serde_json::Value = http
        .get(format!("{url}/api/v1/keys"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let flood_key = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["provider"] == "flood")
        .unwrap()["id"]
        .clone();
    let mut texts = Vec::new();
    for n in 0..2 {
        // The flood provider's cooldown would skip it on the second request: clear it.
        let cleared = http
            .post(format!("{url}/api/v1/keys/{flood_key}/clear"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert!(cleared.status().is_success());
        let resp = ask(n).await.unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        texts.push((text.contains("[DONE]"), text.contains("\"ping\"")));
    }
    let peak_kb = status_kb(pid, "VmHWM:");
    let grown_mb = peak_kb.saturating_sub(idle_kb) / 1024;
    eprintln!("idle {} MB, peak {} MB", idle_kb / 1024, peak_kb / 1024);
    assert!(
        grown_mb < 100,
        "300 MiB of pre-content events grew the router by {grown_mb} MB"
    );
    for (done, ping) in texts {
        assert!(done, "the calm provider answered");
        assert!(!ping, "none of the flood reached the client");
    }
}
