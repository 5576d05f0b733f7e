//! `switchboard config export|import`: the configuration as a file or a copyable token, API
//! keys sealed with a passphrase only when asked for. Import shows its plan first and applies
//! it with `--yes` (or after a yes on a terminal).

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use switchboard_control::Control;
use switchboard_control::transfer::{self, Change, Export, Import, ImportPlan};
use switchboard_router::Secret;

use crate::DataDir;

/// Where the export passphrase is read from when set (else a prompt on a terminal).
pub const PASSPHRASE_ENV: &str = "SWITCHBOARD_EXPORT_PASSPHRASE";

#[derive(Subcommand)]
pub enum ConfigAction {
    /// Write providers, keys, routes and settings to a file (or stdout). API keys are left
    /// out unless --with-secrets, then sealed with a passphrase.
    Export {
        /// File to write; `-` for stdout.
        #[arg(long, short, default_value = "-")]
        output: String,
        /// Include API keys, encrypted with a passphrase (SWITCHBOARD_EXPORT_PASSPHRASE or a
        /// prompt).
        #[arg(long)]
        with_secrets: bool,
        /// Write the one-line copyable token (`sbx1.…`) instead of JSON.
        #[arg(long)]
        token: bool,
        #[command(flatten)]
        data_dir: DataDir,
    },
    /// Merge an export (file, token file or `-` for stdin) into this Switchboard. Shows what
    /// will change; nothing is ever deleted.
    Import {
        /// The export file (JSON or token); `-` reads stdin.
        input: String,
        /// Show the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Apply without asking.
        #[arg(long, short)]
        yes: bool,
        /// Accept that the import points existing providers at other servers (their keys
        /// would be sent there); without it such an import asks, or with --yes is refused.
        #[arg(long)]
        accept_new_hosts: bool,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

fn env_passphrase() -> Option<Secret> {
    std::env::var(PASSPHRASE_ENV)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// The passphrase from the environment, else asked on the terminal (twice when `confirm`).
fn passphrase(confirm: bool) -> anyhow::Result<Secret> {
    if let Some(p) = env_passphrase() {
        return Ok(p);
    }
    if !std::io::stdin().is_terminal() && !std::io::stderr().is_terminal() {
        bail!("a passphrase is needed: set {PASSPHRASE_ENV} or run on a terminal");
    }
    let first = Secret::new(
        rpassword::prompt_password("Export passphrase: ").context("reading the passphrase")?,
    );
    if confirm {
        let again = Secret::new(
            rpassword::prompt_password("Repeat the passphrase: ")
                .context("reading the passphrase")?,
        );
        if again != first {
            bail!("the passphrases do not match");
        }
    }
    Ok(first)
}

pub async fn run(action: ConfigAction) -> anyhow::Result<()> {
    match action {
        ConfigAction::Export {
            output,
            with_secrets,
            token,
            data_dir,
        } => export(&data_dir.resolve()?, &output, with_secrets, token).await,
        ConfigAction::Import {
            input,
            dry_run,
            yes,
            accept_new_hosts,
            data_dir,
        } => {
            let how = Confirm {
                dry_run,
                yes,
                accept_new_hosts,
            };
            import(&data_dir.resolve()?, &input, how).await
        }
    }
}

async fn export(
    data_dir: &Path,
    output: &str,
    with_secrets: bool,
    token: bool,
) -> anyhow::Result<()> {
    let passphrase = if with_secrets {
        let p = passphrase(true)?;
        if p.expose().chars().count() < transfer::MIN_PASSPHRASE {
            bail!(
                "the passphrase must be at least {} characters",
                transfer::MIN_PASSPHRASE
            );
        }
        Some(p)
    } else {
        None
    };
    let control = crate::open_control(data_dir).await?;
    let result = control.export(passphrase.as_ref()).await;
    control.close().await;
    let export = result?;
    let mut text = if token {
        export.to_token()
    } else {
        export.to_json()
    };
    text.push('\n');
    if output == "-" {
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .context("writing the export")?;
    } else {
        write_private(Path::new(output), text.as_bytes())
            .with_context(|| format!("writing {output}"))?;
    }
    let sealed = export.keys.iter().filter(|k| k.secret_sealed).count();
    let secrets = if with_secrets {
        format!("{sealed} secret(s) sealed with the passphrase")
    } else {
        "secrets not included".to_owned()
    };
    let to = if output == "-" { "stdout" } else { output };
    eprintln!(
        "Exported {} provider(s), {} key(s) ({secrets}), {} route(s) and settings to {to}.",
        export.providers.len(),
        export.keys.len(),
        export.routes.len(),
    );
    Ok(())
}

/// Writes a file readable by its owner only (an export can hold sealed keys and the layout
/// of the user's accounts).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

fn read_input(input: &str) -> anyhow::Result<String> {
    let mut text = String::new();
    if input == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the export from stdin")?;
    } else {
        let path = PathBuf::from(input);
        let len = std::fs::metadata(&path)
            .with_context(|| format!("reading {input}"))?
            .len();
        if len > transfer::MAX_EXPORT_BYTES as u64 {
            bail!("{input}: larger than 16 MiB; not a Switchboard export");
        }
        text = std::fs::read_to_string(&path).with_context(|| format!("reading {input}"))?;
    }
    Ok(text)
}

/// What the user said on the command line about applying.
#[derive(Clone, Copy)]
struct Confirm {
    dry_run: bool,
    yes: bool,
    accept_new_hosts: bool,
}

async fn import(data_dir: &Path, input: &str, how: Confirm) -> anyhow::Result<()> {
    let export = Export::parse(&read_input(input)?)?;
    let passphrase = if export.sealed.is_some() {
        Some(passphrase(false)?)
    } else {
        None
    };
    // Decrypting first: a wrong passphrase stops here, before the store is even opened.
    let import = Import::open(export, passphrase.as_ref())?;
    let control = crate::open_control(data_dir).await?;
    let result = plan_and_apply(&control, &import, input, how).await;
    control.close().await;
    result
}

async fn plan_and_apply(
    control: &Control,
    import: &Import,
    input: &str,
    how: Confirm,
) -> anyhow::Result<()> {
    let plan = control.plan_import(import).await?;
    let mut out = std::io::stdout().lock();
    write_plan(&mut out, &plan)?;
    if !plan.has_changes() {
        writeln!(out, "\nNothing to change.")?;
        return Ok(());
    }
    if how.dry_run {
        writeln!(out, "\nDry run: nothing was changed.")?;
        return Ok(());
    }
    let interactive = input != "-" && std::io::stdin().is_terminal();
    let new_hosts = !plan.host_changes.is_empty();
    if new_hosts && !how.accept_new_hosts {
        if !interactive {
            bail!(
                "not applied: the import points existing providers at other servers (their keys \
                 would be sent there); pass --accept-new-hosts to accept that"
            );
        }
        if !ask(
            &mut out,
            "\nThe providers marked above would send their keys to another server. Accept? [y/N] ",
        )? {
            writeln!(out, "Nothing was changed.")?;
            return Ok(());
        }
    }
    if !how.yes {
        if !interactive {
            bail!("not applied: pass --yes to apply these changes (or --dry-run to only look)");
        }
        if !ask(&mut out, "\nApply these changes? [y/N] ")? {
            writeln!(out, "Nothing was changed.")?;
            return Ok(());
        }
    }
    let applied = control.import(import, new_hosts).await?;
    let [added, changed, ..] = applied.counts();
    writeln!(
        out,
        "\nImported: {added} added, {changed} changed. Nothing was deleted."
    )?;
    let missing: Vec<_> = applied.needs_secret().collect();
    if !missing.is_empty() {
        writeln!(
            out,
            "{} key(s) were not imported because the export has no secret for them; add them in \
             the dashboard or import an export made with --with-secrets.",
            missing.len()
        )?;
    }
    eprintln!(
        "If Switchboard is running on this data directory, restart it (or import from the \
         dashboard) to route with the imported configuration."
    );
    Ok(())
}

/// Asks a yes/no question on the terminal; no unless the answer is yes.
fn ask(out: &mut impl Write, question: &str) -> anyhow::Result<bool> {
    write!(out, "{question}")?;
    out.flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn mark(change: Change) -> (&'static str, &'static str) {
    match change {
        Change::Added => ("+", "added"),
        Change::Changed => ("~", "changed"),
        Change::Unchanged => ("=", "unchanged"),
        Change::NeedsSecret => ("!", "needs a secret: not imported"),
        Change::Kept => (".", "kept (not in the export)"),
    }
}

fn fields(f: &[String]) -> String {
    if f.is_empty() {
        String::new()
    } else {
        format!(": {}", f.join(", "))
    }
}

/// The plan as the CLI shows it: one line per item, a mark and what happens.
pub fn write_plan(out: &mut impl Write, plan: &ImportPlan) -> std::io::Result<()> {
    for (title, items) in [
        ("Providers", &plan.providers),
        ("Routes", &plan.routes),
        ("Settings", &plan.settings),
    ] {
        writeln!(out, "{title}:")?;
        if items.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for i in items {
            let (m, what) = mark(i.change);
            writeln!(out, "  {m} {} ({what}{})", i.name, fields(&i.fields))?;
        }
    }
    if !plan.host_changes.is_empty() {
        writeln!(
            out,
            "New servers (the provider's keys would be sent there):"
        )?;
        for h in &plan.host_changes {
            writeln!(out, "  ! {}: {} -> {}", h.provider, h.from, h.to)?;
        }
    }
    writeln!(out, "Keys:")?;
    if plan.keys.is_empty() {
        writeln!(out, "  (none)")?;
    }
    for k in &plan.keys {
        let (m, what) = mark(k.change);
        let shown = match (&k.env_ref, k.last4.as_str()) {
            (Some(env), _) => format!(" [{env}]"),
            (None, "") => String::new(),
            (None, l4) => format!(" […{l4}]"),
        };
        writeln!(
            out,
            "  {m} {} / {}{shown} ({what}{})",
            k.provider,
            k.label,
            fields(&k.fields)
        )?;
    }
    let [added, changed, unchanged, needs, kept] = plan.counts();
    writeln!(
        out,
        "Summary: {added} added, {changed} changed, {unchanged} unchanged, {kept} kept, {needs} key(s) need a secret."
    )
}
