//! The tray: its menu (ids and what each does, as plain data), and its icon per state (the
//! app icon with a coloured status dot, drawn here so there is one source image).
//!
//! The menu is data ([`MenuAction`]) and the actions are plain functions
//! (`crate::app::perform`); on Linux the tray is a StatusNotifierItem whose menu is exported
//! over D-Bus (`com.canonical.dbusmenu`), which tests/desktop/tray.py drives for real.

use std::path::{Path, PathBuf};

use switchboard_control::OverallState;
use switchboard_integrations::{Status, ToolId};

/// Every tray menu entry that does something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MenuAction {
    ToggleRouting,
    OpenDashboard,
    CopyEndpoint,
    CopyAccessKey,
    ConfigureTools,
    CheckForUpdates,
    InstallUpdate,
    Settings,
    Quit,
}

impl MenuAction {
    pub const ALL: [MenuAction; 9] = [
        MenuAction::ToggleRouting,
        MenuAction::OpenDashboard,
        MenuAction::CopyEndpoint,
        MenuAction::CopyAccessKey,
        MenuAction::ConfigureTools,
        MenuAction::CheckForUpdates,
        MenuAction::InstallUpdate,
        MenuAction::Settings,
        MenuAction::Quit,
    ];

    pub fn id(self) -> &'static str {
        match self {
            MenuAction::ToggleRouting => "routing",
            MenuAction::OpenDashboard => "open",
            MenuAction::CopyEndpoint => "copy-endpoint",
            MenuAction::CopyAccessKey => "copy-access-key",
            MenuAction::ConfigureTools => "configure-tools",
            MenuAction::CheckForUpdates => "check-updates",
            MenuAction::InstallUpdate => "install-update",
            MenuAction::Settings => "settings",
            MenuAction::Quit => "quit",
        }
    }

    pub fn from_id(id: &str) -> Option<MenuAction> {
        MenuAction::ALL.into_iter().find(|a| a.id() == id)
    }

    pub fn label(self) -> &'static str {
        match self {
            MenuAction::ToggleRouting => "Routing on",
            MenuAction::OpenDashboard => "Open dashboard",
            MenuAction::CopyEndpoint => "Copy endpoint URL",
            MenuAction::CopyAccessKey => "Copy access key",
            MenuAction::ConfigureTools => "All tools…",
            MenuAction::CheckForUpdates => "Check for updates",
            MenuAction::InstallUpdate => "Install update and restart",
            MenuAction::Settings => "App settings…",
            MenuAction::Quit => "Quit Switchboard",
        }
    }
}

/// The "Configure tools" submenu's label.
pub const TOOLS_MENU_LABEL: &str = "Configure tools";

/// Menu ids of the submenu's tool entries: `tool:<slug>`.
const TOOL_ID_PREFIX: &str = "tool:";

/// One entry of the "Configure tools" submenu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolItem {
    pub id: String,
    pub label: String,
}

/// The "Configure tools" submenu: each tool found on this machine with its state, in display
/// order (tools not found are left out), then the Integrations page ([`MenuAction::
/// ConfigureTools`]), where a tool is configured, changed or undone.
pub fn tools_menu(tools: &[(ToolId, Status)]) -> Vec<ToolItem> {
    let mut out: Vec<ToolItem> = tools
        .iter()
        .filter_map(|(tool, status)| {
            let state = match status {
                Status::NotInstalled => return None,
                Status::NotConfigured => "not configured",
                Status::Configured => "configured",
                Status::Drifted { .. } => "changed since configured",
            };
            Some(ToolItem {
                id: format!("{TOOL_ID_PREFIX}{}", tool.slug()),
                label: format!("{} — {state}", tool.name()),
            })
        })
        .collect();
    if out.is_empty() {
        out.push(ToolItem {
            id: format!("{TOOL_ID_PREFIX}none"),
            label: "No AI tool found".to_owned(),
        });
    }
    out.push(ToolItem {
        id: MenuAction::ConfigureTools.id().to_owned(),
        label: MenuAction::ConfigureTools.label().to_owned(),
    });
    out
}

/// The tool a submenu entry names, if the id is a tool entry's.
pub fn tool_of(id: &str) -> Option<ToolId> {
    id.strip_prefix(TOOL_ID_PREFIX)?.parse().ok()
}

/// The directory (under `root`) a state's tray icon is written to. A StatusNotifierItem names
/// its icon by file path, so the directory puts the state into the icon name panels and tests
/// see (`…/switchboard-tray/cooling/tray-icon-main-3.png`).
pub fn icon_dir(root: &Path, state: OverallState) -> PathBuf {
    root.join(match state {
        OverallState::RoutingOff => "routing-off",
        OverallState::AllHealthy => "healthy",
        OverallState::SomeCooling => "cooling",
        OverallState::NothingUsable => "down",
    })
}

/// The status dot's colour per state (RGBA).
pub fn dot_color(state: OverallState) -> [u8; 4] {
    match state {
        OverallState::RoutingOff => [0x9a, 0x9a, 0x9a, 0xff],
        OverallState::AllHealthy => [0x2e, 0xc2, 0x5a, 0xff],
        OverallState::SomeCooling => [0xf5, 0xa6, 0x23, 0xff],
        OverallState::NothingUsable => [0xe5, 0x39, 0x35, 0xff],
    }
}

