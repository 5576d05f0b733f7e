//! Wiring: the Tauri builder, plugins, tray, window events, background tasks and the few
//! commands the app's own page may call. The commands take and return no secrets (T9): the
//! access key only ever goes to the clipboard from the tray, the admin token only into the
//! dashboard URL's fragment.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use switchboard_control::{Counts, OverallState};
use switchboard_integrations::{Env, Integrations, Status, ToolId};
use switchboard_router::Secret;
use switchboard_store::secrets::keychain::{self, SecretBackendStatus};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem, Submenu};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager, RunEvent, WindowEvent};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_clipboard_manager::ClipboardExt as _;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::health_view;
use crate::notices::{
    Coalescer, Incident, IncidentTracker, Notice, NoticeKind, Pacing, budget_incident,
};
use crate::settings::DesktopSettings;
use crate::shell::{Launch, Secrets, Shell, StartProblem};
use crate::state::{AppState, Tray};
use crate::tray::{self, MenuAction};
use crate::update_policy::UpdateStatus;
use crate::updates;
use crate::window::{self, Target};

/// Command-line flags (the rest of the configuration comes from the environment, like
/// `switchboard serve`).
#[derive(Debug, Default)]
struct Args {
    /// Started by the login item: straight to the tray.
    autostart: bool,
    hidden: bool,
    data_dir: Option<PathBuf>,
    config: Option<PathBuf>,
}

fn parse_args(args: impl Iterator<Item = String>) -> Args {
    let mut out = Args::default();
    let mut it = args.skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--autostart" => out.autostart = true,
            "--hidden" => out.hidden = true,
            "--data-dir" => out.data_dir = it.next().map(PathBuf::from),
            "--config" => out.config = it.next().map(PathBuf::from),
            _ => {}
        }
    }
    out
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn launch_from(args: &Args) -> Result<Launch, String> {
    let data_dir = match args
        .data_dir
        .clone()
        .or_else(|| env("SWITCHBOARD_DATA_DIR").map(PathBuf::from))
    {
        Some(d) => d,
        None => dirs::data_dir()
            .map(|d| d.join("switchboard"))
            .ok_or("no platform data directory; set SWITCHBOARD_DATA_DIR")?,
    };
    let port_override = match env("SWITCHBOARD_PORT") {
        Some(p) => Some(
            p.parse::<u16>()
                .map_err(|_| format!("SWITCHBOARD_PORT={p} is not a port"))?,
        ),
        None => None,
    };
    Ok(Launch {
        data_dir,
        config_file: args
            .config
            .clone()
            .or_else(|| env("SWITCHBOARD_CONFIG").map(PathBuf::from)),
        port_override,
        access_key: env("SWITCHBOARD_ACCESS_KEY").map(Secret::new),
        admin_token: env("SWITCHBOARD_ADMIN_TOKEN").map(Secret::new),
    })
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the desktop app until Quit.
pub fn run() -> std::process::ExitCode {
    init_tracing();
    // One TLS provider for every reqwest client (engine and updater), even when the engine
    // does not start.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = parse_args(std::env::args());
    let launch = match launch_from(&args) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "cannot start");
            return std::process::ExitCode::FAILURE;
        }
    };
    let secrets = match keychain::open_preferred(&launch.data_dir, None, keychain::DEFAULT_SERVICE)
    {
        Ok(p) => Secrets {
            store: p.store,
            status: p.status,
        },
        Err(e) => {
            tracing::error!(error = %e, "cannot open a secret store");
            return std::process::ExitCode::FAILURE;
        }
    };
    let shell = Arc::new(Shell::new(launch, secrets));
    let mut coalescer = Coalescer::new(Pacing::default());
    for k in shell.settings().muted {
        coalescer.set_muted(k, true);
    }
    let state = AppState::new(shell, coalescer);
    let to_tray = args.autostart || args.hidden;
    let app = tauri::Builder::default()
        // First: a second launch hands over to this one and exits.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            let app = app.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = window::show(&app, Target::Auto(None)).await {
                    tracing::warn!(error = %e, "could not show the window");
                }
            });
        }))
        .plugin(
            tauri_plugin_autostart::Builder::new()
                .args(["--autostart"])
                .app_name("Switchboard")
                .build(),
        )
        .plugin(tauri_plugin_updater::Builder::new().build())
        .plugin(tauri_plugin_clipboard_manager::init())
        .manage(state)
        .invoke_handler(tauri::generate_handler![
            app_status,
            set_routing,
            open_dashboard,
            change_port,
            set_autostart,
            set_notification_muted,
            check_update,
            install_update,
            finish_onboarding,
        ])
        .setup(move |app| {
            setup(app.handle(), to_tray)?;
            Ok(())
        })
        .on_window_event(|w, event| {
            if let WindowEvent::CloseRequested { api, .. } = event
                && w.label() == window::MAIN
            {
                api.prevent_close();
                window::hide(w.app_handle());
            }
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the desktop app");
            return std::process::ExitCode::FAILURE;
        }
    };
    app.run(|app, event| match event {
        // The window was closed or freed: keep routing from the tray. Quit passes a code.
        RunEvent::ExitRequested {
            code: None, api, ..
        } => api.prevent_exit(),
        RunEvent::Exit => shutdown(app),
        _ => {}
    });
    std::process::ExitCode::SUCCESS
}

