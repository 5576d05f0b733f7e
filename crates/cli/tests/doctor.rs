//! `switchboard doctor` reports a healthy installation, keys it cannot use, and a router that
//! is not running — and fails on a secrets file the master key cannot open.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

fn doctor(data: &std::path::Path, master: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["doctor", "--port", "1", "--data-dir"])
        .arg(data)
        .env("SWITCHBOARD_MASTER_KEY", master)
        .env_remove("SWITCHBOARD_ADMIN_TOKEN")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn doctor_explains_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (ok, text) = doctor(&data, "doctor-passphrase");
    assert!(ok, "{text}");
    assert!(text.contains("ok    database integrity"), "{text}");
    assert!(text.contains("no providers yet"), "{text}");
    assert!(
        text.contains("router not running on http://127.0.0.1:1"),
        "{text}"
    );
    assert!(text.contains("0 failed"), "{text}");

    // A key read from a variable that is not set is reported, not fatal.
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[[providers]]\nname = \"p\"\nkind = \"openai_chat\"\nbase_url = \"https://api.example.com/v1\"\nkeys = [\"env:SB_DOCTOR_TEST_UNSET\"]\n[[routes]]\nalias = \"a\"\ntargets = [{ provider = \"p\", model = \"m\" }]\n",
    )
    .unwrap();
    let mut serve = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&config)
        .env("SWITCHBOARD_MASTER_KEY", "doctor-passphrase")
        .env_remove("SB_DOCTOR_TEST_UNSET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The banner is printed once the file is applied and the router listens.
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(serve.stdout.take().unwrap()));
    assert!(lines.any(|l| l.unwrap().contains("Endpoint:")));
    let _ = Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status();
    assert!(serve.wait().unwrap().success());
    let (ok, text) = doctor(&data, "doctor-passphrase");
    assert!(ok, "{text}");
    assert!(text.contains("SB_DOCTOR_TEST_UNSET"), "{text}");
    assert!(
        text.contains("route `a` targets `p`, which has no usable key"),
        "{text}"
    );

    // The wrong master key cannot open the secrets file: a failure, not an empty store.
    let (ok, text) = doctor(&data, "not-the-passphrase");
    assert!(!ok, "{text}");
    assert!(text.contains("FAIL"), "{text}");
}
