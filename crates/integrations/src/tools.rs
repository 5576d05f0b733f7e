//! The tools we configure: where each keeps its config, which keys we own there, and what in
//! the rest of its config deserves a warning or a refusal.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::env::Env;
use crate::error::{Error, Result};
use crate::format::Format;
use crate::plan::{KeyDelivery, Models, Plan, Warning};

/// Provider name we register in tools that keep a provider list.
pub(crate) const PROVIDER: &str = "switchboard";

/// An AI tool Switchboard can configure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ToolId {
    Codex,
    ClaudeCode,
    OpenCode,
    GeminiCli,
    Aider,
    QwenCode,
    Crush,
    KiloCode,
    Cline,
    RooCode,
    Continue,
    Goose,
    Zed,
    OpenClaw,
    Pi,
}

const ALL: [ToolId; 15] = [
    ToolId::Codex,
    ToolId::ClaudeCode,
    ToolId::OpenCode,
    ToolId::GeminiCli,
    ToolId::Aider,
    ToolId::QwenCode,
    ToolId::Crush,
    ToolId::KiloCode,
    ToolId::Cline,
    ToolId::RooCode,
    ToolId::Continue,
    ToolId::Goose,
    ToolId::Zed,
    ToolId::OpenClaw,
    ToolId::Pi,
];

/// Every supported tool, in display order.
pub fn tools() -> &'static [ToolId] {
    &ALL
}

impl ToolId {
    /// Stable identifier (`codex`, `claude-code`, `opencode`, …), used on the command line and
    /// in state file names.
    pub fn slug(self) -> &'static str {
        match self {
            ToolId::Codex => "codex",
            ToolId::ClaudeCode => "claude-code",
            ToolId::OpenCode => "opencode",
            ToolId::GeminiCli => "gemini-cli",
            ToolId::Aider => "aider",
            ToolId::QwenCode => "qwen-code",
            ToolId::Crush => "crush",
            ToolId::KiloCode => "kilo-code",
            ToolId::Cline => "cline",
            ToolId::RooCode => "roo-code",
            ToolId::Continue => "continue",
            ToolId::Goose => "goose",
            ToolId::Zed => "zed",
            ToolId::OpenClaw => "openclaw",
            ToolId::Pi => "pi",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ToolId::Codex => "Codex CLI",
            ToolId::ClaudeCode => "Claude Code",
            ToolId::OpenCode => "OpenCode",
            ToolId::GeminiCli => "Gemini CLI",
            ToolId::Aider => "Aider",
            ToolId::QwenCode => "Qwen Code",
            ToolId::Crush => "Crush",
            ToolId::KiloCode => "Kilo Code CLI",
            ToolId::Cline => "Cline",
            ToolId::RooCode => "Roo Code",
            ToolId::Continue => "Continue",
            ToolId::Goose => "Goose",
            ToolId::Zed => "Zed",
            ToolId::OpenClaw => "OpenClaw",
            ToolId::Pi => "pi coding agent",
        }
    }

    pub(crate) fn binary(self) -> &'static str {
        match self {
            ToolId::Codex => "codex",
            ToolId::ClaudeCode => "claude",
            ToolId::OpenCode => "opencode",
            ToolId::GeminiCli => "gemini",
            ToolId::Aider => "aider",
            ToolId::QwenCode => "qwen",
            ToolId::Crush => "crush",
            ToolId::KiloCode => "kilo",
            ToolId::Cline => "cline",
            // A VS Code extension: VS Code's launcher.
            ToolId::RooCode => "code",
            // Continue's CLI (the IDE extensions read the same config).
            ToolId::Continue => "cn",
            ToolId::Goose => "goose",
            ToolId::Zed => "zed",
            ToolId::OpenClaw => "openclaw",
            ToolId::Pi => "pi",
        }
    }

    /// Whether the tool's config holds the route's limits (context window, output cap).
    pub fn writes_limits(self) -> bool {
        !matches!(self, ToolId::GeminiCli | ToolId::Aider | ToolId::Goose)
    }

    /// The main config file (the first of the files we change).
    pub(crate) fn config_path(self, env: &Env) -> Result<PathBuf> {
        let home = || env.home().map(PathBuf::from).ok_or(Error::NoHome);
        Ok(match self {
            ToolId::Codex => env
                .path_var("CODEX_HOME")
                .map_or_else(|| home().map(|h| h.join(".codex")), Ok)?
                .join("config.toml"),
            ToolId::ClaudeCode => env
                .path_var("CLAUDE_CONFIG_DIR")
                .map_or_else(|| home().map(|h| h.join(".claude")), Ok)?
                .join("settings.json"),
            ToolId::OpenCode => match env.path_var("OPENCODE_CONFIG") {
                Some(file) => file,
                None => json_or_jsonc(&xdg_config(env)?.join("opencode"), "opencode"),
            },
            ToolId::GeminiCli => gemini_dir(env)?.join("settings.json"),
            ToolId::Aider => home()?.join(".aider.conf.yml"),
            ToolId::QwenCode => env
                .path_var("QWEN_HOME")
                .map_or_else(|| home().map(|h| h.join(".qwen")), Ok)?
                .join("settings.json"),
            ToolId::Crush => match env.path_var("CRUSH_GLOBAL_CONFIG") {
                Some(dir) => dir.join("crush.json"),
                None => xdg_config(env)?.join("crush").join("crush.json"),
            },
            ToolId::KiloCode => json_or_jsonc(&xdg_config(env)?.join("kilo"), "kilo"),
            ToolId::Cline => cline_data(env)?.join("globalState.json"),
            ToolId::RooCode => vscode_user(env)?.join("settings.json"),
            ToolId::Continue => env
                .path_var("CONTINUE_GLOBAL_DIR")
                .map_or_else(|| home().map(|h| h.join(".continue")), Ok)?
                .join("config.yaml"),
            ToolId::Goose => xdg_config(env)?.join("goose").join("config.yaml"),
            ToolId::Zed => xdg_config(env)?.join("zed").join("settings.json"),
            ToolId::OpenClaw => match env.path_var("OPENCLAW_CONFIG_PATH") {
                Some(file) => file,
                None => env
                    .path_var("OPENCLAW_STATE_DIR")
                    .map_or_else(|| home().map(|h| h.join(".openclaw")), Ok)?
                    .join("openclaw.json"),
            },
            ToolId::Pi => pi_dir(env)?.join("models.json"),
        })
    }
}

