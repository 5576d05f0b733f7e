//! Switchboard's desktop shell: a Tauri 2 app that starts the same engine the headless server
//! runs (in-process, through `switchboard_server::Switchboard`) and hosts the dashboard the
//! router serves. It adds what a desktop needs — tray, autostart, signed self-update,
//! notifications, the OS keychain — and nothing else: no routing logic lives here.
//!
//! Layout: [`shell`] is the GUI-free core (engine, routing switch, port); [`health_view`],
//! [`notices`], [`tray`], [`settings`], [`update_policy`] and [`system_proxy`] (the OS proxy
//! setting, read) are pure and unit-tested;
//! [`state`] is what the app keeps while it runs; [`app`] wires everything to Tauri (window,
//! tray, plugins, commands), and `window` and `updates` read [`state`], never [`app`].
//!
//! Nothing depends on this crate, and it stays outside the engine's cargo workspace so the
//! engine builds and tests without Tauri or WebKit.

pub mod app;
pub mod health_view;
pub mod notices;
mod notify_os;
pub mod settings;
pub mod shell;
pub mod state;
pub mod system_proxy;
pub mod tray;
pub mod update_policy;
mod updates;
mod window;

pub use app::run;
