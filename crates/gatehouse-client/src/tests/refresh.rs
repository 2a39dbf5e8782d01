//! The key cache: one fetch for many verifications, a refresh on an unknown `kid` no more than
//! once per interval, refetching stale keys, and what happens when gatehouse is out of reach.

use std::time::Duration;

use super::*;
use crate::{JwksSettings, VerifyError};

#[tokio::test]
async fn keys_are_fetched_once_and_reused() {
    let f = Fixture::new();
    for _ in 0..5 {
        assert!(f.fresh_access_token_passes().await);
    }
    assert_eq!(f.served.fetches(), 1);
}

#[tokio::test]
async fn an_unknown_kid_refreshes_once_then_is_refused() {
    let f = Fixture::new();
    assert!(f.fresh_access_token_passes().await);
    f.clock.advance(60);
    let rotated = TestKey::new("k2", 8);
    let token = rotated.sign("at+jwt", &f.access_claims());

    let refused = f.check_access(&token).await;
    assert_eq!(refused, Err(VerifyError::UnknownKey));
    assert_eq!(f.served.fetches(), 2, "one refresh for the unknown kid");
    for _ in 0..3 {
        let refused = f.check_access(&token).await;
        assert_eq!(refused, Err(VerifyError::UnknownKey));
    }
    assert_eq!(f.served.fetches(), 2, "no second refresh within the minute");

    // gatehouse rotates to k2: found at the next refresh the interval allows.
    f.served.serve(&[&f.key, &rotated]);
    f.clock.advance(59);
    let refused = f.check_access(&token).await;
    assert_eq!(refused, Err(VerifyError::UnknownKey));
    assert_eq!(f.served.fetches(), 2);
    f.clock.advance(1);
    assert!(f.check_access(&token).await.is_ok());
    assert_eq!(f.served.fetches(), 3);
}

#[tokio::test]
async fn the_refresh_interval_is_configurable() {
    let key = TestKey::new("k1", 7);
    let served = ServedKeys::serving(&[&key]);
    let clock = HandClock::at(START);
    let settings = JwksSettings {
        min_refresh_interval: Duration::ZERO,
        ..JwksSettings::default()
    };
    let verifier = Verifier::new(
        Jwks::with_settings(served.clone(), settings),
        ISSUER,
        AUDIENCE,
    )
    .with_clock(clock.clone());
    let token = TestKey::new("k9", 9).sign("at+jwt", &Fixture::new().access_claims());
    for expected in 1..=3 {
        let refused = verifier.verify_access_token(&token).await;
        assert_eq!(refused, Err(VerifyError::UnknownKey));
        assert_eq!(served.fetches(), expected);
    }
}

#[tokio::test]
async fn stale_keys_are_refetched_and_retired_keys_stop_verifying() {
    let f = Fixture::new();
    assert!(f.fresh_access_token_passes().await);
    let successor = TestKey::new("k2", 8);
    f.served.serve(&[&successor]);
    f.clock.advance(299);
    assert!(f.fresh_access_token_passes().await);
    assert_eq!(f.served.fetches(), 1);
    f.clock.advance(1);
    let refused = f.check_access(&f.access_token()).await;
    assert_eq!(refused, Err(VerifyError::UnknownKey));
    assert_eq!(f.served.fetches(), 2);
}

#[tokio::test]
async fn an_unreachable_key_set_is_unavailable_not_unauthenticated() {
    let f = Fixture::new();
    f.served.fail(true);
    let refused = f.check_access(&f.access_token()).await;
    assert!(
        matches!(refused, Err(VerifyError::KeySetUnavailable(_))),
        "{refused:?}"
    );
    // Within the interval it is not asked again, and the answer stays the same.
    let refused = f.check_access(&f.access_token()).await;
    assert!(
        matches!(refused, Err(VerifyError::KeySetUnavailable(_))),
        "{refused:?}"
    );
    assert_eq!(f.served.fetches(), 1);
    f.served.fail(false);
    f.clock.advance(60);
    let token = f.access_token();
    assert!(f.check_access(&token).await.is_ok());
}

#[tokio::test]
async fn keys_already_known_outlive_a_failed_refetch() {
    let f = Fixture::new();
    assert!(f.fresh_access_token_passes().await);
    f.served.fail(true);
    f.clock.advance(400);
    let token = f.access_token();
    assert!(f.check_access(&token).await.is_ok());
    assert_eq!(
        f.served.fetches(),
        2,
        "the stale set was refetched and the failure tolerated"
    );
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let f = Fixture::new();
    let token = f.access_token();
    let checks = (0..16).map(|_| {
        let verifier = f.verifier.clone();
        let token = token.clone();
        tokio::spawn(async move { verifier.verify_access_token(&token).await })
    });
    for check in checks.collect::<Vec<_>>() {
        assert!(check.await.unwrap().is_ok());
    }
    assert_eq!(f.served.fetches(), 1);
}
