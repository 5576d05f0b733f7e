//! The `switchboard` binary: onboarding AI tools in a temp home (preview, apply, undo, the
//! refusal of a foreign address) and config export/import between data directories.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use switchboard_router::{Provider, Route, Secret, Strategy, Target};
use switchboard_store::{EncryptedFileStore, KeySecret, MasterKey, Store};

const MASTER: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const ACCESS: &str = "sk-sb-cli-test-access-0123456789";
const SECRET: &str = "sk-cli-export-secret-aaaaaaaaaaaa";
const PASS: &str = "a long enough passphrase";

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Home { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn data(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The binary with a clean environment pointing at the temp home.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        c.args(args)
            .env_clear()
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("XDG_DATA_HOME", self.home().join(".local/share"))
            .env("PATH", self.dir.path().join("bin"))
            .env("SWITCHBOARD_MASTER_KEY", MASTER)
            .env("SWITCHBOARD_ACCESS_KEY", ACCESS)
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A port nothing listens on.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path());
            out.extend(tree(&e.path()));
        }
    }
    out.sort();
    out
}

#[test]
fn onboard_dry_run_prints_the_diff_and_writes_nothing() {
    let h = Home::new();
    let data = h.data("data");
    let port = free_port().to_string();
    let before = tree(&h.home());
    let out = h.run(&[
        "onboard",
        "--dry-run",
        "--tool",
        "codex",
        "--model-map",
        "main=gpt-5.5,small=mini",
        "--port",
        &port,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("== Codex CLI =="), "{stdout}");
    assert!(
        stdout.contains("+model_provider = \"switchboard\""),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("http://127.0.0.1:{port}/v1")),
        "{stdout}"
    );
    assert!(stdout.contains("not running"), "warns: {stdout}");
    assert!(!stdout.contains(ACCESS), "the key is masked");
    assert!(stdout.contains("Dry run: nothing was written."));
    assert_eq!(tree(&h.home()), before, "nothing written to the home");
    assert!(!data.join("integrations").exists(), "no state written");
}

