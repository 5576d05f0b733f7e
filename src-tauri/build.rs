//! Generates the Tauri context and, for the app's own commands, `allow-*` permissions, so the
//! capability file can grant exactly these (and a remote page gets none).

fn main() {
    let commands: &[&str] = &[
        "app_status",
        "set_routing",
        "open_dashboard",
        "change_port",
        "set_autostart",
        "set_notification_muted",
        "check_update",
        "install_update",
        "finish_onboarding",
    ];
    let attributes = tauri_build::Attributes::new()
        .app_manifest(tauri_build::AppManifest::new().commands(commands));
    if let Err(e) = tauri_build::try_build(attributes) {
        println!("cargo::error=tauri-build failed: {e:#}");
    }
}
