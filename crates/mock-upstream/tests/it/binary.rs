//! The `switchboard-mock-upstream` binary prints its address and serves.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::support::{chat_body, client};

#[tokio::test]
async fn prints_address_and_serves() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard-mock-upstream"))
        .args(["--port", "0", "--chunks", "2"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().to_owned();
    let res = client()
        .post(format!("http://{addr}/v1/chat/completions"))
        .bearer_auth("sk-a")
        .json(&chat_body("m", true))
        .send()
        .await;
    child.kill().unwrap();
    child.wait().unwrap();
    let text = res.unwrap().text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[test]
fn rejects_unknown_flags() {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard-mock-upstream"))
        .arg("--frobnicate")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