fn setup(app: &AppHandle, to_tray: bool) -> Result<(), Box<dyn std::error::Error>> {
    let state = app.state::<AppState>();
    // The tray first (grey until the engine is up), and the engine started off the main
    // thread: the tray registers with the panel from the event loop, which runs once this
    // returns.
    build_tray(app)?;
    let stop = state.stop.clone();
    let tasks = vec![
        tauri::async_runtime::spawn(start_engine(app.clone(), to_tray)),
        tauri::async_runtime::spawn(watch_health(app.clone(), stop.clone())),
        tauri::async_runtime::spawn(check_updates_daily(app.clone(), stop.clone())),
        tauri::async_runtime::spawn(install_when_asked(app.clone(), stop.clone())),
        tauri::async_runtime::spawn(free_idle_webview(app.clone(), stop.clone())),
        tauri::async_runtime::spawn(follow_system_proxy(app.clone(), stop)),
    ];
    if let Ok(mut t) = state.tasks.lock() {
        t.extend(tasks);
    }
    Ok(())
}

/// Starts the engine, then shows the window unless the app was started into the tray and the
/// user has nothing to do (autostart goes straight to the tray, except on the first start or
/// with a port problem).
async fn start_engine(app: AppHandle, to_tray: bool) {
    let state = app.state::<AppState>();
    let started = state.shell.start().await;
    if let Err(p) = &started {
        tracing::warn!(kind = ?p.kind, "router not started: {}", p.message);
    }
    refresh_tray(&app).await;
    if !to_tray || started.is_err() || !state.shell.settings().onboarded {
        if let Err(e) = window::show(&app, Target::Auto(None)).await {
            tracing::error!(error = %e, "could not show the window");
        }
    } else {
        state.visibility.mark_hidden();
    }
}

/// Stops the background tasks, then the engine (requests in flight finish, the request log
/// is flushed). Nothing left to stop the second time.
async fn stop_all(app: &AppHandle) {
    let state = app.state::<AppState>();
    state.stop.cancel();
    let tasks: Vec<_> = state
        .tasks
        .lock()
        .map(|mut t| std::mem::take(&mut *t))
        .unwrap_or_default();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(2), t).await;
    }
    state.shell.stop().await;
}

/// Quit: everything is stopped while the event loop still runs (a task updating the tray
/// waits for the main thread; blocking that thread in the exit handler first would leave it
/// waiting), then the app exits.
async fn quit(app: &AppHandle) {
    stop_all(app).await;
    app.exit(0);
}

/// On exit by any other way than Quit.
fn shutdown(app: &AppHandle) {
    tauri::async_runtime::block_on(stop_all(app));
}

// ---------------------------------------------------------------------------------------------
// Tray

