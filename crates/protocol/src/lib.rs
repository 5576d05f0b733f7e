//! Switchboard's protocol layer: the wire shapes of the four API dialects (OpenAI Chat
//! Completions, OpenAI Responses, Anthropic Messages, Gemini `generateContent`), the SSE codec,
//! client-facing error bodies, and byte-level pass-through helpers.
//!
//! This crate is pure: no I/O, no async runtime, no HTTP client. It must never depend on the
//! router, the store or the server — they depend on it.

pub mod dialect;
pub mod error;
pub mod passthrough;
pub mod sse;

pub use dialect::Dialect;
pub use error::{ClientError, ErrorKind};
