//! Integration tests over real sockets: every dialect's replies, tool calls, faults,
//! directives, recording, the in-flight gauge and the binary.

// Test helpers outside `#[test]` functions: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod anthropic;
mod binary;
mod chat;
mod faults;
mod gemini;
mod hostile;
mod recording;
mod responses;
mod support;
mod tools;
