//! The in-flight slot and health report of one attempt.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::cluster::SlotHold;
use crate::health::{HealthBoard, Outcome};
use crate::snapshot::Pick;

/// Holds a key's in-flight slot and its health report for one attempt. Dropped without a
/// report (the client went away) it reports `Cancelled`, which frees a probe slot.
pub(crate) struct AttemptGuard {
    health: Arc<HealthBoard>,
    provider: String,
    model: String,
    key_id: i64,
    in_flight: Arc<AtomicU32>,
    reported: bool,
    /// Team mode: the key's cluster-wide slot, given back when the attempt (and its stream)
    /// ends.
    _slot: Option<SlotHold>,
}

impl AttemptGuard {
    pub(crate) fn new(health: Arc<HealthBoard>, provider: &str, model: &str, pick: &Pick) -> Self {
        pick.key.in_flight.fetch_add(1, Ordering::Relaxed);
        AttemptGuard {
            health,
            provider: provider.to_owned(),
            model: model.to_owned(),
            key_id: pick.key.info.id,
            in_flight: pick.key.in_flight.clone(),
            reported: false,
            _slot: pick.slot.clone(),
        }
    }

    pub(crate) fn report(&mut self, outcome: &Outcome) {
        self.reported = true;
        self.health
            .report(&self.provider, self.key_id, &self.model, outcome);
    }
}

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        if !self.reported {
            self.health.report(
                &self.provider,
                self.key_id,
                &self.model,
                &Outcome::Cancelled,
            );
        }
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}
