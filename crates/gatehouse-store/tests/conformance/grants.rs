//! Grants: one per (resource, subject) with replace semantics, listing by resource and by
//! subject (expired ones included), the single lookup a check makes, deletion, scoping by org,
//! and grants going with a removed member or a deleted key.

use gatehouse_core::ids::{GrantId, OrgId};
use gatehouse_core::permission::Subject;
use gatehouse_core::role::Role;
use gatehouse_core::store::{Grant, Held, Holder, Standing};

use crate::api_keys::key;
use crate::conformance;
use crate::harness::{Fresh, at};
use crate::orgs::{org_with, user};

fn grant(org: OrgId, resource: &str, subject: &str, caps: &[&str], when: i64) -> Grant {
    Grant {
        id: GrantId::new(),
        org_id: org,
        resource: resource.into(),
        subject: subject.into(),
        capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
        expires_at: None,
        created_by: "user:creator".into(),
        created_at: at(when),
        updated_at: at(when),
    }
}

conformance!(
    granting_again_replaces,
    listing_lookup_and_delete,
    grants_stay_in_their_org,
    grants_go_with_the_member_or_key,
    standing_reads_role_key_and_grant_at_once,
    a_put_audits_what_it_did
);

async fn granting_again_replaces(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    let first = grant(org, "page:1", "user:a", &["view"], 10);
    let (stored, created) = f.store.put_grant(&first, &|_, _| Vec::new()).await.unwrap();
    assert!(created);
    assert_eq!(stored, first);
    let mut again = grant(org, "page:1", "user:a", &["view", "edit"], 20);
    again.expires_at = Some(at(100));
    again.created_by = "user:someone-else".into();
    let (stored, created) = f.store.put_grant(&again, &|_, _| Vec::new()).await.unwrap();
    assert!(
        !created,
        "the same (resource, subject) is replaced, not added"
    );
    assert_eq!(stored.id, first.id, "the grant keeps its id");
    assert_eq!(stored.capabilities, vec!["view", "edit"]);
    assert_eq!(stored.expires_at, Some(at(100)));
    assert_eq!(stored.created_by, "user:creator", "and its creator");
    assert_eq!((stored.created_at, stored.updated_at), (at(10), at(20)));
    assert_eq!(
        f.store
            .grants_of_resource(org, "page:1")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        stored.live_at(at(99)) && !stored.live_at(at(100)),
        "expiry is exact"
    );
}

async fn listing_lookup_and_delete(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    for (resource, subject) in [
        ("page:2", "user:b"),
        ("page:1", "user:b"),
        ("page:1", "user:a"),
    ] {
        f.store
            .put_grant(&grant(org, resource, subject, &["view"], 1), &|_, _| {
                Vec::new()
            })
            .await
            .unwrap();
    }
    let by_resource: Vec<String> = f
        .store
        .grants_of_resource(org, "page:1")
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.subject)
        .collect();
    assert_eq!(by_resource, vec!["user:a", "user:b"]);
    let by_subject: Vec<String> = f
        .store
        .grants_of_subject(org, "user:b")
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.resource)
        .collect();
    assert_eq!(by_subject, vec!["page:1", "page:2"]);
    let found = f
        .store
        .grant_for(org, "page:2", "user:b")
        .await
        .unwrap()
        .unwrap();
    assert!(
        f.store
            .grant_for(org, "page:2", "user:a")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .grant_for(org, "page:2/child", "user:b")
            .await
            .unwrap()
            .is_none(),
        "no inheritance"
    );
    assert_eq!(
        f.store.grant(org, found.id).await.unwrap(),
        Some(found.clone())
    );
    assert!(f.store.delete_grant(org, found.id, &[]).await.unwrap());
    assert!(
        !f.store.delete_grant(org, found.id, &[]).await.unwrap(),
        "already gone"
    );
    assert!(f.store.grant(org, found.id).await.unwrap().is_none());
}

async fn grants_stay_in_their_org(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let a = org_with(&f, "A", owner, &[]).await;
    let b = org_with(&f, "B", owner, &[]).await;
    let g = grant(a, "page:1", "user:a", &["view"], 1);
    f.store.put_grant(&g, &|_, _| Vec::new()).await.unwrap();
    assert!(f.store.grant(b, g.id).await.unwrap().is_none());
    assert!(
        f.store
            .grant_for(b, "page:1", "user:a")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .grants_of_resource(b, "page:1")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        f.store
            .grants_of_subject(b, "user:a")
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        !f.store.delete_grant(b, g.id, &[]).await.unwrap(),
        "another org cannot delete it"
    );
    assert!(f.store.grant(a, g.id).await.unwrap().is_some());
}

