//! Health persistence: failure counts survive a restart, and a burst of transitions while
//! the store is slow loses no final state (what is coalesced is counted).

use std::time::Duration;

use switchboard_router::health::{HealthEntry, Outcome, Scope};

use crate::common::*;

const DEAD: &str = "http://127.0.0.1:9/v1";

fn persistable(entries: Vec<HealthEntry>) -> Vec<HealthEntry> {
    let mut out: Vec<HealthEntry> = entries
        .into_iter()
        .filter(|e| !matches!(e.scope, Scope::Provider { .. }))
        .collect();
    out.sort_by_key(|e| format!("{:?}", e.scope));
    out
}

async fn stored(ctl: &Ctl) -> Vec<HealthEntry> {
    let rows = ctl.control.store().load_health().await.unwrap();
    persistable(
        rows.into_iter()
            .map(|r| serde_json::from_value(r.state).unwrap())
            .collect(),
    )
}

#[tokio::test]
async fn failure_counts_survive_a_restart() {
    let mut ctl = Ctl::start().await;
    ctl.provider("p1", DEAD).await;
    let a = ctl.key("p1", "sk-a-000000000000").await;
    let health = ctl.control.engine().health.clone();
    let temporary = Outcome::TemporaryError { retry_after: None };
    let scope = Scope::KeyModel {
        key_id: a.id,
        model: "x".into(),
    };
    for _ in 0..3 {
        health.report("p1", a.id, "x", &temporary);
    }
    assert_eq!(health.entry(&scope).unwrap().failures, 3);
    ctl.restart().await;

    let health = ctl.control.engine().health.clone();
    let entry = health.entry(&scope).expect("restored");
    assert_eq!(entry.failures, 3, "{entry:?}");
    // The next failure backs off from there: base · 2³.
    let base = i64::try_from(health.policy().temporary_base_ms).unwrap();
    health.report("p1", a.id, "x", &temporary);
    let entry = health.entry(&scope).unwrap();
    assert_eq!(entry.failures, 4);
    assert_eq!(entry.until_ms, Some(T0 + base * 8));
    ctl.stop().await;
}

/// A write transaction held on another connection makes every health write wait; 1,000
/// transitions happen meanwhile. When the store is free again the stored health equals the
/// board's, and what was folded together is counted.
#[tokio::test]
async fn a_burst_of_1000_transitions_while_the_store_is_slow_loses_no_final_state() {
    let mut ctl = Ctl::start().await;
    ctl.provider("p1", DEAD).await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(ctl.key("p1", &format!("sk-{i}-000000000000")).await.id);
    }
    let health = ctl.control.engine().health.clone();

    let mut blocker = ctl
        .control
        .store()
        .sqlite_pool()
        .unwrap()
        .acquire()
        .await
        .unwrap();
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    // The writer starts a write and waits on the lock.
    health.report("p1", ids[0], "m0", &Outcome::AuthError);
    tokio::time::sleep(Duration::from_millis(50)).await;

    for n in 0..1_000u64 {
        let id = ids[(n % 20) as usize];
        let model = format!("m{}", n % 7);
        let outcome = match n % 5 {
            0 => Outcome::Success,
            1 => Outcome::AuthError,
            2 => Outcome::InsufficientBalance { retry_after: None },
            _ => Outcome::RateLimited {
                retry_after: Some(Duration::from_secs(n + 1)),
            },
        };
        health.report("p1", id, &model, &outcome);
    }
    sqlx::query("ROLLBACK")
        .execute(&mut *blocker)
        .await
        .unwrap();
    drop(blocker);

    let want = persistable(health.entries());
    assert!(!want.is_empty());
    let mut got = Vec::new();
    for _ in 0..500 {
        got = stored(&ctl).await;
        if got == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(got, want);
    assert!(
        ctl.control.persist_stats().coalesced > 0,
        "{:?}",
        ctl.control.persist_stats()
    );
    ctl.stop().await;
    assert_eq!(stored(&ctl).await, want, "and still after shutdown");
}
