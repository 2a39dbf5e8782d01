//! Second factors: a pending seed replaced until confirmed and never after, each TOTP step and
//! each recovery code taken once (the conditional writes that make it hold across instances),
//! `mfa_token` attempts bounded and the token single use, and seeds found for re-sealing.

use gatehouse_core::ids::UserId;
use gatehouse_core::store::{MfaTokenAttempt, TotpRecord};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::orgs::user;

fn pending(user: UserId, sealed: &[u8], sealed_by: &str) -> TotpRecord {
    TotpRecord {
        user_id: user,
        sealed: sealed.to_vec(),
        sealed_by: sealed_by.into(),
        created_at: at(0),
        pending_until: at(900),
        confirmed_at: None,
        last_used_step: -1,
        last_used_at: None,
    }
}

conformance!(
    a_seed_is_pending_until_confirmed,
    a_step_and_a_code_are_taken_once,
    an_mfa_token_counts_its_attempts_and_is_spent_once,
    seeds_sealed_by_an_old_secret_are_found_and_resealed
);

async fn a_seed_is_pending_until_confirmed(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    assert!(f.store.totp(ann).await.unwrap().is_none());
    assert!(
        f.store
            .put_pending_totp(&pending(ann, b"one", "m1"))
            .await
            .unwrap()
    );
    assert!(
        f.store
            .put_pending_totp(&pending(ann, b"two", "m1"))
            .await
            .unwrap(),
        "replaced"
    );
    let digests = vec![b"code-1".to_vec(), b"code-2".to_vec()];
    // Only the seed pending now confirms, and only before it lapses.
    assert!(
        !f.store
            .confirm_totp(ann, b"one", 5, at(10), &digests, &[])
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .confirm_totp(ann, b"two", 5, at(900), &digests, &[])
            .await
            .unwrap()
    );
    assert!(
        f.store
            .confirm_totp(ann, b"two", 5, at(10), &digests, &[])
            .await
            .unwrap()
    );
    let on = f.store.totp(ann).await.unwrap().unwrap();
    assert_eq!((on.confirmed_at, on.last_used_step), (Some(at(10)), 5));
    assert_eq!(f.store.recovery_codes_left(ann).await.unwrap(), 2);
    assert!(
        !f.store
            .put_pending_totp(&pending(ann, b"three", "m1"))
            .await
            .unwrap(),
        "on: kept"
    );
    assert_eq!(f.store.totp(ann).await.unwrap().unwrap().sealed, b"two");
    assert!(f.store.delete_totp(ann, &[]).await.unwrap());
    assert!(f.store.totp(ann).await.unwrap().is_none());
    assert_eq!(
        f.store.recovery_codes_left(ann).await.unwrap(),
        0,
        "codes go with it"
    );
    assert!(!f.store.delete_totp(ann, &[]).await.unwrap());
}

async fn a_step_and_a_code_are_taken_once(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    f.store
        .put_pending_totp(&pending(ann, b"s", "m1"))
        .await
        .unwrap();
    let digests = vec![b"code-1".to_vec(), b"code-2".to_vec()];
    f.store
        .confirm_totp(ann, b"s", 5, at(10), &digests, &[])
        .await
        .unwrap();
    assert!(
        !f.store.advance_totp_step(ann, 5, at(11)).await.unwrap(),
        "the confirm's step"
    );
    assert!(
        !f.store.advance_totp_step(ann, 4, at(11)).await.unwrap(),
        "an earlier step"
    );
    assert!(f.store.advance_totp_step(ann, 6, at(12)).await.unwrap());
    assert!(
        !f.store.advance_totp_step(ann, 6, at(12)).await.unwrap(),
        "the same step again"
    );
    assert_eq!(
        f.store.totp(ann).await.unwrap().unwrap().last_used_at,
        Some(at(12))
    );
    assert_eq!(
        f.store
            .use_recovery_code(ann, b"code-1", at(13))
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        f.store
            .use_recovery_code(ann, b"code-1", at(14))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        f.store
            .use_recovery_code(ann, b"nope", at(14))
            .await
            .unwrap(),
        None
    );
    let bob = user(&f, "bob@example.com").await;
    assert_eq!(
        f.store
            .use_recovery_code(bob, b"code-2", at(14))
            .await
            .unwrap(),
        None,
        "ann's"
    );
    f.store
        .replace_recovery_codes(ann, &[b"new".to_vec()], &[])
        .await
        .unwrap();
    assert_eq!(
        f.store
            .use_recovery_code(ann, b"code-2", at(15))
            .await
            .unwrap(),
        None,
        "void"
    );
    assert_eq!(
        f.store
            .use_recovery_code(ann, b"new", at(15))
            .await
            .unwrap(),
        Some(0)
    );
}

