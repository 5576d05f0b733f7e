//! The Switchboard engine: the configuration snapshot, key pools and their health, routing
//! strategies, the dispatcher with failover, the upstream HTTP client, usage records and the
//! health event bus.
//!
//! It never depends on axum, sqlx or tauri: storage is reached through traits and channels
//! ([`dispatch::RecordSink`]), and the HTTP surface lives in `switchboard-server`.

pub mod affinity;
pub mod classify;
pub mod clock;
pub mod conversations;
pub mod dispatch;
pub mod engine;
pub mod health;
pub mod log;
pub mod model;
mod pipe;
pub mod secret;
pub mod snapshot;
pub mod upstream;

pub use dispatch::{IngressRequest, RecordSink, Reply, ReplyBody};
pub use engine::Engine;
pub use model::{
    Config, Key, KeyInfo, ModelInfo, Provider, Route, Settings, Strategy, Target, Timeouts,
};
pub use secret::Secret;
