//! Shows a [`Notice`] as an OS notification (notify-rust: the freedesktop Notifications
//! service over D-Bus on Linux, Notification Center on macOS, toasts on Windows).
//!
//! notify-rust is used instead of the notification plugin because it reports delivery
//! failures (no notification server) instead of returning Ok, and because on Linux it can
//! wait for a click: clicking the notification opens the dashboard on the keys it names.

use crate::notices::{Notice, escape_markup};

/// How long the notification stays up before the server closes it.
const TIMEOUT_MS: u32 = 10_000;

/// Shows the notice; `on_click` runs (on a helper thread) if the user clicks it, on platforms
/// that report clicks. Errors (no notification service) come back at once.
pub fn show(notice: &Notice, on_click: impl FnOnce() + Send + 'static) -> Result<(), String> {
    let mut n = notify_rust::Notification::new();
    // The summary is plain text by the spec; the body may be rendered as markup.
    let body = if cfg!(all(unix, not(target_os = "macos"))) {
        escape_markup(&notice.body)
    } else {
        notice.body.clone()
    };
    n.summary(&notice.summary)
        .body(&body)
        .appname("Switchboard")
        .timeout(notify_rust::Timeout::Milliseconds(TIMEOUT_MS));
    #[cfg(all(unix, not(target_os = "macos")))]
    {
        n.icon("switchboard-desktop")
            .action("default", "Open dashboard");
        let handle = n.show().map_err(|e| e.to_string())?;
        // Waits until the notification is clicked or closed (at the latest when the server
        // times it out), then ends: a short-lived helper, one per notice, and notices are
        // rate limited.
        std::thread::Builder::new()
            .name("notification-click".into())
            .spawn(move || {
                handle.wait_for_action(|action| {
                    if action == "default" {
                        on_click();
                    }
                });
            })
            .map_err(|e| e.to_string())?;
        Ok(())
    }
    #[cfg(not(all(unix, not(target_os = "macos"))))]
    {
        drop(on_click);
        n.show().map(|_| ()).map_err(|e| e.to_string())
    }
}
