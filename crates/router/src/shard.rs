//! Which serving thread this is. The server serves each client connection wholly on one of a
//! few single-threaded runtimes, one per core; state whose I/O belongs to one runtime (the
//! direct client's idle upstream connections) is kept per serving thread, so a connection is
//! driven by the thread whose reactor reads it. Shard 0 is every other thread.

use std::cell::Cell;
use std::sync::OnceLock;

thread_local!(static CURRENT: Cell<usize> = const { Cell::new(0) });

/// How many serving threads the server runs: one per core.
pub fn serving_threads() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// How many shards per-thread state has: one per serving thread and shard 0.
pub(crate) fn count() -> usize {
    serving_threads() + 1
}

/// Marks the calling thread as serving thread `index` (1-based, at most
/// [`serving_threads`]); other values leave it in shard 0.
pub fn enter(index: usize) {
    if (1..count()).contains(&index) {
        CURRENT.with(|c| c.set(index));
    }
}

/// The calling thread's shard.
pub(crate) fn current() -> usize {
    CURRENT.with(Cell::get)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_is_in_shard_zero_until_it_enters_a_serving_slot() {
        std::thread::spawn(|| {
            assert_eq!(current(), 0);
            enter(count());
            assert_eq!(current(), 0, "out of range");
            enter(serving_threads());
            assert_eq!(current(), serving_threads());
        })
        .join()
        .unwrap();
        assert_eq!(current(), 0, "per thread");
    }
}
