//! Tells the crate whether the dashboard has been built (`ui/dist/index.html` exists), so a
//! fresh clone builds before `npm run build` and serves a short "not built" page instead.

fn main() {
    let ui = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui");
    let index = ui.join("dist/index.html");
    println!("cargo::rustc-check-cfg=cfg(switchboard_ui_dist)");
    if index.is_file() {
        // A rebuild of the dashboard rewrites index.html (new asset hashes).
        println!("cargo::rerun-if-changed={}", index.display());
        println!("cargo::rustc-cfg=switchboard_ui_dist");
    } else {
        // Notice the dashboard being built later. (Watching the missing file itself would
        // re-run this script, and rebuild the crate, on every cargo invocation.)
        println!("cargo::rerun-if-changed={}", ui.display());
    }
}
