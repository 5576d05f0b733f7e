//! The tools added after the first five: each one's full cycle on a realistic config (apply,
//! only ours changed, comments and file mode kept, second apply changes no byte, exact undo,
//! drift, undo keeping the user's edit), the fields each writes, and the route limits.

use serde_json::Value;
use switchboard_integrations::{Limits, Plan, Status, ToolId};

use crate::common::*;

pub fn limited_plan() -> Plan {
    let mut plan = plan();
    plan.limits = Limits {
        context_window: Some(131_072),
        max_output: Some(8_192),
    };
    plan
}

fn json(text: &str) -> Value {
    // The fixtures below without comments are plain JSON after our edit too.
    serde_json::from_str(text).unwrap()
}

#[test]
fn qwen_code_settings() {
    let after = full_cycle_with(
        ToolId::QwenCode,
        ".qwen/settings.json",
        &fixture("qwen_settings.json"),
        &[
            "\"name\"",
            "selectedType",
            "\"auth\"",
            "generationConfig",
            "\"model\"",
        ],
        |s| s.replace("\"maxSessionTurns\": 40", "\"maxSessionTurns\": 50"),
        &limited_plan(),
    );
    assert!(after.contains("// theme picked in /settings"));
    assert!(
        after.contains("\"name\": \"gpt-5.5\", // old favourite"),
        "{after}"
    );
    assert!(after.contains("\"selectedType\": \"openai\""));
    assert!(after.contains("\"baseUrl\": \"http://127.0.0.1:9911/v1\""));
    assert!(after.contains(&format!("\"apiKey\": \"{KEY}\"")));
    assert!(after.contains("\"contextWindowSize\": 131072"));
    assert!(after.contains("\"max_tokens\": 8192"));
}

#[test]
fn qwen_code_respects_qwen_home() {
    let sb = Sandbox::new();
    let dir = sb.dir.path().join("qh");
    let it = switchboard_integrations::Integrations::new(
        sb.env().with_var("QWEN_HOME", &dir),
        sb.state(),
    );
    it.apply(ToolId::QwenCode, &plan()).unwrap();
    assert!(dir.join("settings.json").exists());
}

#[test]
fn crush_json() {
    let after = full_cycle_with(
        ToolId::Crush,
        ".config/crush/crush.json",
        &fixture("crush.json"),
        &["\"deepseek-chat\""],
        |s| s.replace("\"debug\": false", "\"debug\": true"),
        &limited_plan(),
    );
    let v = json(&after);
    let p = &v["providers"]["switchboard"];
    assert_eq!(p["type"], "openai-compat");
    assert_eq!(p["base_url"], "http://127.0.0.1:9911/v1");
    assert_eq!(p["api_key"], KEY);
    assert_eq!(p["models"][0]["id"], "gpt-5.5");
    assert_eq!(p["models"][0]["context_window"], 131_072);
    assert_eq!(p["models"][0]["default_max_tokens"], 8_192);
    assert_eq!(v["models"]["large"]["model"], "gpt-5.5");
    assert_eq!(v["models"]["small"]["model"], "fast");
    assert_eq!(v["models"]["large"]["provider"], "switchboard");
    assert_eq!(v["providers"]["deepseek"]["api_key"], "$DEEPSEEK_API_KEY");
}

#[test]
fn kilo_code_jsonc() {
    let after = full_cycle_with(
        ToolId::KiloCode,
        ".config/kilo/kilo.jsonc",
        &fixture("kilo.jsonc"),
        &["\"autoupdate\""],
        |s| s.replace("\"theme\": \"kilo\"", "\"theme\": \"dark\""),
        &limited_plan(),
    );
    assert!(after.contains("// shared with the team"));
    assert!(after.contains("\"baseURL\": \"http://127.0.0.1:9911/v1\""));
    assert!(after.contains("\"model\": \"switchboard/gpt-5.5\""));
    assert!(after.contains("\"context\": 131072"), "{after}");
    assert!(after.contains("\"output\": 8192"));
}

