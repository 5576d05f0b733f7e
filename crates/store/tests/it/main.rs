//! Integration tests for `switchboard-store`: real SQLite files in temporary directories.

// Helpers outside `#[test]` functions unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod captures;
mod clients;
mod common;
mod config;
mod logs;
mod open;
mod requests;
mod secrets;
mod writer;
