//! The route's limits land in the fields Codex, OpenCode and Claude Code budget with, and
//! leave with undo.

use serde_json::Value;
use switchboard_integrations::{Limits, ToolId};

use crate::common::*;
use crate::new_tools::limited_plan;

#[test]
fn codex_gets_context_window_and_output_limit() {
    let sb = Sandbox::new();
    sb.put(".codex/config.toml", &fixture("codex_config.toml"));
    let it = sb.integrations();
    it.apply(ToolId::Codex, &limited_plan()).unwrap();
    let after = text(&sb.get(".codex/config.toml"));
    assert!(after.contains("model_context_window = 131072\n"), "{after}");
    assert!(after.contains("model_max_output_tokens = 8192\n"));
    it.undo(ToolId::Codex).unwrap();
    assert_eq!(sb.get(".codex/config.toml"), fixture("codex_config.toml"));
}

#[test]
fn opencode_main_model_gets_limit() {
    let sb = Sandbox::new();
    sb.put(".config/opencode/opencode.json", b"{}\n");
    sb.integrations()
        .apply(ToolId::OpenCode, &limited_plan())
        .unwrap();
    let v: Value = serde_json::from_slice(&sb.get(".config/opencode/opencode.json")).unwrap();
    let models = &v["provider"]["switchboard"]["models"];
    assert_eq!(models["gpt-5.5"]["limit"]["context"], 131_072);
    assert_eq!(models["gpt-5.5"]["limit"]["output"], 8_192);
    assert!(
        models["fast"].get("limit").is_none(),
        "only the main alias's route"
    );
}

#[test]
fn claude_code_gets_window_variables() {
    let sb = Sandbox::new();
    sb.put(".claude/settings.json", &fixture("claude_settings.json"));
    sb.integrations()
        .apply(ToolId::ClaudeCode, &limited_plan())
        .unwrap();
    let v: Value = serde_json::from_slice(&sb.get(".claude/settings.json")).unwrap();
    assert_eq!(v["env"]["CLAUDE_CODE_AUTO_COMPACT_WINDOW"], "131072");
    assert_eq!(v["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"], "8192");
}

#[test]
fn unknown_limits_write_nothing_and_known_ones_leave_when_unknown_again() {
    let sb = Sandbox::new();
    sb.put(".codex/config.toml", &fixture("codex_config.toml"));
    let it = sb.integrations();
    let mut plan = plan();
    plan.limits = Limits {
        context_window: Some(200_000),
        max_output: None,
    };
    it.apply(ToolId::Codex, &plan).unwrap();
    let after = text(&sb.get(".codex/config.toml"));
    assert!(after.contains("model_context_window = 200000"));
    assert!(!after.contains("model_max_output_tokens"));
    plan.limits = Limits::default();
    it.apply(ToolId::Codex, &plan).unwrap();
    assert!(!text(&sb.get(".codex/config.toml")).contains("model_context_window"));
}