/// `$XDG_CONFIG_HOME`, else `~/.config` (the tools below use it on macOS too).
fn xdg_config(env: &Env) -> Result<PathBuf> {
    env.path_var("XDG_CONFIG_HOME")
        .or_else(|| env.home().map(|h| h.join(".config")))
        .ok_or(Error::NoHome)
}

/// `<dir>/<stem>.json`, unless only `<stem>.jsonc` exists.
fn json_or_jsonc(dir: &std::path::Path, stem: &str) -> PathBuf {
    let json = dir.join(format!("{stem}.json"));
    let jsonc = dir.join(format!("{stem}.jsonc"));
    if !json.exists() && jsonc.exists() {
        jsonc
    } else {
        json
    }
}

/// `$CLINE_DIR/data`, else `~/.cline/data` (the Cline CLI's state).
fn cline_data(env: &Env) -> Result<PathBuf> {
    env.path_var("CLINE_DIR")
        .or_else(|| env.home().map(|h| h.join(".cline")))
        .map(|d| d.join("data"))
        .ok_or(Error::NoHome)
}

/// VS Code's user settings directory.
fn vscode_user(env: &Env) -> Result<PathBuf> {
    if cfg!(target_os = "macos") {
        let home = env.home().ok_or(Error::NoHome)?;
        Ok(home.join("Library/Application Support/Code/User"))
    } else if cfg!(windows) {
        env.path_var("APPDATA")
            .map(|d| d.join("Code").join("User"))
            .ok_or(Error::NoHome)
    } else {
        Ok(xdg_config(env)?.join("Code").join("User"))
    }
}

/// `$PI_CODING_AGENT_DIR`, else `~/.pi/agent`.
fn pi_dir(env: &Env) -> Result<PathBuf> {
    env.path_var("PI_CODING_AGENT_DIR")
        .or_else(|| env.home().map(|h| h.join(".pi").join("agent")))
        .ok_or(Error::NoHome)
}

/// `$GEMINI_CLI_HOME/.gemini`, else `~/.gemini`.
fn gemini_dir(env: &Env) -> Result<PathBuf> {
    env.path_var("GEMINI_CLI_HOME")
        .or_else(|| env.home().map(PathBuf::from))
        .map(|base| base.join(".gemini"))
        .ok_or(Error::NoHome)
}

