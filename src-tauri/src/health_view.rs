//! The engine's health as the shell shows it: a four-state summary for the tray icon and
//! tooltip, and the [`Incident`]s notifications are made of. Pure functions over a
//! [`Board`] the caller reads from the engine, so they are tested without a GUI.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use switchboard_router::health::{CoolReason, HealthEntry, HealthEvent, HealthState, Scope};

use crate::notices::{Incident, NoticeKind, Subject};

/// A key as the shell needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRef {
    pub id: i64,
    pub provider: String,
    pub label: String,
}

impl KeyRef {
    pub fn name(&self) -> String {
        format!("{}/{}", self.provider, self.label)
    }
}

/// A route as the shell needs it: the alias and its (provider, upstream model) targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRef {
    pub alias: String,
    pub targets: Vec<(String, String)>,
}

/// A point-in-time view of the engine: enabled keys, routes and non-healthy health entries.
#[derive(Debug, Clone, Default)]
pub struct Board {
    pub keys: Vec<KeyRef>,
    pub routes: Vec<RouteRef>,
    pub entries: Vec<HealthEntry>,
    pub now_ms: i64,
}

/// How a key stands overall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyStanding {
    Healthy,
    /// Cooling for some models or as a whole, will come back on its own.
    Cooling,
    /// Unusable until the user acts (auth error, disabled) or the whole provider is down.
    Down,
}

/// Counts for the tooltip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub keys: usize,
    pub healthy: usize,
    pub cooling: usize,
    pub down: usize,
}

/// The tray icon's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TrayState {
    /// The listener is stopped (routing switched off).
    RoutingOff,
    /// Every key is usable.
    AllHealthy,
    /// Some keys are cooling or failing, at least one is usable.
    SomeCooling,
    /// No key can serve anything (or none is configured).
    NothingUsable,
}

impl TrayState {
    pub fn label(self) -> &'static str {
        match self {
            TrayState::RoutingOff => "routing off",
            TrayState::AllHealthy => "all keys healthy",
            TrayState::SomeCooling => "some keys cooling",
            TrayState::NothingUsable => "no usable key",
        }
    }
}

fn blocked(entry: &HealthEntry, now_ms: i64) -> bool {
    match entry.state {
        HealthState::Healthy | HealthState::Probing => false,
        HealthState::AuthError | HealthState::Disabled => true,
        HealthState::Cooling => entry.until_ms.is_none_or(|u| u > now_ms),
    }
}

fn standing(board: &Board, key: &KeyRef) -> KeyStanding {
    let mut out = KeyStanding::Healthy;
    for e in &board.entries {
        if !blocked(e, board.now_ms) {
            continue;
        }
        let hit = match &e.scope {
            Scope::Provider { provider } => provider == &key.provider,
            Scope::Key { key_id } => *key_id == key.id,
            Scope::KeyModel { key_id, .. } => *key_id == key.id,
        };
        if !hit {
            continue;
        }
        let this = match (&e.scope, e.state) {
            (Scope::KeyModel { .. }, _) => KeyStanding::Cooling,
            (_, HealthState::Cooling) => KeyStanding::Cooling,
            _ => KeyStanding::Down,
        };
        if this == KeyStanding::Down {
            return KeyStanding::Down;
        }
        out = this;
    }
    out
}

/// Per-key counts.
pub fn counts(board: &Board) -> Counts {
    let mut c = Counts {
        keys: board.keys.len(),
        ..Counts::default()
    };
    for k in &board.keys {
        match standing(board, k) {
            KeyStanding::Healthy => c.healthy += 1,
            KeyStanding::Cooling => c.cooling += 1,
            KeyStanding::Down => c.down += 1,
        }
    }
    c
}

/// Can `key` serve `model` now?
fn usable_for(board: &Board, key: &KeyRef, model: &str) -> bool {
    !board.entries.iter().any(|e| {
        blocked(e, board.now_ms)
            && match &e.scope {
                Scope::Provider { provider } => provider == &key.provider,
                Scope::Key { key_id } => *key_id == key.id,
                Scope::KeyModel { key_id, model: m } => *key_id == key.id && m == model,
            }
    })
}

/// Aliases none of whose targets has a usable key.
pub fn unusable_aliases(board: &Board) -> BTreeSet<String> {
    board
        .routes
        .iter()
        .filter(|r| {
            !r.targets.iter().any(|(provider, model)| {
                board
                    .keys
                    .iter()
                    .any(|k| &k.provider == provider && usable_for(board, k, model))
            })
        })
        .map(|r| r.alias.clone())
        .collect()
}

