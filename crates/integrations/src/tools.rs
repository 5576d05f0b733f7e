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
use crate::plan::{KeyDelivery, Plan, Warning};

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
}

const ALL: [ToolId; 5] = [
    ToolId::Codex,
    ToolId::ClaudeCode,
    ToolId::OpenCode,
    ToolId::GeminiCli,
    ToolId::Aider,
];

/// Every supported tool, in display order.
pub fn tools() -> &'static [ToolId] {
    &ALL
}

impl ToolId {
    /// Stable identifier (`codex`, `claude-code`, `opencode`, `gemini-cli`, `aider`), used
    /// on the command line and in state file names.
    pub fn slug(self) -> &'static str {
        match self {
            ToolId::Codex => "codex",
            ToolId::ClaudeCode => "claude-code",
            ToolId::OpenCode => "opencode",
            ToolId::GeminiCli => "gemini-cli",
            ToolId::Aider => "aider",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ToolId::Codex => "Codex CLI",
            ToolId::ClaudeCode => "Claude Code",
            ToolId::OpenCode => "OpenCode",
            ToolId::GeminiCli => "Gemini CLI",
            ToolId::Aider => "Aider",
        }
    }

    pub(crate) fn binary(self) -> &'static str {
        match self {
            ToolId::Codex => "codex",
            ToolId::ClaudeCode => "claude",
            ToolId::OpenCode => "opencode",
            ToolId::GeminiCli => "gemini",
            ToolId::Aider => "aider",
        }
    }

    /// The main config file (the first of [`ToolId::files`]).
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
                None => {
                    let dir = env
                        .path_var("XDG_CONFIG_HOME")
                        .map_or_else(|| home().map(|h| h.join(".config")), Ok)?
                        .join("opencode");
                    let json = dir.join("opencode.json");
                    let jsonc = dir.join("opencode.jsonc");
                    if !json.exists() && jsonc.exists() {
                        jsonc
                    } else {
                        json
                    }
                }
            },
            ToolId::GeminiCli => gemini_dir(env)?.join("settings.json"),
            ToolId::Aider => home()?.join(".aider.conf.yml"),
        })
    }
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
                ],
            }]
        }
        // OpenCode (as observed with OpenCode 1.18): a custom provider using
        // @ai-sdk/openai-compatible, `options.baseURL` / `options.apiKey` (literal or
        // `{env:VAR}`), `models`, and top-level `model` / `small_model` as `provider/alias`.
        ToolId::OpenCode => {
            let api_key = match env_key(env, plan)? {
                Some(var) => format!("{{env:{var}}}"),
                None => secret.to_owned(),
            };
            let mut listed = serde_json::Map::new();
            for alias in models.all() {
                listed.insert(alias.to_owned(), json!({ "name": alias }));
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
    let providers = match tool {
        ToolId::Codex => Some(("model_providers", vec!["base_url"])),
        ToolId::OpenCode => Some(("provider", vec!["options", "baseURL"])),
        _ => None,
    };
    if let Some((table, url_path)) = providers {
        let url_of = |name: &str| {
            let mut p = vec![table, name];
            p.extend(url_path.iter().copied());
            get(&p)
        };
        let foreign = !adopted
            && !plan.replace_existing
            && get(&[table, PROVIDER]).is_some_and(|v| v.is_object())
            && !same(url_of(PROVIDER));
        if foreign {
            return Err(Error::Conflict {
                path: file.path.clone(),
                detail: format!(
                    "a provider named `{PROVIDER}` already exists and points elsewhere; \
                     not replacing it without replace_existing"
                ),
            });
        }
        if let Some(Value::Object(all)) = get(&[table]) {
            for name in all.keys().filter(|n| *n != PROVIDER) {
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
        ToolId::GeminiCli | ToolId::OpenCode => {}
    }
    Ok(warnings)
}
