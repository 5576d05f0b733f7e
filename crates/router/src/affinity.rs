//! Session affinity: requests of one conversation go to the key that served it while that
//! key stays healthy, so the provider's prompt cache stays warm.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use parking_lot::Mutex;

/// Conversation id → (key id, expiry in unix ms).
#[derive(Debug, Default)]
pub struct AffinityTable {
    map: Mutex<HashMap<u64, (i64, i64)>>,
}

/// Above this many entries, expired ones are swept on insert.
const SWEEP_AT: usize = 10_000;

impl AffinityTable {
    pub fn get(&self, session: u64, now_ms: i64) -> Option<i64> {
        let map = self.map.lock();
        map.get(&session)
            .filter(|(_, exp)| *exp > now_ms)
            .map(|(k, _)| *k)
    }

    pub fn set(&self, session: u64, key_id: i64, now_ms: i64, ttl_ms: i64) {
        let mut map = self.map.lock();
        if map.len() >= SWEEP_AT {
            map.retain(|_, (_, exp)| *exp > now_ms);
        }
        map.insert(session, (key_id, now_ms.saturating_add(ttl_ms)));
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

    #[test]
    fn expires_after_ttl() {
        let t = AffinityTable::default();
        let s = session_id(&[b"abc"]);
        t.set(s, 7, 1000, 500);
        assert_eq!(t.get(s, 1499), Some(7));
        assert_eq!(t.get(s, 1500), None);
        assert_ne!(session_id(&[b"abc"]), session_id(&[b"abd"]));
    }
}
