//! What a control operation can fail with; the transports map it to their own answers (the
//! admin API to a status and `{error: {message, field}}`).

use switchboard_router::model::Invalid;
use switchboard_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// The input is wrong; `field` names it (`targets[0].provider`).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    /// The action cannot be taken in the current state (nothing to install, …).
    #[error("{0}")]
    Refused(String),
    /// A provider could not be reached or answered with an error.
    #[error("{0}")]
    Upstream(String),
    #[error(transparent)]
    Store(StoreError),
}

impl ControlError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ControlError::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        ControlError::NotFound(what.to_string())
    }
}

impl From<Invalid> for ControlError {
    fn from(e: Invalid) -> Self {
        ControlError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<StoreError> for ControlError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Invalid { field, message } => ControlError::Invalid { field, message },
            StoreError::NotFound { what } => ControlError::NotFound(what),
            StoreError::Conflict { what } => ControlError::Conflict(what),
            other => ControlError::Store(other),
        }
    }
}
