use switchboard_integrations::{Integrations, Restored, Status, ToolId};

use crate::common::*;

const OURS: &[&str] = &["ANTHROPIC_"];

#[test]
fn claude_full_cycle() {
    let after = full_cycle(
        ToolId::ClaudeCode,
        ".claude/settings.json",
        &fixture("claude_settings.json"),
        OURS,
        |s| {
            s.replace(
                "\"DISABLE_TELEMETRY\": \"1\"",
                "\"DISABLE_TELEMETRY\": \"0\"",
            )
        },
    );
    let v: serde_json::Value = serde_json::from_str(&after).unwrap();
    let env = &v["env"];
    assert_eq!(env["ANTHROPIC_BASE_URL"], "http://127.0.0.1:9911");
    assert_eq!(env["ANTHROPIC_AUTH_TOKEN"], KEY);
    assert_eq!(env["ANTHROPIC_MODEL"], "gpt-5.5");
    assert_eq!(env["ANTHROPIC_DEFAULT_OPUS_MODEL"], "gpt-5.5");
    assert_eq!(env["ANTHROPIC_DEFAULT_SONNET_MODEL"], "claude-sonnet");
    assert_eq!(env["ANTHROPIC_DEFAULT_HAIKU_MODEL"], "fast");
    assert_eq!(env["ANTHROPIC_SMALL_FAST_MODEL"], "fast");
    assert_eq!(env["DISABLE_TELEMETRY"], "1");
    assert_eq!(v["hooks"]["PostToolUse"][0]["matcher"], "Edit|Write");
}

#[test]
fn claude_no_trailing_newline_and_four_space_indent() {
    let after = full_cycle(
        ToolId::ClaudeCode,
        ".claude/settings.json",
        &fixture("claude_settings_no_newline.json"),
        OURS,
        |s| s.replace("\"opus\"", "\"sonnet\""),
    );
    assert!(
        after.contains("\n    \"env\": {\n        \"ANTHROPIC_BASE_URL\""),
        "{after}"
    );
}

#[test]
fn claude_respects_config_dir_and_restores_previous_values_after_drift() {
    let sb = Sandbox::new();
    let dir = sb.dir.path().join("claude-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let original = fixture("claude_settings.json");
    std::fs::write(dir.join("settings.json"), &original).unwrap();
    let it = Integrations::new(sb.env().with_var("CLAUDE_CONFIG_DIR", &dir), sb.state());
    it.apply(ToolId::ClaudeCode, &plan()).unwrap();
    // The user changes one of our keys and something of theirs.
    let applied = std::fs::read_to_string(dir.join("settings.json")).unwrap();
    let edited = applied
        .replace(
            "\"ANTHROPIC_SMALL_FAST_MODEL\": \"fast\"",
            "\"ANTHROPIC_SMALL_FAST_MODEL\": \"mine\"",
        )
        .replace("\"Read(~/.zshrc)\"", "\"Read(~/.bashrc)\"");
    std::fs::write(dir.join("settings.json"), &edited).unwrap();
    let Status::Drifted { changed_keys, .. } = it.status(ToolId::ClaudeCode).unwrap() else {
        panic!("expected drift")
    };
    assert_eq!(changed_keys, vec!["env.ANTHROPIC_SMALL_FAST_MODEL"]);
    assert_eq!(
        it.undo(ToolId::ClaudeCode).unwrap().files[0].restored,
        Restored::OursRemoved
    );
    let now = std::fs::read_to_string(dir.join("settings.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&now).unwrap();
    // Our ANTHROPIC_MODEL gets its previous value back; the user's own value stays.
    assert_eq!(v["env"]["ANTHROPIC_MODEL"], "claude-opus-4-8");
    assert_eq!(v["env"]["ANTHROPIC_SMALL_FAST_MODEL"], "mine");
    assert!(v["env"].get("ANTHROPIC_AUTH_TOKEN").is_none());
    assert_eq!(v["permissions"]["allow"][1], "Read(~/.bashrc)");
}

#[test]
fn claude_missing_file_is_created_and_removed() {
    let sb = Sandbox::new();
    let it = sb.integrations();
    it.apply(ToolId::ClaudeCode, &plan()).unwrap();
    let created = text(&sb.get(".claude/settings.json"));
    let v: serde_json::Value = serde_json::from_str(&created).unwrap();
    assert_eq!(v["env"]["ANTHROPIC_BASE_URL"], "http://127.0.0.1:9911");
    assert_eq!(
        it.undo(ToolId::ClaudeCode).unwrap().files[0].restored,
        Restored::Deleted
    );
    assert!(!sb.home().join(".claude/settings.json").exists());
}
