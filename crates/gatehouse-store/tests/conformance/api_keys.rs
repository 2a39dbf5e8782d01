//! API keys: creation, lookup by public id, scoping by org, revocation, deletion, last use.

use gatehouse_core::ids::{ApiKeyId, OrgId};
use gatehouse_core::store::ApiKey;

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::orgs::{org_with, user};

pub(crate) fn key(org: OrgId, name: &str) -> ApiKey {
    let (public_id, secret) =
        gatehouse_core::token::new_api_key(&gatehouse_core::random::SystemRandom).unwrap();
    ApiKey {
        id: ApiKeyId::new(),
        org_id: org,
        name: name.into(),
        public_id,
        digest: gatehouse_core::token::digest(&secret),
        scopes: vec!["check".into(), "tasks:read".into()],
        created_by: None,
        created_at: at(0),
        expires_at: Some(at(500)),
        last_used_at: None,
        revoked_at: None,
    }
}

conformance!(
    create_and_read,
    scoped_to_their_org,
    revoke_delete_and_touch
);

async fn create_and_read(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    let mut k = key(org, "ci");
    k.created_by = Some(owner);
    f.store.create_api_key(&k, &[]).await.unwrap();
    let (found, found_org) = f
        .store
        .api_key_by_public_id(&k.public_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found_org.id, found_org.name.as_str()), (org, "Org"));
    assert_eq!(
        (found.id, found.org_id, found.name.as_str()),
        (k.id, org, "ci")
    );
    assert_eq!(found.digest, k.digest);
    assert_eq!(found.scopes, k.scopes);
    assert_eq!(
        (found.created_by, found.expires_at),
        (Some(owner), Some(at(500)))
    );
    assert!(found.last_used_at.is_none() && found.revoked_at.is_none());
    let listed = f.store.api_keys(org).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        f.store
            .api_key_by_public_id("000000000000")
            .await
            .unwrap()
            .is_none()
    );
    let mut twin = key(org, "twin");
    twin.public_id = k.public_id.clone();
    assert!(
        f.store.create_api_key(&twin, &[]).await.is_err(),
        "public ids are unique"
    );
}

async fn scoped_to_their_org(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let a = org_with(&f, "A", owner, &[]).await;
    let b = org_with(&f, "B", owner, &[]).await;
    let ka = key(a, "a");
    f.store.create_api_key(&ka, &[]).await.unwrap();
    assert!(
        f.store.api_key(b, ka.id).await.unwrap().is_none(),
        "B cannot read A's key by id"
    );
    assert!(f.store.api_keys(b).await.unwrap().is_empty());
    assert!(
        f.store
            .revoke_api_key(b, ka.id, at(1), &[])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .delete_api_key(b, ka.id, &[])
            .await
            .unwrap()
            .is_none()
    );
    let still = f.store.api_key(a, ka.id).await.unwrap().unwrap();
    assert!(still.revoked_at.is_none(), "B's attempts changed nothing");
}

async fn revoke_delete_and_touch(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    let k = key(org, "k");
    f.store.create_api_key(&k, &[]).await.unwrap();
    f.store.touch_api_key(org, k.id, at(20)).await.unwrap();
    f.store.touch_api_key(org, k.id, at(10)).await.unwrap();
    assert_eq!(
        f.store
            .api_key(org, k.id)
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(at(20))
    );
    let revoked = f
        .store
        .revoke_api_key(org, k.id, at(30), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(at(30)));
    let again = f
        .store
        .revoke_api_key(org, k.id, at(40), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        again.revoked_at,
        Some(at(30)),
        "the first revocation time is kept"
    );
    let gone = f
        .store
        .delete_api_key(org, k.id, &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(gone.public_id, k.public_id);
    assert!(
        f.store
            .api_key_by_public_id(&k.public_id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .delete_api_key(org, k.id, &[])
            .await
            .unwrap()
            .is_none()
    );
}
