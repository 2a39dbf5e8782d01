//! Invitations expire at their lifetime (`401 token_expired` from then on).

use gatehouse_core::Error;
use gatehouse_core::error::AuthFailure;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::ClientInfo;

use crate::harness::Fresh;
use crate::world::{PASSWORD, World, secs};

async fn invitation_expiry(f: Fresh) {
    let w = World::new(f, &[("INVITATION_TTL", "1h")]).await;
    let (owner, org) = w.admin("owner@example.com").await;
    let access = w.access(&owner, &org).await;
    let manager = access.manager().unwrap();
    let client = ClientInfo::default();
    let on_time =
        w.s.orgs
            .invite(&manager, "on-time@example.com", "member", &client)
            .await
            .unwrap();
    let late =
        w.s.orgs
            .invite(&manager, "late@example.com", "member", &client)
            .await
            .unwrap();
    assert_eq!(on_time.invitation.expires_at, w.now() + secs(3600));
    w.advance(secs(3599));
    let accepted =
        w.s.orgs
            .accept(
                None,
                on_time.token.expose_secret(),
                Some(PASSWORD),
                None,
                &client,
            )
            .await;
    assert!(accepted.is_ok(), "{accepted:?}");
    w.advance(secs(1));
    let refused =
        w.s.orgs
            .accept(
                None,
                late.token.expose_secret(),
                Some(PASSWORD),
                None,
                &client,
            )
            .await;
    assert!(
        matches!(refused, Err(Error::Unauthenticated(AuthFailure::Expired))),
        "{refused:?}"
    );
    assert!(
        w.s.orgs.invitations(&manager).await.unwrap().is_empty(),
        "an expired invitation is no longer pending"
    );
}

crate::conformance!(invitation_expiry);
