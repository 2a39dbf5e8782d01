//! The vault port: versions, the kept window, listing without values, scoping by org,
//! deletion of every version, the version race, and what re-encryption reads and replaces.

use gatehouse_core::error::ConflictReason;
use gatehouse_core::ids::OrgId;
use gatehouse_core::store::{Resealed, SecretVersion, Writer};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::orgs::{org_with, user};

fn version(org: OrgId, name: &str, n: i64, sealed_by: &str) -> SecretVersion {
    SecretVersion {
        org_id: org,
        name: name.into(),
        version: n,
        sealed: vec![n as u8; 40],
        sealed_by: sealed_by.into(),
        secret_created_at: at(1),
        created_at: at(n * 10),
        created_by: Writer {
            kind: "user".into(),
            id: Some("u1".into()),
        },
    }
}

conformance!(
    versions_and_the_kept_window,
    listing_and_scoping,
    delete_removes_every_version,
    reencryption_reads_and_replaces
);

async fn versions_and_the_kept_window(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    assert!(f.store.latest_secret(org, "db").await.unwrap().is_none());
    for n in 1..=12 {
        f.store
            .put_secret(&version(org, "db", n, "aa"), 10, &[])
            .await
            .unwrap();
    }
    let latest = f.store.latest_secret(org, "db").await.unwrap().unwrap();
    assert_eq!((latest.version, latest.created_at), (12, at(1)));
    assert_eq!(latest.updated_at, at(120));
    let newest = f.store.secret(org, "db", None).await.unwrap().unwrap();
    assert_eq!((newest.version, newest.sealed), (12, vec![12; 40]));
    let third = f.store.secret(org, "db", Some(3)).await.unwrap().unwrap();
    assert_eq!(third.sealed, vec![3; 40], "ten latest kept: 3..=12");
    assert!(
        f.store.secret(org, "db", Some(2)).await.unwrap().is_none(),
        "version 2 fell out of the window"
    );
    let err = f
        .store
        .put_secret(&version(org, "db", 12, "aa"), 10, &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            gatehouse_core::Error::Conflict(ConflictReason::SecretVersionTaken)
        ),
        "{err:?}"
    );
}

async fn listing_and_scoping(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let a = org_with(&f, "A", owner, &[]).await;
    let b = org_with(&f, "B", owner, &[]).await;
    for n in 1..=3 {
        f.store
            .put_secret(&version(a, "zeta", n, "aa"), 10, &[])
            .await
            .unwrap();
    }
    f.store
        .put_secret(&version(a, "alpha", 1, "aa"), 10, &[])
        .await
        .unwrap();
    f.store
        .put_secret(&version(b, "only-b", 1, "aa"), 10, &[])
        .await
        .unwrap();
    let listed = f.store.secrets(a).await.unwrap();
    let names: Vec<(&str, i64)> = listed
        .iter()
        .map(|m| (m.name.as_str(), m.version))
        .collect();
    assert_eq!(names, vec![("alpha", 1), ("zeta", 3)]);
    assert_eq!(listed[1].updated_by.id.as_deref(), Some("u1"));
    assert!(f.store.secret(a, "only-b", None).await.unwrap().is_none());
    assert!(f.store.latest_secret(a, "only-b").await.unwrap().is_none());
    assert_eq!(f.store.delete_secret(a, "only-b", &[]).await.unwrap(), None);
    assert!(f.store.secret(b, "only-b", None).await.unwrap().is_some());
}

async fn delete_removes_every_version(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    for n in 1..=3 {
        f.store
            .put_secret(&version(org, "db", n, "aa"), 10, &[])
            .await
            .unwrap();
    }
    assert_eq!(
        f.store.delete_secret(org, "db", &[]).await.unwrap(),
        Some(3)
    );
    for n in 1..=3 {
        assert!(f.store.secret(org, "db", Some(n)).await.unwrap().is_none());
    }
    assert!(f.store.secrets(org).await.unwrap().is_empty());
    // Written again, it starts over.
    f.store
        .put_secret(&version(org, "db", 1, "aa"), 10, &[])
        .await
        .unwrap();
    assert_eq!(
        f.store
            .latest_secret(org, "db")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

async fn reencryption_reads_and_replaces(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    assert!(f.store.org_ids().await.unwrap().contains(&org));
    for (name, n, by) in [
        ("a", 1, "old"),
        ("a", 2, "new"),
        ("b", 1, "old"),
        ("c", 1, "old"),
    ] {
        f.store
            .put_secret(&version(org, name, n, by), 10, &[])
            .await
            .unwrap();
    }
    assert_eq!(f.store.count_to_reseal(org, "new").await.unwrap(), 3);
    let first = f
        .store
        .secrets_to_reseal(org, "new", None, 2)
        .await
        .unwrap();
    let keys: Vec<(&str, i64)> = first.iter().map(|v| (v.name.as_str(), v.version)).collect();
    assert_eq!(keys, vec![("a", 1), ("b", 1)]);
    let rest = f
        .store
        .secrets_to_reseal(org, "new", Some(("b".into(), 1)), 2)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].name, "c");
    let swap = |name: &str, old: &str| Resealed {
        name: name.into(),
        version: 1,
        sealed: vec![9; 40],
        sealed_by: "new".into(),
        old_sealed_by: old.into(),
    };
    // A row whose fingerprint changed meanwhile is left alone.
    let replaced = f
        .store
        .reseal_secrets(org, &[swap("a", "old"), swap("b", "other")])
        .await
        .unwrap();
    assert_eq!(replaced, 1);
    let a1 = f.store.secret(org, "a", Some(1)).await.unwrap().unwrap();
    assert_eq!((a1.sealed, a1.sealed_by.as_str()), (vec![9; 40], "new"));
    assert_eq!(f.store.count_to_reseal(org, "new").await.unwrap(), 2);
}
