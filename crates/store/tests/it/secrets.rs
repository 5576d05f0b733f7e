use std::path::Path;
use std::sync::Arc;

use switchboard_router::Secret;
use switchboard_router::log::RequestRecord;
use switchboard_store::{
    EncryptedFileStore, KeySecret, LocalToken, MasterKey, MemorySecretStore, SecretError,
    SecretStore, SecretStoreKind, Store, migrate_secrets,
};

use crate::common::{all_bytes, contains, provider, record};

fn file_store(data: &Path, key_dir: &Path) -> Arc<EncryptedFileStore> {
    Arc::new(
        EncryptedFileStore::open(data, MasterKey::KeyFile(key_dir.join("master.key"))).unwrap(),
    )
}

#[test]
fn file_store_round_trip_and_persistence() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let s = file_store(data.path(), keys.path());
    assert_eq!(s.kind(), SecretStoreKind::EncryptedFile);
    assert_eq!(s.get("a").unwrap(), None);
    s.put("a", &Secret::new("one")).unwrap();
    s.put("b", &Secret::new("two")).unwrap();
    s.delete("a").unwrap();
    s.delete("never-existed").unwrap();
    assert_eq!(s.get("b").unwrap(), Some(Secret::new("two")));
    assert!(s.put("bad id with spaces", &Secret::new("x")).is_err());

    // A second handle (another process, in effect) sees the writes and adds its own.
    let t = file_store(data.path(), keys.path());
    assert_eq!(t.get("a").unwrap(), None);
    assert_eq!(t.get("b").unwrap(), Some(Secret::new("two")));
    t.put("c", &Secret::new("three")).unwrap();
    // The first handle finds an id it has not cached by re-reading the file...
    assert_eq!(s.get("c").unwrap(), Some(Secret::new("three")));
    // ...and its own next write keeps the other handle's entry.
    s.put("d", &Secret::new("four")).unwrap();
    let u = file_store(data.path(), keys.path());
    for (id, v) in [("b", "two"), ("c", "three"), ("d", "four")] {
        assert_eq!(u.get(id).unwrap(), Some(Secret::new(v)), "{id}");
    }
}

#[cfg(unix)]
#[test]
fn secrets_file_is_private_and_key_lives_elsewhere() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("switchboard").join("master.key");
    let s = EncryptedFileStore::open(data.path(), MasterKey::KeyFile(key_file.clone())).unwrap();
    s.put("x", &Secret::new("value")).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data.path().join("secrets.enc")), 0o600);
    assert_eq!(mode(&key_file), 0o600);
    assert_eq!(mode(key_file.parent().unwrap()), 0o700);
    // Nothing in the data directory holds the key.
    let key_text = std::fs::read_to_string(&key_file).unwrap();
    let key_bytes = hex::decode(key_text.trim()).unwrap();
    for (name, bytes) in all_bytes(data.path()) {
        assert!(!contains(&bytes, key_text.trim().as_bytes()), "{name}");
        assert!(!contains(&bytes, &key_bytes), "{name}");
    }
    // A key file inside the data directory is refused.
    let err = EncryptedFileStore::open(
        data.path(),
        MasterKey::KeyFile(data.path().join("master.key")),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("must not be inside the data directory"),
        "{err}"
    );
}

