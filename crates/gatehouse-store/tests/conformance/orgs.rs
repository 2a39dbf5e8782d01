//! Orgs and members: creation, lookups scoped to members, role rules applied atomically,
//! deletion with everything the org owns.

use gatehouse_core::Error;
use gatehouse_core::error::ConflictReason;
use gatehouse_core::ids::{OrgId, UserId};
use gatehouse_core::role::Role;
use gatehouse_core::store::Org;

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::identity::new_user;

pub(crate) async fn user(f: &Fresh, email: &str) -> UserId {
    let u = new_user(email);
    f.store.create_user(&u, &[]).await.unwrap();
    u.id
}

/// A new org owned by `owner`, plus members with the given roles.
pub(crate) async fn org_with(
    f: &Fresh,
    name: &str,
    owner: UserId,
    others: &[(UserId, Role)],
) -> OrgId {
    let org = Org {
        id: OrgId::new(),
        name: name.into(),
        created_at: at(0),
    };
    f.store.create_org(&org, owner, &[]).await.unwrap();
    for (user, role) in others {
        add_member(f, org.id, *user, *role).await;
    }
    org.id
}

/// Adds a member the way the API does: through an accepted invitation.
pub(crate) async fn add_member(f: &Fresh, org: OrgId, user: UserId, role: Role) {
    use gatehouse_core::ids::InvitationId;
    use gatehouse_core::store::{Invitation, Invitee};
    let email = f.store.user_by_id(user).await.unwrap().unwrap().email;
    // Invited by an owner: an invitation lives only while its inviter may issue it.
    let owner = f.store.members(org).await.unwrap()[0].user_id;
    let inv = Invitation {
        id: InvitationId::new(),
        org_id: org,
        email: email.clone(),
        email_key: email.to_lowercase(),
        role,
        created_by: owner,
        created_at: at(0),
        expires_at: at(1000),
        accepted_at: None,
    };
    let digest = gatehouse_core::token::digest(&inv.id.to_string());
    f.store.create_invitation(&inv, &digest, &[]).await.unwrap();
    f.store
        .accept_invitation(&inv, &Invitee::Existing(user), at(1), &[])
        .await
        .unwrap();
}

conformance!(
    create_list_and_find,
    rename_and_delete_cascade,
    role_rules_hold_inside_the_store,
    last_owner_survives_concurrent_demotions
);

async fn create_list_and_find(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    let a = org_with(&f, "Alpha", ann, &[(bob, Role::Member)]).await;
    let b = org_with(&f, "Beta", bob, &[]).await;
    let bobs: Vec<(OrgId, Role)> = f
        .store
        .memberships(bob)
        .await
        .unwrap()
        .iter()
        .map(|m| (m.org.id, m.role))
        .collect();
    assert_eq!(bobs.len(), 2);
    assert!(bobs.contains(&(a, Role::Member)) && bobs.contains(&(b, Role::Owner)));
    assert_eq!(f.store.memberships(ann).await.unwrap().len(), 1);
    let m = f.store.org_for_member(a, ann).await.unwrap().unwrap();
    assert_eq!((m.org.name.as_str(), m.role), ("Alpha", Role::Owner));
    assert!(
        f.store.org_for_member(b, ann).await.unwrap().is_none(),
        "not a member: nothing"
    );
    assert!(
        f.store
            .org_for_member(OrgId::new(), ann)
            .await
            .unwrap()
            .is_none()
    );
    let members = f.store.members(a).await.unwrap();
    let roles: Vec<(&str, Role)> = members.iter().map(|m| (m.email.as_str(), m.role)).collect();
    assert_eq!(
        roles,
        vec![
            ("ann@example.com", Role::Owner),
            ("bob@example.com", Role::Member)
        ]
    );
    assert_eq!(
        f.store.members(b).await.unwrap().len(),
        1,
        "members of one org only"
    );
}

