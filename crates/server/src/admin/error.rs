//! The one error of the admin API (the Integrations and export/import API too): a status, a
//! message and, for validation errors, the offending field; mapped from
//! [`ControlError`] and the few other errors handlers meet.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_control::ControlError;
use switchboard_control::transfer::TransferError;
use switchboard_store::StoreError;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

pub type ApiResult<T> = Result<Json<T>, AdminError>;

impl AdminError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        AdminError {
            status,
            message: message.into(),
            field: None,
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        AdminError::new(StatusCode::NOT_FOUND, format!("{what} not found"))
    }

    /// 503: team mode's database is out of reach (the request needed it).
    pub fn database_unreachable() -> Self {
        AdminError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            switchboard_store::DATABASE_UNREACHABLE,
        )
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        AdminError {
            status: StatusCode::BAD_REQUEST,
            message: format!("{field}: {}", message.into()),
            field: Some(field),
        }
    }
}

impl From<ControlError> for AdminError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Invalid { field, message } => AdminError::invalid(field, message),
            ControlError::NotFound(what) => AdminError::not_found(what),
            ControlError::Conflict(what) => {
                AdminError::new(StatusCode::CONFLICT, format!("{what} already exists"))
            }
            ControlError::Refused(m) => AdminError::new(StatusCode::CONFLICT, m),
            ControlError::Upstream(m) => AdminError::new(StatusCode::BAD_GATEWAY, m),
            ControlError::Store(e) if e.is_unreachable() => AdminError::database_unreachable(),
            ControlError::Store(other) => {
                tracing::error!(error = %other, "store error in admin API");
                AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string())
            }
        }
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        ControlError::from(e).into()
    }
}

impl From<TransferError> for AdminError {
    fn from(e: TransferError) -> Self {
        let status = match &e {
            TransferError::Store(inner) if inner.is_unreachable() => {
                return AdminError::database_unreachable();
            }
            TransferError::Store(inner) => {
                tracing::error!(error = %inner, "store error during export/import");
                StatusCode::INTERNAL_SERVER_ERROR
            }
            TransferError::Crypto => StatusCode::INTERNAL_SERVER_ERROR,
            TransferError::WrongPassphrase => StatusCode::UNPROCESSABLE_ENTITY,
            TransferError::HostsNotConfirmed(_) => StatusCode::CONFLICT,
            _ => StatusCode::BAD_REQUEST,
        };
        AdminError::new(status, e.to_string())
    }
}

impl From<switchboard_integrations::Error> for AdminError {
    fn from(e: switchboard_integrations::Error) -> Self {
        use switchboard_integrations::Error as E;
        let status = match &e {
            E::Unparseable { .. }
            | E::UnsupportedShape { .. }
            | E::EndpointRefused { .. }
            | E::EnvVarMissing { .. }
            | E::InvalidPlan(_) => StatusCode::BAD_REQUEST,
            E::Conflict { .. } => StatusCode::CONFLICT,
            E::NotConfigured(_) => StatusCode::NOT_FOUND,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        AdminError::new(status, e.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                message: self.message,
                field: self.field,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

/// A JSON body whose errors name the field (`targets[0].weight: invalid type …`).
pub struct Body400<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequest<S> for Body400<T> {
    type Rejection = AdminError;

    async fn from_request(req: axum::extract::Request, _: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), 4 * 1024 * 1024)
            .await
            .map_err(|_| AdminError::new(StatusCode::PAYLOAD_TOO_LARGE, "body too large"))?;
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(Body400)
            .map_err(|e| {
                let path = e.path().to_string();
                let field = if path == "." { "body".to_owned() } else { path };
                AdminError::invalid(field, e.into_inner().to_string())
            })
    }
}
