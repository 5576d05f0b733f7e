//! `switchboard users`: passwords come from stdin, are validated, and only their Argon2id
//! hash reaches the database.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

const MASTER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn users(data: &std::path::Path, args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("users")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_clear()
        .env("HOME", data.join("home"))
        .env("SWITCHBOARD_MASTER_KEY", MASTER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn users_are_added_with_a_password_from_stdin_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let password = "plaintext-password-4711";

    let short = users(&data, &["add", "alice", "--role", "admin"], "short\n");
    assert!(!short.status.success(), "{}", out(&short));
    assert!(
        out(&short).contains("at least 12 characters"),
        "{}",
        out(&short)
    );

    let bad_name = users(
        &data,
        &["add", "a b", "--role", "admin"],
        &format!("{password}\n"),
    );
    assert!(!bad_name.status.success());
    assert!(out(&bad_name).contains("name"), "{}", out(&bad_name));

    let add = users(
        &data,
        &["add", "alice", "--role", "admin", "--password-stdin"],
        &format!("{password}\n"),
    );
    assert!(add.status.success(), "{}", out(&add));
    assert!(!out(&add).contains(password));
    let sso = users(
        &data,
        &[
            "add",
            "ops@example.com",
            "--role",
            "viewer",
            "--no-password",
        ],
        "",
    );
    assert!(sso.status.success(), "{}", out(&sso));
    let dup = users(
        &data,
        &["add", "alice", "--role", "viewer"],
        &format!("{password}\n"),
    );
    assert!(!dup.status.success());
    assert!(out(&dup).contains("already exists"), "{}", out(&dup));

    let disable = users(&data, &["disable", "alice"], "");
    assert!(disable.status.success(), "{}", out(&disable));
    let list = users(&data, &["list"], "");
    assert!(list.status.success(), "{}", out(&list));
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "alice\tadmin\tdisabled",
            "ops@example.com\tviewer\tenabled\tsso-only"
        ],
        "{text}"
    );

    // The password is nowhere in the data directory.
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes
                    .windows(password.len())
                    .any(|w| w == password.as_bytes()),
                "{} holds the password",
                path.display()
            );
        }
    }

    let del = users(&data, &["delete", "alice"], "");
    assert!(del.status.success(), "{}", out(&del));
    let gone = users(&data, &["delete", "alice"], "");
    assert!(!gone.status.success());
    assert!(out(&gone).contains("not found"), "{}", out(&gone));
}

#[tokio::test]
async fn in_team_mode_users_go_to_the_shared_database() {
    let url = switchboard_store::testing::fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = |args: &[&str], stdin: &str| {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(["--database", url.as_str()]);
        users(&data, &a, stdin)
    };
    let add = run(
        &["add", "alice", "--role", "viewer"],
        "team-plaintext-pw-1\n",
    );
    assert!(add.status.success(), "{}", out(&add));
    let list = run(&["list"], "");
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).trim(),
        "alice\tviewer\tenabled"
    );
    // Not in the data directory's SQLite file: that one has no users.
    let local = users(&data, &["list"], "");
    assert!(local.status.success(), "{}", out(&local));
    assert_eq!(String::from_utf8_lossy(&local.stdout).trim(), "");
}
