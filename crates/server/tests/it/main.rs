//! Integration tests of the server, one binary with topic modules.

mod dashboard;
mod openapi;
