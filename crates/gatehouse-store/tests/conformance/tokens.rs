//! Token storage: signing keys and their retirement, refresh families, single-use rotation,
//! family and jti revocation, and the state an access token is judged on.

use gatehouse_core::ids::{FamilyId, RefreshId, UserId};
use gatehouse_core::store::{RefreshToken, Rotation, StoredSigningKey, TokenFamily};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::orgs::user;

pub(crate) fn family(user: UserId) -> TokenFamily {
    TokenFamily {
        id: FamilyId::new(),
        user_id: user,
        org_id: None,
        scope: String::new(),
        created_at: at(0),
        expires_at: at(1000),
        revoked_at: None,
        credential_epoch: 0,
    }
}

pub(crate) fn refresh(f: &TokenFamily) -> RefreshToken {
    RefreshToken {
        id: RefreshId::new(),
        family_id: f.id,
        created_at: at(0),
        expires_at: at(1000),
        used_at: None,
    }
}

fn key(kid: &str, created: i64) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.into(),
        public_key: vec![1; 32],
        sealed_private: vec![2; 61],
        sealed_by: Some("00aa".into()),
        created_at: at(created),
        retired_at: None,
    }
}

conformance!(
    signing_keys_retire_in_turn,
    refresh_tokens_are_single_use,
    revocations_reach_token_state
);

async fn signing_keys_retire_in_turn(f: Fresh) {
    f.store.add_signing_key(&key("k1", 0), &[]).await.unwrap();
    f.store.add_signing_key(&key("k2", 10), &[]).await.unwrap();
    let keys = f.store.signing_keys().await.unwrap();
    let states: Vec<(&str, Option<i64>)> = keys
        .iter()
        .map(|k| {
            (
                k.kid.as_str(),
                k.retired_at
                    .map(|t| t.unix_timestamp() - at(0).unix_timestamp()),
            )
        })
        .collect();
    assert_eq!(states, vec![("k1", Some(10)), ("k2", None)]);
    assert_eq!(keys[1].sealed_private, vec![2; 61]);
    assert!(
        f.store.add_signing_key(&key("k2", 20), &[]).await.is_err(),
        "kids are unique"
    );
    assert_eq!(keys[1].sealed_by.as_deref(), Some("00aa"));
    // Re-sealing replaces the private half only if it is still what was read.
    assert!(
        !f.store
            .reseal_signing_key("k1", &[7; 61], &[3; 61], "00bb")
            .await
            .unwrap()
    );
    assert!(
        f.store
            .reseal_signing_key("k1", &[2; 61], &[3; 61], "00bb")
            .await
            .unwrap()
    );
    let k1 = &f.store.signing_keys().await.unwrap()[0];
    assert_eq!(
        (k1.sealed_private.clone(), k1.sealed_by.as_deref()),
        (vec![3; 61], Some("00bb"))
    );
}

async fn refresh_tokens_are_single_use(f: Fresh) {
    let u = user(&f, "t@example.com").await;
    let fam = family(u);
    let first = refresh(&fam);
    f.store
        .create_family(&fam, &first, &[1; 32], &[])
        .await
        .unwrap();
    let (found, found_family) = f.store.refresh_by_digest(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(
        (found.id, found_family.id, found_family.user_id),
        (first.id, fam.id, u)
    );
    assert!(found.used_at.is_none());
    let second = refresh(&fam);
    assert_eq!(
        f.store
            .rotate_refresh(&fam, first.id, &second, &[2; 32], at(5), &[])
            .await
            .unwrap(),
        Rotation::Rotated
    );
    let third = refresh(&fam);
    assert_eq!(
        f.store
            .rotate_refresh(&fam, first.id, &third, &[3; 32], at(6), &[])
            .await
            .unwrap(),
        Rotation::Spent,
        "spent"
    );
    assert!(
        f.store.refresh_by_digest(&[3; 32]).await.unwrap().is_none(),
        "a refused rotation adds nothing"
    );
    assert_eq!(
        f.store
            .refresh_by_digest(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .0
            .used_at,
        Some(at(5))
    );
    assert!(f.store.revoke_family(&fam, at(7), &[]).await.unwrap());
    assert!(!f.store.revoke_family(&fam, at(8), &[]).await.unwrap());
    let fourth = refresh(&fam);
    assert_eq!(
        f.store
            .rotate_refresh(&fam, second.id, &fourth, &[4; 32], at(9), &[])
            .await
            .unwrap(),
        Rotation::Revoked,
        "revoked family"
    );
    assert_eq!(
        f.store
            .refresh_by_digest(&[2; 32])
            .await
            .unwrap()
            .unwrap()
            .1
            .revoked_at,
        Some(at(7))
    );
}

async fn revocations_reach_token_state(f: Fresh) {
    let u = user(&f, "s@example.com").await;
    let fam = family(u);
    f.store
        .create_family(&fam, &refresh(&fam), &[9; 32], &[])
        .await
        .unwrap();
    let state = f.store.token_state(fam.id, "jti-1", u).await.unwrap();
    assert!(!state.family_revoked && !state.jti_revoked && state.user.is_some());
    assert!(
        f.store
            .token_state(fam.id, "jti-1", UserId::new())
            .await
            .unwrap()
            .family_revoked,
        "another user's family"
    );
    f.store
        .revoke_jti("jti-1", at(2_000_000_000), at(0), &[])
        .await
        .unwrap();
    f.store
        .revoke_jti("jti-1", at(2_000_000_000), at(0), &[])
        .await
        .unwrap();
    assert!(
        f.store
            .token_state(fam.id, "jti-1", u)
            .await
            .unwrap()
            .jti_revoked
    );
    assert!(
        !f.store
            .token_state(fam.id, "jti-2", u)
            .await
            .unwrap()
            .jti_revoked
    );
    // logout-all (and password change) revoke every family of the user.
    f.store
        .revoke_all_sessions(u, None, at(50), &[])
        .await
        .unwrap();
    let state = f.store.token_state(fam.id, "jti-2", u).await.unwrap();
    assert!(state.family_revoked);
    assert_eq!(state.user.unwrap().credentials_valid_after, at(50));
}