impl fmt::Display for ToolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ToolId {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        ALL.into_iter()
            .find(|t| t.slug() == s || t.binary() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = ALL.iter().map(|t| t.slug()).collect();
                format!("unknown tool `{s}` (known: {})", known.join(", "))
            })
    }
}

/// The keys we want in one file; `None` means "must be absent".
pub(crate) struct FilePlan {
    pub(crate) path: PathBuf,
    pub(crate) format: Format,
    pub(crate) keys: Vec<(Vec<String>, Option<Value>)>,
}

fn key(path: &[&str], value: impl Into<Value>) -> (Vec<String>, Option<Value>) {
    (
        path.iter().map(|s| (*s).to_owned()).collect(),
        Some(value.into()),
    )
}

fn absent(path: &[&str]) -> (Vec<String>, Option<Value>) {
    (path.iter().map(|s| (*s).to_owned()).collect(), None)
}

/// The provider name in Zed's settings; Zed derives the key's variable from it.
const ZED_PROVIDER: &str = "Switchboard";
/// Zed requires a window for each model.
const ZED_DEFAULT_WINDOW: u64 = 128_000;

/// Keys for the route's limits at the given paths, for the limits that are known.
fn limit_keys(plan: &Plan, context: &[&str], output: &[&str]) -> Vec<(Vec<String>, Option<Value>)> {
    let mut out = Vec::new();
    if let Some(w) = plan.limits.context_window {
        out.push(key(context, w));
    }
    if let Some(o) = plan.limits.max_output {
        out.push(key(output, o));
    }
    out
}

/// Adds the known limits to a model entry under the tool's field names.
fn put_limits(entry: &mut Value, plan: &Plan, context: &str, output: &str) {
    if let Some(w) = plan.limits.context_window {
        entry[context] = json!(w);
    }
    if let Some(o) = plan.limits.max_output {
        entry[output] = json!(o);
    }
}

/// Cline's and Roo Code's model info, when the window is known (both require it).
fn model_info(plan: &Plan) -> Option<Value> {
    let window = plan.limits.context_window?;
    let mut info = json!({ "contextWindow": window, "supportsPromptCache": false });
    if let Some(o) = plan.limits.max_output {
        info["maxTokens"] = json!(o);
    }
    Some(info)
}

/// The model list of pi's and OpenClaw's provider entries.
fn pi_models(models: &Models, plan: &Plan) -> Value {
    Value::Array(
        models
            .all()
            .into_iter()
            .map(|alias| {
                let mut m = json!({ "id": alias, "name": alias });
                put_limits(&mut m, plan, "contextWindow", "maxTokens");
                m
            })
            .collect(),
    )
}

/// The key a tool that can read the environment should be given: the literal key, or the
/// name of a variable that is set to it.
fn env_key<'p>(env: &Env, plan: &'p Plan) -> Result<Option<&'p str>> {
    match &plan.key_delivery {
        KeyDelivery::Inline => Ok(None),
        KeyDelivery::EnvVar(name) => match env.var(name) {
            None => Err(Error::EnvVarMissing { name: name.clone() }),
            Some(v) if v.to_str() != Some(plan.endpoint.access_key.expose()) => {
                Err(Error::InvalidPlan(format!(
                    "`{name}` is set to a different key than this Switchboard's"
                )))
            }
            Some(_) => Ok(Some(name)),
        },
    }
}

