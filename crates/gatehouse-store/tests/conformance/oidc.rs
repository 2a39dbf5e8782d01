//! OpenID Connect flows and links: a flow taken once, by its provider and state only, while
//! live; a provider subject linked to one account at most; unlinking never removes the last
//! way to sign in. (Two unlinks at once are serialized by a lock on the user's row; no test
//! here can force the interleaving that would show it.)

use gatehouse_core::Error;
use gatehouse_core::error::ConflictReason;
use gatehouse_core::ids::{OidcFlowId, OidcIdentityId, UserId};
use gatehouse_core::store::{OidcFlow, OidcIdentity};

use crate::conformance;
use crate::harness::{Fresh, at};
use crate::identity::new_user;

fn flow(provider: &str, state: &[u8]) -> OidcFlow {
    OidcFlow {
        id: OidcFlowId::new(),
        provider: provider.into(),
        state_digest: state.to_vec(),
        nonce: "n".into(),
        verifier: b"sealed".to_vec(),
        sealed_by: "k".into(),
        return_to: Some("/console/account".into()),
        created_at: at(0),
        expires_at: at(600),
    }
}

fn link(user: UserId, subject: &str) -> OidcIdentity {
    OidcIdentity {
        id: OidcIdentityId::new(),
        user_id: user,
        provider: "p".into(),
        issuer: "https://op.example".into(),
        subject: subject.into(),
        email: Some("a@example.com".into()),
        created_at: at(1),
    }
}

/// A user without a password (as a provider sign-in makes them).
async fn passwordless(f: &Fresh, email: &str) -> UserId {
    let mut u = new_user(email);
    u.password_hash = None;
    f.store.create_user(&u, &[]).await.unwrap();
    u.id
}

conformance!(
    a_flow_is_taken_once_by_its_provider_while_live,
    a_subject_links_one_account,
    the_last_way_in_stays
);

async fn a_flow_is_taken_once_by_its_provider_while_live(f: Fresh) {
    let a = flow("a", b"state-1");
    f.store.create_oidc_flow(&a).await.unwrap();
    assert!(
        f.store
            .take_oidc_flow("b", b"state-1", at(1))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        f.store
            .take_oidc_flow("a", b"state-1", at(600))
            .await
            .unwrap()
            .is_none()
    );
    let taken = f
        .store
        .take_oidc_flow("a", b"state-1", at(599))
        .await
        .unwrap();
    assert_eq!(
        taken.map(|t| (t.id, t.return_to)),
        Some((a.id, a.return_to.clone()))
    );
    assert!(
        f.store
            .take_oidc_flow("a", b"state-1", at(599))
            .await
            .unwrap()
            .is_none()
    );
}

async fn a_subject_links_one_account(f: Fresh) {
    let ann = passwordless(&f, "ann@example.com").await;
    let bob = passwordless(&f, "bob@example.com").await;
    f.store
        .link_oidc_identity(&link(ann, "s1"), &[])
        .await
        .unwrap();
    let again = f.store.link_oidc_identity(&link(bob, "s1"), &[]).await;
    assert!(
        matches!(again, Err(Error::Conflict(ConflictReason::IdentityLinked))),
        "{again:?}"
    );
    let found = f
        .store
        .oidc_identity("https://op.example", "s1")
        .await
        .unwrap();
    assert_eq!(found.map(|l| l.user_id), Some(ann));
    assert_eq!(f.store.oidc_identities(bob).await.unwrap(), vec![]);
}

async fn the_last_way_in_stays(f: Fresh) {
    let ann = passwordless(&f, "ann@example.com").await;
    let one = link(ann, "s1");
    let two = link(ann, "s2");
    f.store.link_oidc_identity(&one, &[]).await.unwrap();
    f.store.link_oidc_identity(&two, &[]).await.unwrap();
    assert!(
        f.store
            .unlink_oidc_identity(ann, one.id, &[])
            .await
            .unwrap()
    );
    let last = f.store.unlink_oidc_identity(ann, two.id, &[]).await;
    assert!(
        matches!(last, Err(Error::Conflict(ConflictReason::LastSignInMethod))),
        "{last:?}"
    );
    assert_eq!(
        f.store.oidc_identities(ann).await.unwrap().len(),
        1,
        "nothing changed"
    );
    let other = passwordless(&f, "bob@example.com").await;
    assert!(
        !f.store
            .unlink_oidc_identity(other, two.id, &[])
            .await
            .unwrap()
    );
}
