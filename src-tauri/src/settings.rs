//! The desktop shell's own settings (`desktop.json` in the data directory): the port, whether
//! onboarding was done, muted notification kinds, the update channel, when to free a hidden
//! webview. They are read before the engine starts (the port decides where it listens), so
//! they live beside the database, not in it. Autostart's truth is the OS entry itself.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::notices::NoticeKind;

/// The router's default port: fixed, so the configs written into AI tools stay valid.
pub const DEFAULT_PORT: u16 = 9911;

const FILE_NAME: &str = "desktop.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DesktopSettings {
    pub port: u16,
    /// The first-start onboarding has been completed or skipped.
    pub onboarded: bool,
    /// Notification kinds the user turned off.
    pub muted: BTreeSet<NoticeKind>,
    /// A self-hosted release channel (`https://…/latest.json`); `None`: the one in
    /// `tauri.conf.json`.
    pub update_endpoint: Option<String>,
    /// Free the webview after the window has been hidden this long (0: never).
    pub free_webview_after_secs: u64,
}

impl Default for DesktopSettings {
    fn default() -> Self {
        DesktopSettings {
            port: DEFAULT_PORT,
            onboarded: false,
            muted: BTreeSet::new(),
            update_endpoint: None,
            free_webview_after_secs: 600,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Where the settings file of `data_dir` is.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

impl DesktopSettings {
    /// How long a hidden window keeps its webview; `None`: for ever.
    pub fn free_webview_after(&self) -> Option<Duration> {
        (self.free_webview_after_secs > 0)
            .then(|| Duration::from_secs(self.free_webview_after_secs))
    }

    /// How often to look whether the hidden window's webview is due to be freed: a quarter of
    /// the delay (so it is freed at most that much late), between 1 s and 30 s.
    pub fn free_webview_check_every(&self) -> Duration {
        self.free_webview_after()
            .map_or(Duration::from_secs(30), |d| d / 4)
            .clamp(Duration::from_secs(1), Duration::from_secs(30))
    }

    /// Reads the file; a missing file gives the defaults, a damaged one is an error (the
    /// caller decides whether to start with defaults and say so).
    pub fn load(path: &Path) -> Result<DesktopSettings, SettingsError> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| SettingsError::Parse {
                path: path.to_owned(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DesktopSettings::default()),
            Err(source) => Err(SettingsError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Writes atomically: a temporary file in the same directory, then a rename.
    pub fn save(&self, path: &Path) -> Result<(), SettingsError> {
        let io = |source| SettingsError::Io {
            path: path.to_owned(),
            source,
        };
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let json = serde_json::to_vec_pretty(self).map_err(|source| SettingsError::Parse {
            path: path.to_owned(),
            source,
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        tmp.write_all(&json).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_gives_defaults_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        let mut s = DesktopSettings::load(&p).unwrap();
        assert_eq!(s, DesktopSettings::default());
        assert_eq!(s.port, 9911);
        s.port = 9912;
        s.muted.insert(NoticeKind::RateLimited);
        s.save(&p).unwrap();
        let again = DesktopSettings::load(&p).unwrap();
        assert_eq!(again, s);
        let raw = std::fs::read_to_string(&p).unwrap();
        assert!(raw.contains("\"rate_limited\""), "{raw}");
    }

    #[test]
    fn the_webview_release_delay_sets_how_often_it_is_checked() {
        let with = |secs| DesktopSettings {
            free_webview_after_secs: secs,
            ..DesktopSettings::default()
        };
        assert_eq!(with(0).free_webview_after(), None);
        assert_eq!(with(0).free_webview_check_every(), Duration::from_secs(30));
        assert_eq!(
            with(600).free_webview_after(),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            with(600).free_webview_check_every(),
            Duration::from_secs(30)
        );
        assert_eq!(with(8).free_webview_check_every(), Duration::from_secs(2));
        assert_eq!(with(2).free_webview_check_every(), Duration::from_secs(1));
    }

    #[test]
    fn damaged_file_is_an_error_and_unknown_fields_default() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        std::fs::write(&p, b"{not json").unwrap();
        assert!(matches!(
            DesktopSettings::load(&p),
            Err(SettingsError::Parse { .. })
        ));
        std::fs::write(&p, br#"{"port": 9999}"#).unwrap();
        let s = DesktopSettings::load(&p).unwrap();
        assert_eq!(s.port, 9999);
        assert!(!s.onboarded);
    }
}
