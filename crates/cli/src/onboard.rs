//! `switchboard onboard`: point AI tools on this machine at this Switchboard (or undo that).
//!
//! The endpoint is always this machine's Switchboard (`http://127.0.0.1:<port>`). Before
//! writing anything the port is probed: nothing answering is a warning (the tool will work
//! once the router starts); a Switchboard answering with this data directory's admin token is
//! used for its routing flag and aliases; anything else (another program, or a Switchboard of
//! another data directory) is refused, so a tool is never pointed at a foreign address.
//!
//! Each tool configured gets a client of its own, named after it (`codex`, `claude-code`, …),
//! and that client's new key is written into the tool's config: usage is attributed per tool.
//! (With `--key-env` the config names a variable instead, which holds the local access key.)

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use switchboard_control::{Control, LocalToken};
use switchboard_integrations::{
    AccessKey, Endpoint, Env, Integrations, KeyDelivery, Models, Plan, Restored, RouterStatus,
    ToolId,
};
use switchboard_router::Secret;

use crate::DataDir;

#[derive(clap::Args)]
pub struct OnboardArgs {
    /// Tool to configure (codex, claude-code, opencode, gemini-cli, aider); repeat for several.
    /// Default: every tool detected on this machine.
    #[arg(long = "tool", value_parser = parse_tool)]
    tools: Vec<ToolId>,
    /// Show the change as a diff (access key masked) and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Restore the tools' configs as they were before Switchboard changed them.
    #[arg(long, conflicts_with = "dry_run")]
    undo: bool,
    /// Aliases to configure: `main=ALIAS,small=ALIAS,opus=…,sonnet=…,haiku=…` (a bare
    /// `ALIAS` sets main). Default: the default route, else the first route.
    #[arg(long)]
    model_map: Option<String>,
    /// Reference this environment variable for the access key (Codex, OpenCode) instead of
    /// writing the key into their configs. It must be set where the tool runs.
    #[arg(long)]
    key_env: Option<String>,
    /// Take over an existing `switchboard` entry in a tool's config that we did not create.
    #[arg(long)]
    replace_existing: bool,
    /// The port this Switchboard listens on.
    #[arg(long, default_value_t = 9911)]
    port: u16,
    #[command(flatten)]
    data_dir: DataDir,
}

fn parse_tool(s: &str) -> Result<ToolId, String> {
    s.parse()
}

fn parse_model_map(spec: &str) -> anyhow::Result<Models> {
    let mut models = Models::default();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, alias) = match part.split_once('=') {
            Some((n, a)) => (n.trim(), a.trim().to_owned()),
            None => ("main", part.to_owned()),
        };
        if alias.is_empty() {
            bail!("--model-map: `{name}` has no alias");
        }
        match name {
            "main" => models.main = alias,
            "small" => models.small = Some(alias),
            "opus" => models.opus = Some(alias),
            "sonnet" => models.sonnet = Some(alias),
            "haiku" => models.haiku = Some(alias),
            other => {
                bail!("--model-map: unknown slot `{other}` (use main, small, opus, sonnet, haiku)")
            }
        }
    }
    if models.main.is_empty() {
        bail!("--model-map: give the main alias (main=ALIAS)");
    }
    Ok(models)
}

/// What answers on the port.
enum Probe {
    Nothing,
    /// This data directory's Switchboard, with its routing switch.
    Ours {
        routing: bool,
    },
}

async fn probe(port: u16, admin: &Secret) -> anyhow::Result<Probe> {
    let root = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let health = match client.get(format!("{root}/health")).send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Ok(Probe::Nothing),
        Err(e) if e.is_timeout() => bail!(
            "{root} accepted a connection but did not answer: refusing to point tools at it \
             (is another program on port {port}? choose the port with --port)"
        ),
        Err(_) => bail!(
            "{root} answered, but not as a Switchboard: refusing to point tools at it \
             (choose the port with --port)"
        ),
    };
    let is_switchboard = health.status().is_success()
        && health
            .json::<Value>()
            .await
            .is_ok_and(|v| v.get("status").and_then(Value::as_str) == Some("ok"));
    if !is_switchboard {
        bail!(
            "{root} is not a Switchboard: refusing to point tools at it (choose the port with --port)"
        );
    }
    let status = client
        .get(format!("{root}/api/v1/status"))
        .bearer_auth(admin.expose())
        .send()
        .await
        .context("asking the router for its status")?;
    if matches!(status.status().as_u16(), 401 | 403) {
        bail!(
            "{root} is a Switchboard with another data directory (its admin token differs): \
             refusing to point tools at it; pass that instance's --data-dir, or its --port"
        );
    }
    if !status.status().is_success() {
        bail!("{root} answered {} to a status request", status.status());
    }
    let status: Value = status.json().await.context("reading the router status")?;
    let routing = status
        .get("routing")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    Ok(Probe::Ours { routing })
}

fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// Aliases the stored config serves (routes, and models named by providers), or `None` when a
/// default route catches every name.
async fn stored_aliases(control: &Control) -> anyhow::Result<Option<Vec<String>>> {
    if control.settings().await?.default_route.is_some() {
        return Ok(None);
    }
    let mut out: Vec<String> = control
        .routes()
        .await?
        .into_iter()
        .map(|r| r.alias)
        .collect();
    for p in control.providers().await? {
        out.extend(p.models.into_iter().map(|m| m.id));
    }
    Ok(Some(out))
}

pub async fn run(args: OnboardArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.resolve()?;
    let env = Env::from_process();
    let ix = Integrations::new(env, data_dir.join("integrations"));
    let mut out = std::io::stdout().lock();

    let tools: Vec<ToolId> = if !args.tools.is_empty() {
        args.tools.clone()
    } else if args.undo {
        // Every tool we configured (undo of an unconfigured tool is a no-op we skip).
        switchboard_integrations::tools()
            .iter()
            .copied()
            .filter(|t| {
                matches!(
                    ix.status(*t),
                    Ok(switchboard_integrations::Status::Configured
                        | switchboard_integrations::Status::Drifted { .. })
                )
            })
            .collect()
    } else {
        let mut found = Vec::new();
        for t in switchboard_integrations::tools() {
            if ix.detect(*t).map(|d| d.installed).unwrap_or(false) {
                found.push(*t);
            }
        }
        found
    };
    if tools.is_empty() {
        let known: Vec<&str> = switchboard_integrations::tools()
            .iter()
            .map(|t| t.slug())
            .collect();
        if args.undo {
            writeln!(
                out,
                "No tool is configured by Switchboard; nothing to undo."
            )?;
        } else {
            writeln!(
                out,
                "No supported AI tool was found on this machine (looked for {}). \
                 Use --tool to configure one anyway.",
                known.join(", ")
            )?;
        }
        return Ok(());
    }

    if args.undo {
        return undo(&ix, &tools, &mut out);
    }

    let control = crate::open_control(&data_dir).await?;
    let prepared = prepare(&control, &args).await;
    let (mut plan, running) = match prepared {
        Ok(p) => p,
        Err(e) => {
            control.close().await;
            return Err(e);
        }
    };

    let mut failed = 0;
    for tool in &tools {
        let result = if args.dry_run {
            preview(&ix, *tool, &plan, &mut out)
        } else {
            // A key read from an environment variable is the local access key the user
            // exports; only a key written into the config can be the tool's own.
            let own = match plan.key_delivery {
                KeyDelivery::Inline => issue_key(&control, running.as_ref(), tool.slug())
                    .await
                    .map(Some),
                KeyDelivery::EnvVar(_) => Ok(None),
            };
            own.and_then(|key| {
                if let Some(key) = key {
                    plan.endpoint.access_key = AccessKey::new(key.expose());
                }
                apply(&ix, *tool, &plan, &mut out)
            })
        };
        if let Err(e) = result {
            failed += 1;
            writeln!(out, "{}: not configured: {e}", tool.name())?;
        }
    }
    control.close().await;
    if args.dry_run {
        writeln!(out, "\nDry run: nothing was written.")?;
    }
    if failed > 0 {
        bail!("{failed} tool(s) could not be configured");
    }
    Ok(())
}

/// The Switchboard serving this data directory on the port, with its admin token.
struct Running {
    root: String,
    admin: Secret,
}

