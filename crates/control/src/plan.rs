//! A dry run of dispatch: how a request for an alias would flow now, given current health.

use serde::Serialize;
use switchboard_router::health::Availability;
use switchboard_router::snapshot::order_targets;
use utoipa::ToSchema;

use crate::{Control, ControlError};

/// One step of a route's flow right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FlowStep {
    pub provider: String,
    pub model: String,
    pub key_id: Option<i64>,
    pub key_label: Option<String>,
    /// `would_try`, `skipped`.
    pub verdict: String,
    /// Why a step is skipped: `provider_disabled`, `no_keys`, `cooling`, `auth_error`,
    /// `probing`, `unknown_provider`.
    pub reason: Option<String>,
    pub until_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FlowPlan {
    pub alias: String,
    pub strategy: String,
    /// Whether the alias is a configured route or a model served by one provider.
    pub inferred: bool,
    pub steps: Vec<FlowStep>,
}

impl Control {
    /// How a request for `alias` would flow now (no side effects: no probe slot is claimed).
    pub fn route_plan(&self, alias: &str) -> Result<FlowPlan, ControlError> {
        let snap = self.engine.snapshot();
        let route = snap
            .resolve(alias)
            .map_err(|_| ControlError::not_found(format!("route `{alias}`")))?;
        let mut steps = Vec::new();
        for t in order_targets(&route, &snap, &Default::default(), false) {
            let skipped = |reason: &str| FlowStep {
                provider: t.provider.clone(),
                model: t.model.clone(),
                key_id: None,
                key_label: None,
                verdict: "skipped".into(),
                reason: Some(reason.into()),
                until_ms: None,
            };
            let Some(p) = snap.providers.get(&t.provider) else {
                steps.push(skipped("unknown_provider"));
                continue;
            };
            if !p.provider.enabled {
                steps.push(skipped("provider_disabled"));
                continue;
            }
            if p.keys.is_empty() {
                steps.push(skipped("no_keys"));
                continue;
            }
            for k in &p.keys {
                let (verdict, reason, until) =
                    match self.engine.health.peek(&t.provider, k.info.id, &t.model) {
                        Availability::Usable => ("would_try", None, None),
                        Availability::Probe => ("would_try", Some("probing"), None),
                        Availability::Blocked { until_ms: Some(u) } => {
                            ("skipped", Some("cooling"), Some(u))
                        }
                        Availability::Blocked { until_ms: None } => {
                            ("skipped", Some("auth_error"), None)
                        }
                    };
                steps.push(FlowStep {
                    provider: t.provider.clone(),
                    model: t.model.clone(),
                    key_id: Some(k.info.id),
                    key_label: Some(k.info.label.clone()),
                    verdict: verdict.into(),
                    reason: reason.map(Into::into),
                    until_ms: until,
                });
            }
        }
        let strategy = serde_json::to_value(route.route.strategy)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Ok(FlowPlan {
            alias: alias.to_owned(),
            strategy,
            inferred: route.inferred,
            steps,
        })
    }
}
