//! `switchboard serve` shuts down gracefully on SIGTERM: it stops accepting, lets the request
//! in flight finish, flushes the request log, and exits 0.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};
use switchboard_mock_upstream::{Dialect, MockUpstream};

const ACCESS: &str = "sk-sb-shutdown-test-access-000000";
const ADMIN: &str = "sbadm-shutdown-test-admin-000000";

fn serve(dir: &std::path::Path, config: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--port", "0", "--log-level", "warn", "--data-dir"])
        .arg(dir.join("data"))
        .arg("--config")
        .arg(config)
        .env("SWITCHBOARD_MASTER_KEY", "shutdown-test-passphrase")
        .env("SWITCHBOARD_ACCESS_KEY", ACCESS)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    // The reader is dropped once the endpoint is known, closing the pipe while the banner is
    // still being written: the server must not mind.
    let endpoint = loop {
        let line = lines.next().expect("serve printed its banner").unwrap();
        if let Some(rest) = line.trim().strip_prefix("Endpoint:") {
            break rest.trim().trim_end_matches("/v1").to_owned();
        }
    };
    (child, endpoint)
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_and_flushes_the_log() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nname = \"mock\"\nkind = \"openai_chat\"\nbase_url = {:?}\nkeys = [\"sk-shutdown-upstream-key\"]\n[[routes]]\nalias = \"slow\"\ntargets = [{{ provider = \"mock\", model = \"m@chunk_delay_ms=150,chunks=10\" }}]\n",
            mock.base_url(Dialect::OpenAiChat)
        ),
    )
    .unwrap();
    let (mut child, url) = serve(dir.path(), &config);
    let http = reqwest::Client::new();
    let mut resp = http
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(ACCESS)
        .json(&json!({"model": "slow", "stream": true, "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = String::from_utf8(resp.chunk().await.unwrap().unwrap().to_vec()).unwrap();

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    while let Some(chunk) = resp.chunk().await.unwrap() {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(
        body.trim_end().ends_with("data: [DONE]"),
        "the stream in flight finished: {body}"
    );

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status {status:?}");

    // Restarted on the same data, the request is in the log.
    let (mut child, url) = serve(dir.path(), &config);
    let rows: Value = http
        .get(format!("{url}/api/v1/requests"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    assert_eq!(rows[0]["status"], 200);
    assert_eq!(rows[0]["alias"], "slow");
}