#[test]
fn wrong_master_key_fails_clearly() {
    let data = tempfile::tempdir().unwrap();
    let s = EncryptedFileStore::open(data.path(), MasterKey::Value(Secret::new("correct horse")))
        .unwrap();
    s.put("k", &Secret::new("sk-secret")).unwrap();
    drop(s);
    let reopened =
        EncryptedFileStore::open(data.path(), MasterKey::Value(Secret::new("correct horse")))
            .unwrap();
    assert_eq!(reopened.get("k").unwrap(), Some(Secret::new("sk-secret")));

    let err =
        EncryptedFileStore::open(data.path(), MasterKey::Value(Secret::new("battery staple")))
            .unwrap_err();
    assert!(matches!(err, SecretError::WrongMasterKey { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("cannot be decrypted with this master key"),
        "{err}"
    );

    // A key file where a passphrase was used: the hint says so.
    let keys = tempfile::tempdir().unwrap();
    let err = EncryptedFileStore::open(data.path(), MasterKey::KeyFile(keys.path().join("k")))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("cannot be decrypted") && msg.contains("passphrase"),
        "{msg}"
    );

    // A raw 32-byte key (hex and base64 spell the same key).
    let data = tempfile::tempdir().unwrap();
    let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let s = EncryptedFileStore::open(data.path(), MasterKey::Value(Secret::new(hex_key))).unwrap();
    s.put("k", &Secret::new("v")).unwrap();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_key).unwrap());
    let t = EncryptedFileStore::open(data.path(), MasterKey::Value(Secret::new(b64))).unwrap();
    assert_eq!(t.get("k").unwrap(), Some(Secret::new("v")));

    // A damaged file is an error, not an empty store.
    let bytes = std::fs::read(data.path().join("secrets.enc")).unwrap();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    std::fs::write(data.path().join("secrets.enc"), &flipped).unwrap();
    assert!(EncryptedFileStore::open(data.path(), MasterKey::Value(Secret::new(hex_key))).is_err());
    std::fs::write(data.path().join("secrets.enc"), b"garbage").unwrap();
    let err =
        EncryptedFileStore::open(data.path(), MasterKey::Value(Secret::new(hex_key))).unwrap_err();
    assert!(matches!(err, SecretError::Corrupt { .. }), "{err:?}");
}

#[test]
fn each_write_uses_a_fresh_nonce() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let s = file_store(data.path(), keys.path());
    s.put("a", &Secret::new("1")).unwrap();
    let first = std::fs::read(data.path().join("secrets.enc")).unwrap();
    s.put("a", &Secret::new("2")).unwrap();
    s.put("a", &Secret::new("1")).unwrap();
    let third = std::fs::read(data.path().join("secrets.enc")).unwrap();
    assert_eq!(first[..24], third[..24], "header (salt) kept");
    assert_ne!(first[24..48], third[24..48], "nonce differs");
}

