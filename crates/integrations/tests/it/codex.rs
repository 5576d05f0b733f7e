use switchboard_integrations::{Error, KeyDelivery, Restored, ToolId};

use crate::common::*;

const OURS: &[&str] = &[
    "model_provider",
    "model =",
    "[model_providers.switchboard]",
    "experimental_bearer_token",
    "wire_api",
    "base_url",
];

fn user_edit(s: &str) -> String {
    s.replace(
        "notifications = true",
        "notifications = false\n# mine\nanimations = true",
    )
}

#[test]
fn codex_full_cycle_keeps_everything_else() {
    let after = full_cycle(
        ToolId::Codex,
        ".codex/config.toml",
        &fixture("codex_config.toml"),
        OURS,
        user_edit,
    );
    assert!(after.contains("model_provider = \"switchboard\""));
    assert!(
        after.contains("model = \"gpt-5.5\"            # the default model"),
        "{after}"
    );
    assert!(after.contains("[model_providers.switchboard]"));
    assert!(after.contains("base_url = \"http://127.0.0.1:9911/v1\""));
    assert!(after.contains("wire_api = \"responses\""));
    assert!(after.contains(&format!("experimental_bearer_token = \"{KEY}\"")));
    assert!(
        !after.contains("[model_providers]\n"),
        "no empty parent header:\n{after}"
    );
    let parsed: toml_edit::DocumentMut = after.parse().unwrap();
    assert_eq!(
        parsed["model_providers"]["ollama"]["base_url"].as_str(),
        Some("http://localhost:11434/v1")
    );
}

#[test]
fn codex_crlf() {
    let original = crlf(&fixture("codex_config.toml"));
    full_cycle(ToolId::Codex, ".codex/config.toml", &original, OURS, |s| {
        s.replace("notifications = true", "notifications = false")
    });
}

#[test]
fn codex_respects_codex_home_and_creates_missing_file() {
    let sb = Sandbox::new();
    let codex_home = sb.dir.path().join("codex-home");
    let it = switchboard_integrations::Integrations::new(
        sb.env().with_var("CODEX_HOME", &codex_home),
        sb.state(),
    );
    let applied = it.apply(ToolId::Codex, &plan()).unwrap();
    let file = codex_home.join("config.toml");
    assert_eq!(applied.files[0].path, file);
    assert!(applied.files[0].backup.is_none());
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.contains("[model_providers.switchboard]"));
    let undone = it.undo(ToolId::Codex).unwrap();
    assert_eq!(undone.files[0].restored, Restored::Deleted);
    assert!(!file.exists());
}

#[test]
fn codex_env_key_must_be_provided() {
    let sb = Sandbox::new();
    let mut p = plan();
    p.key_delivery = KeyDelivery::EnvVar("SWITCHBOARD_ACCESS_KEY".into());
    let err = sb.integrations().apply(ToolId::Codex, &p).unwrap_err();
    assert!(matches!(err, Error::EnvVarMissing { .. }), "{err}");

    let wrong = switchboard_integrations::Integrations::new(
        sb.env().with_var("SWITCHBOARD_ACCESS_KEY", "sk-other"),
        sb.state(),
    );
    let err = wrong.apply(ToolId::Codex, &p).unwrap_err();
    assert!(matches!(err, Error::InvalidPlan(_)), "{err}");
    assert!(!err.to_string().contains("sk-other"));

    let ok = switchboard_integrations::Integrations::new(
        sb.env().with_var("SWITCHBOARD_ACCESS_KEY", KEY),
        sb.state(),
    );
    ok.apply(ToolId::Codex, &p).unwrap();
    let written = text(&sb.get(".codex/config.toml"));
    assert!(written.contains("env_key = \"SWITCHBOARD_ACCESS_KEY\""));
    assert!(!written.contains(KEY));

    // Switching to the inline token removes env_key; undo still restores exactly.
    let applied = ok.apply(ToolId::Codex, &plan()).unwrap();
    assert!(applied.changed);
    let written = text(&sb.get(".codex/config.toml"));
    assert!(!written.contains("env_key"));
    assert!(written.contains("experimental_bearer_token"));
    assert_eq!(
        ok.undo(ToolId::Codex).unwrap().files[0].restored,
        Restored::Deleted
    );
}

#[test]
fn codex_foreign_provider_under_our_name_is_refused() {
    let sb = Sandbox::new();
    let original = b"[model_providers.switchboard]\nname = \"team\"\nbase_url = \"https://sb.example.com/v1\"\n";
    sb.put(".codex/config.toml", original);
    let it = sb.integrations();
    let err = it.apply(ToolId::Codex, &plan()).unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(sb.get(".codex/config.toml"), original);

    let mut p = plan();
    p.replace_existing = true;
    it.apply(ToolId::Codex, &p).unwrap();
    assert!(text(&sb.get(".codex/config.toml")).contains("http://127.0.0.1:9911/v1"));
    it.undo(ToolId::Codex).unwrap();
    assert_eq!(sb.get(".codex/config.toml"), original);
}

#[test]
fn codex_drift_on_our_key_keeps_user_value() {
    let sb = Sandbox::new();
    let original = fixture("codex_config.toml");
    let path = sb.put(".codex/config.toml", &original);
    let it = sb.integrations();
    it.apply(ToolId::Codex, &plan()).unwrap();
    let edited =
        text(&sb.get(".codex/config.toml")).replace("model = \"gpt-5.5\"", "model = \"my-pick\"");
    std::fs::write(&path, edited).unwrap();
    match it.status(ToolId::Codex).unwrap() {
        switchboard_integrations::Status::Drifted { changed_keys, .. } => {
            assert_eq!(changed_keys, vec!["model".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    it.undo(ToolId::Codex).unwrap();
    let expected = text(&original).replace("model = \"gpt-5-codex\"", "model = \"my-pick\"");
    assert_eq!(text(&sb.get(".codex/config.toml")), expected);
}
