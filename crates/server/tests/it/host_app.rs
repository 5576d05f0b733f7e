//! What the hosting app (the desktop shell) reports through the admin API: a verified update
//! and the dashboard's install request, and why secrets are not in the OS keychain.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use switchboard_server::{HostApp, UpdateNotice};

use crate::common::{Sb, provider_toml};

/// The shell's side, shared with every engine it starts (`tweak` takes no captures).
static SHELL: LazyLock<Arc<HostApp>> = LazyLock::new(Arc::default);

fn one_key(mock: &switchboard_mock_upstream::MockUpstream) -> String {
    provider_toml("mock", mock, &["sk-a"])
}

#[tokio::test]
async fn a_headless_server_announces_nothing_and_refuses_to_install() {
    let sb = Sb::start(one_key).await;
    let status = sb.get("/api/v1/status").await;
    assert_eq!(status["update"], Value::Null);
    assert_eq!(status["secret_store_note"], Value::Null);
    let (code, body) = sb.admin(Method::POST, "/api/v1/update/install", None).await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no verified update")),
        "{body}"
    );
}

#[tokio::test]
async fn the_dashboard_sees_the_hosts_update_and_its_install_click_wakes_the_host() {
    let mut sb = Sb::start_with(one_key, |o| o.host_app = SHELL.clone()).await;
    SHELL.set_secret_store_note(Some("no Secret Service on the session bus".into()));
    let status = sb.get("/api/v1/status").await;
    assert_eq!(status["update"], Value::Null);
    assert_eq!(status["secret_store"], "encrypted_file");
    assert_eq!(
        status["secret_store_note"],
        "no Secret Service on the session bus"
    );

    SHELL.announce_update(Some(UpdateNotice {
        version: "9.9.9".into(),
        notes: Some("faster".into()),
    }));
    // The announcement belongs to the host, so it survives an engine restart (port change).
    sb.restart().await;
    let status = sb.get("/api/v1/status").await;
    assert_eq!(status["update"]["version"], "9.9.9");
    assert_eq!(status["update"]["notes"], "faster");

    let waiter = tokio::spawn(async { SHELL.install_requested().await });
    let (code, body) = sb.admin(Method::POST, "/api/v1/update/install", None).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["version"], "9.9.9");
    tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .expect("the host is woken by the install request")
        .unwrap();

    SHELL.announce_update(None);
    let (code, _) = sb.admin(Method::POST, "/api/v1/update/install", None).await;
    assert_eq!(code, 409);
    assert_eq!(sb.get("/api/v1/status").await["update"], Value::Null);
}

#[tokio::test]
async fn installing_needs_the_admin_token() {
    let sb = Sb::start(one_key).await;
    let resp = sb
        .http
        .post(format!("{}/api/v1/update/install", sb.url))
        .bearer_auth(crate::common::ACCESS)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}
