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
//!
//! What onboarding needs (the access key, the routes and their limits) comes from, in order:
//! the router running on `--port` with the admin token (`SWITCHBOARD_ADMIN_TOKEN`, or the
//! store's), the data directory's store (which needs its master key, so the same user or
//! `SWITCHBOARD_MASTER_KEY`), or `SWITCHBOARD_ACCESS_KEY` alone — then every tool gets that
//! key, as there is no way to make it a client of its own. When none works, the error names
//! the three.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;
use switchboard_control::{Control, LocalToken};
use switchboard_integrations::{
    AccessKey, Endpoint, Env, Integrations, KeyDelivery, Limits, Models, Plan, Restored,
    RouterStatus, ToolId,
};
use switchboard_router::Secret;

use crate::DataDir;

#[derive(clap::Args)]
pub struct OnboardArgs {
    /// Tool to configure (codex, claude-code, opencode, gemini-cli, aider, qwen-code, crush,
    /// kilo-code, cline, roo-code, continue, goose, zed, openclaw, pi); repeat for several.
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

fn http() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Whether a Switchboard answers on the port (anything else there is refused).
async fn switchboard_answers(root: &str, port: u16) -> anyhow::Result<bool> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let health = match client.get(format!("{root}/health")).send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Ok(false),
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
    Ok(true)
}

/// Asks the router for its routing switch with the admin token: a refused token means a
/// Switchboard of another data directory.
async fn router_routing(root: &str, admin: &Secret) -> anyhow::Result<bool> {
    let status = http()?
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
    Ok(status
        .get("routing")
        .and_then(Value::as_bool)
        .unwrap_or(true))
}

