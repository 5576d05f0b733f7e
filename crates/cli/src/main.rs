//! The `switchboard` command line: `serve` runs the router headless; `keys` shows the local
//! credentials. It is a thin front door onto `switchboard-server`; no routing logic lives here.

mod doctor;
mod onboard;
mod prices;
mod transfer;
mod users;

use std::io::IsTerminal;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use switchboard_control::LocalToken;
use switchboard_control::config_file::FileConfig;
use switchboard_router::Secret;
use switchboard_server::{Options, Switchboard, SwitchboardHandle};
use switchboard_store::Store;

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
    /// Where the database and encrypted secrets live (also accepted after a subcommand:
    /// `switchboard keys show-access --data-dir D`).
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", global = true)]
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
        /// Team mode: a PostgreSQL server every instance shares (postgres://user:password@host:port/db),
        /// with secrets sealed by SWITCHBOARD_MASTER_KEY. Default: SQLite in the data directory.
        #[arg(long, env = DATABASE_URL_ENV, value_name = "URL")]
        database: Option<String>,
        /// Team mode: a Redis server the instances share key health through (redis://host:port);
        /// needs --database.
        #[arg(long, env = "SWITCHBOARD_REDIS_URL", value_name = "URL")]
        redis: Option<String>,
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
    /// Check the installation: data, secrets, database, keys, routes, the running router.
    Doctor(doctor::DoctorArgs),
    /// Show or replace the model price table requests are priced with.
    Prices {
        #[command(subcommand)]
        action: prices::PricesAction,
    },
    /// Named users of the dashboard and admin API (admin or viewer).
    Users {
        #[command(subcommand)]
        action: users::UsersAction,
        /// Team mode: the shared PostgreSQL database (with `SWITCHBOARD_MASTER_KEY`) instead
        /// of the data directory's SQLite file.
        #[arg(
            long,
            env = "SWITCHBOARD_DATABASE_URL",
            value_name = "URL",
            global = true
        )]
        database: Option<String>,
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

pub(crate) fn env_secret(name: &str) -> Option<Secret> {
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
    // Listen for signals before anything else, so a stop right after start is graceful too.
    let stop = ShutdownSignal::install()?;
    let data_dir = opts.data_dir.clone();
    let team = opts.database_url.is_some();
    let handle = Switchboard::start(opts).await?;
    // The banner is the command's output; a closed stdout (a supervisor, `| head`) must not
    // take the server down, so write errors are ignored.
    say(&banner(
        &handle,
        &data_dir,
        team,
        std::io::stdout().is_terminal(),
    ));
    stop.wait().await;
    tracing::info!("shutting down: finishing requests in flight");
    handle.shutdown().await;
    Ok(())
}

/// What `serve` prints once it listens. The credentials appear only on a terminal: a
/// redirected stdout is a container's or a service's log, so there it says which commands
/// show them instead.
fn banner(
    handle: &SwitchboardHandle,
    data_dir: &std::path::Path,
    team: bool,
    terminal: bool,
) -> String {
    let addr = handle.local_addr();
    if terminal {
        let access = handle
            .access_key()
            .map(|k| k.expose().to_owned())
            .unwrap_or_default();
        format!(
            "Switchboard is running.\n  Endpoint:   http://{addr}/v1\n  Access key: {access}\n  Dashboard:  http://{addr}/#token={}",
            handle.admin_token().expose()
        )
    } else if team {
        format!(
            "Switchboard is running (team mode).\n  Endpoint:   http://{addr}/v1\n  Dashboard:  http://{addr}/\n  \
             Access key: switchboard keys show-access\n  \
             Admin token (dashboard sign-in): switchboard keys show-admin\n  \
             (with {DATABASE_URL_ENV} and SWITCHBOARD_MASTER_KEY set as for serve)"
        )
    } else {
        let dir = data_dir.display();
        format!(
            "Switchboard is running.\n  Endpoint:   http://{addr}/v1\n  Dashboard:  http://{addr}/\n  \
             Access key: switchboard keys show-access --data-dir {dir}\n  \
             Admin token (dashboard sign-in): switchboard keys show-admin --data-dir {dir}"
        )
    }
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), registered when created.
struct ShutdownSignal {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignal {
    fn install() -> anyhow::Result<ShutdownSignal> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignal {
                term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
                int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(ShutdownSignal {})
        }
    }

    async fn wait(mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        {
            let _ = &mut self;
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Writes a line of the command's output to stdout, ignoring a closed pipe.
pub(crate) fn say(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// Opens the store the way the server does: team mode's PostgreSQL when
/// `SWITCHBOARD_DATABASE_URL` is set (secrets sealed by `SWITCHBOARD_MASTER_KEY`), else
/// SQLite in `data_dir` (master key from `SWITCHBOARD_MASTER_KEY` or the machine key file).
pub(crate) async fn open_store(data_dir: &std::path::Path) -> anyhow::Result<Store> {
    let mut opts = Options::new(data_dir);
    opts.database_url = std::env::var(DATABASE_URL_ENV)
        .ok()
        .filter(|v| !v.is_empty());
    Ok(switchboard_server::open_store(&opts).await?)
}

/// The team database's variable, read by `serve` (beside `--database`) and every other
/// command.
const DATABASE_URL_ENV: &str = "SWITCHBOARD_DATABASE_URL";

/// The control plane of `data_dir`, for commands that change configuration while no router
/// serves from it.
pub(crate) async fn open_control(
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<switchboard_control::Control>> {
    Ok(switchboard_control::Control::offline(open_store(data_dir).await?).await?)
}

async fn keys(action: KeysAction, data_dir: PathBuf) -> anyhow::Result<()> {
    let control = open_control(&data_dir).await?;
    let value = match action {
        KeysAction::ShowAccess => {
            control
                .local_token(LocalToken::AccessKey, env_secret("SWITCHBOARD_ACCESS_KEY"))
                .await
        }
        KeysAction::ShowAdmin => {
            control
                .local_token(
                    LocalToken::AdminToken,
                    env_secret("SWITCHBOARD_ADMIN_TOKEN"),
                )
                .await
        }
        KeysAction::RotateAccess => control.rotate_access_key().await,
    };
    control.close().await;
    let value = value?;
    // Printing the credential is what the user asked for.
    say(value.expose());
    Ok(())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve {
            host,
            port,
            data_dir,
            database,
            redis,
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
            opts.database_url = database
                .filter(|d| !d.is_empty())
                .or_else(|| file_server.and_then(|s| s.database_url.clone()));
            opts.redis_url = redis
                .filter(|r| !r.is_empty())
                .or_else(|| file_server.and_then(|s| s.redis_url.clone()));
            opts.instance_id = std::env::var("SWITCHBOARD_INSTANCE_ID")
                .ok()
                .filter(|v| !v.is_empty());
            opts.config_file = config;
            opts.access_key = env_secret("SWITCHBOARD_ACCESS_KEY");
            opts.admin_token = env_secret("SWITCHBOARD_ADMIN_TOKEN");
            opts.remote = remote;
            opts.allowed_hosts = allow_hosts;
            opts.open_metrics = open_metrics;
            serve(opts).await
        }
        Command::Keys { action, data_dir } => keys(action, data_dir.resolve()?).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Onboard(args) => onboard::run(args).await,
        Command::Config { action } => transfer::run(action).await,
        Command::Prices { action } => prices::run(action).await,
        Command::Users { action, database } => users::run(action, database).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // One TLS crypto provider for every HTTP client in the process, before any is built.
    let _ = rustls::crypto::ring::default_provider().install_default();
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
