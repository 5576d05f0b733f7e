//! Account balances, where providers publish them: DeepSeek `GET /user/balance`, OpenRouter
//! `GET /api/v1/key` (a key's own spending limit) or else `GET /api/v1/credits` (the account's
//! credits less its usage).
//!
//! Each key of such a provider (known by its host, or named by the provider's `balance`
//! setting) is checked on a schedule ([`CHECK_INTERVAL_MS`] of the injected clock) and again
//! soon after an attempt ends in a balance error (402). A balance at or below the provider's
//! threshold cools the key as `insufficient_balance` until the next check, before requests
//! fail on it; a key found topped up again leaves that cooldown at once.

use std::collections::{HashMap, HashSet};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::model::Provider;

/// How often each key's balance is read.
pub const CHECK_INTERVAL_MS: i64 = 15 * 60_000;
/// A key whose check failed is tried again after this long (not at every tick).
const RETRY_FAILED_MS: i64 = 60_000;

/// Which documented balance endpoint a provider has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BalanceApi {
    /// `GET {root}/user/balance`.
    Deepseek,
    /// `GET {base}/key`, then `GET {base}/credits`.
    Openrouter,
}

/// A provider's balance check, when its host is not one Switchboard knows (or to change the
/// threshold).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BalanceCheck {
    pub api: BalanceApi,
    /// A balance at or below this (in the provider's currency) cools the key.
    #[serde(default)]
    pub min: f64,
}

/// Thresholds are finite numbers from configuration; equality is total for them.
impl Eq for BalanceCheck {}

impl BalanceCheck {
    /// The provider's check: its own setting, or the one its host implies.
    pub fn of(provider: &Provider) -> Option<BalanceCheck> {
        if let Some(check) = provider.balance {
            return Some(check);
        }
        let host = reqwest::Url::parse(&provider.base_url)
            .ok()?
            .host_str()?
            .to_ascii_lowercase();
        let api = match host.as_str() {
            "api.deepseek.com" => BalanceApi::Deepseek,
            "openrouter.ai" => BalanceApi::Openrouter,
            _ => return None,
        };
        Some(BalanceCheck { api, min: 0.0 })
    }

    /// The URLs to read, in order (the next is read when the one before has no answer).
    pub(crate) fn urls(&self, base_url: &str) -> Vec<String> {
        let base = base_url.trim_end_matches('/');
        match self.api {
            BalanceApi::Deepseek => {
                let root = base.strip_suffix("/v1").unwrap_or(base);
                vec![format!("{root}/user/balance")]
            }
            BalanceApi::Openrouter => vec![format!("{base}/key"), format!("{base}/credits")],
        }
    }
}

/// One key's last balance check, as the admin API and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyBalance {
    /// What is left, when the last check could read it.
    pub amount: Option<f64>,
    pub currency: Option<String>,
    /// At or below the provider's threshold: the key is cooling as `insufficient_balance`.
    pub low: bool,
    /// Unix ms of the last check.
    pub checked_ms: i64,
    /// Why the last check could not read a balance.
    pub error: Option<String>,
}

/// Amounts are finite (non-finite figures are not read), so equality is total.
impl Eq for KeyBalance {}

/// What a balance endpoint said.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Reading {
    Amount {
        amount: f64,
        currency: String,
    },
    /// This endpoint has no figure for the key; try the next one.
    Unknown,
}

/// Reads one endpoint's answer.
pub(crate) fn parse(api: BalanceApi, url: &str, body: &Value) -> Option<Reading> {
    let num = |v: &Value| {
        v.as_f64()
            .or_else(|| v.as_str()?.trim().parse().ok())
            .filter(|n: &f64| n.is_finite())
    };
    match api {
        BalanceApi::Deepseek => {
            let infos = body.get("balance_infos")?.as_array()?;
            let first = infos.first();
            let amount = match first {
                Some(info) => num(info.get("total_balance")?)?,
                // An account with nothing on it may list no currency at all.
                None if body.get("is_available") == Some(&Value::Bool(false)) => 0.0,
                None => return None,
            };
            let currency = first
                .and_then(|i| i.get("currency")?.as_str())
                .unwrap_or("USD")
                .to_owned();
            Some(Reading::Amount { amount, currency })
        }
        BalanceApi::Openrouter => {
            let data = body.get("data")?;
            let amount = if url.ends_with("/credits") {
                num(data.get("total_credits")?)?
                    - data.get("total_usage").and_then(num).unwrap_or(0.0)
            } else {
                match data.get("limit_remaining") {
                    Some(Value::Null) | None => return Some(Reading::Unknown),
                    Some(v) => num(v)?,
                }
            };
            Some(Reading::Amount {
                amount,
                currency: "USD".to_owned(),
            })
        }
    }
}

