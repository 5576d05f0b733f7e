//! The Switchboard engine: the configuration snapshot, key pools and their health, routing
//! strategies, the dispatcher with failover, the upstream HTTP client, usage records and the
//! health event bus.
//!
//! It never depends on axum, sqlx or tauri: storage is reached through traits and channels
//! ([`record::RecordSink`]), and the HTTP surface lives in `switchboard-server`.

pub mod affinity;
mod attempt;
pub mod balance;
pub mod classify;
pub mod clock;
pub mod cluster;
pub mod conversations;
pub mod dispatch;
pub mod engine;
mod guard;
mod h1;
pub mod health;
mod hedge;
pub mod id;
pub mod inspect;
pub mod line;
pub mod log;
pub mod media;
pub mod model;
mod pipe;
pub mod pricing;
mod pump;
pub mod quota;
pub mod record;
pub mod reply;
pub mod request;
pub mod scrub;
pub mod secret;
pub mod shard;
pub mod snapshot;
pub mod upstream;

pub use engine::Engine;
pub use model::{
    Config, Key, KeyInfo, ModelInfo, Provider, ProxyMode, ProxySetting, Route, Settings, Strategy,
    Target, Timeouts,
};
pub use record::RecordSink;
pub use reply::{ByteStream, Reply, ReplyBody};
pub use request::{Endpoint, IngressRequest, Media};
pub use secret::Secret;
