//! Integration tests of the server, one binary with topic modules.

// Helpers outside #[test] functions may panic: a panic there is a failed test.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod affinity;
mod alerts;
mod clients;
mod common;
mod conversations;
mod dashboard;
mod endpoints;
mod failover;
mod hedging;
mod host_app;
mod hostile_clients;
mod hostile_upstream;
mod inspector;
mod integrations_api;
mod media;
mod metrics;
mod network;
mod onboarding;
mod openapi;
mod prices;
mod quota;
mod routing;
mod scheduling;
mod security;
mod signin;
mod standing;
mod structured;
mod team;
mod thinking;
mod transfer;
mod upstream_conns;
