//! What the application hosting the engine (the desktop app) tells the dashboard, and the one
//! thing the dashboard may ask of it. The host announces a verified update and says why
//! secrets are not in the OS keychain; both appear in `GET /api/v1/status`. The dashboard's
//! "Install" button (`POST /api/v1/update/install`) wakes the host, which installs the update
//! it verified itself — the engine never downloads or runs anything.
//!
//! Headless servers leave it empty: no update is ever announced and install answers 409.

use parking_lot::RwLock;
use serde::Serialize;
use tokio::sync::Notify;
use utoipa::ToSchema;

/// A verified update waiting for the user's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UpdateNotice {
    pub version: String,
    /// Release notes from the update manifest.
    pub notes: Option<String>,
}

/// Shared between the host and every engine it starts (it outlives an engine restart).
#[derive(Default)]
pub struct HostApp {
    update: RwLock<Option<UpdateNotice>>,
    secret_store_note: RwLock<Option<String>>,
    install: Notify,
}

impl HostApp {
    /// Announces a verified update (`None`: nothing to install).
    pub fn announce_update(&self, update: Option<UpdateNotice>) {
        *self.update.write() = update;
    }

    pub fn update(&self) -> Option<UpdateNotice> {
        self.update.read().clone()
    }

    /// Why secrets are not in the OS keychain (shown next to the store in the dashboard).
    pub fn set_secret_store_note(&self, note: Option<String>) {
        *self.secret_store_note.write() = note;
    }

    pub fn secret_store_note(&self) -> Option<String> {
        self.secret_store_note.read().clone()
    }

    /// Resolves when the dashboard asked to install the announced update. A request made
    /// while nobody waits is kept for the next wait.
    pub async fn install_requested(&self) {
        self.install.notified().await;
    }

    /// The dashboard's install button: wakes the host if an update is announced.
    pub(crate) fn request_install(&self) -> Option<UpdateNotice> {
        let update = self.update()?;
        self.install.notify_one();
        Some(update)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn notice() -> UpdateNotice {
        UpdateNotice {
            version: "9.9.9".into(),
            notes: None,
        }
    }

    #[tokio::test]
    async fn install_is_refused_without_an_announced_update() {
        let host = HostApp::default();
        assert_eq!(host.request_install(), None);
        let woke = tokio::time::timeout(Duration::from_millis(50), host.install_requested()).await;
        assert!(woke.is_err(), "no update, so the host must not be woken");
    }

    #[tokio::test]
    async fn a_request_made_before_the_host_waits_is_not_lost() {
        let host = HostApp::default();
        host.announce_update(Some(notice()));
        assert_eq!(host.request_install(), Some(notice()));
        tokio::time::timeout(Duration::from_secs(1), host.install_requested())
            .await
            .expect("the earlier request wakes the host");
        host.announce_update(None);
        assert_eq!(host.request_install(), None);
    }
}
