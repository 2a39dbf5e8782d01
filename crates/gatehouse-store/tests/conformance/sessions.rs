//! Sessions: lookup by digest, touch, listing, revocation (one, all, on password change).

use gatehouse_core::ids::{SessionId, UserId};
use gatehouse_core::store::{NewSession, Session};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::identity::new_user;

fn session(user: UserId, created: i64, ttl: i64) -> Session {
    Session {
        id: SessionId::new(),
        user_id: user,
        created_at: at(created),
        last_seen_at: at(created),
        expires_at: at(created + ttl),
        revoked_at: None,
        ip: Some("192.0.2.1".into()),
        user_agent: Some("test-agent".into()),
    }
}

async fn add(f: &Fresh, s: &Session, digest: u8) {
    let new = NewSession {
        session: s.clone(),
        token_digest: vec![digest; 32],
        credential_epoch: 0,
    };
    f.store.create_session(&new, &[]).await.unwrap();
}

async fn user(f: &Fresh, email: &str) -> UserId {
    let u = new_user(email);
    f.store.create_user(&u, &[]).await.unwrap();
    u.id
}

conformance!(
    session_by_digest_joins_its_user,
    touch_only_moves_forward,
    list_shows_live_sessions_only,
    revoke_is_scoped_to_the_owner,
    revoke_all_keeps_one_and_voids_credentials,
    change_password_is_atomic_with_revocation
);

async fn session_by_digest_joins_its_user(f: Fresh) {
    let u = user(&f, "s@example.com").await;
    let s = session(u, 0, 100);
    add(&f, &s, 1).await;
    let (found, owner) = f.store.session_by_digest(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(found.id, s.id);
    assert_eq!(owner.id, u);
    assert_eq!((found.created_at, found.expires_at), (at(0), at(100)));
    assert_eq!(found.ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(found.user_agent.as_deref(), Some("test-agent"));
    assert!(found.revoked_at.is_none());
    assert!(f.store.session_by_digest(&[2; 32]).await.unwrap().is_none());
}

async fn touch_only_moves_forward(f: Fresh) {
    let u = user(&f, "t@example.com").await;
    let s = session(u, 0, 100);
    add(&f, &s, 1).await;
    f.store.touch_session(s.id, at(50)).await.unwrap();
    f.store.touch_session(s.id, at(20)).await.unwrap();
    let (found, _) = f.store.session_by_digest(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(found.last_seen_at, at(50));
}

async fn list_shows_live_sessions_only(f: Fresh) {
    let u = user(&f, "l@example.com").await;
    let other = user(&f, "other@example.com").await;
    let live = session(u, 0, 1000);
    let expired = session(u, 0, 10);
    let revoked = session(u, 1, 1000);
    add(&f, &live, 1).await;
    add(&f, &expired, 2).await;
    add(&f, &revoked, 3).await;
    add(&f, &session(other, 0, 1000), 4).await;
    assert!(
        f.store
            .revoke_session(u, revoked.id, at(5), &[])
            .await
            .unwrap()
    );
    let list = f.store.list_sessions(u, at(100)).await.unwrap();
    let ids: Vec<SessionId> = list.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![live.id]);
}

async fn revoke_is_scoped_to_the_owner(f: Fresh) {
    let u = user(&f, "r@example.com").await;
    let eve = user(&f, "eve@example.com").await;
    let s = session(u, 0, 100);
    add(&f, &s, 1).await;
    assert!(
        !f.store.revoke_session(eve, s.id, at(1), &[]).await.unwrap(),
        "not another user's session"
    );
    assert!(
        f.store
            .session_by_digest(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .0
            .revoked_at
            .is_none()
    );
    assert!(f.store.revoke_session(u, s.id, at(2), &[]).await.unwrap());
    assert!(
        !f.store.revoke_session(u, s.id, at(3), &[]).await.unwrap(),
        "already revoked"
    );
    let (found, _) = f.store.session_by_digest(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(
        found.revoked_at,
        Some(at(2)),
        "the first revocation time is kept"
    );
}

async fn revoke_all_keeps_one_and_voids_credentials(f: Fresh) {
    let u = user(&f, "a@example.com").await;
    let other = user(&f, "b@example.com").await;
    let (keep, drop1, drop2) = (session(u, 0, 100), session(u, 0, 100), session(u, 0, 100));
    let theirs = session(other, 0, 100);
    for (s, d) in [(&keep, 1), (&drop1, 2), (&drop2, 3), (&theirs, 4)] {
        add(&f, s, d).await;
    }
    f.store
        .revoke_all_sessions(u, Some(keep.id), at(10), &[])
        .await
        .unwrap();
    let live: Vec<SessionId> = f
        .store
        .list_sessions(u, at(11))
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![keep.id]);
    assert_eq!(
        f.store.list_sessions(other, at(11)).await.unwrap().len(),
        1,
        "other users untouched"
    );
    let stored = f.store.user_by_id(u).await.unwrap().unwrap();
    assert_eq!(stored.credentials_valid_after, at(10));
    f.store
        .revoke_all_sessions(u, None, at(20), &[])
        .await
        .unwrap();
    assert!(f.store.list_sessions(u, at(21)).await.unwrap().is_empty());
    // The cut-off never moves backwards.
    f.store
        .revoke_all_sessions(u, None, at(15), &[])
        .await
        .unwrap();
    assert_eq!(
        f.store
            .user_by_id(u)
            .await
            .unwrap()
            .unwrap()
            .credentials_valid_after,
        at(20)
    );
}

async fn change_password_is_atomic_with_revocation(f: Fresh) {
    let u = user(&f, "p@example.com").await;
    let (current, other) = (session(u, 0, 100), session(u, 0, 100));
    add(&f, &current, 1).await;
    add(&f, &other, 2).await;
    f.store
        .change_password(u, "$argon2id$new", Some(current.id), at(30), &[])
        .await
        .unwrap();
    let stored = f.store.user_by_id(u).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(stored.credentials_valid_after, at(30));
    let live: Vec<SessionId> = f
        .store
        .list_sessions(u, at(31))
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(live, vec![current.id]);
}
