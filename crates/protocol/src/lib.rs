//! Switchboard's protocol layer: the wire shapes of the four API dialects (OpenAI Chat
//! Completions, OpenAI Responses, Anthropic Messages, Gemini `generateContent`), the
//! intermediate representation they all translate through, the SSE codec, client-facing error
//! bodies, and byte-level pass-through helpers.
//!
//! This crate is pure: no I/O, no async runtime, no HTTP client. It must never depend on the
//! router, the store or the server — they depend on it.

pub mod adapter;
mod anthropic;
pub mod dialect;
pub mod error;
mod gemini;
pub mod ir;
mod lenient;
pub mod media;
mod openai_chat;
mod openai_responses;
pub mod passthrough;
mod schema;
pub mod sse;
mod tokens;
pub mod translate;

pub use adapter::{EventClass, MaxTokensField, Quirks, StreamError, drop_params};
pub use dialect::Dialect;
pub use error::{ClientError, ErrorKind};
pub use openai_responses::NAMESPACE_SEPARATOR;
pub use passthrough::Usage;
pub use sse::{SseDecoder, SseEvent};
pub use tokens::count_tokens;
pub use translate::{
    StreamTranslator, classify_event, count_tokens_reply, decode_error, decode_request,
    decode_response, encode_request, encode_response, stream_error_events, usage_from_body,
    usage_from_event,
};