#[test]
fn cline_state_and_secrets() {
    let after = full_cycle_with(
        ToolId::Cline,
        ".cline/data/globalState.json",
        &fixture("cline_global_state.json"),
        &["actModeApiProvider", "\"telemetrySetting\""],
        |s| s.replace("\"mode\": \"act\"", "\"mode\": \"plan\""),
        &limited_plan(),
    );
    let v = json(&after);
    assert_eq!(v["actModeApiProvider"], "openai");
    assert_eq!(v["planModeApiProvider"], "openai");
    assert_eq!(v["openAiBaseUrl"], "http://127.0.0.1:9911/v1");
    assert_eq!(v["actModeOpenAiModelId"], "gpt-5.5");
    assert_eq!(v["actModeOpenAiModelInfo"]["contextWindow"], 131_072);
    assert_eq!(v["planModeOpenAiModelInfo"]["maxTokens"], 8_192);
    assert_eq!(v["welcomeViewCompleted"], true);
    assert!(!after.contains(KEY), "the key lives in secrets.json only");
}

#[test]
fn cline_secrets_file_is_private_and_removed_on_undo() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    sb.put(
        ".cline/data/globalState.json",
        &fixture("cline_global_state.json"),
    );
    let it = sb.integrations();
    it.apply(ToolId::Cline, &plan()).unwrap();
    let secrets = sb.home().join(".cline/data/secrets.json");
    assert_eq!(
        json(&text(&std::fs::read(&secrets).unwrap()))["openAiApiKey"],
        KEY
    );
    let mode = std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    it.undo(ToolId::Cline).unwrap();
    assert!(!secrets.exists());
    assert_eq!(
        sb.get(".cline/data/globalState.json"),
        fixture("cline_global_state.json")
    );
}

#[test]
fn roo_code_vscode_settings_and_import_file() {
    let after = full_cycle_with(
        ToolId::RooCode,
        ".config/Code/User/settings.json",
        &fixture("vscode_settings.json"),
        &["workbench.colorTheme"],
        |s| s.replace("\"editor.fontSize\": 14", "\"editor.fontSize\": 15"),
        &limited_plan(),
    );
    assert!(after.contains("// editor"));
    assert!(after.contains("/* save often */"));
    assert!(after.contains("\"roo-cline.autoImportSettingsPath\": \""));
    assert!(after.contains(".roo/switchboard-settings.json\""));

    let sb = Sandbox::new();
    sb.put(
        ".config/Code/User/settings.json",
        &fixture("vscode_settings.json"),
    );
    sb.integrations()
        .apply(ToolId::RooCode, &limited_plan())
        .unwrap();
    let import = json(&text(&sb.get(".roo/switchboard-settings.json")));
    let profile = &import["providerProfiles"]["apiConfigs"]["switchboard"];
    assert_eq!(
        import["providerProfiles"]["currentApiConfigName"],
        "switchboard"
    );
    assert_eq!(profile["apiProvider"], "openai");
    assert_eq!(profile["openAiBaseUrl"], "http://127.0.0.1:9911/v1");
    assert_eq!(profile["openAiApiKey"], KEY);
    assert_eq!(profile["openAiModelId"], "gpt-5.5");
    assert_eq!(profile["openAiCustomModelInfo"]["contextWindow"], 131_072);
}

