//! Passkeys: one credential id across all users, a user's list and delete (another user's id
//! deletes nothing), the counter recorded only upward, and ceremonies taken once and only while
//! live.

use gatehouse_core::Error;
use gatehouse_core::error::ConflictReason;
use gatehouse_core::ids::{CeremonyId, PasskeyId, UserId};
use gatehouse_core::store::{Ceremony, CeremonyKind, StoredPasskey};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::orgs::user;

fn passkey(user: UserId, name: &str, credential_id: &[u8], when: i64) -> StoredPasskey {
    StoredPasskey {
        id: PasskeyId::new(),
        user_id: user,
        name: name.into(),
        credential_id: credential_id.to_vec(),
        credential: format!("{{\"cred\":\"{name}\"}}"),
        sign_count: 5,
        backup_eligible: true,
        created_at: at(when),
        last_used_at: None,
    }
}

fn ceremony(kind: CeremonyKind, user: Option<UserId>, until: i64) -> Ceremony {
    Ceremony {
        id: CeremonyId::new(),
        kind,
        user_id: user,
        state: "{\"challenge\":\"abc\"}".into(),
        created_at: at(0),
        expires_at: at(until),
    }
}

conformance!(
    passkeys_list_delete_and_stay_unique,
    a_counter_is_recorded_only_upward,
    a_ceremony_is_taken_once_while_live
);

async fn passkeys_list_delete_and_stay_unique(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    let laptop = passkey(ann, "laptop", b"cred-1", 10);
    let phone = passkey(ann, "phone", b"cred-2", 20);
    f.store.add_passkey(&laptop, &[]).await.unwrap();
    f.store.add_passkey(&phone, &[]).await.unwrap();
    let taken = f
        .store
        .add_passkey(&passkey(bob, "copy", b"cred-1", 30), &[])
        .await;
    assert!(
        matches!(
            taken,
            Err(Error::Conflict(ConflictReason::PasskeyRegistered))
        ),
        "{taken:?}"
    );
    assert_eq!(
        f.store.passkeys(ann).await.unwrap(),
        vec![laptop.clone(), phone.clone()]
    );
    assert!(f.store.passkeys(bob).await.unwrap().is_empty());
    assert_eq!(
        f.store.passkey_by_credential(b"cred-2").await.unwrap(),
        Some(phone.clone())
    );
    assert_eq!(f.store.passkey_by_credential(b"nope").await.unwrap(), None);
    assert!(
        !f.store.delete_passkey(bob, laptop.id, &[]).await.unwrap(),
        "not bob's"
    );
    assert!(f.store.delete_passkey(ann, laptop.id, &[]).await.unwrap());
    assert!(
        !f.store.delete_passkey(ann, laptop.id, &[]).await.unwrap(),
        "gone"
    );
    assert_eq!(f.store.passkeys(ann).await.unwrap(), vec![phone]);
}

async fn a_counter_is_recorded_only_upward(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let key = passkey(ann, "laptop", b"cred-1", 10);
    f.store.add_passkey(&key, &[]).await.unwrap();
    assert!(
        !f.store
            .record_passkey_use(key.id, "{}", 5, at(11))
            .await
            .unwrap(),
        "same"
    );
    assert!(
        !f.store
            .record_passkey_use(key.id, "{}", 4, at(11))
            .await
            .unwrap(),
        "lower"
    );
    assert!(
        f.store
            .record_passkey_use(key.id, "{\"n\":6}", 6, at(12))
            .await
            .unwrap()
    );
    let stored = f
        .store
        .passkey_by_credential(b"cred-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            stored.sign_count,
            stored.credential.as_str(),
            stored.last_used_at
        ),
        (6, "{\"n\":6}", Some(at(12)))
    );
    // An authenticator that keeps no counter reports zero every time.
    let mut none = passkey(ann, "synced", b"cred-0", 20);
    none.sign_count = 0;
    f.store.add_passkey(&none, &[]).await.unwrap();
    assert!(
        f.store
            .record_passkey_use(none.id, "{}", 0, at(21))
            .await
            .unwrap()
    );
    assert!(
        f.store
            .record_passkey_use(none.id, "{}", 0, at(22))
            .await
            .unwrap()
    );
}

async fn a_ceremony_is_taken_once_while_live(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let reg = ceremony(CeremonyKind::Register, Some(ann), 300);
    f.store.create_ceremony(&reg).await.unwrap();
    let as_login = f
        .store
        .take_ceremony(reg.id, CeremonyKind::Login, at(1))
        .await
        .unwrap();
    assert!(as_login.is_none(), "a registration is not a sign-in");
    assert_eq!(
        f.store
            .take_ceremony(reg.id, CeremonyKind::Register, at(1))
            .await
            .unwrap(),
        Some(reg.clone())
    );
    assert!(
        f.store
            .take_ceremony(reg.id, CeremonyKind::Register, at(1))
            .await
            .unwrap()
            .is_none()
    );
    let login = ceremony(CeremonyKind::Login, None, 300);
    f.store.create_ceremony(&login).await.unwrap();
    assert!(
        f.store
            .take_ceremony(login.id, CeremonyKind::Login, at(300))
            .await
            .unwrap()
            .is_none(),
        "lapsed at its instant"
    );
}