async fn rename_and_delete_cascade(f: Fresh) {
    let ann = user(&f, "ann@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    let a = org_with(&f, "Alpha", ann, &[(bob, Role::Admin)]).await;
    let keep = org_with(&f, "Keep", bob, &[]).await;
    let renamed = f
        .store
        .rename_org(a, "Alpha Two", &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(renamed.name, "Alpha Two");
    assert!(
        f.store
            .rename_org(OrgId::new(), "x", &[])
            .await
            .unwrap()
            .is_none()
    );
    let key = crate::api_keys::key(a, "k");
    f.store.create_api_key(&key, &[]).await.unwrap();

    assert!(
        matches!(
            f.store.delete_org(a, bob, &[]).await,
            Err(Error::Forbidden(_))
        ),
        "admins cannot delete"
    );
    assert!(f.store.org(a).await.unwrap().is_some());
    assert!(
        !f.store.delete_org(keep, ann, &[]).await.unwrap(),
        "non-members delete nothing"
    );
    assert!(f.store.delete_org(a, ann, &[]).await.unwrap());
    assert!(f.store.org(a).await.unwrap().is_none());
    assert!(
        f.store
            .api_key_by_public_id(&key.public_id)
            .await
            .unwrap()
            .is_none(),
        "keys go with it"
    );
    assert!(f.store.members(a).await.unwrap().is_empty());
    assert_eq!(
        f.store.memberships(bob).await.unwrap().len(),
        1,
        "only the other org remains"
    );
}

async fn role_rules_hold_inside_the_store(f: Fresh) {
    let owner = user(&f, "owner@example.com").await;
    let admin = user(&f, "admin@example.com").await;
    let member = user(&f, "member@example.com").await;
    let org = org_with(
        &f,
        "O",
        owner,
        &[(admin, Role::Admin), (member, Role::Member)],
    )
    .await;
    fn forbidden<T>(r: gatehouse_core::Result<T>) -> bool {
        matches!(r, Err(Error::Forbidden(_)))
    }

    assert!(
        forbidden(
            f.store
                .set_member_role(org, member, admin, Role::Member, at(1), &[])
                .await
        ),
        "members manage nothing"
    );
    assert!(
        forbidden(
            f.store
                .set_member_role(org, admin, owner, Role::Member, at(1), &[])
                .await
        ),
        "admins cannot demote owners"
    );
    assert!(
        forbidden(
            f.store
                .set_member_role(org, admin, admin, Role::Owner, at(1), &[])
                .await
        ),
        "no self-promotion"
    );
    assert!(
        forbidden(f.store.remove_member(org, admin, owner, at(1), &[]).await),
        "admins cannot remove owners"
    );
    let last = f
        .store
        .set_member_role(org, owner, owner, Role::Admin, at(1), &[])
        .await;
    assert!(
        matches!(last, Err(Error::Conflict(ConflictReason::LastOwner))),
        "{last:?}"
    );
    assert!(matches!(
        f.store.remove_member(org, owner, owner, at(1), &[]).await,
        Err(Error::Conflict(ConflictReason::LastOwner))
    ));

    let m = f
        .store
        .set_member_role(org, admin, member, Role::Admin, at(1), &[])
        .await
        .unwrap()
        .unwrap();
    assert_eq!((m.user_id, m.role), (member, Role::Admin));
    assert!(
        f.store
            .set_member_role(org, owner, UserId::new(), Role::Member, at(1), &[])
            .await
            .unwrap()
            .is_none()
    );
    f.store
        .set_member_role(org, owner, admin, Role::Owner, at(1), &[])
        .await
        .unwrap();
    f.store
        .set_member_role(org, admin, owner, Role::Member, at(1), &[])
        .await
        .unwrap();
    assert!(
        f.store
            .remove_member(org, member, member, at(1), &[])
            .await
            .unwrap(),
        "anyone may leave"
    );
    assert!(
        !f.store
            .remove_member(org, admin, member, at(1), &[])
            .await
            .unwrap(),
        "gone already"
    );
    let roles: Vec<Role> = f
        .store
        .members(org)
        .await
        .unwrap()
        .iter()
        .map(|m| m.role)
        .collect();
    assert_eq!(
        roles,
        vec![Role::Owner, Role::Member],
        "owners are listed first"
    );
}

async fn last_owner_survives_concurrent_demotions(f: Fresh) {
    let a = user(&f, "a@example.com").await;
    let b = user(&f, "b@example.com").await;
    let org = org_with(&f, "O", a, &[(b, Role::Owner)]).await;
    // Each owner demotes the other at the same moment: at most one may succeed.
    for _ in 0..5 {
        let (s1, s2) = (f.store.clone(), f.store.clone());
        let one = tokio::spawn(async move {
            s1.set_member_role(org, a, b, Role::Member, at(1), &[])
                .await
        });
        let two = tokio::spawn(async move {
            s2.set_member_role(org, b, a, Role::Member, at(1), &[])
                .await
        });
        let (one, two) = (one.await.unwrap(), two.await.unwrap());
        assert!(!(one.is_ok() && two.is_ok()), "both demotions went through");
        let owners = f
            .store
            .members(org)
            .await
            .unwrap()
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count();
        assert_eq!(owners, 1);
        // Restore two owners for the next round.
        let owner = if one.is_ok() { a } else { b };
        let other = if owner == a { b } else { a };
        f.store
            .set_member_role(org, owner, other, Role::Owner, at(1), &[])
            .await
            .unwrap();
    }
}