/// Every checked key's balance, and the keys to check again soon.
#[derive(Debug, Default)]
pub struct BalanceBoard {
    keys: Mutex<HashMap<i64, KeyBalance>>,
    recheck: Mutex<HashSet<i64>>,
}

impl BalanceBoard {
    pub fn get(&self, key_id: i64) -> Option<KeyBalance> {
        self.keys.lock().get(&key_id).cloned()
    }

    /// An attempt on `key_id` ended in a balance error: check it at the next tick.
    pub fn recheck(&self, key_id: i64) {
        self.recheck.lock().insert(key_id);
    }

    /// Is `key_id` due for a check at `now`? Takes it off the recheck list.
    pub(crate) fn due(&self, key_id: i64, now: i64) -> bool {
        if self.recheck.lock().remove(&key_id) {
            return true;
        }
        match self.keys.lock().get(&key_id) {
            None => true,
            Some(b) if b.error.is_some() => now - b.checked_ms >= RETRY_FAILED_MS,
            Some(b) => now - b.checked_ms >= CHECK_INTERVAL_MS,
        }
    }

    pub(crate) fn set(&self, key_id: i64, balance: KeyBalance) {
        self.keys.lock().insert(key_id, balance);
    }

    /// Forgets keys that no longer exist.
    pub fn retain_keys(&self, exists: impl Fn(i64) -> bool) {
        self.keys.lock().retain(|id, _| exists(*id));
        self.recheck.lock().retain(|id| exists(*id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn endpoints_as_documented() {
        let check = BalanceCheck {
            api: BalanceApi::Deepseek,
            min: 0.0,
        };
        assert_eq!(
            check.urls("https://api.deepseek.com/v1/"),
            ["https://api.deepseek.com/user/balance"]
        );
        assert_eq!(
            check.urls("https://api.deepseek.com"),
            ["https://api.deepseek.com/user/balance"]
        );
        let check = BalanceCheck {
            api: BalanceApi::Openrouter,
            min: 0.0,
        };
        assert_eq!(
            check.urls("https://openrouter.ai/api/v1"),
            [
                "https://openrouter.ai/api/v1/key",
                "https://openrouter.ai/api/v1/credits"
            ]
        );
    }

    #[test]
    fn answers_as_documented() {
        let ds = json!({"is_available": true, "balance_infos": [
            {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"}
        ]});
        assert_eq!(
            parse(BalanceApi::Deepseek, "x/user/balance", &ds),
            Some(Reading::Amount {
                amount: 110.0,
                currency: "CNY".into()
            })
        );
        let empty = json!({"is_available": false, "balance_infos": []});
        assert!(matches!(
            parse(BalanceApi::Deepseek, "x/user/balance", &empty),
            Some(Reading::Amount { amount, .. }) if amount == 0.0
        ));
        let key =
            json!({"data": {"label": "k", "limit": 20, "limit_remaining": 7.5, "usage": 12.5}});
        assert!(matches!(
            parse(BalanceApi::Openrouter, "x/key", &key),
            Some(Reading::Amount { amount, .. }) if amount == 7.5
        ));
        let unlimited =
            json!({"data": {"label": "k", "limit": null, "limit_remaining": null, "usage": 3}});
        assert_eq!(
            parse(BalanceApi::Openrouter, "x/key", &unlimited),
            Some(Reading::Unknown)
        );
        let credits = json!({"data": {"total_credits": 50, "total_usage": 42.25}});
        assert!(matches!(
            parse(BalanceApi::Openrouter, "x/credits", &credits),
            Some(Reading::Amount { amount, .. }) if amount == 7.75
        ));
        assert_eq!(
            parse(BalanceApi::Deepseek, "x", &json!({"error": "no"})),
            None
        );
    }

    #[test]
    fn due_on_schedule_and_after_a_402() {
        let b = BalanceBoard::default();
        assert!(b.due(1, 0), "never checked");
        let ok = KeyBalance {
            amount: Some(5.0),
            currency: None,
            low: false,
            checked_ms: 0,
            error: None,
        };
        b.set(1, ok.clone());
        assert!(!b.due(1, CHECK_INTERVAL_MS - 1));
        assert!(b.due(1, CHECK_INTERVAL_MS));
        b.recheck(1);
        assert!(b.due(1, 10));
        assert!(!b.due(1, 10), "once");
        b.set(
            1,
            KeyBalance {
                error: Some("unreachable".into()),
                amount: None,
                ..ok
            },
        );
        assert!(b.due(1, RETRY_FAILED_MS));
    }
}
