//! The shell's core, free of any GUI: starts the same engine `switchboard serve` runs
//! (in-process, through [`Switchboard::start`]), switches its listener on and off, changes the
//! port, and reads the health board. The tray, the window and the commands call these plain
//! methods, so they are tested without a display.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use switchboard_router::Secret;
use switchboard_server::{HostApp, Options, StartError, Switchboard, SwitchboardHandle};
use switchboard_store::SecretStore;
use switchboard_store::secrets::keychain::SecretBackendStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{RwLock, broadcast};

use crate::health_view::{Board, KeyRef, RouteRef};
use crate::settings::{self, DesktopSettings};

/// The store value the server persists the listener state under.
const LISTENING: &str = "listening";

/// Why the router is not running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Another Switchboard (e.g. `switchboard serve`) answers on the port.
    PortInUseBySwitchboard,
    /// Something else holds the port.
    PortInUse,
    /// Any other start failure (database, secrets, config file).
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartProblem {
    pub kind: ProblemKind,
    pub port: u16,
    pub message: String,
}

/// How the shell was started (from the environment and command line).
#[derive(Debug, Clone, Default)]
pub struct Launch {
    pub data_dir: PathBuf,
    /// A declarative config file applied at start (`--config` / `SWITCHBOARD_CONFIG`).
    pub config_file: Option<PathBuf>,
    /// `SWITCHBOARD_PORT` overrides the saved port for this run (tests, several profiles).
    pub port_override: Option<u16>,
    pub access_key: Option<Secret>,
    pub admin_token: Option<Secret>,
}

/// The secret store chosen at start, and how it was chosen.
pub struct Secrets {
    pub store: Arc<dyn SecretStore>,
    pub status: SecretBackendStatus,
}

