//! What the app keeps while it runs, managed by Tauri: the shell, the window's visibility,
//! the staged update, the notification coalescer, the tray's handles and the background
//! tasks. Every other module reads it; it depends on none of them but the pure ones.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tauri::menu::{CheckMenuItem, MenuItem, Submenu};
use tauri::tray::TrayIcon;
use tauri_plugin_updater::Update;
use tokio_util::sync::CancellationToken;

use crate::notices::Coalescer;
use crate::shell::Shell;
use crate::update_policy::UpdateStatus;
use switchboard_control::OverallState;

/// Everything the app keeps, managed by Tauri.
pub struct AppState {
    pub shell: Arc<Shell>,
    pub visibility: Visibility,
    pub updates: Staged,
    pub(crate) coalescer: Mutex<Coalescer>,
    pub(crate) tray: Mutex<Option<Tray>>,
    pub(crate) stop: CancellationToken,
    pub(crate) tasks: Mutex<Vec<tauri::async_runtime::JoinHandle<()>>>,
}

impl AppState {
    pub fn new(shell: Arc<Shell>, coalescer: Coalescer) -> AppState {
        AppState {
            shell,
            visibility: Visibility::default(),
            updates: Staged::default(),
            coalescer: Mutex::new(coalescer),
            tray: Mutex::new(None),
            stop: CancellationToken::new(),
            tasks: Mutex::new(Vec::new()),
        }
    }
}

/// The tray's handles and what it shows now.
pub(crate) struct Tray {
    pub(crate) icon: TrayIcon,
    pub(crate) status: MenuItem<tauri::Wry>,
    pub(crate) routing: CheckMenuItem<tauri::Wry>,
    pub(crate) install: MenuItem<tauri::Wry>,
    /// The "Configure tools" submenu and the entries it shows.
    pub(crate) tools: Submenu<tauri::Wry>,
    pub(crate) tools_shown: Vec<crate::tray::ToolItem>,
    pub(crate) base: (Vec<u8>, u32, u32),
    /// Where the icons are written, one directory per state (see `tray::icon_dir`).
    pub(crate) icon_root: std::path::PathBuf,
    /// The state the icon shows and the tooltip last set.
    pub(crate) shown: Option<(OverallState, String)>,
}

/// When the main window was hidden (None: visible or absent).
#[derive(Default)]
pub struct Visibility {
    hidden_since: Mutex<Option<Instant>>,
}

impl Visibility {
    pub fn mark_hidden(&self) {
        if let Ok(mut h) = self.hidden_since.lock() {
            h.get_or_insert_with(Instant::now);
        }
    }

    pub fn mark_shown(&self) {
        if let Ok(mut h) = self.hidden_since.lock() {
            *h = None;
        }
    }

    pub fn hidden_for(&self) -> Option<Duration> {
        self.hidden_since
            .lock()
            .ok()
            .and_then(|h| h.map(|t| t.elapsed()))
    }
}

/// The verified update waiting for confirmation.
#[derive(Default)]
pub struct Staged {
    pub status: Mutex<UpdateStatus>,
    pub(crate) ready: Mutex<Option<(Update, Vec<u8>)>>,
}

impl Staged {
    pub fn status(&self) -> UpdateStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub(crate) fn set(&self, s: UpdateStatus) {
        if let Ok(mut st) = self.status.lock() {
            *st = s;
        }
    }
}
