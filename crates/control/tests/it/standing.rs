//! Standings: derived from the router's rule (the provider breaker included), counted the
//! same way in every summary, and streamed as changes with nothing lost to a lagging bus.

use std::collections::HashMap;
use std::time::Duration;

use switchboard_control::{Counts, KeyUpdate, OverallState, StandingChanged};
use switchboard_router::health::{
    CooldownPolicy, HealthState, KeyStanding, Outcome, StandingClass, StandingScope,
};
use tokio::sync::broadcast::error::TryRecvError;

use crate::common::*;

const DEAD: &str = "http://127.0.0.1:9/v1";

/// Everything received so far, by key: the last `to` wins.
fn drain(
    rx: &mut tokio::sync::broadcast::Receiver<StandingChanged>,
    into: &mut HashMap<i64, StandingChanged>,
) {
    loop {
        match rx.try_recv() {
            Ok(c) => {
                into.insert(c.key_id, c);
            }
            Err(TryRecvError::Lagged(_)) => {}
            Err(_) => return,
        }
    }
}

#[tokio::test]
async fn a_breaker_changes_every_key_of_its_provider_and_the_summary_counts_it() {
    let mut ctl = Ctl::start().await;
    ctl.provider("p1", DEAD).await;
    ctl.provider("p2", DEAD).await;
    let a = ctl.key("p1", "sk-a-000000000000").await;
    let b = ctl.key("p1", "sk-b-000000000000").await;
    let c = ctl.key("p2", "sk-c-000000000000").await;
    let route = serde_json::from_value(serde_json::json!({
        "alias": "m", "targets": [{"provider": "p1", "model": "x"}],
    }))
    .unwrap();
    ctl.control.put_route(route).await.unwrap();
    ctl.control
        .put_cooldowns(CooldownPolicy {
            breaker_threshold: 2,
            ..CooldownPolicy::default()
        })
        .await
        .unwrap();
    let summary = ctl.control.summary();
    assert_eq!(summary.state, OverallState::AllHealthy);
    assert_eq!(
        summary.counts,
        Counts {
            keys: 3,
            healthy: 3,
            cooling: 0,
            down: 0
        }
    );

    let mut rx = ctl.control.subscribe_standings();
    let health = &ctl.control.engine().health;
    let temporary = Outcome::TemporaryError { retry_after: None };
    health.report("p1", a.id, "x", &temporary);
    health.report("p1", b.id, "x", &temporary);

    let mut seen = HashMap::new();
    assert!(
        eventually(10_000, || {
            drain(&mut rx, &mut seen);
            [a.id, b.id].iter().all(|id| {
                seen.get(id)
                    .is_some_and(|c| c.to.scope == Some(StandingScope::Provider))
            })
        })
        .await,
        "{seen:?}"
    );
    assert!(
        !seen.contains_key(&c.id),
        "another provider's key is untouched"
    );
    let change = &seen[&a.id];
    assert_eq!(change.provider, "p1");
    assert_eq!(change.to.state, HealthState::Cooling);
    assert_eq!(change.to.class(), StandingClass::Cooling);

    // Every view says the same.
    let views = ctl.control.key_views(None);
    for v in views.iter().filter(|v| v.key.provider == "p1") {
        assert_eq!(v.standing, seen[&v.key.id].to);
    }
    let summary = ctl.control.summary();
    assert_eq!(
        summary.counts,
        Counts {
            keys: 3,
            healthy: 1,
            cooling: 2,
            down: 0
        }
    );
    assert_eq!(summary.state, OverallState::SomeCooling);
    assert_eq!(summary.unusable_aliases, ["m"]);
    assert_eq!(
        ctl.control.route_plan("m").unwrap().steps[0].verdict,
        "skipped"
    );
    ctl.stop().await;
}

#[tokio::test]
async fn disabling_a_key_and_an_auth_error_are_changes_to_down() {
    let mut ctl = Ctl::start().await;
    ctl.provider("p1", DEAD).await;
    let a = ctl.key("p1", "sk-a-000000000000").await;
    let b = ctl.key("p1", "sk-b-000000000000").await;
    let mut rx = ctl.control.subscribe_standings();

    ctl.control
        .update_key(
            a.id,
            KeyUpdate {
                enabled: Some(false),
                ..KeyUpdate::default()
            },
        )
        .await
        .unwrap();
    // The edit publishes before it returns.
    let c = rx.try_recv().unwrap();
    // A key just added is untested until something says how it stands.
    assert_eq!((c.key_id, c.from.state), (a.id, HealthState::Untested));
    assert_eq!(c.to, KeyStanding::disabled());

    ctl.control
        .engine()
        .health
        .report("p1", b.id, "x", &Outcome::AuthError);
    let mut seen = HashMap::new();
    assert!(
        eventually(10_000, || {
            drain(&mut rx, &mut seen);
            seen.get(&b.id)
                .is_some_and(|c| c.to.class() == StandingClass::Down)
        })
        .await
    );
    let s = ctl.control.summary();
    assert_eq!(
        s.counts,
        Counts {
            keys: 1,
            healthy: 0,
            cooling: 0,
            down: 1
        },
        "a disabled key is not counted"
    );
    assert_eq!(s.state, OverallState::NothingUsable);

    ctl.control.set_routing(false).await.unwrap();
    assert_eq!(ctl.control.summary().state, OverallState::RoutingOff);
    ctl.stop().await;
}

/// More transitions than the bus holds, published before the standings task runs: it sees
/// `Lagged`, recomputes every key, and the last change of each key is its standing now.
#[tokio::test]
async fn a_lagging_bus_loses_no_final_standing() {
    let mut ctl = Ctl::start().await;
    ctl.provider("p1", DEAD).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(ctl.key("p1", &format!("sk-{i}-000000000000")).await.id);
    }
    let mut rx = ctl.control.subscribe_standings();
    let health = &ctl.control.engine().health;
    // No await in this loop: the standings task cannot run until it ends.
    for round in 0..300u64 {
        for (i, id) in ids.iter().enumerate() {
            let outcome = if (round + i as u64).is_multiple_of(3) {
                Outcome::Success
            } else {
                Outcome::RateLimited {
                    retry_after: Some(Duration::from_secs(round + 1)),
                }
            };
            health.report("p1", *id, "x", &outcome);
        }
    }
    let expected: HashMap<i64, KeyStanding> = ctl
        .control
        .key_views(None)
        .into_iter()
        .map(|v| (v.key.id, v.standing))
        .collect();
    let mut seen = HashMap::new();
    assert!(
        eventually(10_000, || {
            drain(&mut rx, &mut seen);
            expected
                .iter()
                .filter(|(_, s)| **s != KeyStanding::healthy())
                .all(|(id, s)| seen.get(id).is_some_and(|c| c.to == *s))
        })
        .await,
        "{seen:?}"
    );
    ctl.stop().await;
}