/// Which files we change and the keys we own in them. `root` is the validated server root.
pub(crate) fn plan_files(
    tool: ToolId,
    env: &Env,
    plan: &Plan,
    root: &str,
) -> Result<Vec<FilePlan>> {
    let models = &plan.models;
    let secret = plan.endpoint.access_key.expose();
    let v1 = format!("{root}/v1");
    let path = tool.config_path(env)?;
    Ok(match tool {
        // Codex (as observed with Codex CLI 0.169): `[model_providers.<name>]` with
        // `wire_api = "responses"` (the only wire API it accepts) and the key in `env_key`
        // (Codex exits when that variable is unset) or `experimental_bearer_token`.
        ToolId::Codex => {
            let p = ["model_providers", PROVIDER];
            let mut keys = vec![
                key(&["model_provider"], PROVIDER),
                key(&["model"], models.main.as_str()),
                key(&[p[0], p[1], "name"], "Switchboard"),
                key(&[p[0], p[1], "base_url"], v1),
                key(&[p[0], p[1], "wire_api"], "responses"),
            ];
            // Codex budgets a session with these (config.toml top level).
            keys.extend(limit_keys(
                plan,
                &["model_context_window"],
                &["model_max_output_tokens"],
            ));
            match env_key(env, plan)? {
                Some(var) => {
                    keys.push(key(&[p[0], p[1], "env_key"], var));
                    keys.push(absent(&[p[0], p[1], "experimental_bearer_token"]));
                }
                None => {
                    keys.push(key(&[p[0], p[1], "experimental_bearer_token"], secret));
                    keys.push(absent(&[p[0], p[1], "env_key"]));
                }
            }
            vec![FilePlan {
                path,
                format: Format::Toml,
                keys,
            }]
        }
        // Claude Code: settings.json `env`; ANTHROPIC_BASE_URL is the server root (Claude
        // Code appends /v1/messages itself).
        ToolId::ClaudeCode => {
            let small = models.small();
            let env_var = |name: &str, value: &str| key(&["env", name], value);
            vec![FilePlan {
                path,
                format: Format::Jsonc,
                keys: vec![
                    env_var("ANTHROPIC_BASE_URL", root),
                    env_var("ANTHROPIC_AUTH_TOKEN", secret),
                    env_var("ANTHROPIC_MODEL", &models.main),
                    env_var(
                        "ANTHROPIC_DEFAULT_OPUS_MODEL",
                        models.opus.as_deref().unwrap_or(&models.main),
                    ),
                    env_var(
                        "ANTHROPIC_DEFAULT_SONNET_MODEL",
                        models.sonnet.as_deref().unwrap_or(&models.main),
                    ),
                    env_var(
                        "ANTHROPIC_DEFAULT_HAIKU_MODEL",
                        models.haiku.as_deref().unwrap_or(small),
                    ),
                    env_var("ANTHROPIC_SMALL_FAST_MODEL", small),
                ]
                .into_iter()
                // Claude Code assumes a 200k window for models it does not know and
                // compacts by it: CLAUDE_CODE_AUTO_COMPACT_WINDOW sets the window it
                // compacts within, CLAUDE_CODE_MAX_OUTPUT_TOKENS the output cap (both read
                // from the environment, as strings).
                .chain(
                    plan.limits
                        .context_window
                        .map(|w| env_var("CLAUDE_CODE_AUTO_COMPACT_WINDOW", &w.to_string())),
                )
                .chain(
                    plan.limits
                        .max_output
                        .map(|o| env_var("CLAUDE_CODE_MAX_OUTPUT_TOKENS", &o.to_string())),
                )
                .collect(),
            }]
        }
        // OpenCode (as observed with OpenCode 1.18): a custom provider using
        // @ai-sdk/openai-compatible, `options.baseURL` / `options.apiKey` (literal or
        // `{env:VAR}`), `models` (with `limit.context` / `limit.output`, which OpenCode
        // budgets with), and top-level `model` / `small_model` as `provider/alias`.
        // Kilo Code CLI (@kilocode/cli 7.8, built on OpenCode) reads the same schema from
        // `~/.config/kilo/kilo.json` (https://kilo.ai/config.json).
        ToolId::OpenCode | ToolId::KiloCode => {
            let api_key = match env_key(env, plan)? {
                Some(var) => format!("{{env:{var}}}"),
                None => secret.to_owned(),
            };
            let mut listed = serde_json::Map::new();
            for alias in models.all() {
                let mut entry = json!({ "name": alias });
                if let (true, Some(context), Some(output)) = (
                    alias == models.main,
                    plan.limits.context_window,
                    plan.limits.max_output,
                ) {
                    entry["limit"] = json!({ "context": context, "output": output });
                }
                listed.insert(alias.to_owned(), entry);
            }
            let p = ["provider", PROVIDER];
            vec![FilePlan {
                path,
                format: Format::Jsonc,
                keys: vec![
                    key(&[p[0], p[1], "npm"], "@ai-sdk/openai-compatible"),
                    key(&[p[0], p[1], "name"], "Switchboard"),
                    key(&[p[0], p[1], "options", "baseURL"], v1),
                    key(&[p[0], p[1], "options", "apiKey"], api_key),
                    key(&[p[0], p[1], "models"], Value::Object(listed)),
                    key(&["model"], format!("{PROVIDER}/{}", models.main)),
                    key(&["small_model"], format!("{PROVIDER}/{}", models.small())),
                ],
            }]
        }
        // Gemini CLI: https://geminicli.com/docs/reference/configuration.md — settings.json
        // (`security.auth.selectedType`, `model.name`, v2 nested format) and `.env` files,
        // of which `~/.gemini/.env` is the user-level one; GOOGLE_GEMINI_BASE_URL points the
        // Gemini API client at another root (it appends /v1beta/models/…).
        ToolId::GeminiCli => {
            let env_file = gemini_dir(env)?.join(".env");
            vec![
                FilePlan {
                    path,
                    format: Format::Jsonc,
                    keys: vec![
                        key(&["security", "auth", "selectedType"], "gemini-api-key"),
                        key(&["model", "name"], models.main.as_str()),
                    ],
                },
                FilePlan {
                    path: env_file,
                    format: Format::Dotenv,
                    keys: vec![
                        key(&["GOOGLE_GEMINI_BASE_URL"], root),
                        key(&["GEMINI_API_KEY"], secret),
                    ],
                },
            ]
        }
        // Aider: https://aider.chat/docs/config/aider_conf.html (`~/.aider.conf.yml`,
        // `openai-api-base`, `openai-api-key`, `model`, `weak-model`) and
        // https://aider.chat/docs/llms/openai-compat.html (`openai/<model>` prefix).
        ToolId::Aider => vec![FilePlan {
            path,
            format: Format::FlatYaml,
            keys: vec![
                key(&["openai-api-base"], v1),
                key(&["openai-api-key"], secret),
                key(&["model"], format!("openai/{}", models.main)),
                key(&["weak-model"], format!("openai/{}", models.small())),
            ],
        }],
        // Qwen Code (read from @qwen-code/qwen-code 0.15.10, its settings schema):
        // `~/.qwen/settings.json` (`$QWEN_HOME/settings.json`), `security.auth.selectedType`
        // "openai" with `security.auth.apiKey` / `baseUrl`, `model.name`, and
        // `model.generationConfig.contextWindowSize` / `samplingParams.max_tokens`.
        ToolId::QwenCode => {
            let g = ["model", "generationConfig"];
            let mut keys = vec![
                key(&["security", "auth", "selectedType"], "openai"),
                key(&["security", "auth", "apiKey"], secret),
                key(&["security", "auth", "baseUrl"], v1),
                key(&["model", "name"], models.main.as_str()),
            ];
            keys.extend(limit_keys(
                plan,
                &[g[0], g[1], "contextWindowSize"],
                &[g[0], g[1], "samplingParams", "max_tokens"],
            ));
            vec![FilePlan {
                path,
                format: Format::Jsonc,
                keys,
            }]
        }
        // Crush (docs for @charmland/crush 0.96, https://charm.land/crush.json): `crush.json`,
        // `providers.<id>` with `type` "openai-compat", `base_url`, `api_key` and `models`
        // (`id`, `name`, `context_window`, `default_max_tokens`); `models.large` /
        // `models.small` pick `{model, provider}`.
        ToolId::Crush => {
            let listed: Vec<Value> = models
                .all()
                .into_iter()
                .map(|alias| {
                    let mut m = json!({ "id": alias, "name": alias });
                    put_limits(&mut m, plan, "context_window", "default_max_tokens");
                    m
                })
                .collect();
            let p = ["providers", PROVIDER];
            vec![FilePlan {
                path,
                format: Format::Jsonc,
                keys: vec![
                    key(&[p[0], p[1], "name"], "Switchboard"),
                    key(&[p[0], p[1], "type"], "openai-compat"),
                    key(&[p[0], p[1], "base_url"], v1),
                    key(&[p[0], p[1], "api_key"], secret),
                    key(&[p[0], p[1], "models"], Value::Array(listed)),
                    key(
                        &["models", "large"],
                        json!({ "model": models.main, "provider": PROVIDER }),
                    ),
                    key(
                        &["models", "small"],
                        json!({ "model": models.small(), "provider": PROVIDER }),
                    ),
                ],
            }]
        }
        // Cline (state keys of cline/cline `src/shared/storage/state-keys.ts`; the CLI 3.0
        // keeps them in `~/.cline/data`; the VS Code extension keeps its provider settings in
        // VS Code's own state database, not a file we merge into, so only the CLI's files are
        // written): `globalState.json` picks the "openai"
        // (OpenAI-compatible) provider for both modes with `openAiBaseUrl`, the model ids and
        // `*OpenAiModelInfo` (`contextWindow`, `maxTokens`); `secrets.json` holds
        // `openAiApiKey`.
        ToolId::Cline => {
            let mut keys = vec![key(&["openAiBaseUrl"], v1)];
            for mode in ["actMode", "planMode"] {
                keys.push(key(&[&format!("{mode}ApiProvider")], "openai"));
                keys.push(key(
                    &[&format!("{mode}OpenAiModelId")],
                    models.main.as_str(),
                ));
                if let Some(info) = model_info(plan) {
                    keys.push(key(&[&format!("{mode}OpenAiModelInfo")], info));
                }
            }
            vec![
                FilePlan {
                    path,
                    format: Format::Jsonc,
                    keys,
                },
                FilePlan {
                    path: cline_data(env)?.join("secrets.json"),
                    format: Format::Jsonc,
                    keys: vec![key(&["openAiApiKey"], secret)],
                },
            ]
        }
        // Roo Code (RooCodeInc/Roo-Code, `roo-cline.autoImportSettingsPath`): VS Code's
        // user settings point the extension at a settings file it imports at start; that
        // file (its export format: `providerProfiles.apiConfigs.<name>` with `apiProvider`
        // "openai", `openAiBaseUrl`, `openAiApiKey`, `openAiModelId`,
        // `openAiCustomModelInfo`) is ours alone, `~/.roo/switchboard-settings.json`.
        ToolId::RooCode => {
            let import = env.home().ok_or(Error::NoHome)?.join(".roo");
            let import = import.join("switchboard-settings.json");
            let mut profile = json!({
                "id": PROVIDER,
                "apiProvider": "openai",
                "openAiBaseUrl": v1,
                "openAiApiKey": secret,
                "openAiModelId": models.main,
            });
            if let Some(info) = model_info(plan) {
                profile["openAiCustomModelInfo"] = info;
            }
            let profiles = ["providerProfiles"];
            vec![
                FilePlan {
                    path,
                    format: Format::Jsonc,
                    keys: vec![key(
                        &["roo-cline.autoImportSettingsPath"],
                        import.display().to_string(),
                    )],
                },
                FilePlan {
                    path: import,
                    format: Format::Jsonc,
                    keys: vec![
                        key(&[profiles[0], "currentApiConfigName"], PROVIDER),
                        key(&[profiles[0], "apiConfigs", PROVIDER], profile),
                    ],
                },
            ]
        }
        // Continue (continuedev/continue `config.yaml` reference, docs for @continuedev/cli
        // 1.5): `~/.continue/config.yaml`, a `models:` list whose items have `name`,
        // `provider` "openai", `model`, `apiBase`, `apiKey`, `roles` and
        // `defaultCompletionOptions` (`contextLength`, `maxTokens`). Our item is one line of
        // flow-style YAML in that list; nothing else in the file is touched.
        ToolId::Continue => {
            let mut item = json!({
                "name": "Switchboard",
                "provider": "openai",
                "model": models.main,
                "apiBase": v1,
                "apiKey": secret,
                "roles": ["chat", "edit", "apply"],
            });
            let mut options = json!({});
            put_limits(&mut options, plan, "contextLength", "maxTokens");
            if options.as_object().is_some_and(|o| !o.is_empty()) {
                item["defaultCompletionOptions"] = options;
            }
            vec![FilePlan {
                path,
                format: Format::YamlListItem,
                keys: vec![key(&["models", "Switchboard"], item)],
            }]
        }
        // Goose (block/goose `crates/goose/src/providers/openai.rs` and config docs):
        // `~/.config/goose/config.yaml` is flat — `GOOSE_PROVIDER` "openai", `GOOSE_MODEL`,
        // `OPENAI_HOST` (the server root) and `OPENAI_BASE_PATH`; the key is a secret,
        // read from `secrets.yaml` beside it when the keyring is off.
        ToolId::Goose => {
            let dir = xdg_config(env)?.join("goose");
            vec![
                FilePlan {
                    path,
                    format: Format::FlatYaml,
                    keys: vec![
                        key(&["GOOSE_PROVIDER"], "openai"),
                        key(&["GOOSE_MODEL"], models.main.as_str()),
                        key(&["OPENAI_HOST"], root),
                        key(&["OPENAI_BASE_PATH"], "v1/chat/completions"),
                    ],
                },
                FilePlan {
                    path: dir.join("secrets.yaml"),
                    format: Format::FlatYaml,
                    keys: vec![key(&["OPENAI_API_KEY"], secret)],
                },
            ]
        }
        // Zed (zed-industries/zed `language_models.openai_compatible`, settings docs):
        // `~/.config/zed/settings.json` (JSONC); the provider's `api_url` and
        // `available_models` (`max_tokens` is the context window and required — 128k when
        // the route's targets state none — `max_output_tokens`); `agent.default_model`.
        // Zed reads the key from `SWITCHBOARD_API_KEY` or its keychain, never the file.
        ToolId::Zed => {
            let listed: Vec<Value> = models
                .all()
                .into_iter()
                .map(|alias| {
                    let mut m = json!({
                        "name": alias,
                        "max_tokens": plan.limits.context_window.unwrap_or(ZED_DEFAULT_WINDOW),
                        "capabilities": { "tools": true, "images": false,
                            "parallel_tool_calls": false, "prompt_cache_key": false },
                    });
                    if let Some(o) = plan.limits.max_output {
                        m["max_output_tokens"] = json!(o);
                    }
                    m
                })
                .collect();
            vec![FilePlan {
                path,
                format: Format::Jsonc,
                keys: vec![
                    key(
                        &["language_models", "openai_compatible", ZED_PROVIDER],
                        json!({ "api_url": v1, "available_models": listed }),
                    ),
                    key(
                        &["agent", "default_model"],
                        json!({ "provider": ZED_PROVIDER, "model": models.main }),
                    ),
                ],
            }]
        }
        // OpenClaw (docs.openclaw.ai model providers, openclaw 2026.9):
        // `~/.openclaw/openclaw.json` (JSON5; files with comments and trailing commas are
        // edited in place, other JSON5 is refused unchanged), `models.providers.<id>` with
        // `baseUrl`, `apiKey`, `api` "openai-completions", `models` (`id`, `name`,
        // `contextWindow`, `maxTokens`); `agents.defaults.model.primary` as `provider/model`.
        ToolId::OpenClaw => vec![FilePlan {
            path,
            format: Format::Jsonc,
            keys: vec![
                key(
                    &["models", "providers", PROVIDER],
                    json!({
                        "baseUrl": v1,
                        "apiKey": secret,
                        "api": "openai-completions",
                        "models": pi_models(models, plan),
                    }),
                ),
                key(
                    &["agents", "defaults", "model", "primary"],
                    format!("{PROVIDER}/{}", models.main),
                ),
            ],
        }],
        // pi coding agent (badlogic/pi-mono, @mariozechner/pi-coding-agent 0.73 docs
        // `models.md` / `settings.md`): `~/.pi/agent/models.json` `providers.<id>` with
        // `baseUrl`, `api` "openai-completions", `apiKey`, `models` (`contextWindow`,
        // `maxTokens`); `settings.json` `defaultProvider` / `defaultModel`.
        ToolId::Pi => vec![
            FilePlan {
                path,
                format: Format::Jsonc,
                keys: vec![key(
                    &["providers", PROVIDER],
                    json!({
                        "baseUrl": v1,
                        "api": "openai-completions",
                        "apiKey": secret,
                        "models": pi_models(models, plan),
                    }),
                )],
            },
            FilePlan {
                path: pi_dir(env)?.join("settings.json"),
                format: Format::Jsonc,
                keys: vec![
                    key(&["defaultProvider"], PROVIDER),
                    key(&["defaultModel"], models.main.as_str()),
                ],
            },
        ],
    })
}