/// `GET` on the router with a bearer token, as JSON.
async fn get_json(root: &str, path: &str, token: &Secret) -> anyhow::Result<Value> {
    let resp = http()?
        .get(format!("{root}{path}"))
        .bearer_auth(token.expose())
        .send()
        .await
        .with_context(|| format!("asking the router for {path}"))?;
    if !resp.status().is_success() {
        bail!("the router answered {} to {path}", resp.status());
    }
    resp.json().await.with_context(|| format!("reading {path}"))
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

    let Prepared { mut plan, source } = prepare(&data_dir, &args).await?;
    if matches!(source, Source::KeyOnly) && plan.key_delivery == KeyDelivery::Inline {
        writeln!(
            out,
            "note: every tool gets SWITCHBOARD_ACCESS_KEY itself; to give each its own key, \
             run the router and pass SWITCHBOARD_ADMIN_TOKEN with --port"
        )?;
    }
    let control = match &source {
        Source::Store(c) => Some(c.clone()),
        _ => None,
    };
    let running = match &source {
        Source::Router(r) => Some(r),
        _ => None,
    };

    let mut failed = 0;
    for tool in &tools {
        let result = if args.dry_run {
            preview(&ix, *tool, &plan, &mut out)
        } else {
            // A key read from an environment variable is the local access key the user
            // exports; only a key written into the config can be the tool's own.
            let own = match (&plan.key_delivery, running, &control) {
                (KeyDelivery::EnvVar(_), _, _) | (_, None, None) => Ok(None),
                (KeyDelivery::Inline, Some(r), _) => {
                    issue_key_via_router(r, tool.slug()).await.map(Some)
                }
                (KeyDelivery::Inline, None, Some(c)) => c
                    .issue_client_key(tool.slug())
                    .await
                    .map(|k| Some(Secret::new(k.key)))
                    .map_err(Into::into),
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
    if let Some(c) = control {
        c.close().await;
    }
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
/// so its requests are attributed to it, through the running router (which knows it at once).
async fn issue_key_via_router(r: &Running, client: &str) -> anyhow::Result<Secret> {
    let http = http()?;
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

/// Where onboarding learns the access key, the routes and their limits, and issues keys.
enum Source {
    /// This data directory's router, through its admin API.
    Router(Running),
    /// The data directory's store (the router is not running, or its admin token is
    /// only in the store).
    Store(std::sync::Arc<Control>),
    /// `SWITCHBOARD_ACCESS_KEY` alone.
    KeyOnly,
}

struct Prepared {
    plan: Plan,
    source: Source,
}

/// The access key, aliases, limits and router status, from wherever they can be learned.
struct Learned {
    access: Secret,
    models: Models,
    limits: Limits,
    router: RouterStatus,
}

/// The plan for every tool: this Switchboard's endpoint and key, the aliases and their
/// route's limits, and what the router says about itself.
async fn prepare(data_dir: &std::path::Path, args: &OnboardArgs) -> anyhow::Result<Prepared> {
    let root = format!("http://127.0.0.1:{}", args.port);
    let access_env = env_secret("SWITCHBOARD_ACCESS_KEY");
    let answering = switchboard_answers(&root, args.port).await?;
    let mut store: Option<std::sync::Arc<Control>> = None;
    let mut store_error: Option<anyhow::Error> = None;
    let mut admin = env_secret("SWITCHBOARD_ADMIN_TOKEN");
    if answering && admin.is_none() {
        match open_with_token(data_dir, LocalToken::AdminToken).await {
            Ok((control, token)) => {
                store = Some(control);
                admin = Some(token);
            }
            Err(e) => store_error = Some(e),
        }
    }
    let (learned, source) = if let (true, Some(admin)) = (answering, admin) {
        if let Some(c) = store.take() {
            c.close().await;
        }
        let running = Running {
            root: root.clone(),
            admin,
        };
        (
            from_router(&running, access_env, args).await?,
            Source::Router(running),
        )
    } else {
        let opened = match store.take() {
            Some(c) => Ok(c),
            None if store_error.is_some() => Err(anyhow::anyhow!("not opened")),
            None => crate::open_control(data_dir).await,
        };
        let from_store = match opened {
            Ok(control) => match from_store(&control, access_env.clone(), args, answering).await {
                Ok(l) => Ok((l, control)),
                Err(e) => {
                    control.close().await;
                    Err(e)
                }
            },
            Err(e) => Err(e),
        };
        match from_store {
            Ok((l, control)) => (l, Source::Store(control)),
            Err(e) => {
                let e = store_error.take().unwrap_or(e);
                match access_env {
                    Some(access) => (
                        from_key(&root, access, args, answering).await?,
                        Source::KeyOnly,
                    ),
                    None => bail!(
                        "cannot learn this Switchboard's access key: set SWITCHBOARD_ACCESS_KEY, \
                         or start the router and pass its --port with SWITCHBOARD_ADMIN_TOKEN, \
                         or run as the user whose master key opens {} (or set \
                         SWITCHBOARD_MASTER_KEY). The store said: {e:#}",
                        data_dir.display()
                    ),
                }
            }
        }
    };
    let mut plan = Plan::new(
        Endpoint {
            base_url: root,
            access_key: AccessKey::new(learned.access.expose()),
        },
        learned.models,
    );
    plan.limits = learned.limits;
    plan.key_delivery = match args.key_env.as_deref().map(str::trim) {
        Some(v) if !v.is_empty() => KeyDelivery::EnvVar(v.to_owned()),
        _ => KeyDelivery::Inline,
    };
    plan.router = Some(learned.router);
    plan.replace_existing = args.replace_existing;
    Ok(Prepared { plan, source })
}

/// Opens the store and reads one of its tokens (which needs the master key).
async fn open_with_token(
    data_dir: &std::path::Path,
    which: LocalToken,
) -> anyhow::Result<(std::sync::Arc<Control>, Secret)> {
    let control = crate::open_control(data_dir).await?;
    match control.local_token(which, None).await {
        Ok(token) => Ok((control, token)),
        Err(e) => {
            control.close().await;
            Err(e.into())
        }
    }
}

fn no_route() -> anyhow::Error {
    anyhow::anyhow!(
        "no route is configured yet: add one in the dashboard, or name the aliases with \
         --model-map main=ALIAS"
    )
}

async fn from_router(
    r: &Running,
    access_env: Option<Secret>,
    args: &OnboardArgs,
) -> anyhow::Result<Learned> {
    let routing = router_routing(&r.root, &r.admin).await?;
    let access = match access_env {
        Some(k) => k,
        None => {
            let v = get_json(&r.root, "/api/v1/access-key", &r.admin).await?;
            v.get("access_key")
                .and_then(Value::as_str)
                .map(Secret::new)
                .context("the router's answer holds no access key")?
        }
    };
    let settings = get_json(&r.root, "/api/v1/settings", &r.admin).await?;
    let routes = get_json(&r.root, "/api/v1/routes", &r.admin).await?;
    let aliases: Vec<String> = routes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("alias").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let default = settings
        .get("default_route")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let models = match &args.model_map {
        Some(spec) => parse_model_map(spec)?,
        None => Models::new(
            default
                .clone()
                .or_else(|| aliases.first().cloned())
                .ok_or_else(no_route)?,
        ),
    };
    let known_aliases = if default.is_some() {
        None
    } else {
        let providers = get_json(&r.root, "/api/v1/providers", &r.admin).await?;
        let mut known = aliases;
        for p in providers.as_array().into_iter().flatten() {
            for m in p
                .get("models")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = m.get("id").and_then(Value::as_str) {
                    known.push(id.to_owned());
                }
            }
        }
        Some(known)
    };
    let path = format!("/api/v1/integrations/limits/{}", models.main);
    let l = get_json(&r.root, &path, &r.admin).await?;
    let limits = Limits {
        context_window: l.get("context_window").and_then(Value::as_u64),
        max_output: l.get("max_output").and_then(Value::as_u64),
    };
    Ok(Learned {
        access,
        models,
        limits,
        router: RouterStatus {
            running: true,
            routing_enabled: routing,
            known_aliases,
        },
    })
}

async fn from_store(
    control: &Control,
    access_env: Option<Secret>,
    args: &OnboardArgs,
    running: bool,
) -> anyhow::Result<Learned> {
    let access = match access_env {
        Some(k) => k,
        None => control.local_token(LocalToken::AccessKey, None).await?,
    };
    let models = match &args.model_map {
        Some(spec) => parse_model_map(spec)?,
        None => {
            let default = control.settings().await?.default_route;
            let first = control.routes().await?.into_iter().next().map(|r| r.alias);
            Models::new(default.or(first).ok_or_else(no_route)?)
        }
    };
    let l = control.engine().snapshot().limits(&models.main);
    Ok(Learned {
        access,
        limits: Limits {
            context_window: l.context_window,
            max_output: l.max_output,
        },
        models,
        router: RouterStatus {
            running,
            routing_enabled: true,
            known_aliases: stored_aliases(control).await?,
        },
    })
}

/// Only the access key is known: the running router (if any) must accept it, and its model
/// list gives the aliases and windows.
async fn from_key(
    root: &str,
    access: Secret,
    args: &OnboardArgs,
    running: bool,
) -> anyhow::Result<Learned> {
    let listed: Vec<(String, Option<u64>)> = if running {
        let v = get_json(root, "/v1/models", &access).await.context(
            "the Switchboard on --port does not accept SWITCHBOARD_ACCESS_KEY (is it another \
             instance's key?)",
        )?;
        v.get("data")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let id = m.get("id").and_then(Value::as_str)?.to_owned();
                Some((id, m.get("context_window").and_then(Value::as_u64)))
            })
            .collect()
    } else {
        Vec::new()
    };
    let models = match &args.model_map {
        Some(spec) => parse_model_map(spec)?,
        None => Models::new(
            listed
                .first()
                .map(|(id, _)| id.clone())
                .ok_or_else(no_route)?,
        ),
    };
    let window = listed
        .iter()
        .find(|(id, _)| *id == models.main)
        .and_then(|(_, w)| *w);
    Ok(Learned {
        access,
        models,
        limits: Limits {
            context_window: window,
            max_output: None,
        },
        router: RouterStatus {
            running,
            routing_enabled: true,
            known_aliases: running.then(|| listed.into_iter().map(|(id, _)| id).collect()),
        },
    })
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
