//! Session affinity: requests of one conversation go to the provider, model and key that
//! served it while they stay usable, under every routing strategy, so the provider's prompt
//! cache stays warm. A conversation moves only when its target cools or fails; the request
//! record says which.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use parking_lot::Mutex;

use crate::model::Target;

/// Where a conversation was last served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pin {
    pub provider: String,
    pub model: String,
    pub key_id: i64,
}

/// Conversation id → (where it was served, expiry in unix ms).
#[derive(Debug, Default)]
pub struct AffinityTable {
    map: Mutex<HashMap<u64, (Pin, i64)>>,
}

/// Above this many entries, expired ones are swept on insert.
const SWEEP_AT: usize = 10_000;

impl AffinityTable {
    pub fn get(&self, session: u64, now_ms: i64) -> Option<Pin> {
        let map = self.map.lock();
        map.get(&session)
            .filter(|(_, exp)| *exp > now_ms)
            .map(|(p, _)| p.clone())
    }

    /// Pins `session` to `pin` until `ttl_ms` from now. A conversation served where it was
    /// pinned only has its expiry moved (nothing is copied).
    pub fn set(&self, session: u64, pin: &Pin, now_ms: i64, ttl_ms: i64) {
        let expires = now_ms.saturating_add(ttl_ms);
        let mut map = self.map.lock();
        if let Some((held, exp)) = map.get_mut(&session)
            && held == pin
        {
            *exp = expires;
            return;
        }
        if map.len() >= SWEEP_AT {
            map.retain(|_, (_, exp)| *exp > now_ms);
        }
        map.insert(session, (pin.clone(), expires));
    }
}

/// Why a pinned conversation left its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// The pinned key (or every key of the target) is cooling down or at its concurrency
    /// limit.
    Cooling,
    /// The pinned key's attempt failed, or the target refused the request.
    Failed,
    /// The target is no longer in the route, its provider is disabled, or it cannot take the
    /// request (context window).
    Unavailable,
    /// A hedged route's other target answered first.
    Slow,
}

/// What affinity did for one served request, as the record's `affinity` string:
/// `kept`, or `moved: cooling` / `moved: failed` / `moved: unavailable` / `moved: slow`.
pub fn describe(pin: &Pin, served: &Pin, moved: Option<Moved>) -> &'static str {
    if pin == served {
        return "kept";
    }
    match moved.unwrap_or(Moved::Unavailable) {
        Moved::Cooling => "moved: cooling",
        Moved::Failed => "moved: failed",
        Moved::Unavailable => "moved: unavailable",
        Moved::Slow => "moved: slow",
    }
}

/// Puts the pinned target first, whatever order the route's strategy chose; `false` when the
/// route no longer has it.
pub fn pin_first(targets: &mut [Target], pin: &Pin) -> bool {
    match targets
        .iter()
        .position(|t| t.provider == pin.provider && t.model == pin.model)
    {
        Some(i) => {
            targets[..=i].rotate_right(1);
            true
        }
        None => false,
    }
}

/// Hashes the parts that identify a conversation into a session id.
pub fn session_id(parts: &[&[u8]]) -> u64 {
    let mut h = DefaultHasher::new();
    for p in parts {
        p.hash(&mut h);
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pin(provider: &str, model: &str, key_id: i64) -> Pin {
        Pin {
            provider: provider.into(),
            model: model.into(),
            key_id,
        }
    }

    fn target(provider: &str, model: &str) -> Target {
        Target {
            provider: provider.into(),
            model: model.into(),
            priority: 0,
            weight: 1,
            context_window: None,
        }
    }

    #[test]
    fn expires_after_ttl() {
        let t = AffinityTable::default();
        let s = session_id(&[b"abc"]);
        t.set(s, &pin("a", "m", 7), 1000, 500);
        assert_eq!(t.get(s, 1499), Some(pin("a", "m", 7)));
        assert_eq!(t.get(s, 1500), None);
        assert_ne!(session_id(&[b"abc"]), session_id(&[b"abd"]));
    }

    #[test]
    fn serving_again_extends_the_pin_and_serving_elsewhere_replaces_it() {
        let t = AffinityTable::default();
        let s = session_id(&[b"conversation"]);
        t.set(s, &pin("a", "m", 7), 1000, 500);
        t.set(s, &pin("a", "m", 7), 1400, 500);
        assert_eq!(
            t.get(s, 1800),
            Some(pin("a", "m", 7)),
            "expiry moved to 1900"
        );
        t.set(s, &pin("b", "m", 3), 1800, 500);
        assert_eq!(t.get(s, 1850), Some(pin("b", "m", 3)));
        assert_eq!(t.get(s, 2300), None);
    }

    #[test]
    fn pinned_target_goes_first_and_the_rest_keep_their_order() {
        let mut ts = vec![
            target("a", "m"),
            target("b", "m"),
            target("c", "m"),
            target("b", "n"),
        ];
        assert!(pin_first(&mut ts, &pin("c", "m", 1)));
        let order: Vec<(&str, &str)> = ts
            .iter()
            .map(|t| (t.provider.as_str(), t.model.as_str()))
            .collect();
        assert_eq!(order, [("c", "m"), ("a", "m"), ("b", "m"), ("b", "n")]);
        // Same provider, other model: not the pinned target.
        assert!(!pin_first(&mut ts, &pin("a", "n", 1)));
    }

    #[test]
    fn describes_kept_and_why_it_moved() {
        let p = pin("a", "m", 1);
        assert_eq!(describe(&p, &p, None), "kept");
        assert_eq!(
            describe(&p, &pin("a", "m", 2), Some(Moved::Cooling)),
            "moved: cooling"
        );
        assert_eq!(
            describe(&p, &pin("b", "m", 3), Some(Moved::Failed)),
            "moved: failed"
        );
        assert_eq!(describe(&p, &pin("b", "m", 3), None), "moved: unavailable");
    }
}
