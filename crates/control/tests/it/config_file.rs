//! The declarative TOML file: one provider definition (the router's `Provider`, every field
//! the admin API takes), its keys, and a refusal of fields nobody knows.

use switchboard_control::config_file::{ConfigFileError, FileConfig};

use crate::common::*;

const FILE: &str = r#"
[[providers]]
name = "deepseek"
kind = "openai_chat"
base_url = "https://api.deepseek.com/v1"
priority = 3
weight = 2
drop_params = ["thinking.budget_tokens"]
max_concurrency_per_key = 4
headers = { "x-team" = "blue" }
timeouts = { connect_ms = 1500 }
quirks = { replay_reasoning_content = true }
keys = ["sk-file-000000000000", { label = "second", secret = "sk-file-111111111111", weight = 3 }]

[[routes]]
alias = "chat"
targets = [{ provider = "deepseek", model = "deepseek-chat" }]
"#;

#[tokio::test]
async fn a_file_provider_is_the_router_provider_with_keys() {
    let mut ctl = Ctl::start().await;
    let path = ctl.dir.path().join("switchboard.toml");
    std::fs::write(&path, FILE).unwrap();
    let file = FileConfig::load(&path).unwrap();
    file.apply(ctl.control.store(), &path).await.unwrap();
    file.apply(ctl.control.store(), &path).await.unwrap();
    ctl.restart().await;

    let p = ctl.control.provider("deepseek").await.unwrap();
    assert_eq!(p, file.providers[0].provider);
    assert_eq!((p.priority, p.weight), (3, 2));
    assert_eq!(p.drop_params, ["thinking.budget_tokens"]);
    assert_eq!(p.max_concurrency_per_key, Some(4));
    assert_eq!(p.headers["x-team"], "blue");
    assert_eq!(p.timeouts.connect_ms, 1500);
    assert!(p.quirks.replay_reasoning_content);
    let keys = ctl.control.key_views(Some("deepseek"));
    let labels: Vec<&str> = keys.iter().map(|k| k.key.label.as_str()).collect();
    assert_eq!(labels, ["key 1", "second"], "applied twice, added once");
    assert_eq!(keys[1].key.weight, 3);
    assert!(ctl.control.engine().snapshot().routes.contains_key("chat"));
    ctl.stop().await;
}

#[tokio::test]
async fn a_misspelt_provider_field_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.toml");
    std::fs::write(&path, FILE.replace("priority = 3", "priorty = 3")).unwrap();
    match FileConfig::load(&path) {
        Err(ConfigFileError::Invalid { field, .. }) => assert_eq!(field, "providers[0].priorty"),
        other => panic!("{other:?}"),
    }
}
