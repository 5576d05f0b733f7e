//! Users, password hashes and sessions (digests only), on both backends.

use switchboard_router::Secret;

use crate::common::scalar;
use switchboard_store::{Role, StoreError, hash_password, session_digest, verify_password};

#[test]
fn passwords_hash_with_argon2id_and_verify() {
    let pw = Secret::new("correct horse battery".to_owned());
    let h = hash_password(&pw).unwrap();
    assert!(h.starts_with("$argon2id$"), "{h}");
    assert!(!h.contains("correct horse"));
    assert_ne!(h, hash_password(&pw).unwrap(), "a fresh salt each time");
    assert!(verify_password(Some(&h), &pw));
    assert!(!verify_password(
        Some(&h),
        &Secret::new("correct horse battery!".to_owned())
    ));
    // No hash (unknown user, no password): a decoy is checked and the answer is no.
    assert!(!verify_password(None, &pw));
    assert!(!verify_password(Some("not a phc string"), &pw));
}

both! {
#[tokio::test]
async fn users_and_sessions_round_trip(backend) {
    let db = Db::new(backend).await;
    let store = db.mem_store().await;
    let h = hash_password(&Secret::new("pw-for-alice-1".to_owned())).unwrap();
    let alice = store.create_user("alice", Role::Admin, Some(&h), 1000).await.unwrap();
    let bob = store.create_user("bob", Role::Viewer, None, 2000).await.unwrap();
    assert!(matches!(
        store.create_user("alice", Role::Viewer, None, 3000).await,
        Err(StoreError::Conflict { .. })
    ));
    let users = store.list_users().await.unwrap();
    assert_eq!(users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["alice", "bob"]);
    assert_eq!(users[0].role, Role::Admin);
    assert!(users[0].has_password);
    assert!(!users[1].has_password);
    assert_eq!(users[1].created_at_ms, 2000);
    let (row, hash) = store.user_for_sign_in("alice").await.unwrap().unwrap();
    assert_eq!(row.id, alice);
    assert_eq!(hash.as_deref(), Some(h.as_str()));
    assert!(store.user_for_sign_in("carol").await.unwrap().is_none());

    // Sessions: found by digest until they expire.
    let token = b"session-token-one";
    let d = session_digest(token);
    store.create_session(&d, alice, 10_000, 20_000).await.unwrap();
    let s = store.session_user(&d, 15_000).await.unwrap().unwrap();
    assert_eq!((s.user_id, s.name.as_str(), s.role), (alice, "alice", Role::Admin));
    assert_eq!(s.last_seen_ms, 10_000);
    store.touch_session(&d, 16_000).await.unwrap();
    assert_eq!(store.session_user(&d, 16_500).await.unwrap().unwrap().last_seen_ms, 16_000);
    assert!(store.session_user(&d, 20_000).await.unwrap().is_none(), "expired");
    assert!(store.session_user(&session_digest(b"other"), 15_000).await.unwrap().is_none());
    // Only the digest is stored.
    assert_eq!(
        scalar(&store, "SELECT COUNT(*) FROM user_sessions").await,
        1
    );

    // Disabling ends sessions and blocks new ones from resolving.
    let d2 = session_digest(b"session-token-two");
    store.create_session(&d2, bob, 10_000, 99_000).await.unwrap();
    store.set_user_disabled("bob", true).await.unwrap();
    assert!(store.session_user(&d2, 11_000).await.unwrap().is_none());
    store.create_session(&d2, bob, 12_000, 99_000).await.unwrap();
    assert!(store.session_user(&d2, 12_500).await.unwrap().is_none(), "disabled user");
    assert!(store.list_users().await.unwrap()[1].disabled);
    store.set_user_disabled("bob", false).await.unwrap();

    // A new password or role ends the user's sessions.
    let d3 = session_digest(b"session-token-three");
    store.create_session(&d3, alice, 10_000, 99_000).await.unwrap();
    store.set_user_password("alice", None).await.unwrap();
    assert!(store.session_user(&d3, 11_000).await.unwrap().is_none());
    assert!(!store.list_users().await.unwrap()[0].has_password);
    store.create_session(&d3, alice, 10_000, 99_000).await.unwrap();
    store.set_user_role("alice", Role::Viewer).await.unwrap();
    assert!(store.session_user(&d3, 11_000).await.unwrap().is_none());
    assert_eq!(store.list_users().await.unwrap()[0].role, Role::Viewer);

    // Sign out, purge, delete.
    let d4 = session_digest(b"session-token-four");
    store.create_session(&d4, alice, 10_000, 99_000).await.unwrap();
    store.delete_session(&d4).await.unwrap();
    assert!(store.session_user(&d4, 11_000).await.unwrap().is_none());
    store.create_session(&d4, alice, 10_000, 50_000).await.unwrap();
    assert!(store.purge_expired_sessions(60_000).await.unwrap() >= 1);
    store.create_session(&d4, alice, 10_000, 99_000).await.unwrap();
    store.delete_user("alice").await.unwrap();
    assert_eq!(scalar(&store, "SELECT COUNT(*) FROM user_sessions").await, 0, "cascade");
    for missing in [
        store.delete_user("alice").await,
        store.set_user_disabled("alice", true).await,
        store.set_user_role("alice", Role::Admin).await,
        store.set_user_password("alice", None).await,
    ] {
        assert!(matches!(missing, Err(StoreError::NotFound { .. })), "{missing:?}");
    }
}
}
