//! Integration tests for `switchboard-store`: real SQLite files in temporary directories and
//! real PostgreSQL databases (each test body runs on both; see `common::both!`).

// Helpers outside `#[test]` functions unwrap too: a failure there is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[macro_use]
mod common;
mod backends;
mod captures;
mod clients;
mod config;
mod instances;
mod logs;
mod open;
mod requests;
mod secrets;
mod users;
mod writer;
