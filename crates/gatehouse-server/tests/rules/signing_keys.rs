//! Signing-key rotation: the new key signs at once; the retired one stays published (and its
//! tokens valid) for one access lifetime plus the leeway, then leaves the JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::jwt::LEEWAY_SECS;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::ClientInfo;

use crate::harness::Fresh;
use crate::world::{PASSWORD, World, secs};

fn kids(w: &World) -> Vec<String> {
    let jwks = w.s.tokens.jwks();
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

/// The `kid` in a JWT's header.
fn signed_by(jwt: &str) -> String {
    let header = URL_SAFE_NO_PAD
        .decode(jwt.split('.').next().unwrap())
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn signing_key_retirement(f: Fresh) {
    let w = World::new(f, &[("ACCESS_TTL", "10m")]).await;
    w.admin("sig@example.com").await;
    let client = ClientInfo::default();
    let grant = || {
        w.s.tokens
            .password_grant("sig@example.com", PASSWORD, None, None, &client)
    };
    let [first] = kids(&w).try_into().unwrap();
    let old = grant().await.unwrap();
    assert_eq!(signed_by(old.access_token.expose_secret()), first);
    w.advance(secs(60));
    let second = w.s.tokens.rotate_signing_key().await.unwrap();
    assert_eq!(kids(&w).len(), 2, "both published");
    let new = grant().await.unwrap();
    assert_eq!(
        signed_by(new.access_token.expose_secret()),
        second,
        "the new key signs at once"
    );
    let claims =
        w.s.tokens
            .verify_offline(new.access_token.expose_secret())
            .unwrap();
    assert_eq!(claims.iat, w.now().unix_timestamp());
    assert!(
        w.s.tokens
            .authenticate(old.access_token.expose_secret())
            .await
            .is_ok()
    );
    // Retired at 60 s: published until 60 + 600 + leeway.
    let grace = 600 + LEEWAY_SECS as u64;
    w.advance(secs(grace - 1));
    w.s.tokens.reload_keys().await.unwrap();
    assert!(kids(&w).contains(&first), "still published");
    w.advance(secs(1));
    w.s.tokens.reload_keys().await.unwrap();
    assert_eq!(kids(&w), vec![second], "the retired key is gone");
    assert!(
        w.s.tokens
            .authenticate(old.access_token.expose_secret())
            .await
            .is_err()
    );
}

crate::conformance!(signing_key_retirement);
