use switchboard_integrations::{Integrations, Restored, Status, ToolId, Warning};

use crate::common::*;

#[test]
fn gemini_settings_and_env_file() {
    let sb = Sandbox::new();
    let settings = fixture("gemini_settings.json");
    let env = fixture("gemini.env");
    sb.put(".gemini/settings.json", &settings);
    let env_path = sb.put(".gemini/.env", &env);
    let it = sb.integrations();
    let applied = it.apply(ToolId::GeminiCli, &plan()).unwrap();
    assert_eq!(applied.files.len(), 2);
    let s = text(&sb.get(".gemini/settings.json"));
    let v: serde_json::Value = serde_json::from_str(&s).unwrap();
    assert_eq!(v["security"]["auth"]["selectedType"], "gemini-api-key");
    assert_eq!(v["model"]["name"], "gpt-5.5");
    assert_eq!(v["general"]["vimMode"], true);
    only_ours_changed(&text(&settings), &s, &["security", "model"]);
    let e = text(&sb.get(".gemini/.env"));
    assert_eq!(
        e,
        format!(
            "{}GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:9911\nGEMINI_API_KEY={KEY}\n",
            text(&env)
        )
    );
    assert!(!it.apply(ToolId::GeminiCli, &plan()).unwrap().changed);
    assert_eq!(it.status(ToolId::GeminiCli).unwrap(), Status::Configured);

    // Drift in one file only: that file loses just our keys, the other is restored exactly.
    std::fs::write(&env_path, format!("{e}EXTRA=1\n")).unwrap();
    let undone = it.undo(ToolId::GeminiCli).unwrap();
    assert_eq!(undone.files[0].restored, Restored::Exact);
    assert_eq!(undone.files[1].restored, Restored::OursRemoved);
    assert_eq!(sb.get(".gemini/settings.json"), settings);
    assert_eq!(
        text(&sb.get(".gemini/.env")),
        format!("{}EXTRA=1\n", text(&env))
    );
}

#[test]
fn gemini_old_settings_format_is_refused_untouched() {
    let sb = Sandbox::new();
    let old = br#"{ "model": "gemini-2.5-pro", "selectedAuthType": "oauth-personal" }"#;
    sb.put(".gemini/settings.json", old);
    let err = sb
        .integrations()
        .apply(ToolId::GeminiCli, &plan())
        .unwrap_err();
    assert!(
        err.to_string().contains("`model` is not an object"),
        "{err}"
    );
    assert_eq!(sb.get(".gemini/settings.json"), old);
    assert!(!sb.home().join(".gemini/.env").exists());
}

#[test]
fn gemini_cli_home_and_env_override_warning() {
    let sb = Sandbox::new();
    let base = sb.dir.path().join("gh");
    let it = Integrations::new(
        sb.env()
            .with_var("GEMINI_CLI_HOME", &base)
            .with_var("GEMINI_API_KEY", "AIzaCANARY"),
        sb.state(),
    );
    let preview = it.preview(ToolId::GeminiCli, &plan()).unwrap();
    assert_eq!(preview.files[0].path, base.join(".gemini/settings.json"));
    assert_eq!(preview.files[1].path, base.join(".gemini/.env"));
    assert!(
        preview.warnings.iter().any(
            |w| matches!(w, Warning::Overridden { setting, .. } if setting == "GEMINI_API_KEY")
        )
    );
}
