//! Invitations: lookup by token digest, single use, expiry, new and existing invitees.

use gatehouse_core::Error;
use gatehouse_core::ids::{InvitationId, OrgId};
use gatehouse_core::role::Role;
use gatehouse_core::store::{Invitation, Invitee};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::identity::new_user;
use crate::orgs::{org_with, user};

fn invitation(org: OrgId, email: &str, role: Role, by: gatehouse_core::ids::UserId) -> Invitation {
    Invitation {
        id: InvitationId::new(),
        org_id: org,
        email: email.into(),
        email_key: email.to_lowercase(),
        role,
        created_by: by,
        created_at: at(0),
        expires_at: at(100),
        accepted_at: None,
    }
}

conformance!(
    found_by_digest_only,
    accept_creates_user_once,
    accept_existing_and_expiry
);

async fn found_by_digest_only(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    let inv = invitation(org, "New@Example.com", Role::Admin, owner);
    f.store
        .create_invitation(&inv, &[9; 32], &[])
        .await
        .unwrap();
    let (found, found_org) = f
        .store
        .invitation_by_digest(&[9; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.id, found.role, found_org.id),
        (inv.id, Role::Admin, org)
    );
    assert_eq!(found.email_key, "new@example.com");
    assert_eq!(found.expires_at, at(100));
    assert!(
        f.store
            .invitation_by_digest(&[8; 32])
            .await
            .unwrap()
            .is_none()
    );
}

async fn accept_creates_user_once(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    let inv = invitation(org, "new@example.com", Role::Member, owner);
    f.store
        .create_invitation(&inv, &[1; 32], &[])
        .await
        .unwrap();
    let new = new_user("new@example.com");
    f.store
        .accept_invitation(&inv, &Invitee::New(new.clone()), at(10), &[])
        .await
        .unwrap();
    let stored = f
        .store
        .user_by_email_key("new@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, new.id);
    let m = f.store.org_for_member(org, new.id).await.unwrap().unwrap();
    assert_eq!(m.role, Role::Member);
    let (spent, _) = f
        .store
        .invitation_by_digest(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent.accepted_at, Some(at(10)));
    let again = f
        .store
        .accept_invitation(&inv, &Invitee::Existing(owner), at(11), &[])
        .await;
    assert!(
        matches!(again, Err(Error::NotFound)),
        "single use: {again:?}"
    );
}

async fn accept_existing_and_expiry(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    let late = invitation(org, "bob@example.com", Role::Member, owner);
    f.store
        .create_invitation(&late, &[2; 32], &[])
        .await
        .unwrap();
    let expired = f
        .store
        .accept_invitation(&late, &Invitee::Existing(bob), at(100), &[])
        .await;
    assert!(
        matches!(expired, Err(Error::NotFound)),
        "expired at its instant"
    );
    assert!(f.store.org_for_member(org, bob).await.unwrap().is_none());

    let inv = invitation(org, "bob@example.com", Role::Admin, owner);
    f.store
        .create_invitation(&inv, &[3; 32], &[])
        .await
        .unwrap();
    f.store
        .accept_invitation(&inv, &Invitee::Existing(bob), at(5), &[])
        .await
        .unwrap();
    assert_eq!(
        f.store
            .org_for_member(org, bob)
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Admin
    );

    let twice = invitation(org, "bob@example.com", Role::Member, owner);
    f.store
        .create_invitation(&twice, &[4; 32], &[])
        .await
        .unwrap();
    let dup = f
        .store
        .accept_invitation(&twice, &Invitee::Existing(bob), at(6), &[])
        .await;
    assert!(
        matches!(dup, Err(Error::Conflict("already_member"))),
        "{dup:?}"
    );
    let (still, _) = f
        .store
        .invitation_by_digest(&[4; 32])
        .await
        .unwrap()
        .unwrap();
    assert!(
        still.accepted_at.is_none(),
        "a failed accept spends nothing"
    );
}
