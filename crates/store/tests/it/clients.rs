//! Clients and their keys (digests only), and spend summed from the request log.

use switchboard_store::{ClientSettings, DEFAULT_CLIENT, NewClientKey, StoreError};

use crate::common::record;

fn key(n: u8) -> NewClientKey {
    NewClientKey {
        hash: [n; 32],
        fingerprint: format!("fp{n}"),
        last4: format!("{n:04}"),
    }
}

both! {
#[tokio::test]
async fn clients_keep_their_settings_and_key_digests(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    // The migration made the default client.
    let start = store.list_clients().await.unwrap();
    assert_eq!(start.len(), 1);
    assert_eq!(start[0].name, DEFAULT_CLIENT);
    assert!(start[0].keys.is_empty());

    let settings = ClientSettings {
        models: Some(vec!["m".into()]),
        rpm: Some(5),
        tpm: Some(1000),
        daily_budget_micros: Some(2_500_000),
        monthly_budget_micros: Some(u64::MAX >> 2),
        soft_limit_pct: 90,
        expires_at_ms: Some(42),
        ..ClientSettings::default()
    };
    let first = store
        .create_client("codex", &settings, &key(1))
        .await
        .unwrap();
    assert!(matches!(
        store.create_client("codex", &settings, &key(2)).await,
        Err(StoreError::Conflict { .. })
    ));
    // A digest is one client's only.
    let r = store.add_client_key(DEFAULT_CLIENT, &key(1)).await;
    assert!(matches!(r, Err(StoreError::Conflict { .. })), "{r:?}");
    let second = store.add_client_key("codex", &key(3)).await.unwrap();
    let codex = store
        .list_clients()
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.name == "codex")
        .unwrap();
    assert_eq!(codex.settings, settings);
    assert_eq!(
        codex
            .keys
            .iter()
            .map(|k| (k.id, k.hash[0]))
            .collect::<Vec<_>>(),
        [(first, 1), (second, 3)]
    );

    store.delete_client_key("codex", first).await.unwrap();
    assert!(matches!(
        store.delete_client_key(DEFAULT_CLIENT, second).await,
        Err(StoreError::NotFound { .. })
    ));
    let off = ClientSettings {
        enabled: false,
        ..ClientSettings::default()
    };
    store.update_client("codex", &off).await.unwrap();
    // Listed by name.
    let codex = store.list_clients().await.unwrap().remove(0);
    assert_eq!(codex.name, "codex");
    assert_eq!(codex.settings, off);
    assert_eq!(codex.keys.len(), 1);
    store.delete_client("codex").await.unwrap();
    assert!(matches!(
        store.delete_client("codex").await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.list_clients().await.unwrap().len(), 1);
}
}

both! {
#[tokio::test]
async fn spend_is_summed_per_client_since_a_time(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let priced = |at: i64, client: Option<&str>, cost: Option<u64>| {
        let mut r = record(at, "m", "p", 200);
        r.client = client.map(Into::into);
        r.cost_micros = cost;
        r
    };
    store
        .insert_requests(&[
            priced(100, Some("a"), Some(5)),
            priced(200, Some("a"), Some(7)),
            priced(200, Some("a"), None),
            priced(300, Some("b"), Some(11)),
            priced(400, None, Some(13)),
        ])
        .await
        .unwrap();
    let since_0 = store.client_spend_since(0).await.unwrap();
    assert_eq!(since_0.get("a"), Some(&12));
    assert_eq!(since_0.get("b"), Some(&11));
    assert_eq!(since_0.len(), 2);
    let since_150 = store.client_spend_since(150).await.unwrap();
    assert_eq!(since_150.get("a"), Some(&7));
}
}
