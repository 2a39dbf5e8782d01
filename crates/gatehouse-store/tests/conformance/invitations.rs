//! Invitations: lookup by token digest, single use, expiry, new and existing invitees, listing
//! and revoking per org, and their death with the inviter's role.

use gatehouse_core::Error;
use gatehouse_core::error::ConflictReason;
use gatehouse_core::ids::{InvitationId, OrgId, UserId};
use gatehouse_core::role::Role;
use gatehouse_core::store::{Invitation, Invitee};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::identity::new_user;
use crate::orgs::{add_member, org_with, user};

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
    accept_existing_and_expiry,
    pending_are_listed_and_revoked_per_org,
    invitations_die_with_their_inviters_role,
    accept_judges_the_inviter_inside_its_transaction,
    accept_by_an_existing_address_spends_nothing
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
    // Pending for its address (across orgs, under row-level security too) until it expires.
    let store = &f.store;
    assert!(
        store
            .has_pending_invitation("new@example.com", at(99))
            .await
            .unwrap()
    );
    assert!(
        !store
            .has_pending_invitation("new@example.com", at(100))
            .await
            .unwrap()
    );
    assert!(
        !store
            .has_pending_invitation("other@example.com", at(1))
            .await
            .unwrap()
    );
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
    assert_eq!(
        stored.email_verified_at, None,
        "an invited address is not proven"
    );
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
        matches!(dup, Err(Error::Conflict(ConflictReason::AlreadyMember))),
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