fn build_tray(app: &AppHandle) -> tauri::Result<()> {
    let state = app.state::<AppState>();
    let listening = tauri::async_runtime::block_on(state.shell.is_listening());
    let item = |a: MenuAction| MenuItem::with_id(app, a.id(), a.label(), true, None::<&str>);
    let status = MenuItem::with_id(app, "status", "Switchboard", false, None::<&str>)?;
    let routing = CheckMenuItem::with_id(
        app,
        MenuAction::ToggleRouting.id(),
        MenuAction::ToggleRouting.label(),
        true,
        listening,
        None::<&str>,
    )?;
    let install = MenuItem::with_id(
        app,
        MenuAction::InstallUpdate.id(),
        "No update waiting",
        false,
        None::<&str>,
    )?;
    let tools_items = tray::tools_menu(&detected_tools(&state.shell));
    let tools = Submenu::with_id(app, "tools", tray::TOOLS_MENU_LABEL, true)?;
    fill_tools(app, &tools, &tools_items)?;
    let menu = Menu::with_items(
        app,
        &[
            &status,
            &PredefinedMenuItem::separator(app)?,
            &routing,
            &item(MenuAction::OpenDashboard)?,
            &item(MenuAction::CopyEndpoint)?,
            &item(MenuAction::CopyAccessKey)?,
            &tools,
            &PredefinedMenuItem::separator(app)?,
            &item(MenuAction::CheckForUpdates)?,
            &install,
            &item(MenuAction::Settings)?,
            &PredefinedMenuItem::separator(app)?,
            &item(MenuAction::Quit)?,
        ],
    )?;
    let base = Image::from_bytes(include_bytes!("../../icons/32x32.png"))?;
    let base = (base.rgba().to_vec(), base.width(), base.height());
    let initial = tauri::async_runtime::block_on(state.shell.summary()).state;
    let rgba = tray::render_icon(&base.0, base.1, base.2, initial);
    let icon_root = dirs::runtime_dir()
        .or_else(dirs::cache_dir)
        .unwrap_or_else(std::env::temp_dir)
        .join("switchboard-tray");
    let icon = TrayIconBuilder::with_id("main")
        .icon(Image::new_owned(rgba, base.1, base.2))
        .temp_dir_path(tray::icon_dir(&icon_root, initial))
        .tooltip("Switchboard")
        .menu(&menu)
        .show_menu_on_left_click(true)
        .on_menu_event(|app, event| {
            let id = event.id().as_ref();
            // A tool's entry opens the Integrations page, where it is configured.
            let action = MenuAction::from_id(id)
                .or_else(|| tray::tool_of(id).map(|_| MenuAction::ConfigureTools));
            if let Some(action) = action {
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    if let Err(e) = perform(&app, action).await {
                        tracing::warn!(action = action.id(), error = %e, "tray action failed");
                    }
                });
            }
        })
        .build(app)?;
    if let Ok(mut t) = state.tray.lock() {
        *t = Some(Tray {
            icon,
            status,
            routing,
            install,
            tools,
            tools_shown: tools_items,
            base,
            icon_root,
            shown: Some((initial, String::new())),
        });
    }
    Ok(())
}

/// Each AI tool and whether Switchboard configured it (the Integrations page's view, from the
/// same state directory).
fn detected_tools(shell: &Shell) -> Vec<(ToolId, Status)> {
    let ix = Integrations::new(Env::from_process(), shell.data_dir().join("integrations"));
    switchboard_integrations::tools()
        .iter()
        .map(|t| (*t, ix.status(*t).unwrap_or(Status::NotInstalled)))
        .collect()
}

fn fill_tools(
    app: &AppHandle,
    submenu: &Submenu<tauri::Wry>,
    items: &[tray::ToolItem],
) -> tauri::Result<()> {
    for (i, entry) in items.iter().enumerate() {
        if i + 1 == items.len() {
            submenu.append(&PredefinedMenuItem::separator(app)?)?;
        }
        let enabled =
            tray::tool_of(&entry.id).is_some() || MenuAction::from_id(&entry.id).is_some();
        submenu.append(&MenuItem::with_id(
            app,
            entry.id.as_str(),
            &entry.label,
            enabled,
            None::<&str>,
        )?)?;
    }
    Ok(())
}

