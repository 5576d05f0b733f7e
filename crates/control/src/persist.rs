//! Health persistence: cooldowns and auth errors (with their failure counts, which drive the
//! backoff) survive a restart. Transitions are coalesced per scope while a write is under
//! way, and the write takes each scope's *current* entry from the board, so a burst that
//! outruns the store loses no final state; what was coalesced is counted. The provider
//! breaker is short-lived by design and starts closed after a restart.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use switchboard_router::health::{HealthEntry, HealthEvent, Scope};
use switchboard_store::{HealthRow, Store};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use crate::{Control, ControlError};

/// After a failed write, the next try.
const RETRY: Duration = Duration::from_secs(1);

/// What the health writer has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PersistStats {
    /// Transitions folded into a later write of the same scope (or into a full rewrite after
    /// the bus overflowed).
    pub coalesced: u64,
    /// Successful writes to the store.
    pub writes: u64,
}

#[derive(Default)]
struct Pending {
    scopes: HashSet<Scope>,
    /// Rewrite everything: the bus overflowed, or a write failed.
    all: bool,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.all && self.scopes.is_empty()
    }
}

impl Control {
    /// What the health writer has done.
    pub fn persist_stats(&self) -> PersistStats {
        PersistStats {
            coalesced: self.persist.coalesced.load(Ordering::Relaxed),
            writes: self.persist.writes.load(Ordering::Relaxed),
        }
    }

    /// Keeps the stored health in step with the board until `stop`; then writes what is
    /// still pending and returns.
    pub async fn run_health_writer(self: Arc<Self>, stop: CancellationToken) {
        let Some(mut rx) = self.persist.rx.lock().take() else {
            return;
        };
        let mut pending = Pending::default();
        loop {
            if pending.is_empty() {
                let first = tokio::select! {
                    () = stop.cancelled() => break,
                    ev = rx.recv() => ev,
                };
                match first {
                    Err(RecvError::Closed) => break,
                    other => self.note(&mut pending, other),
                }
            }
            // Everything already queued joins this write.
            loop {
                match rx.try_recv() {
                    Ok(ev) => self.note(&mut pending, Ok(ev)),
                    Err(TryRecvError::Lagged(n)) => {
                        self.note(&mut pending, Err(RecvError::Lagged(n)))
                    }
                    Err(TryRecvError::Empty | TryRecvError::Closed) => break,
                }
            }
            if let Err(e) = self.flush(&mut pending).await {
                match e {
                    ControlError::Store(e) => self
                        .store
                        .log_failure("could not persist key health; retrying", &e),
                    e => tracing::warn!(error = %e, "could not persist key health; retrying"),
                }
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(RETRY) => {}
                }
            }
        }
        // Shutting down: what is still queued or pending is written, so a restart sees it.
        while let Ok(ev) = rx.try_recv() {
            self.note(&mut pending, Ok(ev));
        }
        if let Err(e) = self.flush(&mut pending).await {
            tracing::warn!(error = %e, "could not persist key health at shutdown");
        }
    }

    fn note(&self, pending: &mut Pending, ev: Result<HealthEvent, RecvError>) {
        let folded = match ev {
            Ok(ev) if matches!(ev.scope, Scope::Provider { .. }) => return,
            Ok(ev) => pending.all || !pending.scopes.insert(ev.scope),
            Err(RecvError::Lagged(n)) => {
                pending.all = true;
                self.persist.coalesced.fetch_add(n, Ordering::Relaxed);
                return;
            }
            Err(RecvError::Closed) => return,
        };
        if folded {
            self.persist.coalesced.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes the pending scopes' current entries (or every entry); on failure everything
    /// stays pending, as a full rewrite.
    async fn flush(&self, pending: &mut Pending) -> Result<(), ControlError> {
        if pending.is_empty() {
            return Ok(());
        }
        let now = self.engine.health.now_ms();
        let result = if pending.all {
            let rows: Vec<HealthRow> = self
                .engine
                .health
                .entries()
                .iter()
                .filter_map(|e| row(e, now))
                .collect();
            self.store.replace_health(&rows).await
        } else {
            let mut upserts = Vec::new();
            let mut deletes = Vec::new();
            for scope in &pending.scopes {
                match self.engine.health.entry(scope) {
                    Some(e) => upserts.extend(row(&e, now)),
                    None => deletes.extend(scope_key(scope)),
                }
            }
            self.store.write_health(&upserts, &deletes).await
        };
        match result {
            Ok(()) => {
                *pending = Pending::default();
                self.persist.writes.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                pending.all = true;
                pending.scopes.clear();
                Err(e.into())
            }
        }
    }
}

/// The stored row of a key or key × model entry (`key`, `model:<name>`).
fn row(e: &HealthEntry, now_ms: i64) -> Option<HealthRow> {
    let (key_id, scope) = scope_key(&e.scope)?;
    Some(HealthRow {
        key_id,
        scope,
        state: serde_json::to_value(e).ok()?,
        updated_at_ms: now_ms,
    })
}

fn scope_key(scope: &Scope) -> Option<(i64, String)> {
    match scope {
        Scope::Key { key_id } => Some((*key_id, "key".to_owned())),
        Scope::KeyModel { key_id, model } => Some((*key_id, format!("model:{model}"))),
        Scope::Provider { .. } => None,
    }
}

/// The stored entries, for the board at start.
pub(crate) async fn load(store: &Store) -> Result<Vec<HealthEntry>, ControlError> {
    Ok(store
        .load_health()
        .await?
        .into_iter()
        .filter_map(|r| serde_json::from_value::<HealthEntry>(r.state).ok())
        .collect())
}
