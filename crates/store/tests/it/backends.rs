//! What the two backends must agree on beyond the other modules' tests: webhooks, attempts
//! per key, and how opening a PostgreSQL database fails.

use std::sync::Arc;

use switchboard_router::Secret;
use switchboard_router::log::{AttemptOutcome, AttemptRecord};
use switchboard_store::{MemorySecretStore, Store, StoreError};

use crate::common::record;

both! {
#[tokio::test]
async fn webhooks_round_trip_with_their_secrets(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let (row, signing) = store
        .add_webhook("ops", "slack", Secret::new("https://hooks.example/T0/abc"), "hooks.example/…")
        .await
        .unwrap();
    assert!(row.enabled);
    assert!(!signing.expose().is_empty());
    let targets = store.webhook_targets(None).await.unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].url.expose(), "https://hooks.example/T0/abc");
    store.set_webhook_enabled(row.id, false).await.unwrap();
    assert!(store.webhook_targets(None).await.unwrap().is_empty());
    assert_eq!(store.webhook_targets(Some(row.id)).await.unwrap().len(), 1);
    assert!(!store.list_webhooks().await.unwrap()[0].enabled);
    store.delete_webhook(row.id).await.unwrap();
    assert!(store.list_webhooks().await.unwrap().is_empty());
    assert!(matches!(
        store.delete_webhook(row.id).await,
        Err(StoreError::NotFound { .. })
    ));
}
}

both! {
#[tokio::test]
async fn attempts_are_counted_per_key(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let attempt = |key_id: i64, status: u16, outcome: AttemptOutcome| AttemptRecord {
        provider: "p".into(),
        model: "m".into(),
        key_id: Some(key_id),
        outcome,
        status: Some(status),
        duration_ms: 5,
        message: None,
        retry_after_ms: None,
    };
    let mut failed_over = record(1_000, "a", "p", 200);
    failed_over.attempts = vec![
        attempt(7, 429, AttemptOutcome::TemporaryError),
        attempt(8, 200, AttemptOutcome::Ok),
    ];
    let mut auth = record(2_000, "a", "p", 401);
    auth.attempts = vec![attempt(7, 401, AttemptOutcome::TemporaryError)];
    let mut old = record(10, "a", "p", 500);
    old.attempts = vec![attempt(7, 500, AttemptOutcome::TemporaryError)];
    store.insert_requests(&[failed_over, auth, old]).await.unwrap();
    let keys = store.key_attempts(500).await.unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(
        (keys[0].key_id, keys[0].attempts, keys[0].ok, keys[0].rate_limited, keys[0].auth_failed, keys[0].server_errors),
        (7, 2, 0, 1, 1, 0)
    );
    assert_eq!((keys[1].key_id, keys[1].attempts, keys[1].ok), (8, 1, 1));
}
}

#[tokio::test]
async fn postgres_newer_schema_is_refused_clearly() {
    let url = switchboard_store::testing::fresh_postgres_url().await;
    let store = Store::open_postgres(&url, Arc::new(MemorySecretStore::new()))
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, '\\x00', 0)",
    )
    .execute(store.pg_pool().unwrap())
    .await
    .unwrap();
    store.close().await;
    let err = Store::open_postgres(&url, Arc::new(MemorySecretStore::new()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::DatabaseNewer {
                version: 99990101000000,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer than this build"), "{err}");
}

#[tokio::test]
async fn postgres_bad_url_and_unreachable_server_say_which_without_the_password() {
    let secrets = || Arc::new(MemorySecretStore::new());
    let err = Store::open_postgres("postgres://u:hunter2@127.0.0.1:notaport/db", secrets())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::BadUrl { .. }), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");

    // A port nothing listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = Store::open_postgres(
        &format!("postgres://u:hunter2@127.0.0.1:{port}/db"),
        secrets(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StoreError::Connect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && !msg.contains("hunter2"),
        "{msg}"
    );
}

#[tokio::test]
async fn team_secrets_are_sealed_in_the_database_with_the_shared_master_key() {
    use switchboard_store::{KeySecret, SecretError, SecretStoreKind};
    let url = switchboard_store::testing::fresh_postgres_url().await;
    let key = Secret::new("correct horse battery staple");
    let first = Store::open_team(&url, &key).await.unwrap();
    assert_eq!(first.secret_store_kind(), SecretStoreKind::Database);
    first
        .upsert_provider(&crate::common::provider("p"))
        .await
        .unwrap();
    let canary = "sk-team-canary-4f1c9e2d7a";
    let added = first
        .add_key("p", "a", KeySecret::Literal(Secret::new(canary)), 1, true)
        .await
        .unwrap();

    // Another instance with the same key reads it.
    let second = Store::open_team(&url, &key).await.unwrap();
    assert_eq!(second.key_secret(added.id).await.unwrap().expose(), canary);
    let token = first
        .local_token(switchboard_store::LocalToken::AdminToken, None)
        .await
        .unwrap();
    let again = second
        .local_token(switchboard_store::LocalToken::AdminToken, None)
        .await
        .unwrap();
    assert_eq!(
        token.expose(),
        again.expose(),
        "one generated token for the team"
    );

    // No row holds the value in clear.
    let rows: Vec<(String, Vec<u8>)> = sqlx::query_as("SELECT id, sealed FROM secrets")
        .fetch_all(first.pg_pool().unwrap())
        .await
        .unwrap();
    assert!(rows.len() >= 2, "{}", rows.len());
    for (_, sealed) in &rows {
        assert!(!crate::common::contains(sealed, canary.as_bytes()));
    }

    // Another key is refused at open, naming what to do.
    let err = Store::open_team(&url, &Secret::new("another passphrase"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Secret(SecretError::WrongTeamKey { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("SWITCHBOARD_MASTER_KEY"), "{err}");

    // Deleting the key deletes its sealed row.
    first.delete_key(added.id).await.unwrap();
    assert!(second.key_secret(added.id).await.is_err());
}