#[test]
fn goose_flat_yaml_and_secrets() {
    let after = full_cycle(
        ToolId::Goose,
        ".config/goose/config.yaml",
        &fixture("goose_config.yaml"),
        &["GOOSE_PROVIDER", "GOOSE_MODEL", "OPENAI_"],
        |s| s.replace("GOOSE_MODE: smart_approve", "GOOSE_MODE: auto"),
    );
    assert!(after.starts_with("# Goose configuration\nGOOSE_PROVIDER: openai   # was claude\n"));
    assert!(after.contains("GOOSE_MODEL: gpt-5.5\n"));
    assert!(after.contains("OPENAI_HOST: http://127.0.0.1:9911\n"));
    assert!(after.contains("OPENAI_BASE_PATH: v1/chat/completions\n"));
    assert!(after.contains("extensions:\n  developer:\n"));
    assert!(!after.contains(KEY));
    let sb = Sandbox::new();
    sb.put(".config/goose/config.yaml", &fixture("goose_config.yaml"));
    let applied = sb.integrations().apply(ToolId::Goose, &plan()).unwrap();
    assert!(
        text(&sb.get(".config/goose/secrets.yaml")).contains(&format!("OPENAI_API_KEY: {KEY}"))
    );
    assert!(
        applied
            .warnings
            .iter()
            .any(|w| w.to_string().contains("GOOSE_DISABLE_KEYRING"))
    );
}

#[test]
fn zed_settings_with_leading_comments() {
    let after = full_cycle_with(
        ToolId::Zed,
        ".config/zed/settings.json",
        &fixture("zed_settings.json"),
        &["\"theme\"", "    \"dark\"", "  },"],
        |s| s.replace("\"ui_font_size\": 16", "\"ui_font_size\": 17"),
        &limited_plan(),
    );
    assert!(after.starts_with("// Zed settings\n"));
    assert!(after.contains("\"api_url\": \"http://127.0.0.1:9911/v1\""));
    assert!(after.contains("\"max_tokens\": 131072"));
    assert!(after.contains("\"max_output_tokens\": 8192"));
    assert!(after.contains("\"provider\": \"Switchboard\""));
    assert!(
        !after.contains(KEY),
        "Zed never reads keys from settings.json"
    );
}

#[test]
fn openclaw_json5_with_comments() {
    let after = full_cycle_with(
        ToolId::OpenClaw,
        ".openclaw/openclaw.json",
        &fixture("openclaw.json"),
        &["\"primary\"", "\"agents\"", "    },"],
        |s| s.replace("\"port\": 18789", "\"port\": 18790"),
        &limited_plan(),
    );
    assert!(after.contains("// gateway"));
    assert!(
        after.contains("\"primary\": \"switchboard/gpt-5.5\""),
        "{after}"
    );
    assert!(after.contains("\"fallbacks\": []"));
    assert!(after.contains("\"api\": \"openai-completions\""));
    assert!(after.contains("\"contextWindow\": 131072"));
    assert!(after.contains("\"maxTokens\": 8192"));
}

#[test]
fn openclaw_unquoted_json5_is_refused_unchanged() {
    let sb = Sandbox::new();
    let original = b"{ gateway: { port: 18789 } }\n";
    sb.put(".openclaw/openclaw.json", original);
    assert!(sb.integrations().apply(ToolId::OpenClaw, &plan()).is_err());
    assert_eq!(sb.get(".openclaw/openclaw.json"), original);
}

#[test]
fn pi_models_and_settings() {
    let after = full_cycle_with(
        ToolId::Pi,
        ".pi/agent/models.json",
        &fixture("pi_models.json"),
        &["\"models\": [{ \"id\": \"qwen3-coder:30b\" }]", "    }"],
        |s| s.replace("\"apiKey\": \"ollama\"", "\"apiKey\": \"OLLAMA_KEY\""),
        &limited_plan(),
    );
    let v = json(&after);
    let p = &v["providers"]["switchboard"];
    assert_eq!(p["baseUrl"], "http://127.0.0.1:9911/v1");
    assert_eq!(p["api"], "openai-completions");
    assert_eq!(p["apiKey"], KEY);
    assert_eq!(p["models"][0]["contextWindow"], 131_072);
    assert_eq!(p["models"][1]["id"], "fast");
    assert_eq!(v["providers"]["ollama"]["apiKey"], "ollama");

    let sb = Sandbox::new();
    sb.put(".pi/agent/models.json", &fixture("pi_models.json"));
    sb.integrations().apply(ToolId::Pi, &plan()).unwrap();
    let settings = json(&text(&sb.get(".pi/agent/settings.json")));
    assert_eq!(settings["defaultProvider"], "switchboard");
    assert_eq!(settings["defaultModel"], "gpt-5.5");
}

