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
        [
            "codex",
            "claude-code",
            "opencode",
            "gemini-cli",
            "aider",
            "qwen-code",
            "crush",
            "kilo-code",
            "cline",
            "roo-code",
            "continue",
            "goose",
            "zed",
            "openclaw",
            "pi"
        ]
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

/// A route of two targets: the tools get the smaller window (one target's own) and the smaller
/// output limit (the price table's for the models), and a changed target shows as drift.
#[tokio::test]
async fn context_windows_written_for_codex_opencode_and_claude_match_the_smallest_target() {
    let s = start().await;
    let (status, body) = call(
        &s,
        Method::POST,
        "/api/v1/providers",
        Some(json!({"name": "up", "kind": "openai_chat", "base_url": "http://127.0.0.1:9/v1"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let route = |window: u64| {
        json!({"alias": "big", "targets": [
            {"provider": "up", "model": "gpt-4o", "context_window": 200_000},
            {"provider": "up", "model": "gpt-4o-mini", "context_window": window},
        ]})
    };
    let (status, body) = call(&s, Method::POST, "/api/v1/routes", Some(route(65_536))).await;
    assert_eq!(status, 200, "{body}");
    let (status, limits) = call(&s, Method::GET, "/api/v1/integrations/limits/big", None).await;
    assert_eq!(status, 200, "{limits}");
    assert_eq!(limits["context_window"], 65_536);
    let output = limits["max_output"]
        .as_u64()
        .expect("the price table knows gpt-4o's output");

    let plan = json!({ "models": { "main": "big" } });
    for tool in ["codex", "opencode", "claude-code"] {
        let (status, body) = call(
            &s,
            Method::POST,
            &format!("/api/v1/integrations/{tool}/apply"),
            Some(plan.clone()),
        )
        .await;
        assert_eq!(status, 200, "{tool}: {body}");
        assert_eq!(body["tool"]["status"], "configured", "{body}");
    }
    let codex = std::fs::read_to_string(s.home.join(".codex/config.toml")).unwrap();
    assert!(codex.contains("model_context_window = 65536\n"), "{codex}");
    assert!(
        codex.contains(&format!("model_max_output_tokens = {output}\n")),
        "{codex}"
    );
    let opencode: Value = serde_json::from_str(
        &std::fs::read_to_string(s.home.join(".config/opencode/opencode.json")).unwrap(),
    )
    .unwrap();
    let limit = &opencode["provider"]["switchboard"]["models"]["big"]["limit"];
    assert_eq!(limit["context"], 65_536, "{opencode}");
    assert_eq!(limit["output"], output);
    let claude: Value = serde_json::from_str(
        &std::fs::read_to_string(s.home.join(".claude/settings.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(claude["env"]["CLAUDE_CODE_AUTO_COMPACT_WINDOW"], "65536");
    assert_eq!(
        claude["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"],
        output.to_string()
    );

    // The route's smaller target grows: the tools are out of step until applied again.
    let (status, _) = call(&s, Method::POST, "/api/v1/routes", Some(route(100_000))).await;
    assert_eq!(status, 200);
    let (_, list) = call(&s, Method::GET, "/api/v1/integrations", None).await;
    let codex_view = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "codex")
        .unwrap()
        .clone();
    assert_eq!(codex_view["status"], "drifted", "{codex_view}");
    assert!(
        codex_view["changed_keys"][0]
            .as_str()
            .unwrap()
            .contains("context window"),
        "{codex_view}"
    );
    let (status, body) = call(
        &s,
        Method::POST,
        "/api/v1/integrations/codex/apply",
        Some(plan),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["tool"]["status"], "configured", "{body}");
    let codex = std::fs::read_to_string(s.home.join(".codex/config.toml")).unwrap();
    assert!(codex.contains("model_context_window = 100000\n"), "{codex}");
    s.handle.shutdown().await;
}