/// What a tray menu entry does. Each arm is a call into [`Shell`] (tested without a GUI) plus
/// the window or clipboard side effect.
pub async fn perform(app: &AppHandle, action: MenuAction) -> Result<(), String> {
    let state = app.state::<AppState>();
    let shell = &state.shell;
    match action {
        MenuAction::ToggleRouting => {
            let on = shell.toggle_routing().await?;
            let target = if on {
                Target::Auto(None)
            } else {
                Target::AppPage
            };
            window::retarget(app, target)
                .await
                .map_err(|e| e.to_string())?;
        }
        MenuAction::OpenDashboard => window::show(app, Target::Auto(None))
            .await
            .map_err(|e| e.to_string())?,
        MenuAction::CopyEndpoint => app
            .clipboard()
            .write_text(shell.endpoint().await)
            .map_err(|e| e.to_string())?,
        MenuAction::CopyAccessKey => {
            let key = shell
                .access_key()
                .await
                .ok_or("the router is not running")?;
            app.clipboard()
                .write_text(key.expose().to_owned())
                .map_err(|e| e.to_string())?;
        }
        MenuAction::ConfigureTools => window::show(app, Target::Auto(Some("integrations".into())))
            .await
            .map_err(|e| e.to_string())?,
        MenuAction::CheckForUpdates => {
            let status = updates::check(app).await;
            announce_update(app, &status, true);
        }
        MenuAction::InstallUpdate => updates::install(app).await?,
        MenuAction::Settings => window::show(app, Target::AppPage)
            .await
            .map_err(|e| e.to_string())?,
        MenuAction::Quit => {
            quit(app).await;
            return Ok(());
        }
    }
    refresh_tray(app).await;
    Ok(())
}

/// Brings icon, tooltip and menu in line with the engine.
async fn refresh_tray(app: &AppHandle) {
    let state = app.state::<AppState>();
    let listening = state.shell.is_listening().await;
    let summary = state.shell.summary().await;
    let tray_state = summary.state;
    let tooltip = health_view::tooltip(&summary, &state.shell.endpoint().await);
    let update = state.updates.status();
    let tools_items = tray::tools_menu(&detected_tools(&state.shell));
    let Ok(mut guard) = state.tray.lock() else {
        return;
    };
    let Some(t) = guard.as_mut() else { return };
    let _ = t.routing.set_checked(listening);
    if tools_items != t.tools_shown {
        if let Ok(old) = t.tools.items() {
            for item in old {
                let _ = t.tools.remove(&item);
            }
        }
        let _ = fill_tools(app, &t.tools, &tools_items);
        t.tools_shown = tools_items;
    }
    if let UpdateStatus::Available { version, .. } = &update {
        let _ = t
            .install
            .set_text(format!("Install update {version} and restart"));
        let _ = t.install.set_enabled(true);
    }
    if t.shown.as_ref() == Some(&(tray_state, tooltip.clone())) {
        return;
    }
    if t.shown.as_ref().map(|(s, _)| *s) != Some(tray_state) {
        let rgba = tray::render_icon(&t.base.0, t.base.1, t.base.2, tray_state);
        let set = t
            .icon
            .set_temp_dir_path(Some(tray::icon_dir(&t.icon_root, tray_state)))
            .and_then(|()| {
                t.icon
                    .set_icon(Some(Image::new_owned(rgba, t.base.1, t.base.2)))
            });
        if let Err(e) = set {
            tracing::debug!(error = %e, "tray icon not updated");
        }
    }
    let _ = t.icon.set_tooltip(Some(&tooltip));
    let mut first = tooltip.lines().next().unwrap_or("Switchboard").to_owned();
    if matches!(update, UpdateStatus::Available { .. }) {
        first.push_str(" · update available");
    }
    let _ = t.status.set_text(first);
    t.shown = Some((tray_state, tooltip));
}

// ---------------------------------------------------------------------------------------------
// Background tasks

/// What a feed (standing changes, budget alerts) brought.
enum Feed<T> {
    Event(T),
    /// Events were missed: re-read what the feed is about.
    Gap,
    /// No engine (or it stopped): nothing until the next one.
    Closed,
}

