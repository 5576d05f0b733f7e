//! The line held requests of a route wait in.
//!
//! A request is held when every candidate key is short of quota, cooling or busy and the first
//! of them comes back within the route's wait. Each would otherwise sleep until that moment on
//! its own; they all wake together and the one the timer happens to run first takes what came
//! back, so under sustained overload an unlucky request could lose every time and wait out the
//! whole `max_wait_ms`. Instead, held requests take the route's turn in the order they were
//! held (tokio's mutex is fair): only the request holding the turn waits for a key, and it gives
//! the turn up as soon as it has one. A request arriving while others are held queues behind
//! them rather than take what comes back first: first come, first served, so a large request
//! short of tokens is not starved by a stream of small ones that fit. The wait in line counts
//! towards the request's `max_wait_ms`; when that runs out it looks for a key once more and,
//! finding none, is answered 429 with `Retry-After`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

/// One route's line (kept with the route in the snapshot).
#[derive(Debug, Default)]
pub struct Line {
    /// Requests waiting for the turn or holding it.
    queued: AtomicUsize,
    turn: Mutex<()>,
}

impl Line {
    /// Waits for the turn, at most `within`; `None` when that ran out first.
    pub(crate) async fn turn(&self, within: Duration) -> Option<Turn<'_>> {
        let place = Place::join(self);
        let guard = tokio::time::timeout(within, self.turn.lock()).await.ok()?;
        Some(Turn {
            _guard: guard,
            _place: place,
        })
    }

    /// Requests waiting for the turn or holding it.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

/// A request's place in the line, from joining it until it leaves (with or without the turn).
struct Place<'a>(&'a Line);

impl<'a> Place<'a> {
    fn join(line: &'a Line) -> Self {
        line.queued.fetch_add(1, Ordering::Relaxed);
        Place(line)
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.0.queued.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The turn: held while its request waits for a key, dropped once it has one.
pub(crate) struct Turn<'a> {
    _guard: MutexGuard<'a, ()>,
    _place: Place<'a>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_turn_passes_in_arrival_order_and_a_timed_out_place_is_left() {
        let line = Line::default();
        let first = line
            .turn(Duration::from_secs(1))
            .await
            .expect("a free turn");
        assert_eq!(line.queued(), 1);
        let order = std::sync::Mutex::new(Vec::new());
        let wait = |n: u32| {
            let (line, order) = (&line, &order);
            async move {
                let turn = line.turn(Duration::from_secs(5)).await;
                order.lock().unwrap().push(n);
                drop(turn);
            }
        };
        let give_up = async {
            assert!(line.turn(Duration::from_millis(10)).await.is_none());
            order.lock().unwrap().push(0);
        };
        let release = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!(line.queued(), 4, "three waiting and the holder");
            drop(first);
        };
        tokio::join!(wait(1), wait(2), give_up, wait(3), release);
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3]);
        assert_eq!(line.queued(), 0);
    }
}
