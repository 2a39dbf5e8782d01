//! Grants against the manual clock (SPEC §7): a grant counts until its instant and not at it,
//! a member's share ends with their own grant, and a member can never grant beyond what they
//! hold, for longer than they hold it, to themselves, or over someone else's grant.

use gatehouse_core::Error;
use gatehouse_core::error::ForbiddenReason;
use gatehouse_core::ids::{InvitationId, UserId};
use gatehouse_core::role::Role;
use gatehouse_core::service::grants::{GrantRequest, Reason};
use gatehouse_core::service::{ClientInfo, LoginOutcome, OrgAccess};
use gatehouse_core::store::{Invitation, Invitee, Org};
use time::OffsetDateTime;

use crate::harness::Fresh;
use crate::world::{World, secs};

/// `email` signed up, joined to `org` as `role` (through an accepted invitation, as the API
/// does), and signed in.
async fn member(w: &World, org: &Org, email: &str, role: Role) -> (UserId, LoginOutcome) {
    let user = w.user(email).await;
    let owner = w.f.store.members(org.id).await.unwrap()[0].user_id;
    let inv = Invitation {
        id: InvitationId::new(),
        org_id: org.id,
        email: email.into(),
        email_key: email.to_lowercase(),
        role,
        created_by: owner,
        created_at: w.now(),
        expires_at: w.now() + secs(3600),
        accepted_at: None,
    };
    let digest = gatehouse_core::token::digest(&inv.id.to_string());
    w.f.store
        .create_invitation(&inv, &digest, &[])
        .await
        .unwrap();
    w.f.store
        .accept_invitation(&inv, &Invitee::Existing(user.id), w.now(), &[])
        .await
        .unwrap();
    (user.id, w.login(email).await)
}

fn request(
    resource: &str,
    subject: UserId,
    caps: &[&str],
    until: Option<OffsetDateTime>,
) -> GrantRequest {
    GrantRequest {
        resource: resource.into(),
        subject: format!("user:{subject}"),
        capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
        expires_at: until,
    }
}

async fn reason(w: &World, admin: &OrgAccess, user: UserId, cap: &str) -> (bool, Reason) {
    let v =
        w.s.grants
            .check(admin, &format!("user:{user}"), "page:1", cap)
            .await
            .unwrap();
    (v.allowed, v.reason)
}

fn forbidden<T: std::fmt::Debug>(r: gatehouse_core::Result<T>) -> bool {
    matches!(r, Err(Error::Forbidden(ForbiddenReason::Forbidden)))
}

async fn a_grant_counts_until_its_instant(f: Fresh) {
    let w = World::new(f, &[]).await;
    let (owner, org) = w.admin("owner@example.com").await;
    let admin = w.access(&owner, &org).await;
    let (reader, _) = member(&w, &org, "reader@example.com", Role::Member).await;
    let client = ClientInfo::default();
    let until = w.now() + secs(60);
    w.s.grants
        .put(
            &admin,
            &request("page:1", reader, &["view"], Some(until)),
            &client,
        )
        .await
        .unwrap();
    assert_eq!(
        reason(&w, &admin, reader, "view").await,
        (true, Reason::Grant)
    );
    assert_eq!(
        reason(&w, &admin, reader, "edit").await,
        (false, Reason::None)
    );
    w.advance(secs(59));
    assert_eq!(
        reason(&w, &admin, reader, "view").await,
        (true, Reason::Grant)
    );
    w.advance(secs(1));
    assert_eq!(
        reason(&w, &admin, reader, "view").await,
        (false, Reason::Expired),
        "at its instant it no longer counts"
    );
    assert_eq!(
        reason(&w, &admin, reader, "edit").await,
        (false, Reason::None)
    );
    let owner_id = w.f.store.members(org.id).await.unwrap()[0].user_id;
    assert_eq!(
        reason(&w, &admin, owner_id, "delete").await,
        (true, Reason::Owner)
    );
    // Renewed by an admin: counts again at once.
    w.s.grants
        .put(&admin, &request("page:1", reader, &["view"], None), &client)
        .await
        .unwrap();
    assert_eq!(
        reason(&w, &admin, reader, "view").await,
        (true, Reason::Grant)
    );
    let past = request("page:1", reader, &["view"], Some(w.now()));
    let r = w.s.grants.put(&admin, &past, &client).await;
    assert!(
        matches!(r, Err(Error::Validation(ref f)) if f.contains_key("expires_at")),
        "{r:?}"
    );
}

async fn a_share_is_bounded_by_what_the_sharer_holds(f: Fresh) {
    let w = World::new(f, &[]).await;
    let (owner, org) = w.admin("owner@example.com").await;
    let admin = w.access(&owner, &org).await;
    let (sharer, sharer_login) = member(&w, &org, "sharer@example.com", Role::Member).await;
    let (other, _) = member(&w, &org, "other@example.com", Role::Member).await;
    let (third, _) = member(&w, &org, "third@example.com", Role::Member).await;
    let client = ClientInfo::default();
    let until = w.now() + secs(600);
    w.s.grants
        .put(
            &admin,
            &request("page:1", sharer, &["view", "share"], Some(until)),
            &client,
        )
        .await
        .unwrap();
    let me = w.access(&sharer_login, &org).await;
    let g = &w.s.grants;
    assert!(
        forbidden(
            g.put(
                &me,
                &request("page:1", other, &["edit"], Some(until)),
                &client
            )
            .await
        ),
        "more than held"
    );
    assert!(
        forbidden(
            g.put(&me, &request("page:1", other, &["view"], None), &client)
                .await
        ),
        "forever, when the sharer's own grant ends"
    );
    assert!(
        forbidden(
            g.put(
                &me,
                &request("page:1", other, &["view"], Some(until + secs(1))),
                &client
            )
            .await
        ),
        "beyond the sharer's own expiry"
    );
    assert!(
        forbidden(
            g.put(
                &me,
                &request("page:1", sharer, &["view", "share"], None),
                &client
            )
            .await
        ),
        "their own grant"
    );
    assert!(
        forbidden(
            g.put(
                &me,
                &request("page:2", other, &["view"], Some(until)),
                &client
            )
            .await
        ),
        "another resource"
    );
    let (made, created) = g
        .put(
            &me,
            &request("page:1", other, &["view", "share"], Some(until)),
            &client,
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(made.created_by, format!("user:{sharer}"));
    // The admin's grant to `third` is not the sharer's to replace, nor to revoke.
    let (admins, _) = g
        .put(
            &admin,
            &request("page:1", third, &["view", "edit"], None),
            &client,
        )
        .await
        .unwrap();
    assert!(forbidden(
        g.put(
            &me,
            &request("page:1", third, &["view"], Some(until)),
            &client
        )
        .await
    ));
    assert!(forbidden(g.delete(&me, admins.id, &client).await));
    // At the instant the sharer's grant ends, so does their share.
    w.advance(secs(600));
    let soon = Some(w.now() + secs(10));
    assert!(forbidden(
        g.put(&me, &request("page:1", third, &["view"], soon), &client)
            .await
    ));
    // What they created they may still revoke.
    g.delete(&me, made.id, &client).await.unwrap();
}

crate::conformance!(
    a_grant_counts_until_its_instant,
    a_share_is_bounded_by_what_the_sharer_holds
);
