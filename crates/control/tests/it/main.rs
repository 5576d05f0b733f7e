//! Integration tests of the control plane, one binary with topic modules.

// Helpers outside #[test] functions may panic: a panic there is a failed test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;
mod config_file;
mod edits;
mod persist;
mod standing;
