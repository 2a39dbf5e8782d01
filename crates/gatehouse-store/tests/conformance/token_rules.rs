//! The rules a refresh and a sign-in are judged on inside their transactions: credential epochs
//! (a session or family from a check that began before a password change or logout-all is
//! refused), the re-check of user, membership and role at every rotation, the family's absolute
//! lifetime, families revoked at once by demotion and removal, and the org's token policy.

use gatehouse_core::Error;
use gatehouse_core::error::AuthFailure;
use gatehouse_core::ids::{SessionId, UserId};
use gatehouse_core::role::Role;
use gatehouse_core::store::{NewSession, Rotation, Session, TokenFamily};
use gatehouse_core::token_policy::{Refusal, TokenScopePolicy};
use serde_json::json;

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::orgs::{org_with, user};
use crate::tokens::{family, refresh};

conformance!(
    stale_epoch_creates_no_session_or_family,
    rotation_rechecks_user_membership_and_role,
    family_lifetime_is_absolute,
    demotion_and_removal_revoke_families_at_once,
    token_policy_round_trips
);

fn session_of(user: UserId, epoch: i64) -> NewSession {
    NewSession {
        session: Session {
            id: SessionId::new(),
            user_id: user,
            created_at: at(0),
            last_seen_at: at(0),
            expires_at: at(1000),
            revoked_at: None,
            ip: None,
            user_agent: None,
        },
        token_digest: SessionId::new().to_string().into_bytes(),
        credential_epoch: epoch,
    }
}

fn invalid(r: Result<(), Error>) -> bool {
    matches!(
        r,
        Err(Error::Unauthenticated(AuthFailure::InvalidCredentials))
    )
}

async fn epoch(f: &Fresh, u: UserId) -> i64 {
    f.store
        .user_by_id(u)
        .await
        .unwrap()
        .unwrap()
        .credential_epoch
}

async fn stale_epoch_creates_no_session_or_family(f: Fresh) {
    let u = user(&f, "race@example.com").await;
    let seen = epoch(&f, u).await;
    f.store
        .create_session(&session_of(u, seen), &[])
        .await
        .unwrap();
    // A logout-all commits while another sign-in's password check is running.
    f.store
        .revoke_all_sessions(u, None, at(1), &[])
        .await
        .unwrap();
    assert_eq!(epoch(&f, u).await, seen + 1);
    assert!(invalid(
        f.store.create_session(&session_of(u, seen), &[]).await
    ));
    let mut fam = family(u);
    fam.credential_epoch = seen;
    assert!(invalid(
        f.store
            .create_family(&fam, &refresh(&fam), &[7; 32], &[])
            .await
    ));
    assert!(f.store.refresh_by_digest(&[7; 32]).await.unwrap().is_none());
    // A password change moves it on as well; the fresh epoch works.
    let keep = session_of(u, seen + 1);
    f.store.create_session(&keep, &[]).await.unwrap();
    f.store
        .change_password(u, "$2b$04$changed", Some(keep.session.id), at(2), &[])
        .await
        .unwrap();
    assert!(invalid(
        f.store.create_session(&session_of(u, seen + 1), &[]).await
    ));
    f.store
        .create_session(&session_of(u, seen + 2), &[])
        .await
        .unwrap();
    // A disabled user gets nothing new either.
    f.exec(&format!(
        "UPDATE users SET disabled_at = 1 WHERE id = '{u}'"
    ))
    .await;
    assert!(invalid(
        f.store.create_session(&session_of(u, seen + 2), &[]).await
    ));
}

async fn rotate(
    f: &Fresh,
    fam: &TokenFamily,
    old: &gatehouse_core::store::RefreshToken,
) -> Rotation {
    let next = refresh(fam);
    let digest = next.id.to_string().into_bytes();
    f.store
        .rotate_refresh(fam, old.id, &next, &digest, at(5), &[])
        .await
        .unwrap()
}

/// A family of `u` bound to `org` with `scope`, and its first refresh token.
async fn bound(
    f: &Fresh,
    u: UserId,
    org: gatehouse_core::ids::OrgId,
    scope: &str,
) -> (TokenFamily, gatehouse_core::store::RefreshToken) {
    let mut fam = family(u);
    fam.org_id = Some(org);
    fam.scope = scope.into();
    fam.credential_epoch = epoch(f, u).await;
    let first = refresh(&fam);
    let digest = first.id.to_string().into_bytes();
    f.store
        .create_family(&fam, &first, &digest, &[])
        .await
        .unwrap();
    (fam, first)
}