/// The tray state for a board.
pub fn tray_state(listening: bool, board: &Board) -> TrayState {
    if !listening {
        return TrayState::RoutingOff;
    }
    let c = counts(board);
    if c.healthy == c.keys && c.keys > 0 {
        return TrayState::AllHealthy;
    }
    // No key is fully healthy and no alias can be served (keys cooling for one model may
    // still serve another alias: that is "some cooling", not "nothing usable").
    let dead = unusable_aliases(board);
    if c.healthy == 0 && (board.routes.is_empty() || dead.len() == board.routes.len()) {
        TrayState::NothingUsable
    } else {
        TrayState::SomeCooling
    }
}

/// The tray tooltip: state and counts.
pub fn tooltip(state: TrayState, c: Counts, endpoint: &str) -> String {
    match state {
        TrayState::RoutingOff => "Switchboard — routing off".to_owned(),
        _ if c.keys == 0 => format!("Switchboard — no keys yet\n{endpoint}"),
        _ => {
            let mut parts = vec![format!("{} healthy", c.healthy)];
            if c.cooling > 0 {
                parts.push(format!("{} cooling", c.cooling));
            }
            if c.down > 0 {
                parts.push(format!("{} failing", c.down));
            }
            format!(
                "Switchboard — {}\n{} of {} keys: {}\n{endpoint}",
                state.label(),
                c.healthy,
                c.keys,
                parts.join(", ")
            )
        }
    }
}

/// Follows health events and alias usability, turning them into incidents.
#[derive(Debug, Default)]
pub struct IncidentTracker {
    /// Keys we have announced as failing, by id, with the kind announced.
    failing: BTreeMap<i64, NoticeKind>,
    /// Aliases we have announced as unusable.
    dead_aliases: BTreeSet<String>,
}

impl IncidentTracker {
    /// Starts from the current board without announcing what was already broken.
    pub fn new(board: &Board) -> IncidentTracker {
        IncidentTracker {
            failing: BTreeMap::new(),
            dead_aliases: unusable_aliases(board),
        }
    }

