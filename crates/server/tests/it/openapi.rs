//! The dashboard's API types are generated from `ui/openapi.json`; this keeps that file in
//! step with the admin API.

use std::path::PathBuf;

#[test]
fn ui_openapi_json_matches_the_admin_api() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../ui/openapi.json");
    let current = format!("{}\n", switchboard_server::openapi_json().trim_end());
    if std::env::var_os("UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(&path, &current).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == current,
        "ui/openapi.json is out of date with the admin API.\n\
         Run `UPDATE_OPENAPI=1 cargo test -p switchboard-server --test it openapi`, then `npm --prefix ui run gen:api`, \
         and commit both files."
    );
}
