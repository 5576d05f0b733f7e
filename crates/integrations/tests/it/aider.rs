use switchboard_integrations::ToolId;

use crate::common::*;

#[test]
fn aider_yaml_full_cycle() {
    let after = full_cycle(
        ToolId::Aider,
        ".aider.conf.yml",
        &fixture("aider.conf.yml"),
        &["openai-api", "model:"],
        |s| s.replace("dark-mode: true", "dark-mode: false"),
    );
    assert!(after.contains("openai-api-base: http://127.0.0.1:9911/v1\n"));
    assert!(after.contains(&format!("openai-api-key: {KEY}\n")));
    assert!(after.contains("\nmodel: openai/gpt-5.5\n"));
    assert!(after.contains("weak-model: openai/fast\n"));
    assert!(after.contains("#model: xxx"), "commented sample lines stay");
}

#[test]
fn aider_existing_value_replaced_in_place_and_restored() {
    let original = b"model: gpt-4o  # old favourite\nauto-commits: false\n";
    let after = full_cycle(
        ToolId::Aider,
        ".aider.conf.yml",
        original,
        &["model:"],
        |s| s.replace("auto-commits: false", "auto-commits: true"),
    );
    assert!(
        after.starts_with("model: openai/gpt-5.5  # old favourite\n"),
        "{after}"
    );
}

#[test]
fn aider_crlf() {
    full_cycle(
        ToolId::Aider,
        ".aider.conf.yml",
        &crlf(&fixture("aider.conf.yml")),
        &["openai-api", "model:"],
        |s| s.replace("dark-mode: true", "dark-mode: false"),
    );
}