    /// The incidents an event causes, given the board after it.
    pub fn on_event(&mut self, event: &HealthEvent, board: &Board) -> Vec<Incident> {
        let mut out = Vec::new();
        if let Some(key_id) = event.scope.key_id() {
            let name = board
                .keys
                .iter()
                .find(|k| k.id == key_id)
                .map(KeyRef::name)
                .unwrap_or_else(|| format!("{}/key {key_id}", event.provider));
            let subject = Subject::Key { id: key_id, name };
            let kind = match (event.state, event.reason) {
                (HealthState::AuthError, _) => Some(NoticeKind::AuthFailed),
                (HealthState::Cooling, Some(CoolReason::InsufficientBalance)) => {
                    Some(NoticeKind::OutOfBalance)
                }
                (HealthState::Cooling, Some(CoolReason::RateLimited)) => {
                    Some(NoticeKind::RateLimited)
                }
                // Temporary errors (5xx, timeouts) come and go; not worth a notification.
                _ => None,
            };
            match (kind, event.state) {
                (Some(kind), _) if self.failing.get(&key_id) != Some(&kind) => {
                    self.failing.insert(key_id, kind);
                    out.push(Incident { kind, subject });
                }
                (None, HealthState::Healthy) if self.failing.remove(&key_id).is_some() => {
                    out.push(Incident {
                        kind: NoticeKind::Recovered,
                        subject,
                    });
                }
                _ => {}
            }
        }
        let dead = unusable_aliases(board);
        for alias in dead.difference(&self.dead_aliases) {
            out.push(Incident {
                kind: NoticeKind::AliasUnusable,
                subject: Subject::Alias(alias.clone()),
            });
        }
        for alias in self.dead_aliases.difference(&dead) {
            out.push(Incident {
                kind: NoticeKind::Recovered,
                subject: Subject::Alias(alias.clone()),
            });
        }
        self.dead_aliases = dead;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board() -> Board {
        Board {
            keys: ["a", "b", "c"]
                .iter()
                .enumerate()
                .map(|(i, l)| KeyRef {
                    id: i as i64 + 1,
                    provider: "mock".into(),
                    label: (*l).into(),
                })
                .collect(),
            routes: vec![RouteRef {
                alias: "gpt-5.5".into(),
                targets: vec![("mock".into(), "m1".into())],
            }],
            entries: vec![],
            now_ms: 1_000,
        }
    }

    fn cooling(key_id: i64, until: i64) -> HealthEntry {
        HealthEntry {
            scope: Scope::Key { key_id },
            provider: "mock".into(),
            state: HealthState::Cooling,
            reason: Some(CoolReason::RateLimited),
            until_ms: Some(until),
            failures: 1,
        }
    }

    fn event(key_id: i64, state: HealthState, reason: Option<CoolReason>) -> HealthEvent {
        HealthEvent {
            scope: Scope::Key { key_id },
            provider: "mock".into(),
            state,
            reason,
            until_ms: None,
            at_ms: 1_000,
        }
    }

    #[test]
    fn four_tray_states() {
        let mut b = board();
        assert_eq!(tray_state(false, &b), TrayState::RoutingOff);
        assert_eq!(tray_state(true, &b), TrayState::AllHealthy);
        b.entries.push(cooling(1, 5_000));
        assert_eq!(tray_state(true, &b), TrayState::SomeCooling);
        b.entries.push(cooling(2, 5_000));
        b.entries.push(HealthEntry {
            state: HealthState::AuthError,
            reason: None,
            until_ms: None,
            ..cooling(3, 0)
        });
        assert_eq!(
            tray_state(true, &b),
            TrayState::NothingUsable,
            "nothing can serve now"
        );
        assert_eq!(unusable_aliases(&b).len(), 1);
        b.entries
            .retain(|e| e.scope != Scope::Key { key_id: 1 } && e.scope != Scope::Key { key_id: 2 });
        b.entries.push(HealthEntry {
            state: HealthState::AuthError,
            ..cooling(1, 0)
        });
        b.entries.push(HealthEntry {
            state: HealthState::Disabled,
            ..cooling(2, 0)
        });
        assert_eq!(tray_state(true, &b), TrayState::NothingUsable);
        // An expired cooldown counts as usable (the next request probes it).
        let mut b = board();
        b.entries.push(cooling(1, 500));
        assert_eq!(tray_state(true, &b), TrayState::AllHealthy);
        // No keys at all: nothing usable.
        assert_eq!(
            tray_state(true, &Board::default()),
            TrayState::NothingUsable
        );
    }

    #[test]
    fn tooltip_has_counts() {
        let mut b = board();
        b.entries.push(cooling(1, 5_000));
        let c = counts(&b);
        assert_eq!(
            c,
            Counts {
                keys: 3,
                healthy: 2,
                cooling: 1,
                down: 0
            }
        );
        let t = tooltip(tray_state(true, &b), c, "http://127.0.0.1:9911/v1");
        assert_eq!(
            t,
            "Switchboard — some keys cooling\n2 of 3 keys: 2 healthy, 1 cooling\nhttp://127.0.0.1:9911/v1"
        );
        assert_eq!(
            tooltip(TrayState::RoutingOff, c, "x"),
            "Switchboard — routing off"
        );
    }

    #[test]
    fn model_scoped_cooling_leaves_other_models_usable() {
        let mut b = board();
        b.routes.push(RouteRef {
            alias: "other".into(),
            targets: vec![("mock".into(), "m2".into())],
        });
        for k in 1..=3 {
            b.entries.push(HealthEntry {
                scope: Scope::KeyModel {
                    key_id: k,
                    model: "m1".into(),
                },
                ..cooling(k, 5_000)
            });
        }
        assert_eq!(unusable_aliases(&b), BTreeSet::from(["gpt-5.5".to_owned()]));
        assert_eq!(tray_state(true, &b), TrayState::SomeCooling);
    }

    #[test]
    fn incidents_for_a_burst_and_recovery() {
        let mut b = board();
        let mut t = IncidentTracker::new(&b);
        let mut all = Vec::new();
        for k in 1..=3 {
            b.entries.push(cooling(k, 30_000));
            all.extend(t.on_event(
                &event(k, HealthState::Cooling, Some(CoolReason::RateLimited)),
                &b,
            ));
        }
        let kinds: Vec<_> = all.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            [
                NoticeKind::RateLimited,
                NoticeKind::RateLimited,
                NoticeKind::RateLimited,
                NoticeKind::AliasUnusable
            ]
        );
        assert_eq!(
            all[0].subject,
            Subject::Key {
                id: 1,
                name: "mock/a".into()
            }
        );
        // Repeats of the same state say nothing new.
        assert!(
            t.on_event(
                &event(1, HealthState::Cooling, Some(CoolReason::RateLimited)),
                &b
            )
            .is_empty()
        );
        // Temporary errors are not announced.
        assert!(
            t.on_event(
                &event(2, HealthState::Cooling, Some(CoolReason::TemporaryError)),
                &b
            )
            .is_empty()
        );
        b.entries.retain(|e| e.scope != Scope::Key { key_id: 1 });
        let rec = t.on_event(&event(1, HealthState::Healthy, None), &b);
        assert_eq!(rec.len(), 2);
        assert!(rec.iter().all(|i| i.kind == NoticeKind::Recovered));
        assert!(
            rec.iter()
                .any(|i| i.subject == Subject::Alias("gpt-5.5".into()))
        );
    }
}
