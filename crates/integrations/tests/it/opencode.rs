use switchboard_integrations::{Integrations, ToolId, Warning};

use crate::common::*;

const OURS: &[&str] = &["switchboard", "\"model\"", "small_model"];

#[test]
fn opencode_jsonc_with_comments_and_trailing_commas() {
    let after = full_cycle(
        ToolId::OpenCode,
        ".config/opencode/opencode.json",
        &fixture("opencode.jsonc"),
        OURS,
        |s| s.replace("\"autoupdate\": false", "\"autoupdate\": true, // user"),
    );
    assert!(after.contains("// my providers"));
    assert!(after.contains("/* plugins load in order */"));
    assert!(after.contains("\"switchboard\": {"));
    assert!(after.contains("\"npm\": \"@ai-sdk/openai-compatible\""));
    assert!(after.contains("\"baseURL\": \"http://127.0.0.1:9911/v1\""));
    assert!(after.contains("\"model\": \"switchboard/gpt-5.5\""));
    assert!(after.contains("\"small_model\": \"switchboard/fast\""));
    assert!(after.contains("\"claude-sonnet\": {"));
}

#[test]
fn opencode_respects_xdg_and_opencode_config() {
    let sb = Sandbox::new();
    let xdg = sb.dir.path().join("xdg");
    let it = Integrations::new(sb.env().with_var("XDG_CONFIG_HOME", &xdg), sb.state());
    assert_eq!(
        it.detect(ToolId::OpenCode).unwrap().config_path,
        xdg.join("opencode/opencode.json")
    );
    let explicit = sb.dir.path().join("elsewhere.jsonc");
    std::fs::write(&explicit, fixture("opencode.jsonc")).unwrap();
    let it = Integrations::new(
        sb.env()
            .with_var("XDG_CONFIG_HOME", &xdg)
            .with_var("OPENCODE_CONFIG", &explicit),
        sb.state(),
    );
    let applied = it.apply(ToolId::OpenCode, &plan()).unwrap();
    assert_eq!(applied.files[0].path, explicit);
    it.undo(ToolId::OpenCode).unwrap();
    assert_eq!(std::fs::read(&explicit).unwrap(), fixture("opencode.jsonc"));
}

#[test]
fn opencode_duplicate_provider_is_a_warning() {
    let sb = Sandbox::new();
    sb.put(
        ".config/opencode/opencode.json",
        br#"{"provider": {"mine": {"options": {"baseURL": "http://127.0.0.1:9911/v1"}}}}"#,
    );
    let preview = sb
        .integrations()
        .preview(ToolId::OpenCode, &plan())
        .unwrap();
    assert!(
        preview
            .warnings
            .contains(&Warning::DuplicateProvider("mine".into()))
    );
    // Compact single-line objects stay compact.
    assert!(preview.files[0].after.starts_with(r#"{"provider": {"mine": {"options": {"baseURL": "http://127.0.0.1:9911/v1"}}, "switchboard": "#));
}
