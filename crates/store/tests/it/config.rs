use std::sync::Arc;

use serde_json::json;
use switchboard_router::Secret;
use switchboard_router::model::{Route, Settings, Strategy, Target};
use switchboard_store::{
    HealthRow, KeyPatch, KeySecret, MemorySecretStore, SecretStore, StoreError,
};

use crate::common::provider;

fn route(alias: &str, provider: &str) -> Route {
    Route {
        alias: alias.into(),
        strategy: Strategy::Weighted,
        targets: vec![Target {
            provider: provider.into(),
            model: "m".into(),
            priority: 0,
            weight: 2,
            context_window: None,
        }],
        hedge_after_ms: Some(1500),
    }
}

both! {
#[tokio::test]
async fn providers_round_trip_and_upsert(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let mut p = provider("deepseek");
    store.upsert_provider(&p).await.unwrap();
    store.upsert_provider(&provider("mimo")).await.unwrap();
    assert_eq!(
        store.get_provider("deepseek").await.unwrap(),
        Some(p.clone())
    );
    p.priority = 3;
    p.drop_params.push("logprobs".into());
    store.upsert_provider(&p).await.unwrap();
    let all = store.list_providers().await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0], p, "updated in place, order kept");
    assert_eq!(all[1].name, "mimo");

    let mut bad = provider("bad");
    bad.base_url = "http://remote.example.com".into();
    match store.upsert_provider(&bad).await {
        Err(StoreError::Invalid { field, .. }) => assert_eq!(field, "base_url"),
        other => panic!("expected invalid base_url, got {other:?}"),
    }
    assert!(matches!(
        store.delete_provider("nope").await,
        Err(StoreError::NotFound { .. })
    ));
}
}

