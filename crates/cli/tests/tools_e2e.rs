//! Real AI tools through Switchboard: each pinned tool is installed from the npm registry
//! into `~/.cache/switchboard-tools/<tool>@<version>` (once), onboarded into a temp HOME with
//! `switchboard onboard`, and asked one prompt in its non-interactive mode; the mock
//! provider's reply must come back through it.
//!
//! Ignored by default (it needs npm and the registry); `scripts/tools-e2e.sh` runs it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_mock_upstream::MockUpstream;

mod common;

use common::{ADMIN, UPSTREAM_KEY, serve};

const REPLY: &str = "Hello from mock model x.";

/// A tool pinned to a version whose `engines` accept Node 20.
struct Pinned {
    slug: &'static str,
    package: &'static str,
    version: &'static str,
    bin: &'static str,
    args: &'static [&'static str],
    env: &'static [(&'static str, &'static str)],
}

const QWEN_CODE: Pinned = Pinned {
    slug: "qwen-code",
    package: "@qwen-code/qwen-code",
    // 0.15.10 is the newest that runs on Node 20 (later ones need Node 22).
    version: "0.15.10",
    bin: "qwen",
    args: &["-p", "Say hello"],
    env: &[],
};

const GEMINI_CLI: Pinned = Pinned {
    slug: "gemini-cli",
    package: "@google/gemini-cli",
    version: "0.61.0",
    bin: "gemini",
    args: &["-p", "Say hello"],
    // Gemini CLI reads ~/.gemini/.env only in a folder the user trusts.
    env: &[("GEMINI_CLI_TRUST_WORKSPACE", "true")],
};

fn cache_root() -> PathBuf {
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache").join("switchboard-tools")
}

/// The tool's binary, installed first when missing.
fn install(tool: &Pinned) -> PathBuf {
    let prefix = cache_root().join(format!("{}@{}", tool.slug, tool.version));
    let bin = prefix.join("node_modules").join(".bin").join(tool.bin);
    if bin.exists() {
        return bin;
    }
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(&prefix)
        .arg(format!("{}@{}", tool.package, tool.version))
        .stdin(Stdio::null())
        .status()
        .expect("npm runs");
    assert!(
        status.success(),
        "npm install {}@{}",
        tool.package,
        tool.version
    );
    assert!(bin.exists(), "{} installed", bin.display());
    bin
}

/// Runs `cmd` to completion, killing it after `limit`; returns (success, stdout, stderr).
fn run_with_limit(mut cmd: Command, limit: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = out_reader.join().unwrap();
    let stderr = err_reader.join().unwrap();
    (status.is_some_and(|s| s.success()), stdout, stderr)
}

async fn answers_through_switchboard(tool: Pinned) {
    let bin = install(&tool);
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let served = serve(dir.path(), &mock);
    let home = dir.path().join("home");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    let path = std::env::var_os("PATH").unwrap_or_default();

    let mut onboard = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    onboard
        .args(["onboard", "--tool", tool.slug, "--model-map", "m", "--port"])
        .arg(&served.port)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env_clear()
        .env("HOME", &home)
        .env("PATH", &path)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN);
    let (ok, stdout, stderr) = run_with_limit(onboard, Duration::from_secs(60));
    assert!(ok, "onboard {}: {stdout}\n{stderr}", tool.slug);

    let mut run = Command::new(&bin);
    run.args(tool.args)
        .current_dir(&work)
        .env_clear()
        .env("HOME", &home)
        .env("PATH", &path)
        .env("NO_COLOR", "1")
        .env("CI", "1");
    for (k, v) in tool.env {
        run.env(k, v);
    }
    let (ok, stdout, stderr) = run_with_limit(run, Duration::from_secs(150));
    assert!(
        ok && stdout.contains(REPLY),
        "{} {}: the mock's reply did not come back\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        tool.package,
        tool.version
    );
    assert!(
        mock.count_for_key(UPSTREAM_KEY) >= 1,
        "the answer came from the mock, through Switchboard"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "installs Qwen Code from npm; run by scripts/tools-e2e.sh"]
async fn qwen_code_answers_through_switchboard() {
    answers_through_switchboard(QWEN_CODE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "installs Gemini CLI from npm; run by scripts/tools-e2e.sh"]
async fn gemini_cli_answers_through_switchboard() {
    answers_through_switchboard(GEMINI_CLI).await;
}