/// The tray icon for a state: `base` (RGBA, `width`×`height`) with a dot in the lower right
/// corner, ringed in white so it reads on dark and light panels. Routing off also greys the
/// whole icon.
pub fn render_icon(base: &[u8], width: u32, height: u32, state: OverallState) -> Vec<u8> {
    let mut px = base.to_vec();
    let (w, h) = (width as usize, height as usize);
    if px.len() != w * h * 4 {
        return px;
    }
    if state == OverallState::RoutingOff {
        for p in px.chunks_exact_mut(4) {
            let grey =
                ((u32::from(p[0]) * 30 + u32::from(p[1]) * 59 + u32::from(p[2]) * 11) / 100) as u8;
            p[0] = grey;
            p[1] = grey;
            p[2] = grey;
        }
    }
    let size = w.min(h) as f32;
    let r_dot = size * 0.22;
    let r_ring = size * 0.29;
    let (cx, cy) = (w as f32 - r_ring, h as f32 - r_ring);
    let color = dot_color(state);
    for y in 0..h {
        for x in 0..w {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            let i = (y * w + x) * 4;
            if d <= r_dot {
                px[i..i + 4].copy_from_slice(&color);
            } else if d <= r_ring {
                px[i..i + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
            }
        }
    }
    px
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn menu_ids_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for a in MenuAction::ALL {
            assert_eq!(MenuAction::from_id(a.id()), Some(a));
            assert!(seen.insert(a.id()));
        }
        assert_eq!(MenuAction::from_id("status"), None);
    }

    #[test]
    fn tools_menu_lists_detected_tools_with_their_state_then_the_page() {
        let menu = tools_menu(&[
            (ToolId::Codex, Status::Configured),
            (ToolId::ClaudeCode, Status::NotInstalled),
            (ToolId::QwenCode, Status::NotConfigured),
            (
                ToolId::Zed,
                Status::Drifted {
                    changed_files: vec![],
                    changed_keys: vec!["context window".into()],
                },
            ),
        ]);
        let labels: Vec<&str> = menu.iter().map(|i| i.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "Codex CLI — configured",
                "Qwen Code — not configured",
                "Zed — changed since configured",
                "All tools…",
            ]
        );
        assert_eq!(tool_of(&menu[0].id), Some(ToolId::Codex));
        assert_eq!(tool_of(&menu[1].id), Some(ToolId::QwenCode));
        assert_eq!(tool_of(&menu[2].id), Some(ToolId::Zed));
        assert_eq!(
            MenuAction::from_id(&menu[3].id),
            Some(MenuAction::ConfigureTools)
        );
        // Entry ids never collide with the actions'.
        for item in &menu[..3] {
            assert_eq!(MenuAction::from_id(&item.id), None);
        }
    }

    #[test]
    fn tools_menu_without_tools_says_so() {
        let menu = tools_menu(&[(ToolId::Codex, Status::NotInstalled)]);
        assert_eq!(menu.len(), 2);
        assert_eq!(menu[0].label, "No AI tool found");
        assert_eq!(tool_of(&menu[0].id), None);
        assert_eq!(menu[1].id, MenuAction::ConfigureTools.id());
    }

    #[test]
    fn each_state_has_its_own_icon_directory() {
        let root = Path::new("/run/user/1000/switchboard-tray");
        let dirs: std::collections::HashSet<PathBuf> = [
            OverallState::RoutingOff,
            OverallState::AllHealthy,
            OverallState::SomeCooling,
            OverallState::NothingUsable,
        ]
        .into_iter()
        .map(|s| icon_dir(root, s))
        .collect();
        assert_eq!(dirs.len(), 4);
        assert!(dirs.iter().all(|d| d.parent() == Some(root)));
        assert_eq!(
            icon_dir(root, OverallState::SomeCooling),
            root.join("cooling")
        );
    }

    #[test]
    fn each_state_has_its_own_dot() {
        let base = vec![0x20u8; 32 * 32 * 4];
        let icons: Vec<Vec<u8>> = [
            OverallState::RoutingOff,
            OverallState::AllHealthy,
            OverallState::SomeCooling,
            OverallState::NothingUsable,
        ]
        .into_iter()
        .map(|s| render_icon(&base, 32, 32, s))
        .collect();
        for (i, a) in icons.iter().enumerate() {
            assert_eq!(a.len(), base.len());
            for b in &icons[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // The lower-right corner region carries the colour; the upper-left keeps the base.
        let healthy = &icons[1];
        let i = (25 * 32 + 25) * 4;
        assert_eq!(&healthy[i..i + 4], &dot_color(OverallState::AllHealthy));
        assert_eq!(&healthy[0..4], &base[0..4]);
        // A wrong-sized buffer is returned unchanged rather than indexed out of bounds.
        assert_eq!(
            render_icon(&[1, 2, 3], 32, 32, OverallState::AllHealthy),
            vec![1, 2, 3]
        );
    }
}
