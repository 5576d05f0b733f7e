//! `switchboard onboard` next to a running `switchboard serve`: the tool's client is created
//! through the running router (which knows its key at once), and the tool's requests are
//! attributed to it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Stdio};

use serde_json::{Value, json};
use switchboard_mock_upstream::MockUpstream;

mod common;

use common::{ACCESS, ADMIN, MASTER, serve};

/// `switchboard onboard --tool codex` under another HOME (no master key there), with only
/// the given variables.
fn onboard_elsewhere(
    data: &std::path::Path,
    home: &std::path::Path,
    port: &str,
    vars: &[(&str, &str)],
) -> (bool, String, String) {
    std::fs::create_dir_all(home).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["onboard", "--tool", "codex", "--port", port])
        .arg("--data-dir")
        .arg(data)
        .env_clear()
        .env("HOME", home)
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdin(Stdio::null());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.success(), stdout, stderr)
}

fn written_key(home: &std::path::Path) -> (String, String) {
    let written =
        std::fs::read_to_string(home.join(".codex").join("config.toml")).unwrap_or_default();
    let key = written
        .split('"')
        .find(|s| s.starts_with("sk-sb-"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no key written: {written}"));
    (key, written)
}

async fn answers(url: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/v1/responses"))
        .bearer_auth(key)
        .json(&json!({"model": "m", "input": "hi"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn onboarding_under_another_home_with_the_access_key_needs_no_master_key() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &mock);
    let home = dir.path().join("other-home");
    let (ok, stdout, stderr) = onboard_elsewhere(
        &served.data,
        &home,
        &served.port,
        &[("SWITCHBOARD_ACCESS_KEY", ACCESS)],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(!stderr.contains("decrypt"), "{stderr}");
    let (key, written) = written_key(&home);
    assert_eq!(
        key, ACCESS,
        "without the admin token the tool gets the access key"
    );
    assert!(written.contains("model = \"m\""), "{written}");
    assert!(
        written.contains("model_context_window = 64000"),
        "{written}"
    );
    assert!(stdout.contains("SWITCHBOARD_ADMIN_TOKEN"), "{stdout}");
    assert_eq!(answers(&served.url, &key).await, 200);
}

#[tokio::test]
async fn onboarding_under_another_home_with_only_port_and_admin_token() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &mock);
    let home = dir.path().join("other-home");
    let (ok, stdout, stderr) = onboard_elsewhere(
        &served.data,
        &home,
        &served.port,
        &[("SWITCHBOARD_ADMIN_TOKEN", ADMIN)],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let (key, written) = written_key(&home);
    assert_ne!(key, ACCESS, "the tool has a key of its own");
    assert!(
        written.contains("model_context_window = 64000"),
        "{written}"
    );
    assert_eq!(answers(&served.url, &key).await, 200);
}

#[tokio::test]
async fn onboarding_with_nothing_to_learn_the_key_from_names_the_three_ways() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &mock);
    let data = served.data.clone();
    drop(served);
    let home = dir.path().join("other-home");
    // A free port: nothing answers there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let (ok, stdout, stderr) = onboard_elsewhere(&data, &home, &port, &[]);
    assert!(!ok, "{stdout}\n{stderr}");
    for way in [
        "SWITCHBOARD_ACCESS_KEY",
        "--port",
        "SWITCHBOARD_ADMIN_TOKEN",
        "master key",
    ] {
        assert!(stderr.contains(way), "names {way}: {stderr}");
    }
    assert!(!home.join(".codex").exists(), "nothing written");
}

#[tokio::test]
async fn onboarding_next_to_a_running_router_gives_the_tool_a_working_key_of_its_own() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let served = serve(dir.path(), &mock);
    let (url, port, data) = (served.url.clone(), served.port.clone(), served.data.clone());

    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "onboard",
            "--tool",
            "codex",
            "--model-map",
            "m",
            "--port",
            &port,
        ])
        .arg("--data-dir")
        .arg(&data)
        .env_clear()
        .env("HOME", &home)
        .env("SWITCHBOARD_MASTER_KEY", MASTER)
        .env("SWITCHBOARD_ACCESS_KEY", ACCESS)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let written =
        std::fs::read_to_string(home.join(".codex").join("config.toml")).unwrap_or_default();
    let http = reqwest::Client::new();
    let key = written
        .split('"')
        .find(|s| s.starts_with("sk-sb-"))
        .map(str::to_owned);
    let answered = match &key {
        Some(key) => Some(
            http.post(format!("{url}/v1/responses"))
                .bearer_auth(key)
                .json(&json!({"model": "m", "input": "hi"}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        ),
        None => None,
    };
    let logged: Value = http
        .get(format!("{url}/api/v1/requests?client=codex"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(served);

    assert!(out.status.success(), "{stdout}\n{stderr}");
    let key = key.unwrap_or_else(|| panic!("no key written: {written}"));
    assert_ne!(key, ACCESS, "the tool has a key of its own");
    assert_eq!(answered, Some(200), "the running router knows the new key");
    assert_eq!(logged.as_array().unwrap().len(), 1, "{logged}");
    assert_eq!(logged[0]["client"], "codex");
    assert_eq!(logged[0]["dialect"], "openai_responses");
}