#[test]
fn route_limits_change_shows_as_drift_and_reapply_follows() {
    let sb = Sandbox::new();
    sb.put(".qwen/settings.json", &fixture("qwen_settings.json"));
    let it = sb.integrations();
    let plan = limited_plan();
    it.apply(ToolId::QwenCode, &plan).unwrap();
    let same = |_: &str| plan.limits;
    assert_eq!(
        it.status_with_limits(ToolId::QwenCode, same).unwrap(),
        Status::Configured
    );
    let smaller = Limits {
        context_window: Some(65_536),
        max_output: Some(8_192),
    };
    match it.status_with_limits(ToolId::QwenCode, |m| {
        assert_eq!(m, "gpt-5.5");
        smaller
    }) {
        Ok(Status::Drifted {
            changed_keys,
            changed_files,
        }) => {
            assert!(changed_files.is_empty());
            assert_eq!(changed_keys.len(), 1, "{changed_keys:?}");
            assert!(changed_keys[0].contains("context window"));
        }
        other => panic!("{other:?}"),
    }
    let mut next = plan.clone();
    next.limits = smaller;
    assert!(it.apply(ToolId::QwenCode, &next).unwrap().changed);
    assert!(text(&sb.get(".qwen/settings.json")).contains("\"contextWindowSize\": 65536"));
    assert_eq!(
        it.status_with_limits(ToolId::QwenCode, |_| smaller)
            .unwrap(),
        Status::Configured
    );
}

#[test]
fn new_tools_are_listed_and_parse_from_slugs() {
    for slug in [
        "qwen-code",
        "crush",
        "kilo-code",
        "cline",
        "roo-code",
        "goose",
        "zed",
        "openclaw",
        "pi",
    ] {
        let tool: ToolId = slug.parse().unwrap();
        assert!(switchboard_integrations::tools().contains(&tool));
        assert_eq!(tool.slug(), slug);
    }
}

#[test]
fn continue_yaml_list_item() {
    let after = full_cycle_with(
        ToolId::Continue,
        ".continue/config.yaml",
        &fixture("continue_config.yaml"),
        &[],
        |s| s.replace("provider: docs", "provider: diff"),
        &limited_plan(),
    );
    assert!(after.contains("  # the local one first\n  - name: Qwen local\n"));
    assert!(
        after.contains("      - autocomplete\n  - {\"apiBase\":")
            && after.contains("\"name\":\"Switchboard\""),
        "{after}"
    );
    assert!(after.contains("\"apiBase\":\"http://127.0.0.1:9911/v1\""));
    assert!(after.contains("\"provider\":\"openai\""));
    assert!(after.contains("\"contextLength\":131072"));
    assert!(after.contains("\"maxTokens\":8192"));
    assert!(after.ends_with("context:\n  - provider: code\n  - provider: docs\n"));
}

#[test]
fn continue_new_config_has_the_required_header_and_undo_deletes_it() {
    let sb = Sandbox::new();
    let it = sb.integrations();
    it.apply(ToolId::Continue, &plan()).unwrap();
    let written = text(&sb.get(".continue/config.yaml"));
    assert!(
        written.starts_with("name: Local Config\nversion: 1.0.0\nschema: v1\nmodels:\n  - {"),
        "{written}"
    );
    assert!(!it.apply(ToolId::Continue, &plan()).unwrap().changed);
    it.undo(ToolId::Continue).unwrap();
    assert!(!sb.home().join(".continue/config.yaml").exists());
}

#[test]
fn continue_inline_models_list_is_refused_unchanged() {
    let sb = Sandbox::new();
    let original = b"name: x\nversion: 1.0.0\nschema: v1\nmodels: []\n";
    sb.put(".continue/config.yaml", original);
    assert!(sb.integrations().apply(ToolId::Continue, &plan()).is_err());
    assert_eq!(sb.get(".continue/config.yaml"), original);
}
