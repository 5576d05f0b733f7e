//! The process environment as a value, so that tests point every lookup at a temp dir and
//! never at the real home directory.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Home directory and environment variables used to locate tools and their config files
/// (`HOME`, `XDG_CONFIG_HOME`, `CODEX_HOME`, `CLAUDE_CONFIG_DIR`, `OPENCODE_CONFIG`,
/// `GEMINI_CLI_HOME`, `PATH`, …).
#[derive(Clone, Debug, Default)]
pub struct Env {
    home: Option<PathBuf>,
    vars: BTreeMap<String, OsString>,
}

impl Env {
    /// The real environment of this process.
    pub fn from_process() -> Self {
        Env {
            home: dirs::home_dir(),
            vars: std::env::vars_os()
                .filter_map(|(k, v)| k.into_string().ok().map(|k| (k, v)))
                .collect(),
        }
    }

    /// An environment with only a home directory; add variables with [`Env::with_var`].
    pub fn with_home(home: impl Into<PathBuf>) -> Self {
        Env {
            home: Some(home.into()),
            vars: BTreeMap::new(),
        }
    }

    /// Sets (or overrides) one variable.
    #[must_use]
    pub fn with_var(mut self, name: &str, value: impl Into<OsString>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// A variable's value; empty values count as unset.
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.vars
            .get(name)
            .map(OsString::as_os_str)
            .filter(|v| !v.is_empty())
    }

    /// A variable interpreted as a path (empty counts as unset).
    pub(crate) fn path_var(&self, name: &str) -> Option<PathBuf> {
        self.var(name).map(PathBuf::from)
    }

    /// Finds an executable on `PATH`.
    pub(crate) fn which(&self, program: &str) -> Option<PathBuf> {
        let path = self.var("PATH")?;
        let extensions: Vec<String> = if cfg!(windows) {
            self.var("PATHEXT")
                .and_then(OsStr::to_str)
                .unwrap_or(".EXE;.CMD;.BAT")
                .split(';')
                .map(str::to_owned)
                .collect()
        } else {
            vec![String::new()]
        };
        std::env::split_paths(path).find_map(|dir| {
            extensions.iter().find_map(|ext| {
                let candidate = dir.join(format!("{program}{ext}"));
                is_executable(&candidate).then_some(candidate)
            })
        })
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}