/// A new access key for the tool's own client (named after the tool, created when missing),
/// so its requests are attributed to it. Through the running router when there is one (so it
/// knows the key at once), else written to the store directly.
async fn issue_key(
    control: &Control,
    running: Option<&Running>,
    client: &str,
) -> anyhow::Result<Secret> {
    let Some(r) = running else {
        let issued = control.issue_client_key(client).await?;
        return Ok(Secret::new(issued.key));
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut resp = http
        .post(format!("{}/api/v1/clients", r.root))
        .bearer_auth(r.admin.expose())
        .json(&serde_json::json!({ "name": client }))
        .send()
        .await
        .context("creating the tool's client")?;
    if resp.status() == reqwest::StatusCode::CONFLICT {
        resp = http
            .post(format!("{}/api/v1/clients/{client}/keys", r.root))
            .bearer_auth(r.admin.expose())
            .send()
            .await
            .context("adding a key to the tool's client")?;
    }
    if !resp.status().is_success() {
        bail!(
            "the router answered {} when asked for a key for client `{client}`",
            resp.status()
        );
    }
    let v: Value = resp.json().await.context("reading the new client key")?;
    v.get("key")
        .and_then(Value::as_str)
        .map(Secret::new)
        .context("the router's answer holds no key")
}

/// The plan for every tool: this Switchboard's endpoint and key, the aliases, and what the
/// router says about itself; and the router serving this data directory, if it runs.
async fn prepare(control: &Control, args: &OnboardArgs) -> anyhow::Result<(Plan, Option<Running>)> {
    let access = match env_secret("SWITCHBOARD_ACCESS_KEY") {
        Some(k) => k,
        None => control.local_token(LocalToken::AccessKey, None).await?,
    };
    let admin = match env_secret("SWITCHBOARD_ADMIN_TOKEN") {
        Some(k) => k,
        None => control.local_token(LocalToken::AdminToken, None).await?,
    };
    let models = match &args.model_map {
        Some(spec) => parse_model_map(spec)?,
        None => {
            let default = control.settings().await?.default_route;
            let first = control.routes().await?.into_iter().next().map(|r| r.alias);
            match default.or(first) {
                Some(alias) => Models::new(alias),
                None => bail!(
                    "no route is configured yet: add one in the dashboard, or name the aliases \
                     with --model-map main=ALIAS"
                ),
            }
        }
    };
    let (router, running) = match probe(args.port, &admin).await? {
        Probe::Nothing => (
            RouterStatus {
                running: false,
                routing_enabled: true,
                known_aliases: stored_aliases(control).await?,
            },
            None,
        ),
        Probe::Ours { routing } => (
            RouterStatus {
                running: true,
                routing_enabled: routing,
                known_aliases: stored_aliases(control).await?,
            },
            Some(Running {
                root: format!("http://127.0.0.1:{}", args.port),
                admin: admin.clone(),
            }),
        ),
    };
    let mut plan = Plan::new(
        Endpoint {
            base_url: format!("http://127.0.0.1:{}", args.port),
            access_key: AccessKey::new(access.expose()),
        },
        models,
    );
    plan.key_delivery = match args.key_env.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => KeyDelivery::EnvVar(v.to_owned()),
        _ => KeyDelivery::Inline,
    };
    plan.router = Some(router);
    plan.replace_existing = args.replace_existing;
    Ok((plan, running))
}

fn preview(
    ix: &Integrations,
    tool: ToolId,
    plan: &Plan,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let p = ix.preview(tool, plan)?;
    writeln!(out, "== {} ==", tool.name())?;
    for f in &p.files {
        if f.changed {
            write!(out, "{}", f.diff)?;
            if !f.diff.ends_with('\n') {
                writeln!(out)?;
            }
        } else {
            writeln!(out, "{}: already configured, no change", f.path.display())?;
        }
    }
    for w in &p.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

fn apply(ix: &Integrations, tool: ToolId, plan: &Plan, out: &mut impl Write) -> anyhow::Result<()> {
    let applied = ix.apply(tool, plan)?;
    writeln!(out, "== {} ==", tool.name())?;
    for f in &applied.files {
        let what = if f.changed { "updated" } else { "unchanged" };
        writeln!(out, "{}: {what}", f.path.display())?;
        match &f.backup {
            Some(b) => writeln!(out, "  backup of the original: {}", b.display())?,
            None if f.changed => writeln!(out, "  (new file; undo removes it)")?,
            None => {}
        }
    }
    if !applied.changed {
        writeln!(out, "already configured; nothing changed")?;
    } else {
        writeln!(
            out,
            "undo with: switchboard onboard --undo --tool {}",
            tool.slug()
        )?;
    }
    for w in &applied.warnings {
        writeln!(out, "warning: {w}")?;
    }
    Ok(())
}

fn undo(ix: &Integrations, tools: &[ToolId], out: &mut impl Write) -> anyhow::Result<()> {
    let mut failed = 0;
    for tool in tools {
        match ix.undo(*tool) {
            Ok(undone) => {
                writeln!(out, "== {} ==", tool.name())?;
                for f in &undone.files {
                    let what = match f.restored {
                        Restored::Exact => "restored to the original bytes",
                        Restored::OursRemoved => {
                            "Switchboard's settings removed (your later edits kept)"
                        }
                        Restored::Deleted => "removed (Switchboard had created it)",
                        Restored::Unchanged => "nothing of Switchboard's left; unchanged",
                    };
                    writeln!(out, "{}: {what}", f.path.display())?;
                }
            }
            Err(e) => {
                failed += 1;
                writeln!(out, "{}: {e}", tool.name())?;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} tool(s) could not be restored");
    }
    Ok(())
}