async fn rotation_rechecks_user_membership_and_role(f: Fresh) {
    let owner = user(&f, "owner@example.com").await;
    let member = user(&f, "member@example.com").await;
    let org = org_with(&f, "Acme", owner, &[(member, Role::Member)]).await;

    let (fam, first) = bound(&f, member, org, "members:read").await;
    assert_eq!(rotate(&f, &fam, &first).await, Rotation::Rotated);

    // The org narrows what members may hold: the next rotation is refused.
    let (fam, first) = bound(&f, owner, org, "tasks:read").await;
    let policy = TokenScopePolicy::parse(&json!({"owner": []})).unwrap();
    f.store
        .set_token_scope_policy(org, &policy, &[])
        .await
        .unwrap();
    assert_eq!(
        rotate(&f, &fam, &first).await,
        Rotation::Refused(Refusal::Revoked("role_changed"))
    );
    assert!(
        f.store
            .refresh_by_digest(&refresh(&fam).id.to_string().into_bytes())
            .await
            .unwrap()
            .is_none(),
        "a refused rotation adds nothing"
    );

    // Credentials changed after the family began.
    let (fam, first) = bound(&f, member, org, "").await;
    f.store
        .revoke_all_sessions(member, None, at(3), &[])
        .await
        .unwrap();
    let fam_now = TokenFamily {
        revoked_at: None,
        ..fam.clone()
    };
    assert_eq!(
        rotate(&f, &fam_now, &first).await,
        Rotation::Revoked,
        "logout-all revoked every family"
    );
    let (fam, first) = bound(&f, member, org, "").await;
    f.exec(&format!(
        "UPDATE users SET credential_epoch = credential_epoch + 1 WHERE id = '{member}'"
    ))
    .await;
    assert_eq!(
        rotate(&f, &fam, &first).await,
        Rotation::Refused(Refusal::Revoked("credentials_changed"))
    );

    // Disabled.
    let (fam, first) = bound(&f, member, org, "").await;
    f.exec(&format!(
        "UPDATE users SET disabled_at = 1 WHERE id = '{member}'"
    ))
    .await;
    assert_eq!(
        rotate(&f, &fam, &first).await,
        Rotation::Refused(Refusal::Revoked("user_disabled"))
    );
    // Disabled through the port: every family ends in the same transaction.
    f.exec(&format!(
        "UPDATE users SET disabled_at = NULL WHERE id = '{member}'"
    ))
    .await;
    let (fam, first) = bound(&f, member, org, "").await;
    assert!(
        f.store
            .set_user_disabled(member, true, at(4), &[])
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .set_user_disabled(member, true, at(4), &[])
            .await
            .unwrap(),
        "already disabled"
    );
    assert_eq!(rotate(&f, &fam, &first).await, Rotation::Revoked);
    assert!(
        f.store
            .set_user_disabled(member, false, at(5), &[])
            .await
            .unwrap()
    );
}

async fn family_lifetime_is_absolute(f: Fresh) {
    let u = user(&f, "long@example.com").await;
    let mut fam = family(u);
    fam.expires_at = at(5);
    let first = refresh(&fam);
    f.store
        .create_family(&fam, &first, &[9; 32], &[])
        .await
        .unwrap();
    assert_eq!(
        rotate(&f, &fam, &first).await,
        Rotation::Refused(Refusal::Expired),
        "at the family's end, however fresh the refresh token"
    );
}

async fn demotion_and_removal_revoke_families_at_once(f: Fresh) {
    let owner = user(&f, "boss@example.com").await;
    let admin = user(&f, "admin@example.com").await;
    let org = org_with(&f, "Acme", owner, &[(admin, Role::Admin)]).await;
    let other_org = org_with(&f, "Other", admin, &[]).await;

    let (admin_fam, _) = bound(&f, admin, org, "org:admin tasks:read").await;
    let (reader_fam, reader_first) = bound(&f, admin, org, "members:read").await;
    let (elsewhere, elsewhere_first) = bound(&f, admin, other_org, "org:admin").await;
    f.store
        .set_member_role(org, owner, admin, Role::Member, at(1), &[])
        .await
        .unwrap()
        .unwrap();
    let revoked = |fam: TokenFamily| {
        let store = f.store.clone();
        async move {
            let state = store.token_state(fam.id, "jti", fam.user_id).await.unwrap();
            state.family_revoked
        }
    };
    assert!(revoked(admin_fam).await, "scopes a member may not hold");
    // A grant judged after the demotion cannot bring those scopes back.
    let mut late = family(admin);
    late.org_id = Some(org);
    late.scope = "org:admin".into();
    late.credential_epoch = epoch(&f, admin).await;
    let refused = f
        .store
        .create_family(&late, &refresh(&late), &[11; 32], &[])
        .await;
    assert!(
        matches!(&refused, Err(Error::Validation(v)) if v["scope"] == "not_allowed"),
        "{refused:?}"
    );
    assert!(
        !revoked(reader_fam.clone()).await,
        "what a member may hold stays"
    );
    assert!(
        !revoked(elsewhere.clone()).await,
        "another org's family stays"
    );

    f.store
        .remove_member(org, owner, admin, at(1), &[])
        .await
        .unwrap();
    assert!(
        revoked(reader_fam.clone()).await,
        "removal ends every family of the org"
    );
    assert_eq!(
        rotate(&f, &reader_fam, &reader_first).await,
        Rotation::Revoked
    );
    let mut late = family(admin);
    late.org_id = Some(org);
    late.credential_epoch = epoch(&f, admin).await;
    let refused = f
        .store
        .create_family(&late, &refresh(&late), &[12; 32], &[])
        .await;
    assert!(
        matches!(&refused, Err(Error::Validation(v)) if v["org_id"] == "not_a_member"),
        "{refused:?}"
    );
    assert_eq!(
        rotate(&f, &elsewhere, &elsewhere_first).await,
        Rotation::Rotated
    );
}

async fn token_policy_round_trips(f: Fresh) {
    let owner = user(&f, "p@example.com").await;
    let org = org_with(&f, "Acme", owner, &[]).await;
    assert_eq!(
        f.store.token_scope_policy(org).await.unwrap(),
        TokenScopePolicy::default()
    );
    let policy = TokenScopePolicy::parse(&json!({"member": ["tasks:read"]})).unwrap();
    assert!(
        f.store
            .set_token_scope_policy(org, &policy, &[])
            .await
            .unwrap()
    );
    assert_eq!(f.store.token_scope_policy(org).await.unwrap(), policy);
    let gone = gatehouse_core::ids::OrgId::new();
    assert!(
        !f.store
            .set_token_scope_policy(gone, &policy, &[])
            .await
            .unwrap()
    );
}
