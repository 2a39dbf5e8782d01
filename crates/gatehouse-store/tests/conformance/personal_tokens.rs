//! Personal access tokens: found by public id with their digest, listed per user across orgs
//! and per org, revoked once by the org (another org's id changes nothing), deleted only by
//! their own user.

use gatehouse_core::ids::{OrgId, PersonalTokenId, UserId};
use gatehouse_core::role::Role;
use gatehouse_core::store::PersonalToken;

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::orgs::{org_with, user};

fn token(user: UserId, org: OrgId, public_id: &str, when: i64) -> PersonalToken {
    PersonalToken {
        id: PersonalTokenId::new(),
        user_id: user,
        org_id: org,
        name: format!("token {public_id}"),
        public_id: public_id.into(),
        scopes: vec!["secrets:read".into(), "audit:read".into()],
        created_at: at(when),
        expires_at: at(when + 1000),
        revoked_at: None,
        last_used_at: None,
    }
}

conformance!(
    tokens_are_found_by_public_id_and_listed_per_user_and_org,
    only_the_org_revokes_and_only_the_user_deletes
);

async fn tokens_are_found_by_public_id_and_listed_per_user_and_org(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    let a = org_with(&f, "A", ann, &[(bob, Role::Member)]).await;
    let b = org_with(&f, "B", ann, &[]).await;
    let one = token(ann, a, "aaaaaaaaaaaa", 10);
    let two = token(ann, b, "bbbbbbbbbbbb", 20);
    let bobs = token(bob, a, "cccccccccccc", 30);
    for (t, d) in [(&one, [1u8; 32]), (&two, [2; 32]), (&bobs, [3; 32])] {
        f.store.create_personal_token(t, &d, &[]).await.unwrap();
    }
    let (found, digest) = f
        .store
        .personal_token_by_public_id("bbbbbbbbbbbb")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.clone(), digest), (two.clone(), vec![2; 32]));
    assert_eq!(found.scopes, ["secrets:read", "audit:read"]);
    assert!(
        f.store
            .personal_token_by_public_id("zzzzzzzzzzzz")
            .await
            .unwrap()
            .is_none()
    );
    let anns: Vec<_> = f
        .store
        .personal_tokens_of_user(ann)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(anns, [two.id, one.id], "newest first, across orgs");
    let in_a: Vec<_> = f
        .store
        .personal_tokens_of_org(a)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(in_a, [bobs.id, one.id]);
}

async fn only_the_org_revokes_and_only_the_user_deletes(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    let a = org_with(&f, "A", ann, &[(bob, Role::Member)]).await;
    let b = org_with(&f, "B", bob, &[]).await;
    let t = token(bob, a, "aaaaaaaaaaaa", 10);
    f.store
        .create_personal_token(&t, &[1; 32], &[])
        .await
        .unwrap();
    assert!(
        !f.store
            .revoke_personal_token(b, t.id, at(50), &[])
            .await
            .unwrap()
    );
    assert!(
        f.store
            .revoke_personal_token(a, t.id, at(50), &[])
            .await
            .unwrap()
    );
    assert!(
        f.store
            .revoke_personal_token(a, t.id, at(90), &[])
            .await
            .unwrap()
    );
    let (stored, _) = f
        .store
        .personal_token_by_public_id("aaaaaaaaaaaa")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored.revoked_at,
        Some(at(50)),
        "the first revocation counts"
    );
    assert!(
        !f.store.delete_personal_token(ann, t.id, &[]).await.unwrap(),
        "not ann's"
    );
    assert!(f.store.delete_personal_token(bob, t.id, &[]).await.unwrap());
    assert!(
        f.store
            .personal_tokens_of_user(bob)
            .await
            .unwrap()
            .is_empty()
    );
}