async fn pending_are_listed_and_revoked_per_org(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let other = user(&f, "p@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    let elsewhere = org_with(&f, "Elsewhere", other, &[]).await;
    let pending = invitation(org, "a@example.com", Role::Member, owner);
    let mut expired = invitation(org, "b@example.com", Role::Member, owner);
    expired.expires_at = at(20);
    let spent = invitation(org, "c@example.com", Role::Member, owner);
    let foreign = invitation(elsewhere, "d@example.com", Role::Member, other);
    for (i, digest) in [(&pending, 1u8), (&expired, 2), (&spent, 3)] {
        f.store
            .create_invitation(i, &[digest; 32], &[])
            .await
            .unwrap();
    }
    f.store
        .create_invitation(&foreign, &[4; 32], &[])
        .await
        .unwrap();
    f.store
        .accept_invitation(
            &spent,
            &Invitee::New(new_user("c@example.com")),
            at(10),
            &[],
        )
        .await
        .unwrap();

    let listed = f.store.pending_invitations(org, at(30)).await.unwrap();
    assert_eq!(
        listed.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![pending.id],
        "neither expired, spent nor another org's"
    );
    assert_eq!(
        f.store
            .pending_invitations(org, at(10))
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        f.store
            .invitation(org, spent.id)
            .await
            .unwrap()
            .unwrap()
            .accepted_at,
        Some(at(10))
    );
    assert!(
        f.store.invitation(org, foreign.id).await.unwrap().is_none(),
        "another org's id is not found through this org"
    );

    assert!(
        !f.store
            .revoke_invitation(org, foreign.id, &[])
            .await
            .unwrap()
    );
    assert!(
        f.store
            .invitation_by_digest(&[4; 32])
            .await
            .unwrap()
            .is_some(),
        "the other org's invitation is untouched"
    );
    assert!(
        !f.store.revoke_invitation(org, spent.id, &[]).await.unwrap(),
        "spent stays"
    );
    assert!(
        f.store
            .revoke_invitation(org, pending.id, &[])
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .revoke_invitation(org, pending.id, &[])
            .await
            .unwrap()
    );
    assert!(
        f.store
            .invitation_by_digest(&[1; 32])
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .pending_invitations(org, at(0))
            .await
            .unwrap()
            .iter()
            .all(|i| i.id != pending.id)
    );
}

async fn invitations_die_with_their_inviters_role(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let co_owner = user(&f, "co@example.com").await;
    let admin = user(&f, "a@example.com").await;
    let leaver = user(&f, "l@example.com").await;
    let org = org_with(
        &f,
        "Org",
        owner,
        &[
            (co_owner, Role::Owner),
            (admin, Role::Admin),
            (leaver, Role::Admin),
        ],
    )
    .await;
    let by_admin = [
        invitation(org, "m1@example.com", Role::Member, admin),
        invitation(org, "a1@example.com", Role::Admin, admin),
    ];
    let by_co = [
        invitation(org, "o2@example.com", Role::Owner, co_owner),
        invitation(org, "a2@example.com", Role::Admin, co_owner),
    ];
    let by_leaver = invitation(org, "m3@example.com", Role::Member, leaver);
    let by_owner = invitation(org, "m4@example.com", Role::Member, owner);
    let all: Vec<&Invitation> = by_admin
        .iter()
        .chain(&by_co)
        .chain([&by_leaver, &by_owner])
        .collect();
    for (n, i) in all.iter().enumerate() {
        f.store
            .create_invitation(i, &[n as u8 + 10; 32], &[])
            .await
            .unwrap();
    }
    let alive = |f: &Fresh, id| {
        let store = f.store.clone();
        async move { store.invitation(org, id).await.unwrap().is_some() }
    };

    // An admin made a member: nothing they issued survives.
    f.store
        .set_member_role(org, owner, admin, Role::Member, at(1), &[])
        .await
        .unwrap()
        .unwrap();
    for i in &by_admin {
        assert!(!alive(&f, i.id).await, "{:?} by a demoted admin", i.role);
    }
    // An owner made an admin: only the owner invitation dies.
    f.store
        .set_member_role(org, owner, co_owner, Role::Admin, at(1), &[])
        .await
        .unwrap()
        .unwrap();
    assert!(
        !alive(&f, by_co[0].id).await,
        "owner invitation by a former owner"
    );
    assert!(
        alive(&f, by_co[1].id).await,
        "an admin may still issue admin invitations"
    );
    // A member who leaves (or is removed) takes every pending invitation along.
    assert!(
        f.store
            .remove_member(org, leaver, leaver, at(1), &[])
            .await
            .unwrap()
    );
    assert!(!alive(&f, by_leaver.id).await);
    assert!(alive(&f, by_owner.id).await, "other inviters are untouched");

    // Creating needs the role too, judged in the store.
    let refused = f
        .store
        .create_invitation(
            &invitation(org, "x@example.com", Role::Member, admin),
            &[40; 32],
            &[],
        )
        .await;
    assert!(matches!(refused, Err(Error::Forbidden(_))), "{refused:?}");
    let gone = f
        .store
        .create_invitation(
            &invitation(org, "y@example.com", Role::Member, leaver),
            &[41; 32],
            &[],
        )
        .await;
    assert!(matches!(gone, Err(Error::NotFound)), "{gone:?}");
}

async fn accept_judges_the_inviter_inside_its_transaction(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let admin = user(&f, "a@example.com").await;
    let bob = user(&f, "bob@example.com").await;
    let org = org_with(&f, "Org", owner, &[(admin, Role::Admin)]).await;
    // An invitation whose inviter lost the role some other way than through the store's role
    // change (e.g. made before invitations died with it): acceptance still refuses it.
    let stale = invitation(org, "bob@example.com", Role::Admin, admin);
    f.store
        .create_invitation(&stale, &[50; 32], &[])
        .await
        .unwrap();
    let kept = invitation(org, "bob@example.com", Role::Admin, owner);
    f.store
        .create_invitation(&kept, &[51; 32], &[])
        .await
        .unwrap();
    let mut former = stale.clone();
    former.created_by = UserId::new();
    let r = f
        .store
        .accept_invitation(&former, &Invitee::Existing(bob), at(5), &[])
        .await;
    assert!(
        matches!(r, Err(Error::NotFound)),
        "inviter not a member: {r:?}"
    );
    let mut demoted = stale.clone();
    demoted.role = Role::Owner;
    let r = f
        .store
        .accept_invitation(&demoted, &Invitee::Existing(bob), at(5), &[])
        .await;
    assert!(
        matches!(r, Err(Error::NotFound)),
        "an admin cannot have issued an owner invitation: {r:?}"
    );
    assert!(f.store.org_for_member(org, bob).await.unwrap().is_none());
    assert!(
        f.store
            .invitation(org, stale.id)
            .await
            .unwrap()
            .unwrap()
            .accepted_at
            .is_none(),
        "a refused accept spends nothing"
    );
    f.store
        .accept_invitation(&kept, &Invitee::Existing(bob), at(6), &[])
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
}

async fn accept_by_an_existing_address_spends_nothing(f: Fresh) {
    let owner = user(&f, "o@example.com").await;
    let org = org_with(&f, "Org", owner, &[]).await;
    let bob = user(&f, "bob@example.com").await;
    let inv = invitation(org, "Bob@example.com", Role::Member, owner);
    f.store
        .create_invitation(&inv, &[60; 32], &[])
        .await
        .unwrap();
    let r = f
        .store
        .accept_invitation(&inv, &Invitee::New(new_user("bob@example.com")), at(5), &[])
        .await;
    assert!(
        matches!(r, Err(Error::Conflict(ConflictReason::EmailTaken))),
        "{r:?}"
    );
    assert!(
        f.store
            .invitation(org, inv.id)
            .await
            .unwrap()
            .unwrap()
            .accepted_at
            .is_none()
    );
    assert!(f.store.org_for_member(org, bob).await.unwrap().is_none());
    add_member(&f, org, bob, Role::Member).await;
    assert!(f.store.org_for_member(org, bob).await.unwrap().is_some());
}
