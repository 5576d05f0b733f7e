//! Integration tests for tool configuration: every test runs against a temp home directory.

// Test helpers may unwrap: a panic there is a failed assertion with a backtrace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod aider;
mod claude;
mod codex;
mod common;
mod gemini;
mod jsonc_props;
mod limits;
mod new_tools;
mod opencode;
mod safety;
