//! Hedged requests (opt-in per route, `hedge_after_ms`): when the first target has not
//! produced its first content within the route's delay, the next target is started too. The
//! first attempt to answer — a committed stream (its first content event) or a whole reply —
//! wins; the other is dropped, which closes its upstream connection, and is recorded as
//! cancelled. If both fail, the dispatcher goes on as without hedging.

use std::time::Duration;

use tokio::time::Instant;

use crate::affinity::{Moved, Pin};
use crate::attempt::AttemptEnd;
use crate::engine::Engine;
use crate::record::Recorder;
use crate::reply::Reply;
use crate::request::IngressRequest;
use crate::snapshot::{Pick, ProviderRt, Snapshot, pick_key};

/// How a hedged start ended.
pub(crate) enum Hedged {
    /// The request is answered: the reply, and where it was served.
    Served(Reply, Pin),
    /// Every attempt raced failed: the reply the client gets if nothing else serves, and how
    /// many attempts were spent.
    Failed(Reply, u32),
}

/// One racer: a target with a key picked for it.
struct Racer<'a> {
    prov: &'a ProviderRt,
    model: &'a str,
    pick: Pick,
}

impl Racer<'_> {
    fn pin(&self) -> Pin {
        Pin {
            provider: self.prov.provider.name.clone(),
            model: self.model.to_owned(),
            key_id: self.pick.key.info.id,
        }
    }
}

impl Engine {
    /// Starts `targets[0]` (the conversation's pinned target, if any, comes first) and, if it
    /// has not answered within `after`, the next target with a usable key. The record says
    /// what affinity did: a conversation answered by the second target moved because its own
    /// was slow. `None` when the first target has no usable key (nothing was tried).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn hedge<'a>(
        &self,
        req: &IngressRequest,
        snap: &'a Snapshot,
        targets: &'a [crate::model::Target],
        pin: Option<&Pin>,
        rec: &mut Recorder,
        deadline: Instant,
        after: Duration,
    ) -> Option<Hedged> {
        let quota_need = crate::quota::need(&snap.settings, req);
        let racer = |t: &'a crate::model::Target, preferred: Option<i64>| {
            let prov = snap.providers.get(&t.provider)?;
            if !prov.provider.enabled {
                return None;
            }
            let pick = pick_key(prov, &t.model, &self.health, &[], preferred, quota_need).ok()?;
            Some(Racer {
                prov,
                model: &t.model,
                pick,
            })
        };
        let first_target = targets.first()?;
        let preferred = pin
            .filter(|p| p.provider == first_target.provider && p.model == first_target.model)
            .map(|p| p.key_id);
        let mut first = racer(first_target, preferred)?;
        if !self
            .claim_slot(first.prov, first.model, &mut first.pick)
            .await
        {
            // Busy across the cluster: the dispatcher goes on without hedging.
            return None;
        }
        let affinity = |by: &Racer<'_>, moved: Moved| {
            pin.map(|p| crate::affinity::describe(p, &by.pin(), Some(moved)).to_owned())
        };
        let mut fa = rec.fork();
        // Off the pinned target only if its key was blocked, or the target was not there.
        let first_moved = if preferred.is_some() {
            Moved::Cooling
        } else {
            Moved::Unavailable
        };
        fa.rec.affinity = affinity(&first, first_moved);
        let mut a = Box::pin(self.attempt(
            req,
            first.prov,
            first.model,
            &first.pick,
            &mut fa,
            deadline,
            false,
        ));
        let early = tokio::select! {
            end = &mut a => Some(end),
            () = tokio::time::sleep(after) => None,
        };
        if let Some(end) = early {
            drop(a);
            rec.absorb(vec![fa], 0);
            return Some(settle(end, rec, &first, 1));
        }
        // The first is slow: start the next target that has a usable key.
        let mut second = targets[1..].iter().find_map(|t| racer(t, None));
        let busy = match second.as_mut() {
            Some(s) => !self.claim_slot(s.prov, s.model, &mut s.pick).await,
            None => false,
        };
        if busy {
            second = None;
        }
        let Some(second) = second else {
            let end = a.await;
            rec.absorb(vec![fa], 0);
            return Some(settle(end, rec, &first, 1));
        };
        let mut fb = rec.fork();
        fb.rec.affinity = affinity(
            &second,
            if preferred == Some(first.pick.key.info.id) {
                Moved::Slow
            } else {
                first_moved
            },
        );
        let mut b = Box::pin(self.attempt(
            req,
            second.prov,
            second.model,
            &second.pick,
            &mut fb,
            deadline,
            false,
        ));
        let (end, a_first) = tokio::select! {
            end = &mut a => (end, true),
            end = &mut b => (end, false),
        };
        let (end, winner) = if answers(&end) {
            (end, usize::from(!a_first))
        } else if a_first {
            ((&mut b).await, 1)
        } else {
            ((&mut a).await, 0)
        };
        // Dropping the other attempt closes its upstream connection.
        drop((a, b));
        rec.absorb(vec![fa, fb], winner);
        let served = if winner == 0 { &first } else { &second };
        Some(settle(end, rec, served, 2))
    }
}

/// Whether an attempt's end answers the request (and so wins a race).
fn answers(end: &AttemptEnd) -> bool {
    matches!(end, AttemptEnd::Reply(_) | AttemptEnd::Commit(_))
}

fn settle(end: AttemptEnd, rec: &mut Recorder, by: &Racer<'_>, spent: u32) -> Hedged {
    match end {
        AttemptEnd::Reply(reply) => Hedged::Served(reply, by.pin()),
        AttemptEnd::Commit(start) => {
            // The stream takes over the record; this one is left done and silent.
            let taken = std::mem::replace(rec, rec.fork());
            rec.done = true;
            Hedged::Served(start(taken), by.pin())
        }
        AttemptEnd::Failed(reply) | AttemptEnd::Retry(reply) | AttemptEnd::Refused(reply, _) => {
            Hedged::Failed(reply, spent)
        }
    }
}
