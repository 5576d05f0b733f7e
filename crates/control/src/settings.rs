//! The settings kept as named values in the store. Their names are written here and nowhere
//! else; everything else reads and writes them through [`Control`](crate::Control)'s typed
//! accessors.

use switchboard_router::health::CooldownPolicy;
use switchboard_store::{Store, StoreError};

use crate::ControlError;

/// The dashboard's routing switch.
pub(crate) const ROUTING_ENABLED: &str = "routing_enabled";
/// Whether the listener was left running (the desktop tray's switch).
pub(crate) const LISTENING: &str = "listening";
/// The request inspector's capture windows, body cap and retention (JSON of
/// [`CaptureSettings`](crate::CaptureSettings)).
pub(crate) const CAPTURE: &str = "capture";
/// The cooldown policy (JSON of [`CooldownPolicy`]).
pub(crate) const COOLDOWNS: &str = "cooldown_policy";

pub(crate) async fn flag(store: &Store, name: &str) -> Result<Option<bool>, ControlError> {
    Ok(store.get_value(name).await?.and_then(|v| v.as_bool()))
}

pub(crate) async fn put_flag(store: &Store, name: &str, on: bool) -> Result<(), ControlError> {
    Ok(store.put_value(name, &serde_json::json!(on)).await?)
}

/// The stored cooldown policy; the default when none (or an unreadable one) is stored.
pub(crate) async fn cooldowns(store: &Store) -> Result<CooldownPolicy, StoreError> {
    Ok(store
        .get_value(COOLDOWNS)
        .await?
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}