async fn an_mfa_token_counts_its_attempts_and_is_spent_once(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    f.store
        .create_mfa_token(b"t1", ann, 3, at(0), at(300))
        .await
        .unwrap();
    for n in 1..=2 {
        assert_eq!(
            f.store.attempt_mfa_token(b"t1", at(10), 2).await.unwrap(),
            MfaTokenAttempt::Counted {
                user_id: ann,
                credential_epoch: 3,
                n
            }
        );
    }
    assert_eq!(
        f.store.attempt_mfa_token(b"t1", at(10), 2).await.unwrap(),
        MfaTokenAttempt::Refused
    );
    f.store
        .create_mfa_token(b"t2", ann, 3, at(0), at(300))
        .await
        .unwrap();
    assert_eq!(
        f.store.attempt_mfa_token(b"t2", at(300), 5).await.unwrap(),
        MfaTokenAttempt::Refused,
        "lapsed at its instant"
    );
    assert_eq!(
        f.store.attempt_mfa_token(b"nope", at(10), 5).await.unwrap(),
        MfaTokenAttempt::Refused
    );
    assert!(f.store.spend_mfa_token(b"t2").await.unwrap());
    assert!(!f.store.spend_mfa_token(b"t2").await.unwrap(), "single use");
}

async fn seeds_sealed_by_an_old_secret_are_found_and_resealed(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    f.store
        .put_pending_totp(&pending(ann, b"a", "old"))
        .await
        .unwrap();
    f.store
        .put_pending_totp(&pending(bob, b"b", "new"))
        .await
        .unwrap();
    assert_eq!(f.store.count_seeds_to_reseal("new").await.unwrap(), 1);
    let found = f.store.seeds_to_reseal("new", None, 10).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].user_id, ann);
    assert!(
        f.store
            .seeds_to_reseal("new", Some(ann), 10)
            .await
            .unwrap()
            .is_empty(),
        "after ann"
    );
    // A seed replaced since it was read is not overwritten.
    let stale = gatehouse_core::store::ResealedSeed {
        user_id: ann,
        sealed: b"a2".to_vec(),
        sealed_by: "new".into(),
        old_sealed: b"not-what-is-stored".to_vec(),
        old_sealed_by: "old".into(),
    };
    assert_eq!(
        f.store.reseal_seeds(&[stale]).await.unwrap(),
        0,
        "replaced meanwhile"
    );
    let resealed = gatehouse_core::store::ResealedSeed {
        user_id: ann,
        sealed: b"a2".to_vec(),
        sealed_by: "new".into(),
        old_sealed: b"a".to_vec(),
        old_sealed_by: "old".into(),
    };
    assert_eq!(
        f.store
            .reseal_seeds(std::slice::from_ref(&resealed))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        f.store.reseal_seeds(&[resealed]).await.unwrap(),
        0,
        "already resealed"
    );
    assert_eq!(f.store.count_seeds_to_reseal("new").await.unwrap(), 0);
    assert_eq!(f.store.totp(ann).await.unwrap().unwrap().sealed, b"a2");
}
