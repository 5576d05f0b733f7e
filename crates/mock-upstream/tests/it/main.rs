//! Integration tests over real sockets: every dialect's replies, faults, directives,
//! recording and the in-flight gauge.

// Test helpers outside `#[test]` functions: a failed unwrap here is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod chat;
mod faults;
mod recording;
mod support;
