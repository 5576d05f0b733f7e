//! The shell's core, free of any GUI: starts the same engine `switchboard serve` runs
//! (in-process, through [`Switchboard::start`]), switches its listener on and off, changes the
//! port, and reads the key standings and the summary the control plane judges. The tray, the
//! window and the commands call these plain methods, so they are tested without a display.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use switchboard_control::{BudgetEvent, KeyView, StandingChanged, Summary};
use switchboard_router::Secret;
use switchboard_server::{HostApp, Options, StartError, Switchboard, SwitchboardHandle};
use switchboard_store::SecretStore;
use switchboard_store::secrets::keychain::SecretBackendStatus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{RwLock, broadcast};

use crate::health_view;
use crate::settings::{self, DesktopSettings};

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
                let listening = match handle.control().stored_listening().await {
                    Ok(saved) => saved.unwrap_or(true),
                    Err(e) => {
                        tracing::warn!(error = %e, "saved routing state unreadable; routing on");
                        true
                    }
                };
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

    /// Hands the engine the operating system's proxy setting ([`crate::system_proxy`]).
    pub async fn set_system_proxy(
        &self,
        proxy: Option<switchboard_router::ProxySetting>,
    ) -> Result<(), String> {
        let engine = self.engine.read().await;
        let Some(h) = engine.as_ref() else {
            return Err("the router is not running".to_owned());
        };
        h.control()
            .set_system_proxy(proxy)
            .await
            .map_err(|e| e.to_string())
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

    /// Counts, overall state and unusable aliases, as the control plane judges them.
    pub async fn summary(&self) -> Summary {
        match self.engine.read().await.as_ref() {
            Some(h) => h.control().summary(),
            None => health_view::not_running(),
        }
    }

    /// Every key with its standing (none while the engine is not running).
    pub async fn key_views(&self) -> Vec<KeyView> {
        match self.engine.read().await.as_ref() {
            Some(h) => h.control().key_views(None),
            None => Vec::new(),
        }
    }

    /// Key standing changes, while the engine runs.
    pub async fn subscribe_standings(&self) -> Option<broadcast::Receiver<StandingChanged>> {
        self.engine
            .read()
            .await
            .as_ref()
            .map(|h| h.control().subscribe_standings())
    }

    /// Client budget alerts, while the engine runs.
    pub async fn subscribe_budgets(&self) -> Option<broadcast::Receiver<BudgetEvent>> {
        self.engine
            .read()
            .await
            .as_ref()
            .map(|h| h.control().budget_events())
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
    use crate::notices::IncidentTracker;
    use switchboard_control::{Counts, OverallState};
    use switchboard_mock_upstream::{Dialect as MockDialect, Fault, MockUpstream};
    use switchboard_router::health::{HealthState, KeyStanding, StandingClass, StandingScope};
    use switchboard_store::secrets::keychain::SecretBackendStatus;
    use switchboard_store::{EncryptedFileStore, MasterKey, SecretStoreKind};

    struct Fixture {
        _data: tempfile::TempDir,
        _keys: tempfile::TempDir,
        shell: Shell,
    }

    fn shell_on(port: u16) -> Fixture {
        shell_with(port, None)
    }

    /// A shell on `port`, applying the config file `config` (TOML) at start.
    fn shell_with(port: u16, config: Option<String>) -> Fixture {
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
        let config_file = config.map(|toml| {
            let path = data.path().join("switchboard.toml");
            std::fs::write(&path, toml).unwrap();
            path
        });
        let launch = Launch {
            data_dir: data.path().to_owned(),
            config_file,
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

    /// One HTTP exchange with the router: `(status, JSON body)`.
    async fn call(
        shell: &Shell,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let url = shell.dashboard_url(None).await.unwrap();
        let addr = format!("127.0.0.1:{}", url.port().unwrap());
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut resp = String::new();
        s.read_to_string(&mut resp).await.unwrap();
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap())
    }

    /// The admin API as the dashboard calls it (admin token from the dashboard URL).
    async fn admin(
        shell: &Shell,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let url = shell.dashboard_url(None).await.unwrap();
        let token = url::form_urlencoded::parse(url.fragment().unwrap().as_bytes())
            .find(|(k, _)| k == "token")
            .unwrap()
            .1
            .into_owned();
        let (status, body) = call(shell, method, path, &token, body).await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        body
    }

    /// `GET /api/v1/status` as the dashboard reads it.
    async fn dashboard_status(shell: &Shell) -> serde_json::Value {
        admin(shell, "GET", "/api/v1/status", None).await
    }

    #[tokio::test]
    async fn with_a_provider_breaker_open_the_tray_shows_the_standings_and_counts_of_the_status_api()
     {
        const KEYS: [&str; 2] = ["sk-breaker-one-aaaaaaaa", "sk-breaker-two-bbbbbbbb"];
        let mock = MockUpstream::start().await.unwrap();
        for k in KEYS {
            mock.set_fault_for_key(k, Some(Fault::status(500)));
        }
        let toml = format!(
            "[[providers]]\nname = \"p\"\nkind = \"openai_chat\"\nbase_url = {:?}\nkeys = {:?}\n\
             retry = {{ max_retries = 0 }}\n\n\
             [[routes]]\nalias = \"m\"\ntargets = [{{ provider = \"p\", model = \"x\" }}]\n",
            mock.base_url(MockDialect::OpenAiChat),
            KEYS
        );
        let f = shell_with(free_port(), Some(toml));
        f.shell.start().await.unwrap();
        let mut changes = f.shell.subscribe_standings().await.unwrap();
        // Two temporary errors from two keys open the provider's breaker (no same-key retries,
        // so each key fails exactly once).
        let mut policy = admin(&f.shell, "GET", "/api/v1/settings/cooldowns", None).await;
        policy["breaker_threshold"] = 2.into();
        admin(&f.shell, "PUT", "/api/v1/settings/cooldowns", Some(policy)).await;
        let access = f.shell.access_key().await.unwrap();
        let (status, _) = call(
            &f.shell,
            "POST",
            "/v1/chat/completions",
            access.expose(),
            Some(
                serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
            ),
        )
        .await;
        assert_eq!(status, 500, "both keys failed");
        assert_eq!(mock.request_count(), 2);

        // The tray's view: every key stands as its provider's breaker does.
        let views = f.shell.key_views().await;
        assert_eq!(views.len(), 2);
        for v in &views {
            assert_eq!(v.standing.scope, Some(StandingScope::Provider), "{v:?}");
            assert_eq!(v.standing.state, HealthState::Cooling);
            assert_eq!(v.standing.class(), StandingClass::Cooling);
        }
        let summary = f.shell.summary().await;
        assert_eq!(
            summary.counts,
            Counts {
                keys: 2,
                healthy: 0,
                cooling: 2,
                down: 0
            }
        );
        assert_eq!(summary.state, OverallState::NothingUsable);
        assert_eq!(summary.unusable_aliases, ["m"]);
        let endpoint = f.shell.endpoint().await;
        assert_eq!(
            health_view::tooltip(&summary, &endpoint),
            format!("Switchboard — no usable key\n0 of 2 keys: 0 healthy, 2 cooling\n{endpoint}")
        );

        // The dashboard's view: the same standing per key, the same counts and state.
        let keys = admin(&f.shell, "GET", "/api/v1/keys", None).await;
        assert_eq!(keys, serde_json::to_value(&views).unwrap());
        let status = dashboard_status(&f.shell).await;
        assert_eq!(status["summary"], serde_json::to_value(&summary).unwrap());
        assert_eq!(status["keys_healthy"], 0);
        assert_eq!(status["keys_cooling"], 2);
        assert_eq!(status["keys_failed"], 0);

        // The notification tracker was told the same: each key's last change is the breaker,
        // and temporary errors are not worth a notification.
        let mut tracker = IncidentTracker::new(&[], &health_view::not_running());
        let mut last = std::collections::BTreeMap::new();
        while last.len() < 2
            || last
                .values()
                .any(|s: &KeyStanding| s.scope != Some(StandingScope::Provider))
        {
            let c = tokio::time::timeout(Duration::from_secs(30), changes.recv())
                .await
                .expect("the standings feed reports the breaker")
                .unwrap();
            assert_eq!(tracker.on_change(&c), None, "{c:?}");
            last.insert(c.key_id, c.to);
        }
        let by_id: std::collections::BTreeMap<i64, KeyStanding> =
            views.into_iter().map(|v| (v.key.id, v.standing)).collect();
        assert_eq!(last, by_id);
        f.shell.stop().await;
        mock.shutdown().await;
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
