//! The serving threads: one single-threaded runtime per core, each serving whole client
//! connections. A connection's requests, their upstream exchanges and their streams stay on
//! the thread that took the connection until it closes, so a request costs no hand-off between
//! threads: a work-stealing runtime wakes an idle worker each time a task becomes ready, a few
//! futex calls and context switches per request. Connections are dealt out to the threads in
//! turn. Each thread enters its [`shard`] so per-thread state (the direct client's idle
//! upstream connections) stays with the reactor that reads it.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use switchboard_router::shard;
use tokio::sync::mpsc;

/// Work for a serving thread, run inside its runtime (so `tokio::spawn` lands there).
pub(crate) type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug)]
pub(crate) struct Workers {
    queues: Vec<mpsc::UnboundedSender<Job>>,
    next: AtomicUsize,
}

impl Workers {
    /// The process's serving threads, started on first use; they live as long as it does.
    pub(crate) fn get() -> &'static Workers {
        static WORKERS: OnceLock<Workers> = OnceLock::new();
        WORKERS.get_or_init(Workers::start)
    }

    fn start() -> Workers {
        let queues = (1..=shard::serving_threads())
            .filter_map(|index| match serving_thread(index) {
                Ok(queue) => Some(queue),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot start a serving thread");
                    None
                }
            })
            .collect();
        Workers {
            queues,
            next: AtomicUsize::new(0),
        }
    }

    /// Runs `job` on the next serving thread; on the caller's runtime if none is running.
    pub(crate) fn run(&self, job: Job) {
        let job = match self.queues.len() {
            0 => job,
            n => {
                let turn = self.next.fetch_add(1, Ordering::Relaxed) % n;
                match self.queues[turn].send(job) {
                    Ok(()) => return,
                    Err(mpsc::error::SendError(job)) => job,
                }
            }
        };
        job();
    }
}

fn serving_thread(index: usize) -> std::io::Result<mpsc::UnboundedSender<Job>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
    std::thread::Builder::new()
        .name(format!("serve-{index}"))
        .spawn(move || {
            shard::enter(index);
            runtime.block_on(async move {
                while let Some(job) = rx.recv().await {
                    job();
                }
            });
        })?;
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_are_dealt_out_to_every_serving_thread_in_turn() {
        let workers = Workers::get();
        let n = workers.queues.len();
        assert_eq!(n, shard::serving_threads());
        let (tx, mut rx) = mpsc::unbounded_channel();
        // Other tests take turns too: enough jobs that each thread gets some regardless.
        for _ in 0..16 * n {
            let tx = tx.clone();
            workers.run(Box::new(move || {
                // Inside the serving thread's runtime: spawning works there.
                tokio::spawn(async move {
                    let name = std::thread::current().name().map(str::to_owned);
                    let _ = tx.send(name);
                });
            }));
        }
        drop(tx);
        let mut names = Vec::new();
        while let Some(name) = rx.recv().await {
            names.push(name.unwrap_or_default());
        }
        names.sort();
        names.dedup();
        let expected: Vec<String> = (1..=n).map(|i| format!("serve-{i}")).collect();
        assert_eq!(names, expected);
    }
}
