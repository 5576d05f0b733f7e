//! Errors as each dialect's clients expect to read them: the body shape and the HTTP status.
//! Every error Switchboard itself produces goes through [`ClientError::to_body`], so a client
//! always parses our errors with its own SDK types.

use serde_json::{Value, json};

use crate::Dialect;

/// What went wrong, in terms a client acts on (retry, fix the request, fix the key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed or invalid request (400).
    InvalidRequest,
    /// Missing or wrong local access key (401).
    Authentication,
    /// Refused by a guard: foreign origin, host, peer (403).
    PermissionDenied,
    /// Unknown model or path (404).
    NotFound,
    /// A path served for another method (405).
    MethodNotAllowed,
    /// Request body over the limit (413).
    PayloadTooLarge,
    /// The client did not send its request body in time (408).
    RequestTimeout,
    /// Body is not JSON (415).
    UnsupportedMediaType,
    /// Every candidate key is rate limited (429).
    RateLimited,
    /// Upstream failed or was unreachable (502).
    BadGateway,
    /// No usable key right now, or shutting down (503).
    Unavailable,
    /// Upstream timed out (504).
    GatewayTimeout,
    /// A bug on our side (500).
    Internal,
    /// The request came back to the router that sent it (508): a provider points at itself.
    LoopDetected,
}

impl ErrorKind {
    pub fn status(self) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::PermissionDenied => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::PayloadTooLarge => 413,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::UnsupportedMediaType => 415,
            ErrorKind::RateLimited => 429,
            ErrorKind::BadGateway => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::GatewayTimeout => 504,
            ErrorKind::Internal => 500,
            ErrorKind::LoopDetected => 508,
        }
    }

    /// The closest kind for an HTTP status (used when relaying an upstream's own error).
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            401 => ErrorKind::Authentication,
            403 => ErrorKind::PermissionDenied,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::RequestTimeout,
            413 => ErrorKind::PayloadTooLarge,
            415 => ErrorKind::UnsupportedMediaType,
            429 => ErrorKind::RateLimited,
            400..=499 => ErrorKind::InvalidRequest,
            503 => ErrorKind::Unavailable,
            504 => ErrorKind::GatewayTimeout,
            500 => ErrorKind::Internal,
            508 => ErrorKind::LoopDetected,
            _ => ErrorKind::BadGateway,
        }
    }

    /// The OpenAI `error.type` for this kind.
    pub fn openai_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::PayloadTooLarge
            | ErrorKind::RequestTimeout
            | ErrorKind::UnsupportedMediaType => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::BadGateway | ErrorKind::GatewayTimeout | ErrorKind::Unavailable => {
                "upstream_error"
            }
            ErrorKind::Internal | ErrorKind::LoopDetected => "server_error",
        }
    }

    fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::MethodNotAllowed
            | ErrorKind::UnsupportedMediaType
            | ErrorKind::RequestTimeout => "invalid_request_error",
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::PermissionDenied => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::PayloadTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Unavailable => "overloaded_error",
            ErrorKind::BadGateway
            | ErrorKind::GatewayTimeout
            | ErrorKind::Internal
            | ErrorKind::LoopDetected => "api_error",
        }
    }

    fn gemini_status(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest
            | ErrorKind::MethodNotAllowed
            | ErrorKind::UnsupportedMediaType => "INVALID_ARGUMENT",
            ErrorKind::Authentication => "UNAUTHENTICATED",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::PayloadTooLarge => "INVALID_ARGUMENT",
            ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
            ErrorKind::Unavailable => "UNAVAILABLE",
            ErrorKind::GatewayTimeout | ErrorKind::RequestTimeout => "DEADLINE_EXCEEDED",
            ErrorKind::BadGateway | ErrorKind::Internal => "INTERNAL",
            ErrorKind::LoopDetected => "FAILED_PRECONDITION",
        }
    }
}

/// An error to send to a client. `code` is a stable machine-readable code
/// (`model_not_found`, `invalid_json`, `no_usable_key`, …); `param` names the offending field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub kind: ErrorKind,
    pub message: String,
    pub code: Option<&'static str>,
    pub param: Option<String>,
}

impl ClientError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ClientError {
            kind,
            message: message.into(),
            code: None,
            param: None,
        }
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    /// The error body in `dialect`'s own shape.
    pub fn to_body(&self, dialect: Dialect) -> Value {
        match dialect {
            Dialect::OpenaiChat | Dialect::OpenaiResponses => json!({
                "error": {
                    "message": self.message,
                    "type": self.kind.openai_type(),
                    "param": self.param,
                    "code": self.code,
                }
            }),
            Dialect::Anthropic => json!({
                "type": "error",
                "error": { "type": self.kind.anthropic_type(), "message": self.message },
            }),
            Dialect::Gemini => json!({
                "error": {
                    "code": self.kind.status(),
                    "message": self.message,
                    "status": self.kind.gemini_status(),
                }
            }),
        }
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_has_its_own_shape() {
        let e = ClientError::new(ErrorKind::NotFound, "model `x` not found")
            .with_code("model_not_found")
            .with_param("model");
        let openai = e.to_body(Dialect::OpenaiChat);
        assert_eq!(openai["error"]["code"], "model_not_found");
        assert_eq!(openai["error"]["param"], "model");
        let anthropic = e.to_body(Dialect::Anthropic);
        assert_eq!(anthropic["type"], "error");
        assert_eq!(anthropic["error"]["type"], "not_found_error");
        let gemini = e.to_body(Dialect::Gemini);
        assert_eq!(gemini["error"]["status"], "NOT_FOUND");
        assert_eq!(gemini["error"]["code"], 404);
    }

    #[test]
    fn statuses_map_back_to_kinds() {
        for kind in [
            ErrorKind::InvalidRequest,
            ErrorKind::Authentication,
            ErrorKind::RateLimited,
            ErrorKind::BadGateway,
            ErrorKind::GatewayTimeout,
        ] {
            assert_eq!(ErrorKind::from_status(kind.status()), kind);
        }
    }
}
