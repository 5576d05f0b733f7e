//! What a team of instances coordinates through a shared server (team mode's Redis), as a
//! hook the host installs ([`HealthBoard::set_cluster`](crate::health::HealthBoard::set_cluster)):
//! this crate never talks to the network itself.
//!
//! - **Probe leases.** When a scope's cooldown ends, only the instance holding its lease
//!   probes it; the others keep it probing (clients are told to come back shortly) until the
//!   outcome reaches them through the shared health, or the lease expires and one of them
//!   takes it. While leases are in force no live request probes: the background prober does,
//!   after taking the lease.
//! - **Key slots.** A key of a provider with `max_concurrency_per_key` takes a slot in the
//!   cluster-wide count before each attempt; when the count is full the key is busy, exactly
//!   as when this instance alone has it at its limit.
//!
//! Only the rare paths reach the hook (a probe, a key with a concurrency limit); an ordinary
//! pick reads nothing but local memory. When the shared server cannot be reached the hook
//! answers [`Lease::Unavailable`] / [`Slot::Unavailable`] and the instance carries on alone.

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::health::HealthEntry;

/// The answer to "may this instance probe this scope?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// This instance holds the lease: probe, then [`Cluster::end_probe`].
    Held,
    /// Another instance holds it: its outcome will arrive through the shared health.
    Taken,
    /// The shared server did not answer: probe locally.
    Unavailable,
}

/// A cluster-wide concurrency slot of one key, held while an attempt uses the key; dropping it
/// gives the slot back.
pub type SlotHold = Arc<dyn Any + Send + Sync>;

/// The answer to "may this key take one more request, counting every instance?".
pub enum Slot {
    Granted(SlotHold),
    /// Every slot is taken (on this or other instances).
    Busy,
    /// The shared server did not answer: the local limit alone applies.
    Unavailable,
}

pub trait Cluster: Send + Sync + std::fmt::Debug {
    /// Whether probes are leased right now (`false` while the shared server is unreachable:
    /// then every instance probes as it would alone). Read when a cooldown has ended, so it
    /// must be cheap and must not wait.
    fn leases_probes(&self) -> bool;

    /// Tries to take the lease of `entry`'s scope.
    fn lease_probe<'a>(&'a self, entry: &'a HealthEntry) -> BoxFuture<'a, Lease>;

    /// The probe of `entry`, held under its lease, has settled (and its outcome was published).
    fn end_probe<'a>(&'a self, entry: &'a HealthEntry) -> BoxFuture<'a, ()>;

    /// Takes one of `limit` slots of `key_id` of `provider`, until the [`SlotHold`] is dropped
    /// (the implementation makes sure a stopped instance cannot hold it for ever).
    fn key_slot<'a>(&'a self, provider: &'a str, key_id: i64, limit: u32) -> BoxFuture<'a, Slot>;
}
