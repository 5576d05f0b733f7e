//! Crash safety of the real binary: `switchboard serve` is killed with SIGKILL while it logs
//! requests as fast as clients send them and while the admin API edits the configuration;
//! after each kill the database passes `PRAGMA integrity_check`, no request-log row that was
//! visible before the kill is gone, every configuration edit that was acknowledged is there,
//! and the router starts again on the same data directory and serves.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_mock_upstream::{Dialect, MockOptions, MockUpstream};
use switchboard_store::{MemorySecretStore, RequestFilter, Store};

const ACCESS: &str = "sk-sb-crash-access-0123456789";
const ADMIN: &str = "sbadm-crash-admin-0123456789";

/// Starts `switchboard serve` on a free port; returns the child and its base URL.
fn serve(dir: &Path, config: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--port", "0", "--log-level", "warn"])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--config")
        .arg(config)
        .env("SWITCHBOARD_ACCESS_KEY", ACCESS)
        .env("SWITCHBOARD_ADMIN_TOKEN", ADMIN)
        .env("SWITCHBOARD_MASTER_KEY", "crash test passphrase")
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("XDG_DATA_HOME", dir.join("share"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let url = loop {
        assert!(Instant::now() < deadline, "no start banner");
        let line = lines.next().unwrap().unwrap();
        if let Some(rest) = line.trim().strip_prefix("Endpoint:") {
            break rest.trim().trim_end_matches("/v1").to_owned();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

async fn request_ids(dir: &Path) -> BTreeSet<String> {
    let store = Store::open(&dir.join("data"), Arc::new(MemorySecretStore::new()))
        .await
        .unwrap();
    let mut ids = BTreeSet::new();
    let mut before = None;
    loop {
        let page = store
            .query_requests(&RequestFilter {
                limit: 1000,
                before_id: before.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.id.clone());
        ids.extend(page.into_iter().map(|r| r.id));
    }
    store.close().await;
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_request_logging_and_config_edits_loses_nothing_committed() {
    let mock = MockUpstream::start_with(MockOptions {
        record: false,
        ..MockOptions::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[[providers]]\nname = \"mock\"\nkind = \"openai_chat\"\nbase_url = {:?}\nkeys = [\"sk-crash-key-0123456789\"]\n\n\
             [[routes]]\nalias = \"m\"\ntargets = [{{ provider = \"mock\", model = \"mock-small\" }}]\n",
            mock.base_url(Dialect::OpenAiChat)
        ),
    )
    .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut acked_providers: Vec<String> = Vec::new();
    let mut acked_routes: Vec<String> = Vec::new();
    let mut last_retention: Option<u64> = None;
    let mut total_requests = 0usize;

    for round in 0..3 {
        let (mut child, url) = serve(dir.path(), &config);
        // The previous rounds' acknowledged edits survived the kill and the restart.
        let providers: serde_json::Value = http
            .get(format!("{url}/api/v1/providers"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let names: BTreeSet<&str> = providers
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for p in &acked_providers {
            assert!(
                names.contains(p.as_str()),
                "round {round}: acknowledged provider {p} lost"
            );
        }
        let routes: serde_json::Value = http
            .get(format!("{url}/api/v1/routes"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let aliases: BTreeSet<&str> = routes
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["alias"].as_str())
            .collect();
        for a in &acked_routes {
            assert!(
                aliases.contains(a.as_str()),
                "round {round}: acknowledged route {a} lost"
            );
        }
        if let Some(days) = last_retention {
            let s: serde_json::Value = http
                .get(format!("{url}/api/v1/settings"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                s["log_retention_days"], days,
                "round {round}: acknowledged settings lost"
            );
        }

        // Load: 16 clients sending requests back to back (the batched log writer is busy)…
        let stop = Arc::new(AtomicBool::new(false));
        let mut load = tokio::task::JoinSet::new();
        for c in 0..16 {
            let (http, url, stop) = (http.clone(), url.clone(), stop.clone());
            load.spawn(async move {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    let body = json!({"model": "m", "stream": c % 2 == 0, "messages": [{"role": "user", "content": "hi"}]});
                    match http.post(format!("{url}/v1/chat/completions")).bearer_auth(ACCESS).json(&body).send().await {
                        Ok(r) if r.status() == 200 => {
                            let _ = r.bytes().await;
                            n += 1;
                        }
                        Ok(r) => panic!("status {}", r.status()),
                        Err(_) => break, // the router is gone
                    }
                }
                n
            });
        }
        // …while the admin API edits the configuration; each acknowledged edit is recorded.
        let deadline = Instant::now() + Duration::from_millis(1500 + 500 * round);
        let mut i = 0;
        while Instant::now() < deadline {
            let name = format!("p{round}-{i}");
            let r = http
                .post(format!("{url}/api/v1/providers"))
                .bearer_auth(ADMIN)
                .json(&json!({"name": name, "kind": "openai_chat", "base_url": mock.base_url(Dialect::OpenAiChat)}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            acked_providers.push(name.clone());
            let alias = format!("r{round}-{i}");
            let r = http
                .post(format!("{url}/api/v1/routes"))
                .bearer_auth(ADMIN)
                .json(&json!({"alias": alias, "targets": [{"provider": name, "model": "mock-small"}]}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            acked_routes.push(alias);
            let days = 10 + (i as u64 % 50);
            let r = http
                .put(format!("{url}/api/v1/settings"))
                .bearer_auth(ADMIN)
                .json(&json!({"log_retention_days": days}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            last_retention = Some(days);
            i += 1;
        }
        // The rows the database holds right now are committed; none of them may vanish.
        let committed = request_ids(dir.path()).await;
        // An edit in flight at the moment of the kill may land or not; it was not acknowledged.
        let in_flight_edit = http
            .post(format!("{url}/api/v1/providers"))
            .bearer_auth(ADMIN)
            .json(&json!({"name": format!("unacked-{round}"), "kind": "openai_chat", "base_url": "https://example.invalid/v1"}))
            .send();
        let kill = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            child.kill().unwrap();
        };
        let (_, ()) = tokio::join!(in_flight_edit, kill);
        let status = child.wait().unwrap();
        assert!(!status.success());
        stop.store(true, Ordering::Relaxed);
        while let Some(n) = load.join_next().await {
            total_requests += n.unwrap();
        }
        assert!(
            !committed.is_empty() || round == 0,
            "round {round}: nothing was logged"
        );

        // After the crash: consistent, and nothing committed is gone.
        let store = Store::open(&dir.path().join("data"), Arc::new(MemorySecretStore::new()))
            .await
            .unwrap();
        store.integrity_check().await.unwrap();
        store.close().await;
        let after = request_ids(dir.path()).await;
        let lost: Vec<_> = committed.difference(&after).collect();
        assert!(
            lost.is_empty(),
            "round {round}: {} committed rows lost: {lost:?}",
            lost.len()
        );
        eprintln!(
            "round {round}: {} rows committed before the kill, {} after; {} edits acknowledged",
            committed.len(),
            after.len(),
            acked_providers.len()
        );
    }
    assert!(
        total_requests > 100,
        "only {total_requests} requests completed"
    );

    // The router starts again and serves.
    let (mut child, url) = serve(dir.path(), &config);
    let r = http
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(ACCESS)
        .json(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let providers: serde_json::Value = http
        .get(format!("{url}/api/v1/providers"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(providers.as_array().unwrap().len() > acked_providers.len());
    child.kill().unwrap();
    let _ = child.wait();
}
