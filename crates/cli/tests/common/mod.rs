//! A `switchboard serve` started as a process for the CLI's tests.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use switchboard_mock_upstream::{Dialect, MockUpstream};

pub const ACCESS: &str = "sk-sb-cli-served-access-00000000";
pub const ADMIN: &str = "sbadm-cli-served-admin-00000000";
pub const MASTER: &str = "cli-served-test-passphrase";
/// The mock provider's one key.
pub const UPSTREAM_KEY: &str = "sk-cli-served-upstream-key";

/// A `switchboard serve` on a free port with a route `m` to the mock (model `x`, a 64,000-token
/// context window); its data directory is `data` and its HOME `router-home` under the test's
/// directory, so a tool's HOME has neither its master key nor its tokens. Killed when dropped.
pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:<port>`
    pub url: String,
    pub port: String,
    pub data: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn serve(dir: &Path, mock: &MockUpstream) -> Served {
    let data = dir.join("data");
    let config = dir.join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nname = \"mock\"\nkind = \"openai_chat\"\nbase_url = {:?}\nkeys = [{:?}]\n[[routes]]\nalias = \"m\"\ntargets = [{{ provider = \"mock\", model = \"x\", context_window = 64000 }}]\n",
            mock.base_url(Dialect::OpenAiChat),
            UPSTREAM_KEY
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--port", "0", "--log-level", "warn", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .env("HOME", dir.join("router-home"))
        .env("SWITCHBOARD_MASTER_KEY", MASTER)
        .env("SWITCHBOARD_ACCESS_KEY", ACCESS)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("serve printed its banner").unwrap();
        if let Some(rest) = line.trim().strip_prefix("Endpoint:") {
            break rest.trim().trim_end_matches("/v1").to_owned();
        }
    };
    let port = url.rsplit(':').next().unwrap().to_owned();
    Served {
        child,
        url,
        port,
        data,
    }
}
