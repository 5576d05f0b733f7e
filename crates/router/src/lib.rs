//! The Switchboard engine: the configuration snapshot, key pools and their health, routing
//! strategies, the dispatcher with failover, the upstream HTTP client, usage records and the
//! health event bus.
//!
//! It never depends on axum, sqlx or tauri: storage is reached through traits and channels,
//! and the HTTP surface lives in `switchboard-server`.

pub mod log;
pub mod model;
pub mod secret;

pub use model::{
    Config, Key, KeyInfo, ModelInfo, Provider, Route, Settings, Strategy, Target, Timeouts,
};
pub use secret::Secret;
