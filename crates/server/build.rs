//! Tells the crate whether the dashboard has been built (`ui/dist/index.html` exists), so a
//! fresh clone builds before `npm run build` and serves a short "not built" page instead.

fn main() {
    let index = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist/index.html");
    println!("cargo::rustc-check-cfg=cfg(switchboard_ui_dist)");
    // A missing file makes cargo re-run this script on every build, which is what notices a
    // dashboard built later; when present, a rebuild rewrites index.html (new asset hashes).
    println!("cargo::rerun-if-changed={}", index.display());
    if index.is_file() {
        println!("cargo::rustc-cfg=switchboard_ui_dist");
    }
}
