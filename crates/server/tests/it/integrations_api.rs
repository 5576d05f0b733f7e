//! The Integrations admin API: list, preview, apply and undo a tool's configuration in a temp
//! home (the tool environment is injected; the real home is never touched).

use std::sync::Arc;

use reqwest::Method;
use serde_json::{Value, json};
use switchboard_router::Secret;
use switchboard_server::{Options, Switchboard, SwitchboardHandle, ToolEnv};
use switchboard_store::MemorySecretStore;

const ADMIN: &str = "sbadm-integrations-test-token";
const ACCESS: &str = "sk-sb-integrations-access-0123456789";

struct Setup {
    handle: SwitchboardHandle,
    home: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn start() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut opts = Options::new(dir.path().join("data"));
    opts.port = 0;
    opts.secrets = Some(Arc::new(MemorySecretStore::new()));
    opts.admin_token = Some(Secret::new(ADMIN));
    opts.access_key = Some(Secret::new(ACCESS));
    opts.tool_env = Some(ToolEnv::with_home(&home));
    let handle = Switchboard::start(opts).await.unwrap();
    Setup {
        handle,
        home,
        _dir: dir,
    }
}

async fn call(s: &Setup, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("http://{}{path}", s.handle.local_addr()))
        .bearer_auth(ADMIN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

const USER_SETTINGS: &str = "{\n  // mine\n  \"permissions\": {\"allow\": [\"Bash(ls)\"]},\n  \"env\": {\"FOO\": \"bar\"}\n}\n";

#[tokio::test]
async fn preview_apply_and_undo_claude_code_through_the_admin_api() {
    let s = start().await;
    let settings = s.home.join(".claude").join("settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, USER_SETTINGS).unwrap();
    let root = format!("http://{}", s.handle.local_addr());

    let (status, list) = call(&s, Method::GET, "/api/v1/integrations", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["endpoint"], root.as_str());
    let ids: Vec<&str> = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["codex", "claude-code", "opencode", "gemini-cli", "aider"]
    );
    let claude = &list["tools"][1];
    assert_eq!(claude["status"], "not_configured");
    assert_eq!(claude["config_exists"], true);
    assert_eq!(list["tools"][0]["status"], "not_installed");

    let plan = json!({ "models": { "main": "gpt-5.5", "small": "mini" } });
    let (status, preview) = call(
        &s,
        Method::POST,
        "/api/v1/integrations/claude-code/preview",
        Some(plan.clone()),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    let diff = preview["files"][0]["diff"].as_str().unwrap();
    assert!(
        diff.contains(&format!("\"ANTHROPIC_BASE_URL\": \"{root}\"")),
        "{diff}"
    );
    assert!(diff.contains("ANTHROPIC_AUTH_TOKEN"), "{diff}");
    assert!(!diff.contains(ACCESS), "the key is masked in previews");
    assert!(
        preview["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("gpt-5.5")),
        "no route for the alias yet: {preview}"
    );
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), USER_SETTINGS);

    let (status, applied) = call(
        &s,
        Method::POST,
        "/api/v1/integrations/claude-code/apply",
        Some(plan.clone()),
    )
    .await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["changed"], true);
    assert_eq!(applied["tool"]["status"], "configured");
    let backup = applied["files"][0]["backup"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(backup).unwrap(), USER_SETTINGS);
    let written = std::fs::read_to_string(&settings).unwrap();
    // The tool got a client of its own, and that client's key.
    assert!(
        !written.contains(ACCESS) && written.contains("sk-sb-") && written.contains("// mine"),
        "{written}"
    );
    let (status, client) = call(&s, Method::GET, "/api/v1/clients/claude-code", None).await;
    assert_eq!(status, 200, "{client}");
    let last4 = client["keys"][0]["last4"].as_str().unwrap();
    assert!(written.contains(&format!("{last4}\"")), "{written}");
    assert!(written.contains("\"FOO\": \"bar\""), "{written}");

    let (status, undone) = call(
        &s,
        Method::POST,
        "/api/v1/integrations/claude-code/undo",
        None,
    )
    .await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(undone["files"][0]["restored"], "exact");
    assert_eq!(undone["tool"]["status"], "not_configured");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), USER_SETTINGS);

    let (status, body) = call(
        &s,
        Method::POST,
        "/api/v1/integrations/claude-code/undo",
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = call(
        &s,
        Method::POST,
        "/api/v1/integrations/notepad/preview",
        Some(plan),
    )
    .await;
    assert_eq!(status, 404);
    s.handle.shutdown().await;
}

#[tokio::test]
async fn routing_off_warns_and_unparseable_configs_are_left_alone() {
    let s = start().await;
    let (status, _) = call(
        &s,
        Method::PUT,
        "/api/v1/routing",
        Some(json!({ "enabled": false })),
    )
    .await;
    assert_eq!(status, 200);
    let plan = json!({ "models": { "main": "gpt-5.5" } });
    let (status, preview) = call(
        &s,
        Method::POST,
        "/api/v1/integrations/codex/preview",
        Some(plan.clone()),
    )
    .await;
    assert_eq!(status, 200, "{preview}");
    assert!(
        preview["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("routing is switched off")),
        "{preview}"
    );
    let config = s.home.join(".codex").join("config.toml");
    assert!(!config.exists(), "preview writes nothing");
    assert!(
        preview["files"][0]["diff"]
            .as_str()
            .unwrap()
            .contains("wire_api")
    );

    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(&config, "model = [unclosed\n").unwrap();
    let (status, body) = call(
        &s,
        Method::POST,
        "/api/v1/integrations/codex/apply",
        Some(plan),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("left untouched"),
        "{body}"
    );
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        "model = [unclosed\n"
    );
    s.handle.shutdown().await;
}