pub struct Shell {
    launch: Launch,
    settings_path: PathBuf,
    settings: Mutex<DesktopSettings>,
    secrets: Secrets,
    /// What the dashboard shows about the app (update, keychain); outlives engine restarts.
    host_app: Arc<HostApp>,
    engine: RwLock<Option<SwitchboardHandle>>,
    problem: Mutex<Option<StartProblem>>,
    /// Bumped on every successful start, so health subscribers know to resubscribe.
    generation: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding these small locks leaves plain data behind; keep going.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shell {
    /// Prepares the shell; settings that cannot be read are replaced by defaults (and said).
    pub fn new(launch: Launch, secrets: Secrets) -> Shell {
        let settings_path = settings::path_in(&launch.data_dir);
        let settings = DesktopSettings::load(&settings_path).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "desktop settings unreadable; using defaults");
            DesktopSettings::default()
        });
        let host_app = Arc::new(HostApp::default());
        host_app.set_secret_store_note(
            secrets
                .status
                .reason
                .as_ref()
                .map(|why| format!("{} unavailable ({why})", secrets.status.keychain)),
        );
        Shell {
            launch,
            settings_path,
            settings: Mutex::new(settings),
            secrets,
            host_app,
            engine: RwLock::new(None),
            problem: Mutex::new(None),
            generation: AtomicU64::new(0),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.launch.data_dir
    }

    pub fn settings(&self) -> DesktopSettings {
        lock(&self.settings).clone()
    }

    /// Changes and saves the settings.
    pub fn update_settings(
        &self,
        change: impl FnOnce(&mut DesktopSettings),
    ) -> Result<DesktopSettings, String> {
        let mut s = lock(&self.settings);
        let mut next = s.clone();
        change(&mut next);
        next.save(&self.settings_path).map_err(|e| e.to_string())?;
        *s = next.clone();
        Ok(next)
    }

    pub fn secrets_status(&self) -> &SecretBackendStatus {
        &self.secrets.status
    }

    pub fn host_app(&self) -> &HostApp {
        &self.host_app
    }

    /// The port the router uses (or would use).
    pub fn port(&self) -> u16 {
        self.launch
            .port_override
            .unwrap_or_else(|| lock(&self.settings).port)
    }

    /// Changes whenever the engine is (re)started.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn problem(&self) -> Option<StartProblem> {
        lock(&self.problem).clone()
    }

    /// Starts the engine on the configured port unless it runs; restores the listener state
    /// saved by the last run (routing switched off stays off).
    pub async fn start(&self) -> Result<(), StartProblem> {
        let mut engine = self.engine.write().await;
        if engine.is_some() {
            return Ok(());
        }
        let port = self.port();
        let mut opts = Options::new(self.launch.data_dir.clone());
        opts.port = port;
        opts.config_file = self.launch.config_file.clone();
        opts.access_key = self.launch.access_key.clone();
        opts.admin_token = self.launch.admin_token.clone();
        opts.secrets = Some(self.secrets.store.clone());
        opts.host_app = self.host_app.clone();
        opts.shutdown_grace = Duration::from_secs(5);
        match Switchboard::start(opts).await {
            Ok(handle) => {
                let listening = handle
                    .store()
                    .get_value(LISTENING)
                    .await
                    .ok()
                    .flatten()
                    .and_then(|v| v.as_bool())
                    .unwrap_or(true);
                if !listening && let Err(e) = handle.set_listening(false).await {
                    tracing::warn!(error = %e, "could not restore routing off");
                }
                tracing::info!(endpoint = %handle.endpoint(), listening, "router started");
                *engine = Some(handle);
                self.generation.fetch_add(1, Ordering::SeqCst);
                *lock(&self.problem) = None;
                Ok(())
            }
            Err(e) => {
                let problem = describe_start_error(&e, port).await;
                tracing::error!(error = %e, "router did not start");
                *lock(&self.problem) = Some(problem.clone());
                Err(problem)
            }
        }
    }

    pub async fn is_running(&self) -> bool {
        self.engine.read().await.is_some()
    }

    pub async fn is_listening(&self) -> bool {
        match self.engine.read().await.as_ref() {
            Some(h) => h.is_listening().await,
            None => false,
        }
    }

    /// The tray's and the window's routing switch: stops or restarts the listener (persisted
    /// by the engine). Returns the new state.
    pub async fn set_routing(&self, on: bool) -> Result<bool, String> {
        let engine = self.engine.read().await;
        let Some(h) = engine.as_ref() else {
            return Err("the router is not running".to_owned());
        };
        h.set_listening(on).await.map_err(|e| e.to_string())?;
        Ok(h.is_listening().await)
    }

    /// Flips routing; returns the new state.
    pub async fn toggle_routing(&self) -> Result<bool, String> {
        let on = self.is_listening().await;
        self.set_routing(!on).await
    }

    /// Moves the router to another port (saved): stops the engine if it runs, starts it there.
    pub async fn change_port(&self, port: u16) -> Result<(), StartProblem> {
        if port < 1024 {
            return Err(StartProblem {
                kind: ProblemKind::Other,
                port,
                message: "choose a port between 1024 and 65535".to_owned(),
            });
        }
        self.stop().await;
        if let Err(e) = self.update_settings(|s| s.port = port) {
            return Err(StartProblem {
                kind: ProblemKind::Other,
                port,
                message: e,
            });
        }
        self.start().await
    }

    /// Shuts the engine down (graceful: requests in flight finish, the log is flushed).
    pub async fn stop(&self) {
        let handle = self.engine.write().await.take();
        if let Some(h) = handle {
            h.shutdown().await;
        }
    }

    /// The base URL tools use.
    pub async fn endpoint(&self) -> String {
        match self.engine.read().await.as_ref() {
            Some(h) => h.endpoint(),
            None => format!("http://127.0.0.1:{}/v1", self.port()),
        }
    }

    /// The local access key, for the tray's "Copy access key" (to the clipboard only; no
    /// command ever returns it to the webview).
    pub async fn access_key(&self) -> Option<Secret> {
        self.engine
            .read()
            .await
            .as_ref()
            .and_then(|h| h.access_key())
    }

    /// The dashboard's address with the admin token in the fragment (never sent to the
    /// server), optionally opening a page: `#token=…&page=keys&focus=12`.
    pub async fn dashboard_url(&self, page: Option<&str>) -> Option<url::Url> {
        let engine = self.engine.read().await;
        let h = engine.as_ref()?;
        let mut fragment = url::form_urlencoded::Serializer::new(String::new());
        fragment.append_pair("token", h.admin_token().expose());
        if let Some(page) = page {
            let page = page.trim_start_matches('#').trim_start_matches('/');
            let (name, query) = page.split_once('?').unwrap_or((page, ""));
            if !name.is_empty() {
                fragment.append_pair("page", name);
            }
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                fragment.append_pair(&k, &v);
            }
        }
        let mut url = url::Url::parse(&format!("http://{}/", h.local_addr())).ok()?;
        url.set_fragment(Some(&fragment.finish()));
        Some(url)
    }

    /// The engine's health board now.
    pub async fn board(&self) -> Board {
        let engine = self.engine.read().await;
        let Some(h) = engine.as_ref() else {
            return Board::default();
        };
        let snap = h.engine().snapshot();
        let mut keys: Vec<KeyRef> = snap
            .providers
            .values()
            .filter(|p| p.provider.enabled)
            .flat_map(|p| {
                p.keys.iter().map(|k| KeyRef {
                    id: k.info.id,
                    provider: k.info.provider.clone(),
                    label: k.info.label.clone(),
                })
            })
            .collect();
        keys.sort_by_key(|k| k.id);
        let mut routes: Vec<RouteRef> = snap
            .routes
            .values()
            .filter(|r| !r.inferred)
            .map(|r| RouteRef {
                alias: r.route.alias.clone(),
                targets: r
                    .route
                    .targets
                    .iter()
                    .map(|t| (t.provider.clone(), t.model.clone()))
                    .collect(),
            })
            .collect();
        routes.sort_by(|a, b| a.alias.cmp(&b.alias));
        Board {
            keys,
            routes,
            entries: h.engine().health.entries(),
            now_ms: h.engine().health.now_ms(),
        }
    }

    /// Health transitions, while the engine runs.
    pub async fn subscribe_health(
        &self,
    ) -> Option<broadcast::Receiver<switchboard_router::health::HealthEvent>> {
        self.engine
            .read()
            .await
            .as_ref()
            .map(|h| h.subscribe_health())
    }
}

