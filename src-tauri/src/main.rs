//! `switchboard-desktop`: the Switchboard desktop app. See the library for what it does.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    switchboard_desktop::run()
}
