//! Request ids: 48 bits of Unix milliseconds then 80 random bits, written as 26 characters of
//! Crockford base32 (the ULID layout). They sort by time as strings, which the request log's
//! cursor paging relies on. The store assigns one when it writes a record; the engine assigns
//! one up front to a captured request, so its capture names it.

use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use rand::RngCore;

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Current Unix time in milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A new instance id, `sb-` and 12 random hex digits, for an instance started without
/// `SWITCHBOARD_INSTANCE_ID`.
pub fn new_instance_id() -> String {
    let mut random = [0u8; 6];
    rand::rng().fill_bytes(&mut random);
    format!("sb-{}", hex::encode(random))
}

/// A new request id for now.
pub fn new_request_id() -> String {
    request_id_at(now_ms())
}

/// A new request id whose time part is `unix_ms` (clamped to 0..2^48).
pub fn request_id_at(unix_ms: i64) -> String {
    static IDS: Ids = Ids::new();
    IDS.at(unix_ms)
}

/// Makes request ids. Ids made one after another for the same millisecond follow each other
/// (the random part of the first, plus one each), so records written in order list in that
/// order; other instances' ids stay apart by their random start.
struct Ids {
    /// The last id made: its millisecond and random part.
    last: Mutex<(u128, u128)>,
}

impl Ids {
    const fn new() -> Ids {
        Ids {
            last: parking_lot::const_mutex((u128::MAX, 0)),
        }
    }

    fn at(&self, unix_ms: i64) -> String {
        const RANDOM_MAX: u128 = (1 << 80) - 1;
        let ms = u128::from(u64::try_from(unix_ms.max(0)).unwrap_or(0) & 0xFFFF_FFFF_FFFF);
        let mut last = self.last.lock();
        let r = match *last {
            (last_ms, r) if last_ms == ms && r < RANDOM_MAX => r + 1,
            _ => {
                let mut random = [0u8; 10];
                rand::rng().fill_bytes(&mut random);
                // Room to count up from.
                random[0] &= 0x7F;
                random.iter().fold(0u128, |r, b| (r << 8) | u128::from(*b))
            }
        };
        *last = (ms, r);
        drop(last);
        encode((ms << 80) | r)
    }
}

/// The millisecond timestamp of an id made by [`new_request_id`], if it is one.
pub fn request_id_time_ms(id: &str) -> Option<i64> {
    if id.len() != 26 {
        return None;
    }
    let mut v: u128 = 0;
    for c in id.bytes() {
        let d = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())?;
        v = (v << 5) | d as u128;
    }
    i64::try_from(v >> 80).ok()
}

fn encode(mut v: u128) -> String {
    let mut out = [0u8; 26];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(v & 31) as usize];
        v >>= 5;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time_and_round_trip() {
        let a = request_id_at(1_700_000_000_000);
        let b = request_id_at(1_700_000_000_001);
        assert_eq!(a.len(), 26);
        assert!(a < b);
        assert_eq!(request_id_time_ms(&a), Some(1_700_000_000_000));
        assert_ne!(new_request_id(), new_request_id());
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
    }

    #[test]
    fn ids_of_one_millisecond_follow_the_order_they_were_made_in() {
        let ids_made = Ids::new();
        let ids: Vec<String> = (0..1000).map(|_| ids_made.at(1_700_000_000_123)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
        assert!(
            ids.iter()
                .all(|id| request_id_time_ms(id) == Some(1_700_000_000_123))
        );
        // An earlier millisecond still sorts first.
        assert!(ids_made.at(1_700_000_000_122) < ids[0]);
    }
}