async fn next_event<T: Clone>(rx: &mut Option<broadcast::Receiver<T>>) -> Feed<T> {
    let Some(r) = rx.as_mut() else {
        return std::future::pending().await;
    };
    match r.recv().await {
        Ok(c) => Feed::Event(c),
        Err(broadcast::error::RecvError::Lagged(n)) => {
            tracing::debug!(skipped = n, "events skipped");
            Feed::Gap
        }
        Err(broadcast::error::RecvError::Closed) => {
            *rx = None;
            Feed::Closed
        }
    }
}

/// Follows the control plane's key standings and client budgets: notifications (coalesced)
/// and the tray.
async fn watch_health(app: AppHandle, stop: CancellationToken) {
    let state = app.state::<AppState>();
    let shell = state.shell.clone();
    let mut generation = u64::MAX;
    let mut rx = None;
    let mut budgets = None;
    let mut tracker = IncidentTracker::default();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let push = |incidents: Vec<Incident>| {
        if let Ok(mut c) = state.coalescer.lock() {
            for i in incidents {
                c.push(i, Instant::now());
            }
        }
    };
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            feed = next_event(&mut rx) => match feed {
                Feed::Event(c) => push(tracker.on_change(&c).into_iter().collect()),
                Feed::Gap => push(tracker.resync(&shell.key_views().await)),
                Feed::Closed => {}
            },
            feed = next_event(&mut budgets) => {
                // A missed budget alert is not re-read: the dashboard shows the spend.
                if let Feed::Event(ev) = feed {
                    push(vec![budget_incident(&ev)]);
                }
            },
            _ = tick.tick() => {
                if shell.generation() != generation {
                    generation = shell.generation();
                    // Subscribed before reading the standings: a change in between is seen
                    // twice, which the tracker ignores, rather than not at all.
                    rx = shell.subscribe_standings().await;
                    budgets = shell.subscribe_budgets().await;
                    tracker = IncidentTracker::new(&shell.key_views().await, &shell.summary().await);
                }
                push(tracker.on_summary(&shell.summary().await));
                let notice = state.coalescer.lock().ok().and_then(|mut c| c.poll(Instant::now()));
                if let Some(n) = notice {
                    deliver(&app, n);
                }
                refresh_tray(&app).await;
            }
        }
    }
}

fn deliver(app: &AppHandle, notice: Notice) {
    tracing::info!(summary = %notice.summary, subjects = ?notice.subjects, "notification");
    let link = notice.link.clone();
    let handle = app.clone();
    let shown = crate::notify_os::show(&notice, move || {
        tauri::async_runtime::spawn(async move {
            let page = link.trim_start_matches("#/").to_owned();
            if let Err(e) = window::show(&handle, Target::Auto(Some(page))).await {
                tracing::warn!(error = %e, "could not open the dashboard");
            }
        });
    });
    if let Err(e) = shown {
        tracing::warn!(error = %e, "notification not delivered");
    }
}

fn announce_update(app: &AppHandle, status: &UpdateStatus, asked: bool) {
    let notice = match status {
        UpdateStatus::Available { version, .. } => Notice {
            summary: format!("Switchboard {version} is available"),
            body: "Verified and ready. Install it from the tray menu or the app settings.".into(),
            link: String::new(),
            subjects: vec![],
        },
        UpdateStatus::UpToDate { .. } if asked => Notice {
            summary: "Switchboard is up to date".into(),
            body: format!("Version {}", app.package_info().version),
            link: String::new(),
            subjects: vec![],
        },
        UpdateStatus::Error { message, .. } if asked => Notice {
            summary: "Update failed".into(),
            body: message.clone(),
            link: String::new(),
            subjects: vec![],
        },
        _ => return,
    };
    if let Err(e) = crate::notify_os::show(&notice, || {}) {
        tracing::debug!(error = %e, "update notification not delivered");
    }
}

