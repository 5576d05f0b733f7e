//! Opening, concurrent migration across tasks and processes, newer databases and crash safety.
//! The multi-process tests re-run this test binary as the child, selected by an environment
//! variable.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use switchboard_store::{MemorySecretStore, Store, StoreError, new_request_id};

use crate::common::{mem_store, record};

const CHILD_DIR_ENV: &str = "SWITCHBOARD_STORE_TEST_CHILD_DIR";

fn child(test: &str, dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        test,
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_DIR_ENV, dir)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    cmd
}

#[tokio::test]
async fn creates_private_dir_and_database() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested").join("data");
    let store = mem_store(&dir).await;
    assert!(dir.join("switchboard.db").is_file());
    assert_eq!(store.db_path().unwrap(), dir.join("switchboard.db"));
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let (fk,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let (sync,): (i64,) = sqlx::query_as("PRAGMA synchronous")
        .fetch_one(store.sqlite_pool().unwrap())
        .await
        .unwrap();
    assert_eq!(sync, 1, "NORMAL");
    store.integrity_check().await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let m = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o700);
        let m = std::fs::metadata(dir.join("switchboard.db"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(m, 0o600);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn unusable_dir_error_names_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let err = Store::open(&file.join("data"), Arc::new(MemorySecretStore::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[tokio::test]
async fn newer_database_is_refused_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let store = mem_store(tmp.path()).await;
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', 1, x'00', 0)",
    )
    .execute(store.sqlite_pool().unwrap())
    .await
    .unwrap();
    store.close().await;
    let err = Store::open(tmp.path(), Arc::new(MemorySecretStore::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DatabaseNewer {
                version: 99990101000000,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("newer than this build") && msg.contains("switchboard.db"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_of_a_new_database() {
    for _ in 0..5 {
        let tmp = tempfile::tempdir().unwrap();
        let opens = (0..6).map(|_| {
            let dir = tmp.path().to_path_buf();
            tokio::spawn(async move { Store::open(&dir, Arc::new(MemorySecretStore::new())).await })
        });
        let mut stores = Vec::new();
        for h in opens {
            stores.push(h.await.unwrap().unwrap());
        }
        stores[0].integrity_check().await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(stores[0].sqlite_pool().unwrap())
            .await
            .unwrap();
        // Each migration applied exactly once, however many opens raced.
        let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
            .unwrap()
            .count();
        assert_eq!(usize::try_from(n).unwrap(), migrations);
    }
}

/// Child: opens the store in the directory it was given and reports success.
#[tokio::test]
#[ignore = "run by concurrent_opens_from_two_processes"]
async fn child_open() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&dir), Arc::new(MemorySecretStore::new()))
        .await
        .unwrap();
    store
        .insert_requests(&[record(1, "a", "p", 200)])
        .await
        .unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "OPENED").unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_from_two_processes() {
    for _ in 0..3 {
        let tmp = tempfile::tempdir().unwrap();
        let children: Vec<_> = (0..2)
            .map(|_| child("open::child_open", tmp.path()).spawn().unwrap())
            .collect();
        // And this process too, at the same time.
        let store = Store::open(tmp.path(), Arc::new(MemorySecretStore::new()))
            .await
            .unwrap();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "child failed: {out:?}");
            assert!(String::from_utf8_lossy(&out.stdout).contains("OPENED"));
        }
        store.integrity_check().await.unwrap();
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM request_log")
            .fetch_one(store.sqlite_pool().unwrap())
            .await
            .unwrap();
        assert_eq!(n, 2);
    }
}

/// Child: writes request rows in a loop, printing each id once its transaction committed.
#[tokio::test]
#[ignore = "run by rows_acknowledged_before_sigkill_survive"]
async fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&dir), Arc::new(MemorySecretStore::new()))
        .await
        .unwrap();
    let mut i: i64 = 0;
    loop {
        let batch: Vec<_> = (0..3)
            .map(|j| {
                let mut r = record(1_700_000_000_000 + i * 3 + j, "alias", "p", 200);
                r.id = new_request_id();
                r
            })
            .collect();
        let ids = store.insert_requests(&batch).await.unwrap();
        let mut out = std::io::stdout().lock();
        for id in ids {
            writeln!(out, "ACK {id}").unwrap();
        }
        out.flush().unwrap();
        i += 1;
    }
}

#[test]
fn rows_acknowledged_before_sigkill_survive() {
    let tmp = tempfile::tempdir().unwrap();
    // Let the child create the database so the kill lands mid-stream of writes.
    let mut c = child("open::child_writer", tmp.path()).spawn().unwrap();
    let stdout = c.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(id) = line.strip_prefix("ACK ") {
                acked.push(id.to_owned());
            }
        }
        acked
    });
    // Wait for a good number of commits, then SIGKILL (Child::kill sends SIGKILL on Unix).
    let started = std::time::Instant::now();
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        let n = sqlx_count(tmp.path());
        if n >= 600 || started.elapsed() > std::time::Duration::from_secs(30) {
            break;
        }
    }
    c.kill().unwrap();
    c.wait().unwrap();
    let acked = reader.join().unwrap();
    assert!(
        acked.len() >= 300,
        "child acknowledged only {} rows",
        acked.len()
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stored: Vec<(String,)> = rt.block_on(async {
        let store = mem_store(tmp.path()).await;
        store.integrity_check().await.unwrap();
        sqlx::query_as("SELECT id FROM request_log")
            .fetch_all(store.sqlite_pool().unwrap())
            .await
            .unwrap()
    });
    let stored: std::collections::HashSet<String> = stored.into_iter().map(|r| r.0).collect();
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged rows lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

/// Rows in the child's database, read without locking it for long (0 while it does not exist).
fn sqlx_count(dir: &Path) -> i64 {
    let path = dir.join("switchboard.db");
    if !path.exists() {
        return 0;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::ConnectOptions;
        let opts = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .read_only(true)
            .busy_timeout(std::time::Duration::from_secs(5));
        let Ok(mut conn) = opts.connect().await else {
            return 0;
        };
        sqlx::query_as::<_, (i64,)>("SELECT COUNT(*) FROM request_log")
            .fetch_one(&mut conn)
            .await
            .map(|r| r.0)
            .unwrap_or(0)
    })
}

#[tokio::test]
async fn providers_saved_before_thinking_safe_switching_get_it_on() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path(), Arc::new(MemorySecretStore::new()))
        .await
        .unwrap();
    let mut p = crate::common::provider("old");
    p.quirks.strip_foreign_signatures = false;
    p.quirks.replay_reasoning_content = true;
    store.upsert_provider(&p).await.unwrap();
    // As if saved before the migration: it runs again on the next open.
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 20261206000012")
        .execute(store.sqlite_pool().unwrap())
        .await
        .unwrap();
    store.close().await;
    let store = Store::open(tmp.path(), Arc::new(MemorySecretStore::new()))
        .await
        .unwrap();
    let got = store.get_provider("old").await.unwrap().unwrap();
    assert!(got.quirks.strip_foreign_signatures);
    assert!(got.quirks.replay_reasoning_content, "other quirks kept");
}