/// Turns a start error into what the window shows; for a taken port, asks the port whether a
/// Switchboard answers there.
async fn describe_start_error(e: &StartError, port: u16) -> StartProblem {
    if let StartError::Bind { source, .. } = e
        && source.kind() == std::io::ErrorKind::AddrInUse
    {
        return if is_switchboard_on(port).await {
            StartProblem {
                kind: ProblemKind::PortInUseBySwitchboard,
                port,
                message: format!(
                    "Another Switchboard (perhaps `switchboard serve`) is already serving on port {port}. \
                     Stop it, or choose another port for this app."
                ),
            }
        } else {
            StartProblem {
                kind: ProblemKind::PortInUse,
                port,
                message: format!(
                    "Port {port} is used by another program, so the router cannot listen there. \
                     Choose another port (tool configs will be updated to it), or stop that program."
                ),
            }
        };
    }
    StartProblem {
        kind: ProblemKind::Other,
        port,
        message: e.to_string(),
    }
}

/// Whether `GET /health` on the port answers like a Switchboard router.
pub async fn is_switchboard_on(port: u16) -> bool {
    let probe = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()?;
        s.write_all(
            format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .ok()?;
        let mut buf = Vec::new();
        s.take(16 * 1024).read_to_end(&mut buf).await.ok()?;
        let text = String::from_utf8_lossy(&buf);
        Some(text.starts_with("HTTP/1.1 200") && text.contains("\"status\":\"ok\""))
    };
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_store::secrets::keychain::SecretBackendStatus;
    use switchboard_store::{EncryptedFileStore, MasterKey, SecretStoreKind};

    struct Fixture {
        _data: tempfile::TempDir,
        _keys: tempfile::TempDir,
        shell: Shell,
    }

    fn shell_on(port: u16) -> Fixture {
        let data = tempfile::tempdir().unwrap();
        let keys = tempfile::tempdir().unwrap();
        let store = EncryptedFileStore::open(
            data.path(),
            MasterKey::KeyFile(keys.path().join("master.key")),
        )
        .unwrap();
        let secrets = Secrets {
            store: Arc::new(store),
            status: SecretBackendStatus {
                kind: SecretStoreKind::EncryptedFile,
                code: Some("keychain_unavailable"),
                reason: Some("test".into()),
                keychain: "Secret Service",
                migrated: 0,
            },
        };
        let launch = Launch {
            data_dir: data.path().to_owned(),
            port_override: Some(port),
            ..Launch::default()
        };
        Fixture {
            shell: Shell::new(launch, secrets),
            _data: data,
            _keys: keys,
        }
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn answers(port: u16) -> bool {
        is_switchboard_on(port).await
    }

    #[tokio::test]
    async fn routing_switch_stops_and_restarts_the_listener_and_persists() {
        let port = free_port();
        let f = shell_on(port);
        f.shell.start().await.unwrap();
        assert!(answers(port).await);
        assert!(!f.shell.toggle_routing().await.unwrap());
        assert!(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err(),
            "listener closed"
        );
        assert!(!f.shell.is_listening().await);
        // Persisted: a restart keeps routing off.
        f.shell.stop().await;
        f.shell.start().await.unwrap();
        assert!(!f.shell.is_listening().await);
        assert!(f.shell.set_routing(true).await.unwrap());
        assert!(answers(port).await);
        let url = f.shell.dashboard_url(Some("keys?focus=3")).await.unwrap();
        assert_eq!(url.host_str(), Some("127.0.0.1"));
        let frag = url.fragment().unwrap();
        assert!(
            frag.starts_with("token=") && frag.ends_with("&page=keys&focus=3"),
            "{frag}"
        );
        assert_eq!(
            f.shell.endpoint().await,
            format!("http://127.0.0.1:{port}/v1")
        );
        assert!(f.shell.access_key().await.is_some());
        f.shell.stop().await;
    }

    #[tokio::test]
    async fn a_port_held_by_another_program_is_reported_and_can_be_changed() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let f = shell_on(port);
        let p = f.shell.start().await.unwrap_err();
        assert_eq!(p.kind, ProblemKind::PortInUse);
        assert!(p.message.contains(&port.to_string()));
        assert_eq!(f.shell.problem(), Some(p));
        assert!(!f.shell.is_running().await);
        // The override pins the port for this run; without it the saved port is used.
        let f = Fixture {
            shell: Shell::new(
                Launch {
                    port_override: None,
                    ..f.shell.launch.clone()
                },
                Secrets {
                    store: f.shell.secrets.store.clone(),
                    status: f.shell.secrets.status.clone(),
                },
            ),
            ..f
        };
        let other = free_port();
        f.shell.change_port(other).await.unwrap();
        assert!(answers(other).await);
        assert_eq!(f.shell.settings().port, other);
        assert_eq!(f.shell.problem(), None);
        f.shell.stop().await;
    }

    /// `GET /api/v1/status` as the dashboard reads it (admin token from the dashboard URL).
    async fn dashboard_status(shell: &Shell) -> serde_json::Value {
        let url = shell.dashboard_url(None).await.unwrap();
        let token = url::form_urlencoded::parse(url.fragment().unwrap().as_bytes())
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned();
        let addr = format!("127.0.0.1:{}", url.port().unwrap());
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let req = format!(
            "GET /api/v1/status HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        serde_json::from_str(body).unwrap()
    }

    #[tokio::test]
    async fn the_dashboard_shows_the_keychain_fallback_and_a_verified_update_across_restarts() {
        let f = shell_on(free_port());
        f.shell.start().await.unwrap();
        let status = dashboard_status(&f.shell).await;
        assert_eq!(status["secret_store"], "encrypted_file");
        assert_eq!(
            status["secret_store_note"],
            "Secret Service unavailable (test)"
        );
        assert_eq!(status["update"], serde_json::Value::Null);
        f.shell
            .host_app()
            .announce_update(Some(switchboard_server::UpdateNotice {
                version: "9.9.9".into(),
                notes: None,
            }));
        // A port change restarts the engine; the announcement belongs to the app.
        f.shell.change_port(free_port()).await.unwrap();
        assert_eq!(
            dashboard_status(&f.shell).await["update"]["version"],
            "9.9.9"
        );
        f.shell.stop().await;
    }

    #[tokio::test]
    async fn a_port_held_by_another_switchboard_is_recognised() {
        let port = free_port();
        let first = shell_on(port);
        first.shell.start().await.unwrap();
        let second = shell_on(port);
        let p = second.shell.start().await.unwrap_err();
        assert_eq!(p.kind, ProblemKind::PortInUseBySwitchboard);
        first.shell.stop().await;
    }
}
