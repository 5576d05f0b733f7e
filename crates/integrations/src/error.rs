//! Typed failures. None of them carries a secret: paths, key names, line and column only.

use std::io;
use std::path::PathBuf;

use crate::ToolId;

/// Everything that can stop a preview, an apply or an undo. The file named in the error was
/// not modified.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tool's config file could not be parsed; it is left untouched.
    #[error(
        "{path}: cannot parse (line {line}, column {column}): {message}; the file was left untouched"
    )]
    Unparseable {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The file parses but has a shape we will not edit (for example `env` is not an object).
    #[error("{path}: {detail}; the file was left untouched")]
    UnsupportedShape { path: PathBuf, detail: String },
    /// The endpoint is not one we will point a tool at.
    #[error("refusing endpoint `{url}`: {reason}")]
    EndpointRefused { url: String, reason: String },
    /// The config already holds something under our name that we did not put there.
    #[error("{path}: {detail}")]
    Conflict { path: PathBuf, detail: String },
    /// `KeyDelivery::EnvVar` names a variable that is not set: the tool would exit at start.
    #[error(
        "environment variable `{name}` is not set; the tool would fail to start (use the inline key instead)"
    )]
    EnvVarMissing { name: String },
    /// The plan is incomplete or contradictory.
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    /// Undo was asked for a tool we never configured.
    #[error("{0} was not configured by Switchboard; nothing to undo")]
    NotConfigured(ToolId),
    /// No home directory could be determined, so the tool's config cannot be located.
    #[error("cannot locate the home directory")]
    NoHome,
    /// Our own state (manifest) is unreadable.
    #[error("{path}: corrupt integration state: {detail}")]
    State { path: PathBuf, detail: String },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
