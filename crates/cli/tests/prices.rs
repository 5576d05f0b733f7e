//! `switchboard prices`: the bundled table is shown until one is loaded from a file or a URL;
//! a file of the wrong shape is refused naming the entry and field, and the old table stays.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

const MASTER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const TABLE: &str = r#"{"acme/m":{"litellm_provider":"acme","mode":"chat","input_cost_per_token":1e-06,"output_cost_per_token":2e-06},
"acme/n":{"litellm_provider":"acme","mode":"chat","input_cost_per_token":3e-06}}"#;

fn prices(data: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("prices")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_clear()
        .env("HOME", data.join("home"))
        .env("SWITCHBOARD_MASTER_KEY", MASTER)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Serves `body` once over HTTP on a free port; returns the URL.
fn serve_once(body: &'static str) -> (String, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/prices.json", listener.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        write!(
            s,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    });
    (url, t)
}

#[test]
fn prices_update_from_a_file_or_url_and_a_bad_file_keeps_the_old_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let shown = prices(&data, &["show"]);
    assert!(shown.status.success(), "{}", out(&shown));
    assert!(out(&shown).contains("LiteLLM"), "{}", out(&shown));

    let file = dir.path().join("prices.json");
    std::fs::write(&file, TABLE).unwrap();
    let loaded = prices(&data, &["update", "--from", file.to_str().unwrap()]);
    assert!(loaded.status.success(), "{}", out(&loaded));
    assert!(out(&loaded).contains("loaded 2 models"), "{}", out(&loaded));

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"acme/m":{"mode":"chat","max_input_tokens":"lots"}}"#,
    )
    .unwrap();
    let refused = prices(&data, &["update", "--from", bad.to_str().unwrap()]);
    assert!(!refused.status.success());
    let msg = out(&refused);
    assert!(
        msg.contains("acme/m") && msg.contains("max_input_tokens"),
        "{msg}"
    );
    let shown = prices(&data, &["show"]);
    assert!(
        out(&shown).contains("prices.json (2 models)"),
        "{}",
        out(&shown)
    );

    let (url, server) =
        serve_once(r#"{"acme/m":{"litellm_provider":"acme","input_cost_per_token":1e-06}}"#);
    let fetched = prices(&data, &["update", "--from", &url]);
    server.join().unwrap();
    assert!(fetched.status.success(), "{}", out(&fetched));
    let shown = prices(&data, &["show"]);
    assert!(
        out(&shown).contains(&format!("{url} (1 models)")),
        "{}",
        out(&shown)
    );
}
