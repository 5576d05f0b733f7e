//! The `switchboard` command line: `serve` runs the router headless; `keys` shows the local
//! credentials. It is a thin front door onto `switchboard-server`; no routing logic lives here.

mod onboard;
mod transfer;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard_router::Secret;
use switchboard_server::config_file::FileConfig;
use switchboard_server::{Options, Switchboard};
use switchboard_store::{EncryptedFileStore, LocalToken, MasterKey, Store};

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "One local endpoint for every AI tool, routed across your providers and keys."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct DataDir {
    /// Where the database and encrypted secrets live.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

impl DataDir {
    fn resolve(&self) -> anyhow::Result<PathBuf> {
        match &self.data_dir {
            Some(d) => Ok(d.clone()),
            None => dirs::data_dir()
                .map(|d| d.join("switchboard"))
                .context("no platform data directory; pass --data-dir"),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the router (OpenAI, Anthropic and Gemini compatible) until SIGINT/SIGTERM.
    Serve {
        /// Address to listen on. Anything but loopback needs --remote.
        #[arg(long)]
        host: Option<IpAddr>,
        #[arg(long)]
        port: Option<u16>,
        #[command(flatten)]
        data_dir: DataDir,
        /// Declarative TOML file of providers, keys and routes, applied at start.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Log filter: error, warn, info, debug, trace (or a tracing filter).
        #[arg(long, default_value = "info", env = "SWITCHBOARD_LOG")]
        log_level: String,
        /// Log as JSON lines (for servers and containers).
        #[arg(long)]
        log_json: bool,
        /// Accept clients beyond this machine (the access key stays required).
        #[arg(long)]
        remote: bool,
        /// Extra Host names to accept (e.g. a container's service name).
        #[arg(long = "allow-host")]
        allow_hosts: Vec<String>,
        /// Serve Prometheus metrics at /metrics without the admin token.
        #[arg(long)]
        open_metrics: bool,
    },
    /// Point AI tools (Codex, Claude Code, OpenCode, Gemini CLI, Aider) at this Switchboard,
    /// showing the change and where the backup is; --undo restores them.
    Onboard(onboard::OnboardArgs),
    /// Export or import providers, keys, routes and settings.
    Config {
        #[command(subcommand)]
        action: transfer::ConfigAction,
    },
    /// Show or rotate the local credentials.
    Keys {
        #[command(subcommand)]
        action: KeysAction,
        #[command(flatten)]
        data_dir: DataDir,
    },
}

#[derive(Subcommand)]
enum KeysAction {
    /// Print the access key AI tools use.
    ShowAccess,
    /// Print the admin token the dashboard and admin API use.
    ShowAdmin,
    /// Replace the access key (reconfigure your tools afterwards).
    RotateAccess,
}

fn env_secret(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

fn init_logging(level: &str, json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn serve(opts: Options) -> anyhow::Result<()> {
    let handle = Switchboard::start(opts).await?;
    let addr = handle.local_addr();
    let access = handle
        .access_key()
        .map(|k| k.expose().to_owned())
        .unwrap_or_default();
    let admin = handle.admin_token();
    #[allow(clippy::print_stdout)] // The start banner is the command's output.
    {
        println!("Switchboard is running.");
        println!("  Endpoint:   http://{addr}/v1");
        println!("  Access key: {access}");
        println!("  Dashboard:  http://{addr}/#token={}", admin.expose());
    }
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    handle.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn keys(action: KeysAction, data_dir: PathBuf) -> anyhow::Result<()> {
    let master = MasterKey::from_env_or_key_file(switchboard_store::default_key_file())?;
    let secrets = Arc::new(EncryptedFileStore::open(&data_dir, master)?);
    let store = Store::open(&data_dir, secrets).await?;
    let value = match action {
        KeysAction::ShowAccess => {
            store
                .local_token(LocalToken::AccessKey, env_secret("SWITCHBOARD_ACCESS_KEY"))
                .await?
        }
        KeysAction::ShowAdmin => {
            store
                .local_token(
                    LocalToken::AdminToken,
                    env_secret("SWITCHBOARD_ADMIN_TOKEN"),
                )
                .await?
        }
        KeysAction::RotateAccess => store.rotate_local_token(LocalToken::AccessKey).await?,
    };
    store.close().await;
    #[allow(clippy::print_stdout)] // Printing the credential is what the user asked for.
    {
        println!("{}", value.expose());
    }
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            host,
            port,
            data_dir,
            config,
            log_level,
            log_json,
            remote,
            allow_hosts,
            open_metrics,
        } => {
            init_logging(&log_level, log_json);
            let data_dir = data_dir.resolve()?;
            let file = config.as_deref().map(FileConfig::load).transpose()?;
            let file_server = file.as_ref().map(|f| &f.server);
            let mut opts = Options::new(data_dir);
            if let Some(h) = host.or_else(|| {
                file_server
                    .and_then(|s| s.host.as_deref())
                    .and_then(|h| h.parse().ok())
            }) {
                opts.host = h;
            }
            if let Some(p) = port.or_else(|| file_server.and_then(|s| s.port)) {
                opts.port = p;
            }
            opts.config_file = config;
            opts.access_key = env_secret("SWITCHBOARD_ACCESS_KEY");
            opts.admin_token = env_secret("SWITCHBOARD_ADMIN_TOKEN");
            opts.remote = remote;
            opts.allowed_hosts = allow_hosts;
            opts.open_metrics = open_metrics;
            serve(opts).await
        }
        Command::Keys { action, data_dir } => keys(action, data_dir.resolve()?).await,
        Command::Onboard(args) => onboard::run(args).await,
        Command::Config { action } => transfer::run(action).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
