//! Switchboard's HTTP surface and app facade. [`Switchboard::start`] opens the store, applies
//! a declarative config file, starts the control plane (`switchboard-control`, which builds
//! the engine) and serves the public API (the four client dialects), the admin API and the
//! dashboard. The admin API is transport only: its handlers call [`Control`]. The headless CLI
//! and the desktop app both start the engine through it; neither holds routing logic.
//!
//! Must never depend on tauri or any GUI toolkit.

mod admin;
mod app;
mod cluster;
mod cluster_feed;
mod dashboard;
mod front;
mod guard;
mod health_bus;
mod host;
mod ingress;
mod instances;
mod listener;
mod metrics;
mod refused;
mod state;
mod workers;

pub use admin::openapi_json;
pub use app::{Options, StartError, Switchboard, SwitchboardHandle, open_store};
pub use host::{HostApp, UpdateNotice};
pub use state::GuardConfig;
pub use switchboard_control::Control;
pub use switchboard_integrations::Env as ToolEnv;
