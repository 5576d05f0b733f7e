//! The engine's health as the tray shows it: the icon's state, the tooltip and the counts are
//! the control plane's [`Summary`], put into words here. Nothing in this module judges a key:
//! its standing, the counts and the overall state are decided once, in `switchboard-control`.

use switchboard_control::{Counts, OverallState, Summary};

/// What the tray shows while the router is not running.
pub fn not_running() -> Summary {
    Summary {
        routing: false,
        counts: Counts::default(),
        state: OverallState::RoutingOff,
        unusable_aliases: Vec::new(),
    }
}

/// The overall state in a few words.
pub fn label(state: OverallState) -> &'static str {
    match state {
        OverallState::RoutingOff => "routing off",
        OverallState::AllHealthy => "all keys healthy",
        OverallState::SomeCooling => "some keys cooling",
        OverallState::NothingUsable => "no usable key",
    }
}

/// The tray tooltip: state and counts.
pub fn tooltip(summary: &Summary, endpoint: &str) -> String {
    let c = summary.counts;
    match summary.state {
        OverallState::RoutingOff => "Switchboard — routing off".to_owned(),
        _ if c.keys == 0 => format!("Switchboard — no keys yet\n{endpoint}"),
        state => {
            let mut parts = vec![format!("{} healthy", c.healthy)];
            if c.cooling > 0 {
                parts.push(format!("{} cooling", c.cooling));
            }
            if c.down > 0 {
                parts.push(format!("{} failing", c.down));
            }
            format!(
                "Switchboard — {}\n{} of {} keys: {}\n{endpoint}",
                label(state),
                c.healthy,
                c.keys,
                parts.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(state: OverallState, keys: usize, healthy: usize, cooling: usize) -> Summary {
        Summary {
            routing: state != OverallState::RoutingOff,
            counts: Counts {
                keys,
                healthy,
                cooling,
                down: keys - healthy - cooling,
            },
            state,
            unusable_aliases: Vec::new(),
        }
    }

    #[test]
    fn tooltip_has_the_state_and_the_counts() {
        let endpoint = "http://127.0.0.1:9911/v1";
        assert_eq!(
            tooltip(&summary(OverallState::SomeCooling, 3, 2, 1), endpoint),
            "Switchboard — some keys cooling\n2 of 3 keys: 2 healthy, 1 cooling\nhttp://127.0.0.1:9911/v1"
        );
        assert_eq!(
            tooltip(&summary(OverallState::NothingUsable, 3, 0, 1), endpoint),
            "Switchboard — no usable key\n0 of 3 keys: 0 healthy, 1 cooling, 2 failing\nhttp://127.0.0.1:9911/v1"
        );
        assert_eq!(
            tooltip(&summary(OverallState::AllHealthy, 2, 2, 0), endpoint),
            "Switchboard — all keys healthy\n2 of 2 keys: 2 healthy\nhttp://127.0.0.1:9911/v1"
        );
        assert_eq!(
            tooltip(&summary(OverallState::NothingUsable, 0, 0, 0), endpoint),
            "Switchboard — no keys yet\nhttp://127.0.0.1:9911/v1"
        );
        assert_eq!(
            tooltip(&summary(OverallState::RoutingOff, 3, 1, 1), endpoint),
            "Switchboard — routing off"
        );
        assert_eq!(
            tooltip(&not_running(), endpoint),
            "Switchboard — routing off"
        );
    }
}