async fn grants_go_with_the_member_or_key(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let member = user(&f, "m@example.com").await;
    let org = org_with(&f, "Org", owner, &[(member, Role::Member)]).await;
    let k = key(org, "bot");
    f.store.create_api_key(&k, &[]).await.unwrap();
    let as_member = format!("user:{member}");
    let as_key = format!("api_key:{}", k.id);
    for subject in [&as_member, &as_key, &format!("user:{owner}")] {
        f.store
            .put_grant(&grant(org, "page:1", subject, &["view"], 1), &|_, _| {
                Vec::new()
            })
            .await
            .unwrap();
    }
    assert!(
        f.store
            .remove_member(org, owner, member, at(2), &[])
            .await
            .unwrap()
    );
    assert!(
        f.store
            .grants_of_subject(org, &as_member)
            .await
            .unwrap()
            .is_empty()
    );
    f.store.delete_api_key(org, k.id, &[]).await.unwrap();
    assert!(
        f.store
            .grants_of_subject(org, &as_key)
            .await
            .unwrap()
            .is_empty()
    );
    let left: Vec<String> = f
        .store
        .grants_of_resource(org, "page:1")
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.subject)
        .collect();
    assert_eq!(left, vec![format!("user:{owner}")], "others keep theirs");
}

async fn standing_reads_role_key_and_grant_at_once(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let member = user(&f, "m@example.com").await;
    let stranger = user(&f, "s@example.com").await;
    let org = org_with(&f, "Org", owner, &[(member, Role::Member)]).await;
    let other = org_with(&f, "Other", stranger, &[]).await;
    let k = key(org, "bot");
    f.store.create_api_key(&k, &[]).await.unwrap();
    let mut g = grant(
        org,
        "page:1",
        &format!("user:{member}"),
        &["view", "share"],
        1,
    );
    g.expires_at = Some(at(50));
    f.store.put_grant(&g, &|_, _| Vec::new()).await.unwrap();
    let standing = |subject, resource: &'static str| {
        let store = f.store.clone();
        async move { store.standing(org, resource, subject).await.unwrap() }
    };
    assert_eq!(
        standing(Subject::User(member), "page:1").await,
        Some(Standing {
            holder: Holder::Member(Role::Member),
            held: Some(Held {
                capabilities: vec!["view".into(), "share".into()],
                expires_at: Some(at(50)),
            }),
        })
    );
    assert_eq!(
        standing(Subject::User(member), "page:2").await,
        Some(Standing {
            holder: Holder::Member(Role::Member),
            held: None,
        }),
        "another resource: the role, no grant"
    );
    assert_eq!(
        standing(Subject::User(owner), "page:1").await,
        Some(Standing {
            holder: Holder::Member(Role::Owner),
            held: None,
        })
    );
    assert_eq!(
        standing(Subject::ApiKey(k.id), "page:1").await,
        Some(Standing {
            holder: Holder::Key {
                revoked: false,
                expires_at: Some(at(500)),
            },
            held: None,
        })
    );
    assert_eq!(
        standing(Subject::User(stranger), "page:1").await,
        None,
        "not a member"
    );
    assert_eq!(
        f.store
            .standing(other, "page:1", Subject::User(member))
            .await
            .unwrap(),
        None,
        "another org knows nothing of the member or their grant"
    );
    let other_key = key(other, "theirs");
    f.store.create_api_key(&other_key, &[]).await.unwrap();
    assert_eq!(
        standing(Subject::ApiKey(other_key.id), "page:1").await,
        None
    );
}

async fn a_put_audits_what_it_did(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    let seen = std::sync::Mutex::new(Vec::new());
    let audit = |g: &Grant, created: bool| {
        seen.lock().unwrap().push((g.capabilities.clone(), created));
        Vec::new()
    };
    let subject = format!("user:{owner}");
    f.store
        .put_grant(&grant(org, "page:1", &subject, &["view"], 1), &audit)
        .await
        .unwrap();
    f.store
        .put_grant(&grant(org, "page:1", &subject, &["edit"], 2), &audit)
        .await
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (vec!["view".to_owned()], true),
            (vec!["edit".to_owned()], false)
        ],
        "the audit is made from the stored grant, knowing whether it replaced one"
    );
}