#[tokio::test]
async fn canary_secrets_never_reach_any_database_byte() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let secrets = file_store(data.path(), keys.path());
    let store = Store::open(data.path(), secrets.clone()).await.unwrap();
    store.upsert_provider(&provider("openai")).await.unwrap();
    store.upsert_provider(&provider("gemini")).await.unwrap();
    const C1: &str = "sk-CANARY-4f1c2b9a7d3e5f60718293a4b5c6d7e8";
    const C2: &str = "AIzaCANARY-9z8y7x6w5v4u3t2s1r0q";
    let k1 = store
        .add_key(
            "openai",
            "canary",
            KeySecret::Literal(Secret::new(C1)),
            1,
            true,
        )
        .await
        .unwrap();
    store
        .add_key(
            "gemini",
            "canary",
            KeySecret::Literal(Secret::new(C2)),
            1,
            true,
        )
        .await
        .unwrap();
    store
        .update_key(
            k1.id,
            switchboard_store::KeyPatch {
                label: Some("x".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let access = store
        .local_token(LocalToken::AccessKey, None)
        .await
        .unwrap();
    let admin = store
        .local_token(LocalToken::AdminToken, None)
        .await
        .unwrap();
    let mut rec: RequestRecord = record(1, "gpt", "openai", 200);
    rec.key_id = Some(k1.id);
    store.insert_requests(&[rec]).await.unwrap();
    let config = store.load_config().await.unwrap();
    assert_eq!(config.keys.len(), 2);

    let canaries = [
        C1.as_bytes(),
        C2.as_bytes(),
        b"CANARY",
        access.expose().as_bytes(),
        admin.expose().as_bytes(),
    ];
    let check = |when: &str| {
        let files = all_bytes(data.path());
        assert!(
            files.iter().any(|(n, _)| n.ends_with("switchboard.db-wal")),
            "{when}: WAL present"
        );
        assert!(files.iter().any(|(n, _)| n.ends_with("secrets.enc")));
        for (name, bytes) in &files {
            for c in canaries {
                assert!(!contains(bytes, c), "{when}: {name} holds a secret");
            }
        }
    };
    check("while open");
    // The secrets really are stored (encrypted) and come back.
    let again = EncryptedFileStore::open(
        data.path(),
        MasterKey::KeyFile(keys.path().join("master.key")),
    )
    .unwrap();
    assert_eq!(
        again.get(LocalToken::AccessKey.secret_id()).unwrap(),
        Some(access.clone())
    );
    // Debug output of the store, keys and config never shows them either.
    let dbg = format!("{store:?} {secrets:?} {config:?}");
    for c in canaries {
        assert!(!contains(dbg.as_bytes(), c));
    }
    store.close().await;
    // After a checkpoint the main file has everything; still no secret.
    for (name, bytes) in all_bytes(data.path()) {
        for c in canaries {
            assert!(!contains(&bytes, c), "after close: {name} holds a secret");
        }
    }
}

#[tokio::test]
async fn local_tokens_are_generated_once_and_rotate() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let access = {
        let store = Store::open(data.path(), file_store(data.path(), keys.path()))
            .await
            .unwrap();
        let a = store
            .local_token(LocalToken::AccessKey, None)
            .await
            .unwrap();
        assert!(a.expose().starts_with("sk-sb-") && a.expose().len() == 46);
        assert_eq!(
            store
                .local_token(LocalToken::AccessKey, None)
                .await
                .unwrap(),
            a
        );
        let t = store
            .local_token(LocalToken::AdminToken, None)
            .await
            .unwrap();
        assert!(t.expose().starts_with("sbadm-"));
        assert_ne!(t, a);
        store.close().await;
        a
    };
    // Stable across restarts.
    let store = Store::open(data.path(), file_store(data.path(), keys.path()))
        .await
        .unwrap();
    assert_eq!(
        store
            .local_token(LocalToken::AccessKey, None)
            .await
            .unwrap(),
        access
    );
    // The environment override wins and is not stored.
    let over = Secret::new("sk-sb-from-the-environment");
    assert_eq!(
        store
            .local_token(LocalToken::AccessKey, Some(over.clone()))
            .await
            .unwrap(),
        over
    );
    assert_eq!(
        store
            .local_token(LocalToken::AccessKey, None)
            .await
            .unwrap(),
        access
    );
    // Rotation replaces it for good.
    let rotated = store
        .rotate_local_token(LocalToken::AccessKey)
        .await
        .unwrap();
    assert_ne!(rotated, access);
    assert_eq!(
        store
            .local_token(LocalToken::AccessKey, None)
            .await
            .unwrap(),
        rotated
    );
    assert_eq!(
        LocalToken::parse("admin_token"),
        Some(LocalToken::AdminToken)
    );
}

#[test]
fn secrets_migrate_between_backends() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let from = MemorySecretStore::new();
    assert_eq!(from.kind(), SecretStoreKind::MemoryForTests);
    from.put("key:1", &Secret::new("one")).unwrap();
    from.put("local:access_key", &Secret::new("two")).unwrap();
    let to = file_store(data.path(), keys.path());
    let report = migrate_secrets(
        &from,
        to.as_ref(),
        &["key:1".into(), "local:access_key".into(), "key:gone".into()],
    )
    .unwrap();
    assert_eq!(
        report.copied,
        vec!["key:1".to_string(), "local:access_key".to_string()]
    );
    assert_eq!(report.missing, vec!["key:gone".to_string()]);
    assert_eq!(to.get("key:1").unwrap(), Some(Secret::new("one")));
    assert_eq!(from.len(), 2, "source untouched");
}

#[test]
fn get_or_insert_agrees_across_handles() {
    let data = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let a = file_store(data.path(), keys.path());
    let b = file_store(data.path(), keys.path());
    let first = a
        .get_or_insert("local:x", &mut || Secret::new("from-a"))
        .unwrap();
    // `b` has not seen the entry yet (its cache is from before), but must not overwrite it.
    let second = b
        .get_or_insert("local:x", &mut || Secret::new("from-b"))
        .unwrap();
    assert_eq!(first, Secret::new("from-a"));
    assert_eq!(second, first);
}

#[test]
fn default_key_file_is_never_inside_the_data_dir() {
    let Some(config) = dirs::config_dir() else {
        return;
    };
    for data in [
        config.join("switchboard"),
        config.clone(),
        std::env::temp_dir().join("sb-data"),
    ] {
        let Some(key) = switchboard_store::default_key_file_for(&data) else {
            continue;
        };
        assert!(
            !key.starts_with(&data),
            "{} inside {}",
            key.display(),
            data.display()
        );
    }
}