/// Checks for updates shortly after start, then daily.
async fn check_updates_daily(app: AppHandle, stop: CancellationToken) {
    let mut wait = Duration::from_secs(10);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        if !matches!(
            app.state::<AppState>().updates.status(),
            UpdateStatus::Available { .. }
        ) {
            let status = updates::check(&app).await;
            announce_update(&app, &status, false);
        }
        wait = Duration::from_secs(24 * 60 * 60);
    }
}

/// The dashboard's "Install and restart" (`POST /api/v1/update/install`): installs the update
/// this app verified, as the tray's Install item does.
async fn install_when_asked(app: AppHandle, stop: CancellationToken) {
    let state = app.state::<AppState>();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = state.shell.host_app().install_requested() => {}
        }
        if let Err(e) = updates::install(&app).await {
            tracing::warn!(error = %e, "update from the dashboard not installed");
            announce_update(&app, &state.updates.status(), true);
        }
        refresh_tray(&app).await;
    }
}

/// Reads the OS proxy setting now and every few seconds, and hands each change (and the
/// current one to an engine started anew) to the engine: "system" proxy settings follow it.
async fn follow_system_proxy(app: AppHandle, stop: CancellationToken) {
    let shell = app.state::<AppState>().shell.clone();
    let mut applied = None;
    loop {
        // `gsettings` answers at once; waited for, so nothing outlives the app's stop.
        let now = tauri::async_runtime::spawn_blocking(crate::system_proxy::read)
            .await
            .ok()
            .flatten();
        let generation = shell.generation();
        if applied.as_ref() != Some(&(generation, now.clone())) && shell.is_running().await {
            match shell.set_system_proxy(now.clone()).await {
                Ok(()) => {
                    tracing::info!(proxy = ?now.as_ref().map(|p| (&p.mode, &p.url)), "following the system proxy");
                    applied = Some((generation, now));
                }
                Err(e) => tracing::warn!(error = %e, "the system proxy setting is not applied"),
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(crate::system_proxy::POLL) => {}
        }
    }
}

/// Frees the webview once the window has been hidden for the configured time.
async fn free_idle_webview(app: AppHandle, stop: CancellationToken) {
    loop {
        let every = app
            .state::<AppState>()
            .shell
            .settings()
            .free_webview_check_every();
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let after = app
            .state::<AppState>()
            .shell
            .settings()
            .free_webview_after();
        window::free_if_idle(&app, after);
    }
}

// ---------------------------------------------------------------------------------------------
// Commands (the app page only; see capabilities/main.json)

#[derive(Debug, Serialize)]
pub struct SecretStoreView {
    kind: &'static str,
    code: Option<&'static str>,
    reason: Option<String>,
    keychain: &'static str,
    migrated: usize,
}

impl From<&SecretBackendStatus> for SecretStoreView {
    fn from(s: &SecretBackendStatus) -> Self {
        SecretStoreView {
            kind: s.kind.as_str(),
            code: s.code,
            reason: s.reason.clone(),
            keychain: s.keychain,
            migrated: s.migrated,
        }
    }
}

/// Everything the app page shows. No secrets.
#[derive(Debug, Serialize)]
pub struct AppStatus {
    version: String,
    running: bool,
    listening: bool,
    port: u16,
    endpoint: String,
    problem: Option<StartProblem>,
    onboarded: bool,
    tray_state: OverallState,
    counts: Counts,
    secret_store: SecretStoreView,
    autostart: Option<bool>,
    muted: Vec<NoticeKind>,
    notice_kinds: Vec<NoticeKind>,
    update: UpdateStatus,
}

async fn status(app: &AppHandle) -> AppStatus {
    let state = app.state::<AppState>();
    let shell = &state.shell;
    let listening = shell.is_listening().await;
    let summary = shell.summary().await;
    let settings: DesktopSettings = shell.settings();
    AppStatus {
        version: app.package_info().version.to_string(),
        running: shell.is_running().await,
        listening,
        port: shell.port(),
        endpoint: shell.endpoint().await,
        problem: shell.problem(),
        onboarded: settings.onboarded,
        tray_state: summary.state,
        counts: summary.counts,
        secret_store: shell.secrets_status().into(),
        autostart: app.autolaunch().is_enabled().ok(),
        muted: settings.muted.into_iter().collect(),
        notice_kinds: NoticeKind::ALL.to_vec(),
        update: state.updates.status(),
    }
}

#[tauri::command]
async fn app_status(app: AppHandle) -> Result<AppStatus, String> {
    Ok(status(&app).await)
}

/// The routing switch: stops or restarts the listener.
#[tauri::command]
async fn set_routing(app: AppHandle, on: bool) -> Result<AppStatus, String> {
    app.state::<AppState>().shell.set_routing(on).await?;
    refresh_tray(&app).await;
    Ok(status(&app).await)
}

/// Page names are plain words (`keys`, `integrations`, `keys?focus=3,5`): nothing that could
/// turn into another origin or script.
fn valid_page(page: &str) -> bool {
    page.len() <= 64
        && page
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_?=&,".contains(&b))
}

#[tauri::command]
async fn open_dashboard(app: AppHandle, page: Option<String>) -> Result<(), String> {
    if let Some(p) = &page
        && !valid_page(p)
    {
        return Err("invalid page".to_owned());
    }
    let state = app.state::<AppState>();
    if !state.shell.is_listening().await {
        return Err("routing is off: turn it on to open the dashboard".to_owned());
    }
    if !state.shell.settings().onboarded {
        state.shell.update_settings(|s| s.onboarded = true)?;
    }
    window::show(&app, Target::Auto(page))
        .await
        .map_err(|e| e.to_string())
}

#[tauri::command]
async fn change_port(app: AppHandle, port: u16) -> Result<AppStatus, String> {
    let state = app.state::<AppState>();
    if let Err(p) = state.shell.change_port(port).await {
        tracing::warn!(port, "port change failed: {}", p.message);
    }
    refresh_tray(&app).await;
    Ok(status(&app).await)
}

#[tauri::command]
async fn set_autostart(app: AppHandle, on: bool) -> Result<AppStatus, String> {
    let auto = app.autolaunch();
    if on { auto.enable() } else { auto.disable() }.map_err(|e| e.to_string())?;
    Ok(status(&app).await)
}

#[tauri::command]
async fn set_notification_muted(
    app: AppHandle,
    kind: String,
    muted: bool,
) -> Result<AppStatus, String> {
    let kind = NoticeKind::parse(&kind).ok_or("unknown notification kind")?;
    let state = app.state::<AppState>();
    state.shell.update_settings(|s| {
        if muted {
            s.muted.insert(kind);
        } else {
            s.muted.remove(&kind);
        }
    })?;
    if let Ok(mut c) = state.coalescer.lock() {
        c.set_muted(kind, muted);
    }
    Ok(status(&app).await)
}

/// Checks the channel, downloads and verifies; a bad signature is an error status, never an
/// install.
#[tauri::command]
async fn check_update(app: AppHandle) -> Result<UpdateStatus, String> {
    let s = updates::check(&app).await;
    refresh_tray(&app).await;
    Ok(s)
}

#[tauri::command]
async fn install_update(app: AppHandle) -> Result<(), String> {
    updates::install(&app).await
}

#[tauri::command]
async fn finish_onboarding(app: AppHandle) -> Result<AppStatus, String> {
    app.state::<AppState>()
        .shell
        .update_settings(|s| s.onboarded = true)?;
    Ok(status(&app).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let a = parse_args(
            [
                "x",
                "--autostart",
                "--data-dir",
                "/d",
                "--config",
                "/c.toml",
                "--whatever",
            ]
            .map(String::from)
            .into_iter(),
        );
        assert!(a.autostart);
        assert!(!a.hidden);
        assert_eq!(a.data_dir, Some(PathBuf::from("/d")));
        assert_eq!(a.config, Some(PathBuf::from("/c.toml")));
    }

    #[test]
    fn pages_are_plain_words() {
        assert!(valid_page("keys"));
        assert!(valid_page("keys?focus=12"));
        assert!(valid_page("keys?focus=12,13"));
        assert!(!valid_page("//evil.example"));
        assert!(!valid_page("javascript:alert(1)"));
        assert!(!valid_page("<img>"));
    }
}
