//! Self-update through tauri-plugin-updater: check the channel ([`crate::update_policy`]),
//! download the artifact and verify its signature against the configured public key, and
//! only then announce "update available" (tray, window, notification). Installing happens
//! on the user's confirmation and re-verifies the same bytes. A manifest or artifact that does
//! not verify is refused, logged and reported; the app keeps running.

use tauri::{AppHandle, Manager};
use tauri_plugin_updater::{Update, UpdaterExt};

use crate::state::AppState;
use crate::update_policy::{self, UpdateStatus};

/// Records a check's outcome for the window and the tray, and tells the dashboard.
fn publish(app: &AppHandle, status: &UpdateStatus) {
    let state = app.state::<AppState>();
    state.updates.set(status.clone());
    state.shell.host_app().announce_update(status.notice());
}

fn now_ms() -> i64 {
    switchboard_store::now_ms()
}

async fn check_inner(app: &AppHandle) -> Result<Option<(Update, Vec<u8>)>, String> {
    let state = app.state::<AppState>();
    let settings = state.shell.settings();
    let channel = update_policy::channel(
        settings.update_endpoint.as_deref(),
        cfg!(debug_assertions),
        |k| std::env::var(k).ok(),
    )?;
    let mut builder = app
        .updater_builder()
        .timeout(std::time::Duration::from_secs(60));
    if let Some(endpoint) = channel.endpoint {
        builder = builder
            .endpoints(vec![endpoint])
            .map_err(|e| e.to_string())?;
    }
    if let Some(pubkey) = channel.pubkey {
        builder = builder.pubkey(pubkey);
    }
    let updater = builder.build().map_err(|e| e.to_string())?;
    let Some(update) = updater.check().await.map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    // Verified here (download() checks the minisign signature, and the version it was signed
    // for, against the public key) before anything is announced.
    let bytes = update
        .download(|_, _| {}, || {})
        .await
        .map_err(|e| format!("update {} refused: {e}", update.version))?;
    Ok(Some((update, bytes)))
}

/// Checks for an update now; returns the new status.
pub async fn check(app: &AppHandle) -> UpdateStatus {
    let state = app.state::<AppState>();
    state.updates.set(UpdateStatus::Checking);
    let status = match check_inner(app).await {
        Ok(Some((update, bytes))) => {
            let status = UpdateStatus::Available {
                version: update.version.clone(),
                notes: update.body.clone(),
            };
            tracing::info!(version = %update.version, "verified update available");
            if let Ok(mut r) = state.updates.ready.lock() {
                *r = Some((update, bytes));
            }
            status
        }
        Ok(None) => UpdateStatus::UpToDate {
            checked_at_ms: now_ms(),
        },
        Err(message) => {
            tracing::warn!(%message, "update check failed");
            if let Ok(mut r) = state.updates.ready.lock() {
                *r = None;
            }
            UpdateStatus::Error {
                message,
                checked_at_ms: now_ms(),
            }
        }
    };
    publish(app, &status);
    status
}

/// Installs the staged update (verified again by the plugin) and restarts.
pub async fn install(app: &AppHandle) -> Result<(), String> {
    let state = app.state::<AppState>();
    let staged = state
        .updates
        .ready
        .lock()
        .map_err(|e| e.to_string())?
        .take();
    let Some((update, bytes)) = staged else {
        return Err("no verified update is waiting; check for updates first".to_owned());
    };
    if let Err(e) = update.install(&bytes) {
        let message = format!("update {} not installed: {e}", update.version);
        publish(
            app,
            &UpdateStatus::Error {
                message: message.clone(),
                checked_at_ms: now_ms(),
            },
        );
        return Err(message);
    }
    tracing::info!(version = %update.version, "update installed; restarting");
    state.shell.stop().await;
    app.restart()
}