#[test]
fn onboard_then_undo_restores_the_original_bytes() {
    let h = Home::new();
    let data = h.data("data");
    let settings = h.home().join(".claude").join("settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    let original = "{\r\n  \"permissions\": { \"allow\": [\"Bash(ls)\"] } // mine\r\n}\r\n";
    std::fs::write(&settings, original).unwrap();
    let port = free_port().to_string();
    let args = [
        "onboard",
        "--tool",
        "claude-code",
        "--model-map",
        "gpt-5.5",
        "--port",
        &port,
        "--data-dir",
        data.to_str().unwrap(),
    ];
    let out = h.run(&args);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("updated"), "{stdout}");
    assert!(stdout.contains("backup of the original: "), "{stdout}");
    let backup = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("backup of the original: "))
        .unwrap();
    assert_eq!(std::fs::read_to_string(backup).unwrap(), original);
    let written = std::fs::read_to_string(&settings).unwrap();
    // Claude Code got a client of its own (created in the store: no router was running),
    // and that client's key.
    assert!(!written.contains(ACCESS), "{written}");
    let key = written
        .split('"')
        .find(|s| s.starts_with("sk-sb-"))
        .unwrap_or_else(|| panic!("no key in {written}"))
        .to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clients = rt.block_on(async {
        let store = switchboard_store::Store::open(
            &data,
            std::sync::Arc::new(switchboard_store::MemorySecretStore::new()),
        )
        .await
        .unwrap();
        let c = store.list_clients().await.unwrap();
        store.close().await;
        c
    });
    let claude = clients.iter().find(|c| c.name == "claude-code").unwrap();
    assert_eq!(
        claude.keys[0].fingerprint,
        switchboard_router::Secret::new(key).fingerprint()
    );
    assert!(
        written.contains(&format!("http://127.0.0.1:{port}")),
        "{written}"
    );
    assert!(written.contains("// mine"));

    let out = h.run(&["onboard", "--undo", "--data-dir", data.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("restored to the original bytes"),
        "{stdout}"
    );
    assert_eq!(std::fs::read(&settings).unwrap(), original.as_bytes());
}

#[test]
fn onboard_refuses_a_port_that_is_not_a_switchboard() {
    let h = Home::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let server = std::thread::spawn(move || {
        for stream in listener.incoming().take(1) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello",
            );
        }
    });
    let data = h.data("data");
    let out = h.run(&[
        "onboard",
        "--tool",
        "codex",
        "--model-map",
        "gpt-5.5",
        "--port",
        &port,
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    server.join().unwrap();
    let stderr = text(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("not a Switchboard"), "{stderr}");
    assert!(!h.home().join(".codex").exists());
}

async fn open(data: &Path) -> Store {
    let secrets =
        Arc::new(EncryptedFileStore::open(data, MasterKey::Value(Secret::new(MASTER))).unwrap());
    Store::open(data, secrets).await.unwrap()
}

fn provider() -> Provider {
    serde_json::from_value(serde_json::json!({
        "name": "deepseek",
        "kind": "openai_chat",
        "base_url": "https://api.deepseek.com/v1",
        "priority": 2,
        "weight": 3,
        "drop_params": ["thinking"],
    }))
    .unwrap()
}

async fn seed(data: &Path) {
    let store = open(data).await;
    store.upsert_provider(&provider()).await.unwrap();
    store
        .add_key(
            "deepseek",
            "main key",
            KeySecret::Literal(Secret::new(SECRET)),
            2,
            true,
        )
        .await
        .unwrap();
    store
        .upsert_route(&Route {
            alias: "gpt-5.5".into(),
            strategy: Strategy::Priority,
            targets: vec![Target {
                provider: "deepseek".into(),
                model: "deepseek-chat".into(),
                priority: 0,
                weight: 1,
                context_window: None,
            }],
            hedge_after_ms: None,
        })
        .await
        .unwrap();
    store.close().await;
}

#[tokio::test]
async fn config_export_import_round_trip_with_secrets() {
    let h = Home::new();
    let a = h.data("a");
    seed(&a).await;
    let file = h.data("export.json");

    let out = h
        .cmd(&[
            "config",
            "export",
            "--with-secrets",
            "--output",
            file.to_str().unwrap(),
            "--data-dir",
            a.to_str().unwrap(),
        ])
        .env("SWITCHBOARD_EXPORT_PASSPHRASE", PASS)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let exported = std::fs::read_to_string(&file).unwrap();
    assert!(!exported.contains(SECRET), "the secret is sealed");
    assert!(exported.contains("\"argon2id\""));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "owner-only: {mode:o}");
    }

    // A wrong passphrase fails clearly and changes nothing.
    let c = h.data("c");
    let out = h
        .cmd(&[
            "config",
            "import",
            file.to_str().unwrap(),
            "--yes",
            "--data-dir",
            c.to_str().unwrap(),
        ])
        .env("SWITCHBOARD_EXPORT_PASSPHRASE", "not the passphrase")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("wrong passphrase or corrupted export"),
        "{}",
        text(&out.stderr)
    );
    assert!(
        !c.join(switchboard_store::DB_FILE).exists() || {
            let store = open(&c).await;
            let empty = store.list_providers().await.unwrap().is_empty();
            store.close().await;
            empty
        }
    );

    // Without --yes (and no terminal to ask on) nothing is applied; the plan is shown.
    let b = h.data("b");
    let import = |extra: &[&str]| {
        let mut args = vec![
            "config",
            "import",
            file.to_str().unwrap(),
            "--data-dir",
            b.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        h.cmd(&args)
            .env("SWITCHBOARD_EXPORT_PASSPHRASE", PASS)
            .output()
            .unwrap()
    };
    let out = import(&[]);
    assert!(!out.status.success());
    assert!(
        text(&out.stdout).contains("+ deepseek (added)"),
        "{}",
        text(&out.stdout)
    );
    assert!(text(&out.stderr).contains("--yes"), "{}", text(&out.stderr));
    let out = import(&["--dry-run"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Dry run: nothing was changed."));

    let out = import(&["--yes"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("+ gpt-5.5 (added)"), "{stdout}");
    assert!(stdout.contains("+ deepseek / main key"), "{stdout}");
    assert!(!stdout.contains(SECRET));

    let (from, to) = (open(&a).await, open(&b).await);
    assert_eq!(
        to.list_providers().await.unwrap(),
        from.list_providers().await.unwrap()
    );
    assert_eq!(
        to.list_routes().await.unwrap(),
        from.list_routes().await.unwrap()
    );
    let keys = to.list_keys(None).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].label.as_str(), keys[0].weight), ("main key", 2));
    assert_eq!(to.key_secret(keys[0].id).await.unwrap().expose(), SECRET);
    from.close().await;
    to.close().await;

    // Importing again: nothing to change.
    let out = import(&["--yes"]);
    assert!(out.status.success());
    assert!(
        text(&out.stdout).contains("Nothing to change."),
        "{}",
        text(&out.stdout)
    );

    // Here the provider has moved to another server; the export would point it (and its key)
    // back: shown, and refused with --yes alone.
    let store = open(&b).await;
    let mut moved = store.get_provider("deepseek").await.unwrap().unwrap();
    let original = moved.base_url.clone();
    moved.base_url = "https://other.example:8443/v1".into();
    store.upsert_provider(&moved).await.unwrap();
    store.close().await;
    let out = import(&["--yes"]);
    let stdout = text(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("! deepseek: https://other.example:8443 -> https://api.deepseek.com"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("--accept-new-hosts"),
        "{}",
        text(&out.stderr)
    );
    let store = open(&b).await;
    assert_eq!(
        store
            .get_provider("deepseek")
            .await
            .unwrap()
            .unwrap()
            .base_url,
        moved.base_url,
        "nothing written"
    );
    store.close().await;
    let out = import(&["--yes", "--accept-new-hosts"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let store = open(&b).await;
    assert_eq!(
        store
            .get_provider("deepseek")
            .await
            .unwrap()
            .unwrap()
            .base_url,
        original
    );
    store.close().await;
}

#[tokio::test]
async fn config_export_token_without_secrets_lists_keys_needing_a_secret() {
    let h = Home::new();
    let a = h.data("a");
    seed(&a).await;
    let out = h.run(&[
        "config",
        "export",
        "--token",
        "--data-dir",
        a.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = text(&out.stdout);
    assert!(token.starts_with("sbx1.") && !token.contains(SECRET));

    let b = h.data("b");
    let mut child = h
        .cmd(&[
            "config",
            "import",
            "-",
            "--yes",
            "--data-dir",
            b.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("! deepseek / main key [") && stdout.contains("needs a secret"),
        "{stdout}"
    );
    assert!(stdout.contains("1 key(s) were not imported"), "{stdout}");
    let store = open(&b).await;
    assert_eq!(store.list_providers().await.unwrap().len(), 1);
    assert!(store.list_keys(None).await.unwrap().is_empty());
    store.close().await;
}

#[test]
fn serve_with_stdout_in_a_file_logs_no_credential_and_names_the_commands_that_show_them() {
    let h = Home::new();
    let data = h.data("data");
    let log_path = h.dir.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let admin = "sbadm-cli-test-admin-0123456789";
    let mut child = h
        .cmd(&["serve", "--port", "0", "--data-dir", data.to_str().unwrap()])
        .env("SWITCHBOARD_ADMIN_TOKEN", admin)
        .stdout(Stdio::from(log))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let banner = loop {
        let written = std::fs::read_to_string(&log_path).unwrap();
        if written.contains("Admin token") {
            break written;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no banner in {written:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(banner.contains("Endpoint:   http://127.0.0.1:"), "{banner}");
    assert!(
        !banner.contains(ACCESS),
        "the access key is in the log: {banner}"
    );
    assert!(
        !banner.contains(admin),
        "the admin token is in the log: {banner}"
    );
    assert!(!banner.contains("#token="), "{banner}");
    // The commands it names show the credentials.
    let hint = format!("switchboard keys show-access --data-dir {}", data.display());
    assert!(banner.contains(&hint), "{banner}");
    let shown = h.run(&["keys", "show-access", "--data-dir", data.to_str().unwrap()]);
    assert!(shown.status.success(), "{}", text(&shown.stderr));
    assert_eq!(text(&shown.stdout).trim(), ACCESS);
    let shown = h
        .cmd(&["keys", "show-admin", "--data-dir", data.to_str().unwrap()])
        .env("SWITCHBOARD_ADMIN_TOKEN", admin)
        .output()
        .unwrap();
    assert_eq!(text(&shown.stdout).trim(), admin);
}
