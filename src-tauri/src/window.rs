//! The main window: one webview that shows either the app's own small page (`shell/`,
//! bundled, strict CSP: onboarding, routing off, port problems, app settings) or the dashboard
//! the router serves at `http://127.0.0.1:PORT/`. Closing it hides it (the router keeps
//! running); after it has been hidden for a while the webview is freed and rebuilt on demand.
//!
//! Only the bundled page may call the app's commands (capabilities/main.json names this
//! window and local origins only); the dashboard talks to the admin API with its token.

use std::time::Duration;

use tauri::{AppHandle, Manager, WebviewUrl, WebviewWindow, WebviewWindowBuilder};

use crate::state::AppState;

pub const MAIN: &str = "main";

/// Where to point the window.
#[derive(Debug, Clone)]
pub enum Target {
    /// The dashboard (optionally a page, e.g. `keys?focus=3`), or the app page when the
    /// router is not listening or onboarding is not done.
    Auto(Option<String>),
    /// The app's own page.
    AppPage,
}

fn app_page_url() -> WebviewUrl {
    WebviewUrl::App("index.html".into())
}

/// Whether a navigation may happen in the main window: the bundled page and the router's own
/// origin on this machine, nothing else (a link in the dashboard to the web opens nowhere
/// rather than inside a window with the admin token).
pub fn allowed_navigation(url: &url::Url, port: u16) -> bool {
    match url.scheme() {
        "tauri" => url.host_str() == Some("localhost"),
        "http" | "https" if url.host_str() == Some("tauri.localhost") => true,
        "http" => url.host_str() == Some("127.0.0.1") && url.port() == Some(port),
        "about" => url.as_str() == "about:blank",
        _ => false,
    }
}

async fn resolve(app: &AppHandle, target: &Target) -> WebviewUrl {
    let state = app.state::<AppState>();
    match target {
        Target::AppPage => app_page_url(),
        Target::Auto(page) => {
            let shell = &state.shell;
            if shell.settings().onboarded && shell.is_listening().await {
                match shell.dashboard_url(page.as_deref()).await {
                    Some(u) => WebviewUrl::External(u),
                    None => app_page_url(),
                }
            } else {
                app_page_url()
            }
        }
    }
}

fn build(app: &AppHandle, url: WebviewUrl) -> tauri::Result<WebviewWindow> {
    let handle = app.clone();
    WebviewWindowBuilder::new(app, MAIN, url)
        .title("Switchboard")
        .inner_size(1180.0, 780.0)
        .min_inner_size(720.0, 520.0)
        .on_navigation(move |url| {
            let port = handle.state::<AppState>().shell.port();
            let ok = allowed_navigation(url, port);
            if !ok {
                tracing::warn!(%url, "navigation blocked in the main window");
            }
            ok
        })
        .build()
}

/// Shows the main window (creating it if it was never built or was freed) at `target`.
pub async fn show(app: &AppHandle, target: Target) -> tauri::Result<()> {
    let url = resolve(app, &target).await;
    let state = app.state::<AppState>();
    match app.get_webview_window(MAIN) {
        Some(w) => {
            navigate(&w, url)?;
            w.show()?;
            w.unminimize()?;
            w.set_focus()?;
        }
        None => {
            let w = build(app, url)?;
            w.set_focus()?;
        }
    }
    state.visibility.mark_shown();
    Ok(())
}

/// Points an existing window elsewhere without showing it.
pub async fn retarget(app: &AppHandle, target: Target) -> tauri::Result<()> {
    let url = resolve(app, &target).await;
    if let Some(w) = app.get_webview_window(MAIN) {
        navigate(&w, url)?;
    }
    Ok(())
}

fn navigate(w: &WebviewWindow, url: WebviewUrl) -> tauri::Result<()> {
    match url {
        WebviewUrl::External(u) => w.navigate(u),
        // The bundled page: reload it at its own origin.
        _ => {
            let current = w.url()?;
            let base =
                if current.scheme() == "tauri" || current.host_str() == Some("tauri.localhost") {
                    current
                } else if cfg!(any(windows, target_os = "android")) {
                    url::Url::parse("http://tauri.localhost/").map_err(|_| bad_url())?
                } else {
                    url::Url::parse("tauri://localhost/").map_err(|_| bad_url())?
                };
            let page = base.join("/index.html").map_err(|_| bad_url())?;
            w.navigate(page)
        }
    }
}

fn bad_url() -> tauri::Error {
    tauri::Error::InvalidWebviewUrl("invalid app page URL")
}

/// Hides instead of closing: the router keeps running in the tray.
pub fn hide(app: &AppHandle) {
    if let Some(w) = app.get_webview_window(MAIN)
        && let Err(e) = w.hide()
    {
        tracing::warn!(error = %e, "could not hide the window");
    }
    app.state::<AppState>().visibility.mark_hidden();
}

/// Frees the webview if the window has been hidden at least `after` (`None`: never).
pub fn free_if_idle(app: &AppHandle, after: Option<Duration>) {
    let Some(after) = after else { return };
    let state = app.state::<AppState>();
    if state.visibility.hidden_for().is_some_and(|d| d >= after)
        && let Some(w) = app.get_webview_window(MAIN)
    {
        tracing::info!("freeing the hidden window's webview");
        if let Err(e) = w.destroy() {
            tracing::warn!(error = %e, "could not free the webview");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn navigation_is_limited_to_the_app_and_the_local_router() {
        let ok = |s: &str| allowed_navigation(&url::Url::parse(s).unwrap(), 9911);
        assert!(ok("tauri://localhost/index.html"));
        assert!(ok("http://tauri.localhost/index.html"));
        assert!(ok("http://127.0.0.1:9911/#token=x"));
        assert!(!ok("http://127.0.0.1:9912/"));
        assert!(!ok("http://localhost.evil.example:9911/"));
        assert!(!ok("https://example.com/"));
        assert!(!ok("file:///etc/passwd"));
        assert!(!ok("tauri://evil/"));
    }
}