both! {
#[tokio::test]
async fn keys_crud_and_cascade_removes_secrets(backend) {
    let db = Db::new(backend).await;
    let secrets = Arc::new(MemorySecretStore::new());
    let store = db.open(secrets.clone()).await;
    store.upsert_provider(&provider("deepseek")).await.unwrap();
    store.upsert_provider(&provider("mimo")).await.unwrap();

    let secret = Secret::new("sk-test-0123456789abcdef");
    let k1 = store
        .add_key(
            "deepseek",
            "main",
            KeySecret::Literal(secret.clone()),
            2,
            true,
        )
        .await
        .unwrap();
    assert_eq!(k1.fingerprint, secret.fingerprint());
    assert_eq!(k1.last4, "cdef");
    assert_eq!(k1.env_ref, None);
    let k2 = store
        .add_key(
            "mimo",
            "other",
            KeySecret::Literal(Secret::new("sk-mimo-aaaaaaaaaaaa1111")),
            1,
            false,
        )
        .await
        .unwrap();
    assert_eq!(secrets.len(), 2);

    // The same secret twice in one provider is refused, naming the key it repeats by label.
    match store
        .add_key(
            "deepseek",
            "dup",
            KeySecret::Literal(secret.clone()),
            1,
            true,
        )
        .await
    {
        Err(StoreError::Conflict { what }) => {
            assert!(what.contains("\"main\""), "{what}");
            assert!(!what.contains("key 1"), "no internal id: {what}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Unknown provider, zero weight.
    assert!(matches!(
        store
            .add_key(
                "nope",
                "x",
                KeySecret::Literal(Secret::new("sk-x")),
                1,
                true
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .add_key(
                "mimo",
                "x",
                KeySecret::Literal(Secret::new("sk-y")),
                0,
                true
            )
            .await,
        Err(StoreError::Invalid { .. })
    ));

    assert_eq!(
        store.list_keys(None).await.unwrap(),
        vec![k1.clone(), k2.clone()]
    );
    assert_eq!(
        store.list_keys(Some("mimo")).await.unwrap(),
        vec![k2.clone()]
    );
    assert_eq!(store.key_secret(k1.id).await.unwrap(), secret);

    // Patch label/weight/enabled, then the secret: the old secret is removed from the store.
    let patched = store
        .update_key(
            k1.id,
            KeyPatch {
                label: Some("renamed".into()),
                weight: Some(5),
                enabled: Some(false),
                secret: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (patched.label.as_str(), patched.weight, patched.enabled),
        ("renamed", 5, false)
    );
    let new_secret = Secret::new("sk-new-secret-zzzz9999");
    let patched = store
        .update_key(
            k1.id,
            KeyPatch {
                secret: Some(KeySecret::Literal(new_secret.clone())),
                ..KeyPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.last4, "9999");
    assert_eq!(store.key_secret(k1.id).await.unwrap(), new_secret);
    assert_eq!(secrets.len(), 2, "old secret deleted, new one stored");
    assert_eq!(store.get_key(k1.id).await.unwrap(), Some(patched));

    // Health rows cascade with keys.
    store
        .save_health(&[
            HealthRow {
                key_id: k1.id,
                scope: "key".into(),
                state: json!({"state": "cooling"}),
                updated_at_ms: 1,
            },
            HealthRow {
                key_id: k2.id,
                scope: "key".into(),
                state: json!({"state": "healthy"}),
                updated_at_ms: 1,
            },
            HealthRow {
                key_id: 9999,
                scope: "key".into(),
                state: json!({}),
                updated_at_ms: 1,
            },
        ])
        .await
        .unwrap();
    assert_eq!(
        store.load_health().await.unwrap().len(),
        2,
        "unknown key skipped"
    );

    // Deleting the provider deletes its keys, their health and their secrets.
    store.delete_provider("deepseek").await.unwrap();
    assert_eq!(store.list_keys(None).await.unwrap(), vec![k2.clone()]);
    assert_eq!(secrets.len(), 1);
    let health = store.load_health().await.unwrap();
    assert_eq!(health.len(), 1);
    assert_eq!(health[0].key_id, k2.id);

    store.delete_key(k2.id).await.unwrap();
    assert!(secrets.is_empty());
    assert!(store.load_health().await.unwrap().is_empty());
    assert!(matches!(
        store.delete_key(k2.id).await,
        Err(StoreError::NotFound { .. })
    ));

    // Ids are never reused.
    let k3 = store
        .add_key(
            "mimo",
            "again",
            KeySecret::Literal(Secret::new("sk-mimo-aaaaaaaaaaaa1111")),
            1,
            true,
        )
        .await
        .unwrap();
    assert!(k3.id > k2.id);
}
}

both! {
#[tokio::test]
async fn routes_settings_and_values(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let r = route("gpt-5.5", "deepseek");
    store.upsert_route(&r).await.unwrap();
    store
        .upsert_route(&route("claude-sonnet", "mimo"))
        .await
        .unwrap();
    let mut r2 = r.clone();
    r2.strategy = Strategy::RoundRobin;
    store.upsert_route(&r2).await.unwrap();
    let routes = store.list_routes().await.unwrap();
    assert_eq!(routes.len(), 2);
    assert_eq!(routes[0], r2);
    assert_eq!(
        store
            .get_route("claude-sonnet")
            .await
            .unwrap()
            .unwrap()
            .alias,
        "claude-sonnet"
    );
    store.delete_route("claude-sonnet").await.unwrap();
    assert!(matches!(
        store.delete_route("claude-sonnet").await,
        Err(StoreError::NotFound { .. })
    ));
    let mut bad = r.clone();
    bad.targets.clear();
    assert!(store.upsert_route(&bad).await.is_err());

    assert_eq!(store.get_settings().await.unwrap(), Settings::default());
    let s = Settings {
        default_route: Some("gpt-5.5".into()),
        attempt_budget: 7,
        ..Settings::default()
    };
    store.put_settings(&s).await.unwrap();
    assert_eq!(store.get_settings().await.unwrap(), s);

    assert_eq!(store.get_value("some_flag").await.unwrap(), None);
    store.put_value("some_flag", &json!(false)).await.unwrap();
    assert_eq!(
        store.get_value("some_flag").await.unwrap(),
        Some(json!(false))
    );
    assert!(store.put_value("settings", &json!(1)).await.is_err());
    store.delete_value("some_flag").await.unwrap();
    assert_eq!(store.get_value("some_flag").await.unwrap(), None);
}
}

both! {
#[tokio::test]
async fn config_persists_across_reopen(backend) {
    let db = Db::new(backend).await;
    let secrets: Arc<dyn SecretStore> = Arc::new(MemorySecretStore::new());
    {
        let store = db.open(secrets.clone()).await;
        store.upsert_provider(&provider("deepseek")).await.unwrap();
        store
            .add_key(
                "deepseek",
                "a",
                KeySecret::Literal(Secret::new("sk-persist-1234567890")),
                1,
                true,
            )
            .await
            .unwrap();
        store.upsert_route(&route("gpt", "deepseek")).await.unwrap();
        store
            .put_settings(&Settings {
                attempt_budget: 9,
                ..Settings::default()
            })
            .await
            .unwrap();
        store
            .save_health(&[HealthRow {
                key_id: 1,
                scope: "key".into(),
                state: json!({"s": 1}),
                updated_at_ms: 5,
            }])
            .await
            .unwrap();
        store.close().await;
    }
    let store = db.open(secrets).await;
    let config = store.load_config().await.unwrap();
    assert_eq!(config.providers, vec![provider("deepseek")]);
    assert_eq!(config.routes, vec![route("gpt", "deepseek")]);
    assert_eq!(config.settings.attempt_budget, 9);
    assert_eq!(config.keys.len(), 1);
    assert_eq!(config.keys[0].secret.expose(), "sk-persist-1234567890");
    assert_eq!(store.load_health().await.unwrap()[0].state, json!({"s": 1}));
}
}

both! {
#[tokio::test]
async fn env_refs_resolve_and_missing_ones_are_named(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    store.upsert_provider(&provider("p")).await.unwrap();
    // PATH is set in every test environment (tests cannot set variables: no `unsafe`).
    let path = std::env::var("PATH").unwrap();
    let present = store
        .add_key("p", "from env", KeySecret::Env("env:PATH".into()), 1, true)
        .await
        .unwrap();
    assert_eq!(present.env_ref.as_deref(), Some("env:PATH"));
    const MISSING: &str = "SWITCHBOARD_TEST_VARIABLE_THAT_IS_NOT_SET";
    let missing = store
        .add_key("p", "missing", KeySecret::Env(MISSING.into()), 1, true)
        .await
        .unwrap();
    assert_eq!(missing.fingerprint, "");
    assert!(
        store
            .add_key("p", "bad", KeySecret::Env("1 bad name".into()), 1, true)
            .await
            .is_err()
    );
    assert!(matches!(
        store
            .add_key("p", "again", KeySecret::Env("PATH".into()), 1, true)
            .await,
        Err(StoreError::Conflict { .. })
    ));

    let (config, problems) = store.load_config_with_problems().await.unwrap();
    assert_eq!(
        config.keys.len(),
        1,
        "the key with a missing variable is left out"
    );
    assert_eq!(config.keys[0].secret.expose(), path);
    assert_eq!(
        config.keys[0].info.fingerprint,
        Secret::new(path.clone()).fingerprint()
    );
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].key_id, missing.id);
    let msg = problems[0].error.to_string();
    assert!(msg.contains(MISSING), "{msg}");
    match store.key_secret(missing.id).await {
        Err(StoreError::EnvVarMissing { key_id, var }) => {
            assert_eq!((key_id, var.as_str()), (missing.id, MISSING));
        }
        other => panic!("expected EnvVarMissing, got {other:?}"),
    }
    // load_config itself succeeds, leaving the key out.
    assert_eq!(store.load_config().await.unwrap().keys.len(), 1);

    // Switching a key from env to a literal secret and back.
    let lit = store
        .update_key(
            missing.id,
            KeyPatch {
                secret: Some(KeySecret::Literal(Secret::new("sk-now-literal-0000"))),
                ..KeyPatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(lit.env_ref, None);
    assert_eq!(store.load_config().await.unwrap().keys.len(), 2);
}
}

both! {
#[tokio::test]
async fn missing_secret_is_reported_by_key_id(backend) {
    let db = Db::new(backend).await;
    let secrets = Arc::new(MemorySecretStore::new());
    let store = db.open(secrets.clone()).await;
    store.upsert_provider(&provider("p")).await.unwrap();
    let k = store
        .add_key(
            "p",
            "a",
            KeySecret::Literal(Secret::new("sk-gone-123456789012")),
            1,
            true,
        )
        .await
        .unwrap();
    // Lose the secret behind the store's back.
    let sql = "SELECT secret_ref FROM keys WHERE id = $1";
    let id: (String,) = match (store.sqlite_pool(), store.pg_pool()) {
        (Some(p), _) => sqlx::query_as(sql).bind(k.id).fetch_one(p).await,
        (_, Some(p)) => sqlx::query_as(sql).bind(k.id).fetch_one(p).await,
        _ => unreachable!(),
    }
    .unwrap();
    secrets.delete(&id.0).unwrap();
    let (config, problems) = store.load_config_with_problems().await.unwrap();
    assert!(config.keys.is_empty());
    assert!(
        matches!(problems[0].error, StoreError::SecretMissing { key_id, .. } if key_id == k.id)
    );
}
}
