//! `switchboard serve --database postgres://…` (team mode) with the real binary and a real
//! PostgreSQL server (`scripts/services.sh`): it starts, and every wrong input ends it with one
//! line saying which input and what to do.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use switchboard_router::Secret;
use switchboard_store::Store;
use switchboard_store::testing::fresh_postgres_url;

const MASTER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn serve(dir: &std::path::Path, database: &str, master: Option<&str>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.args(["serve", "--port", "0", "--database", database])
        .env_clear()
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join(".config"))
        .env("SWITCHBOARD_DATA_DIR", dir.join("data"))
        .stdin(Stdio::null());
    if let Some(m) = master {
        c.env("SWITCHBOARD_MASTER_KEY", m);
    }
    c
}

/// Runs `serve` expecting it to fail; returns its one error line.
fn refused(mut cmd: Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success(), "serve started");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert_eq!(stderr.lines().last(), Some(errors[0]), "{stderr}");
    errors[0].to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn a_wrong_url_says_what_a_database_url_looks_like() {
    let dir = tempfile::tempdir().unwrap();
    let line = refused(serve(dir.path(), "mysql://u:hunter2@db/x", Some(MASTER)));
    assert!(line.contains("not a valid database URL"), "{line}");
    assert!(
        line.contains("postgres://user:password@host:port/database"),
        "{line}"
    );
    assert!(!line.contains("hunter2"), "{line}");
}

#[test]
fn an_unreachable_server_is_named_without_its_password() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let url = format!("postgres://u:hunter2@127.0.0.1:{port}/x");
    let line = refused(serve(dir.path(), &url, Some(MASTER)));
    assert!(
        line.contains(&format!(
            "cannot connect to the database server postgres://u@127.0.0.1:{port}/x"
        )),
        "{line}"
    );
    assert!(line.contains("check that it is running"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");
}

#[tokio::test]
async fn team_mode_without_a_master_key_says_to_set_one() {
    let url = fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let line = refused(serve(dir.path(), &url, None));
    assert!(line.contains("needs SWITCHBOARD_MASTER_KEY"), "{line}");
}

#[tokio::test]
async fn another_master_key_than_the_database_was_sealed_with_is_refused() {
    let url = fresh_postgres_url().await;
    Store::open_team(&url, &Secret::new(MASTER))
        .await
        .unwrap()
        .close()
        .await;
    let dir = tempfile::tempdir().unwrap();
    let line = refused(serve(dir.path(), &url, Some("some other passphrase")));
    assert!(line.contains("sealed with another master key"), "{line}");
    assert!(line.contains("SWITCHBOARD_MASTER_KEY"), "{line}");
}

#[tokio::test]
async fn a_database_from_a_newer_version_is_refused() {
    let url = fresh_postgres_url().await;
    let store = Store::open_team(&url, &Secret::new(MASTER)).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(store.pg_pool().unwrap())
    .await
    .unwrap();
    store.close().await;
    let dir = tempfile::tempdir().unwrap();
    let line = refused(serve(dir.path(), &url, Some(MASTER)));
    assert!(line.contains("newer than this build"), "{line}");
    assert!(line.contains("upgrade Switchboard"), "{line}");
}

#[tokio::test]
async fn serve_starts_on_postgres_named_by_the_environment() {
    let url = fresh_postgres_url().await;
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("serve.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["serve", "--port", "0"])
        .env_clear()
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join(".config"))
        .env("SWITCHBOARD_DATA_DIR", dir.path().join("data"))
        .env("SWITCHBOARD_DATABASE_URL", &url)
        .env("SWITCHBOARD_MASTER_KEY", MASTER)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let written = std::fs::read_to_string(&log_path).unwrap();
        if written.contains("Endpoint:") {
            assert!(written.contains("team mode"), "{written}");
            assert!(
                written.contains("switchboard keys show-access\n"),
                "{written}"
            );
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("serve ended with {status}: {written}");
        }
        assert!(Instant::now() < deadline, "no banner in {written:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    // The rows are in PostgreSQL: the migrations ran and the team's tokens are sealed there.
    let store = Store::open_team(&url, &Secret::new(MASTER)).await.unwrap();
    let (sealed,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM secrets")
        .fetch_one(store.pg_pool().unwrap())
        .await
        .unwrap();
    assert!(sealed >= 2, "access key and admin token: {sealed}");
    // The other commands read the same database through the same variables.
    let shown = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["keys", "show-access"])
        .env_clear()
        .env("HOME", dir.path())
        .env("SWITCHBOARD_DATA_DIR", dir.path().join("elsewhere"))
        .env("SWITCHBOARD_DATABASE_URL", &url)
        .env("SWITCHBOARD_MASTER_KEY", MASTER)
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let stored = store
        .local_token(switchboard_store::LocalToken::AccessKey, None)
        .await
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&shown.stdout).trim(),
        stored.expose()
    );
}

#[test]
fn the_config_files_database_url_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("switchboard.toml");
    std::fs::write(
        &file,
        "[server]\ndatabase_url = \"postgres://u@127.0.0.1:notaport/x\"\n",
    )
    .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(["serve", "--port", "0", "--config", file.to_str().unwrap()])
        .env_clear()
        .env("HOME", dir.path())
        .env("SWITCHBOARD_DATA_DIR", dir.path().join("data"))
        .env("SWITCHBOARD_MASTER_KEY", MASTER)
        .stdin(Stdio::null());
    let line = refused(cmd);
    assert!(
        line.contains("postgres://u@127.0.0.1:notaport/x is not a valid database URL"),
        "{line}"
    );
}
