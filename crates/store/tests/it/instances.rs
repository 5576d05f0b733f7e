//! The instances table: heartbeats upsert one row per instance, a stop removes it.

use switchboard_store::InstanceRow;

fn row(id: &str, heartbeat_ms: i64, in_flight: i64) -> InstanceRow {
    InstanceRow {
        id: id.into(),
        version: "0.1.0".into(),
        address: format!("127.0.0.1:{}", 8000 + in_flight),
        started_at_ms: 1_000,
        last_heartbeat_ms: heartbeat_ms,
        in_flight,
    }
}

both! {
#[tokio::test]
async fn heartbeats_upsert_one_row_per_instance(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    assert!(store.list_instances().await.unwrap().is_empty());
    store.heartbeat_instance(&row("b", 2_000, 1)).await.unwrap();
    store.heartbeat_instance(&row("a", 2_000, 0)).await.unwrap();
    // A later heartbeat replaces the instance's row.
    store.heartbeat_instance(&row("b", 7_000, 3)).await.unwrap();
    let listed = store.list_instances().await.unwrap();
    assert_eq!(listed, vec![row("a", 2_000, 0), row("b", 7_000, 3)]);
    store.remove_instance("a").await.unwrap();
    assert_eq!(store.list_instances().await.unwrap(), vec![row("b", 7_000, 3)]);
    // Removing an instance that is gone is not an error.
    store.remove_instance("a").await.unwrap();
}
}

both! {
#[tokio::test]
async fn pruning_removes_only_the_rows_silent_since_before_the_bound(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    store.heartbeat_instance(&row("dead", 1_000, 0)).await.unwrap();
    store.heartbeat_instance(&row("gone", 4_999, 1)).await.unwrap();
    store.heartbeat_instance(&row("live", 5_000, 2)).await.unwrap();
    assert_eq!(store.prune_instances(5_000).await.unwrap(), ["dead", "gone"]);
    assert_eq!(store.list_instances().await.unwrap(), vec![row("live", 5_000, 2)]);
    assert!(store.prune_instances(5_000).await.unwrap().is_empty());
}
}