/// Reads a value at a dotted path from the current text of the file being planned.
pub(crate) type Lookup<'a> = &'a dyn Fn(&[&str]) -> Option<Value>;

/// Tool-specific checks on the current config before we change it. `adopted` is true when
/// our provider entry is ours already (we created it earlier).
pub(crate) fn inspect(
    tool: ToolId,
    file: &FilePlan,
    get: Lookup<'_>,
    root: &str,
    plan: &Plan,
    env: &Env,
    adopted: bool,
) -> Result<Vec<Warning>> {
    let v1 = format!("{root}/v1");
    let same = |url: Option<Value>| {
        url.as_ref()
            .and_then(Value::as_str)
            .is_some_and(|u| u.trim_end_matches('/') == v1)
    };
    let mut warnings = Vec::new();
    // Where the tool keeps its providers, our entry's name there, and each entry's URL.
    let providers: Option<(&[&str], &str, &[&str])> = match tool {
        ToolId::Codex => Some((&["model_providers"], PROVIDER, &["base_url"])),
        ToolId::OpenCode | ToolId::KiloCode => {
            Some((&["provider"], PROVIDER, &["options", "baseURL"]))
        }
        ToolId::Crush => Some((&["providers"], PROVIDER, &["base_url"])),
        ToolId::Pi if file.path.ends_with("models.json") => {
            Some((&["providers"], PROVIDER, &["baseUrl"]))
        }
        ToolId::OpenClaw => Some((&["models", "providers"], PROVIDER, &["baseUrl"])),
        ToolId::Zed => Some((
            &["language_models", "openai_compatible"],
            ZED_PROVIDER,
            &["api_url"],
        )),
        _ => None,
    };
    if let Some((table, ours, url_path)) = providers {
        let url_of = |name: &str| {
            let mut p = table.to_vec();
            p.push(name);
            p.extend(url_path.iter().copied());
            get(&p)
        };
        let mut entry = table.to_vec();
        entry.push(ours);
        let foreign = !adopted
            && !plan.replace_existing
            && get(&entry).is_some_and(|v| v.is_object())
            && !same(url_of(ours));
        if foreign {
            return Err(Error::Conflict {
                path: file.path.clone(),
                detail: format!(
                    "a provider named `{ours}` already exists and points elsewhere; \
                     not replacing it without replace_existing"
                ),
            });
        }
        if let Some(Value::Object(all)) = get(table) {
            for name in all.keys().filter(|n| *n != ours) {
                if same(url_of(name)) {
                    warnings.push(Warning::DuplicateProvider(name.clone()));
                }
            }
        }
    }
    let overridden = |setting: &str, detail: &str| Warning::Overridden {
        setting: setting.to_owned(),
        detail: detail.to_owned(),
    };
    match tool {
        ToolId::Codex => {
            if get(&["profile"]).is_some() {
                warnings.push(overridden(
                    "profile",
                    "selects a Codex profile, whose model_provider and model win over ours",
                ));
            }
        }
        ToolId::ClaudeCode => {
            if get(&["env", "ANTHROPIC_API_KEY"]).is_some() {
                warnings.push(overridden(
                    "env.ANTHROPIC_API_KEY",
                    "is also set; Claude Code may send it instead of the Switchboard key",
                ));
            }
            if get(&["apiKeyHelper"]).is_some() {
                warnings.push(overridden(
                    "apiKeyHelper",
                    "supplies the key from a script and takes precedence",
                ));
            }
        }
        ToolId::GeminiCli if file.format == Format::Dotenv => {
            // Gemini CLI 0.61 loads ~/.gemini/.env only in a trusted folder (folder trust is
            // on by default; an untrusted one gets GEMINI_API_KEY from ~/.env at most).
            warnings.push(overridden(
                "~/.gemini/.env",
                "is read by Gemini CLI only in folders it trusts: trust the folder when it \
                 asks (or set GEMINI_CLI_TRUST_WORKSPACE=true)",
            ));
            for var in ["GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL"] {
                if env.var(var).is_some() {
                    warnings.push(overridden(
                        var,
                        "is set in the environment, which wins over ~/.gemini/.env",
                    ));
                }
            }
        }
        ToolId::Aider => {
            for var in [
                "AIDER_MODEL",
                "AIDER_OPENAI_API_BASE",
                "AIDER_OPENAI_API_KEY",
                "AIDER_WEAK_MODEL",
            ] {
                if env.var(var).is_some() {
                    warnings.push(overridden(
                        var,
                        "is set in the environment, which wins over ~/.aider.conf.yml",
                    ));
                }
            }
        }
        ToolId::Zed => {
            if env.var("SWITCHBOARD_API_KEY").is_none() {
                warnings.push(overridden(
                    "SWITCHBOARD_API_KEY",
                    "is where Zed reads the key (or its keychain: Agent settings → \
                     Switchboard); Zed never reads keys from settings.json",
                ));
            }
        }
        ToolId::Goose if file.format == Format::FlatYaml && file.path.ends_with("secrets.yaml") => {
            warnings.push(overridden(
                "secrets.yaml",
                "is read by Goose when GOOSE_DISABLE_KEYRING is set; with the system \
                 keyring, store the key once with `goose configure`",
            ));
        }
        ToolId::GeminiCli
        | ToolId::OpenCode
        | ToolId::QwenCode
        | ToolId::Crush
        | ToolId::KiloCode
        | ToolId::Cline
        | ToolId::RooCode
        | ToolId::Continue
        | ToolId::Goose
        | ToolId::OpenClaw
        | ToolId::Pi => {}
    }
    Ok(warnings)
}
