//! Users: creation, case-insensitive uniqueness, lookups, password hashes, batch import.

use gatehouse_core::Error;
use gatehouse_core::error::ConflictReason;
use gatehouse_core::ids::UserId;
use gatehouse_core::store::{ImportError, NewUser};

use crate::conformance;
use crate::harness::{Fresh, at};

pub(crate) fn new_user(email: &str) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: email.to_owned(),
        email_key: email.to_lowercase(),
        name: Some("Test User".into()),
        password_hash: Some("$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into()),
        is_platform_admin: false,
        created_at: at(0),
    }
}

conformance!(
    create_and_find_users,
    email_key_is_unique,
    password_hash_updates,
    import_is_all_or_nothing
);

async fn create_and_find_users(f: Fresh) {
    let u = new_user("Ann@Example.com");
    f.store.create_user(&u, &[]).await.unwrap();
    let by_key = f
        .store
        .user_by_email_key("ann@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_key.id, u.id);
    assert_eq!(
        by_key.email, "Ann@Example.com",
        "the address is kept as written"
    );
    assert_eq!(by_key.name.as_deref(), Some("Test User"));
    assert_eq!(by_key.created_at, at(0));
    assert_eq!(by_key.credentials_valid_after, at(0));
    assert!(!by_key.is_platform_admin && !by_key.disabled);
    let by_id = f.store.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(by_id.email, u.email);
    assert!(
        f.store
            .user_by_email_key("Ann@Example.com")
            .await
            .unwrap()
            .is_none(),
        "lookup is by key"
    );
    assert!(f.store.user_by_id(UserId::new()).await.unwrap().is_none());
}

async fn email_key_is_unique(f: Fresh) {
    f.store
        .create_user(&new_user("bob@example.com"), &[])
        .await
        .unwrap();
    let twin = new_user("BOB@example.com");
    assert!(matches!(
        f.store.create_user(&twin, &[]).await,
        Err(Error::Conflict(ConflictReason::EmailTaken))
    ));
}

async fn password_hash_updates(f: Fresh) {
    let u = new_user("carol@example.com");
    f.store.create_user(&u, &[]).await.unwrap();
    assert!(
        f.store
            .upgrade_password_hash(u.id, u.password_hash.as_deref().unwrap(), "$2b$04$new")
            .await
            .unwrap()
    );
    let stored = f.store.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.as_deref(), Some("$2b$04$new"));
    assert!(
        !f.store
            .upgrade_password_hash(u.id, u.password_hash.as_deref().unwrap(), "$2b$04$stale")
            .await
            .unwrap(),
        "an upgrade over a hash that is no longer stored replaces nothing"
    );
    let stored = f.store.user_by_id(u.id).await.unwrap().unwrap();
    assert_eq!(stored.password_hash.as_deref(), Some("$2b$04$new"));
}

async fn import_is_all_or_nothing(f: Fresh) {
    f.store
        .create_user(&new_user("taken@example.com"), &[])
        .await
        .unwrap();
    let batch = vec![
        new_user("one@example.com"),
        new_user("two@example.com"),
        new_user("TAKEN@example.com"),
    ];
    match f.store.import_users(&batch, &[]).await {
        Err(ImportError::EmailTaken(2)) => {}
        other => panic!("expected EmailTaken(2), got {other:?}"),
    }
    assert!(
        f.store
            .user_by_email_key("one@example.com")
            .await
            .unwrap()
            .is_none(),
        "nothing of a failed batch stays"
    );
    let good = vec![new_user("one@example.com"), new_user("two@example.com")];
    f.store.import_users(&good, &[]).await.unwrap();
    assert!(
        f.store
            .user_by_email_key("two@example.com")
            .await
            .unwrap()
            .is_some()
    );
}
