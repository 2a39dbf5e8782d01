//! Access and refresh tokens: the access lifetime (with the verifier's leeway), refresh-token
//! expiry, and the family's absolute lifetime across rotations.

use gatehouse_core::Error;
use gatehouse_core::error::AuthFailure;
use gatehouse_core::jwt::LEEWAY_SECS;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::ClientInfo;

use crate::harness::Fresh;
use crate::world::{PASSWORD, World, secs};

fn expired<T: std::fmt::Debug>(r: Result<T, Error>) -> bool {
    matches!(r, Err(Error::Unauthenticated(AuthFailure::Expired)))
}

/// An access token works until `exp` plus the leeway, then answers `token_expired`.
async fn access_token_expiry(f: Fresh) {
    let w = World::new(f, &[("ACCESS_TTL", "5m")]).await;
    w.admin("at@example.com").await;
    let client = ClientInfo::default();
    let issued =
        w.s.tokens
            .password_grant("at@example.com", PASSWORD, None, None, &client)
            .await
            .unwrap();
    assert_eq!(issued.expires_in, 300);
    let leeway = LEEWAY_SECS as u64;
    w.advance(secs(300 + leeway - 1));
    assert!(
        w.s.tokens
            .authenticate(issued.access_token.expose_secret())
            .await
            .is_ok()
    );
    w.advance(secs(1));
    assert!(expired(
        w.s.tokens
            .authenticate(issued.access_token.expose_secret())
            .await
    ));
}

/// A refresh token unused for its lifetime has expired.
async fn refresh_token_expiry(f: Fresh) {
    let w = World::new(f, &[("REFRESH_TTL", "1h")]).await;
    w.admin("rt@example.com").await;
    let client = ClientInfo::default();
    let grant = || {
        w.s.tokens
            .password_grant("rt@example.com", PASSWORD, None, None, &client)
    };
    let (early, late) = (grant().await.unwrap(), grant().await.unwrap());
    w.advance(secs(3599));
    assert!(
        w.s.tokens
            .refresh_grant(early.refresh_token.expose_secret(), &client)
            .await
            .is_ok()
    );
    w.advance(secs(1));
    assert!(expired(
        w.s.tokens
            .refresh_grant(late.refresh_token.expose_secret(), &client)
            .await
    ));
}

/// Rotation never extends a family: a token issued by a refresh still ends with the family,
/// a refresh lifetime after the password grant.
async fn refresh_family_absolute_lifetime(f: Fresh) {
    let w = World::new(f, &[("REFRESH_TTL", "1h")]).await;
    w.admin("fam@example.com").await;
    let client = ClientInfo::default();
    let mut current =
        w.s.tokens
            .password_grant("fam@example.com", PASSWORD, None, None, &client)
            .await
            .unwrap();
    for _ in 0..3 {
        w.advance(secs(1000));
        current =
            w.s.tokens
                .refresh_grant(current.refresh_token.expose_secret(), &client)
                .await
                .unwrap();
    }
    // 3000 s in: the newest token is 0 s old, and the family has 600 s left.
    w.advance(secs(599));
    let last =
        w.s.tokens
            .refresh_grant(current.refresh_token.expose_secret(), &client)
            .await
            .unwrap();
    w.advance(secs(1));
    assert!(
        expired(
            w.s.tokens
                .refresh_grant(last.refresh_token.expose_secret(), &client)
                .await
        ),
        "issued a second ago, yet the family's hour is over"
    );
}

crate::conformance!(
    access_token_expiry,
    refresh_token_expiry,
    refresh_family_absolute_lifetime
);
