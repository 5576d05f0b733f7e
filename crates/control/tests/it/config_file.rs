//! The declarative TOML file: one provider definition (the router's `Provider`, every field
//! the admin API takes), its keys, and a refusal of fields nobody knows.

use switchboard_control::config_file::{ConfigFileError, FileConfig};
use switchboard_router::ProxyMode;

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

#[tokio::test]
async fn the_file_sets_the_global_proxy_and_a_providers_network() {
    let mut ctl = Ctl::start().await;
    let path = ctl.dir.path().join("switchboard.toml");
    let ca = ctl.dir.path().join("ca.pem");
    std::fs::write(&ca, include_str!("../../../router/testdata/ca.pem")).unwrap();
    let file = format!(
        r#"
[server]
proxy = {{ mode = "url", url = "http://proxy.corp.example:3128", no_proxy = ["localhost", "10.0.0.0/8"] }}

[[providers]]
name = "intranet"
kind = "openai_chat"
base_url = "https://llm.corp.example/v1"
proxy = {{ mode = "direct" }}
ca_file = {ca:?}
timeouts = {{ connect_ms = 2500, first_byte_ms = 30000 }}
keys = ["sk-file-000000000000"]
"#,
        ca = ca.display().to_string()
    );
    std::fs::write(&path, &file).unwrap();
    let loaded = FileConfig::load(&path).unwrap();
    loaded.apply(ctl.control.store(), &path).await.unwrap();
    ctl.restart().await;

    let settings = ctl.control.settings().await.unwrap();
    assert_eq!(settings.proxy.mode, ProxyMode::Url);
    assert_eq!(
        settings.proxy.url.as_deref(),
        Some("http://proxy.corp.example:3128")
    );
    assert_eq!(settings.proxy.no_proxy, ["localhost", "10.0.0.0/8"]);
    let p = ctl.control.provider("intranet").await.unwrap();
    assert_eq!(p.proxy.map(|x| x.mode), Some(ProxyMode::Direct));
    assert_eq!(p.ca_file, Some(ca.display().to_string()));
    assert_eq!(
        (p.timeouts.connect_ms, p.timeouts.first_byte_ms),
        (2_500, 30_000)
    );

    // A proxy URL that does not parse stops the load with the field and the reason.
    let bad = file.replace(
        "http://proxy.corp.example:3128",
        "http//proxy.corp.example:3128",
    );
    std::fs::write(&path, bad).unwrap();
    let store = ctl.control.store();
    match FileConfig::load(&path).unwrap().apply(store, &path).await {
        Err(ConfigFileError::Invalid { field, message, .. }) => {
            assert_eq!(field, "server.proxy.url");
            assert!(message.contains("relative URL without a base"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    ctl.stop().await;
}
