//! The tray: its menu (ids and what each does, as plain data), and its icon per state (the
//! app icon with a coloured status dot, drawn here so there is one source image).
//!
//! The menu is data ([`MenuAction`]) and the actions are plain functions
//! (`crate::app::perform`); on Linux the tray is a StatusNotifierItem whose menu is exported
//! over D-Bus (`com.canonical.dbusmenu`), which tests/desktop/tray.py drives for real.

use std::path::{Path, PathBuf};

use switchboard_control::OverallState;

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
            MenuAction::ConfigureTools => "Configure tools…",
            MenuAction::CheckForUpdates => "Check for updates",
            MenuAction::InstallUpdate => "Install update and restart",
            MenuAction::Settings => "App settings…",
            MenuAction::Quit => "Quit Switchboard",
        }
    }
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
