//! Refusals another target could serve, in each provider's real error shape: the model is
//! unknown here, or the request is longer than this model's context window.

use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use crate::dialect::Dialect;

/// Why the mock refuses the request (`fault=model_not_found`, `fault=context_length`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    ModelNotFound,
    ContextLength,
}

/// The context window the mock claims in its context-length errors.
const WINDOW: u64 = 8_192;

/// The refusal as `dialect`'s provider sends it: status and body.
pub(crate) fn refusal_body(dialect: Dialect, refusal: Refusal, model: &str) -> (u16, String) {
    let body = match (dialect, refusal) {
        (Dialect::OpenAiChat | Dialect::OpenAiResponses, Refusal::ModelNotFound) => json!({
            "error": {
                "message": format!("The model `{model}` does not exist or you do not have access to it."),
                "type": "invalid_request_error",
                "param": null,
                "code": "model_not_found",
            }
        }),
        (Dialect::OpenAiChat | Dialect::OpenAiResponses, Refusal::ContextLength) => json!({
            "error": {
                "message": format!("This model's maximum context length is {WINDOW} tokens. However, your messages resulted in {} tokens. Please reduce the length of the messages.", WINDOW + 808),
                "type": "invalid_request_error",
                "param": "messages",
                "code": "context_length_exceeded",
            }
        }),
        (Dialect::Anthropic, Refusal::ModelNotFound) => json!({
            "type": "error",
            "error": { "type": "not_found_error", "message": format!("model: {model}") },
        }),
        (Dialect::Anthropic, Refusal::ContextLength) => json!({
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "message": format!("prompt is too long: {} tokens > {WINDOW} maximum", WINDOW + 808),
            },
        }),
        (Dialect::Gemini, Refusal::ModelNotFound) => json!({
            "error": {
                "code": 404,
                "message": format!("models/{model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods."),
                "status": "NOT_FOUND",
            }
        }),
        (Dialect::Gemini, Refusal::ContextLength) => json!({
            "error": {
                "code": 400,
                "message": format!("The input token count ({}) exceeds the maximum number of tokens allowed ({WINDOW}).", WINDOW + 808),
                "status": "INVALID_ARGUMENT",
            }
        }),
    };
    let status = match refusal {
        Refusal::ModelNotFound => 404,
        Refusal::ContextLength => 400,
    };
    (status, body.to_string())
}

pub(crate) fn response(dialect: Dialect, refusal: Refusal, model: &str) -> Response {
    let (status, body) = refusal_body(dialect, refusal, model);
    let mut r = Response::new(axum::body::Body::from(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}
