//! API keys: expiry at `expires_at` (also for a key already in the cache), and `last_used_at`
//! written at most once a minute per key.

use gatehouse_core::Error;
use gatehouse_core::error::AuthFailure;
use gatehouse_core::ids::ApiKeyId;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::ClientInfo;
use gatehouse_core::service::api_keys::NewKeyRequest;
use gatehouse_core::store::Org;
use time::OffsetDateTime;

use crate::harness::Fresh;
use crate::world::{World, secs};

async fn new_key(w: &World, expires_at: Option<OffsetDateTime>) -> (Org, ApiKeyId, String) {
    let email = format!("keys{}@example.com", w.since_start(w.now()));
    let (owner, org) = w.admin(&email).await;
    let access = w.access(&owner, &org).await;
    let manager = access.manager().unwrap();
    let (record, key) =
        w.s.keys
            .create(
                &manager,
                NewKeyRequest {
                    name: "ci".into(),
                    scopes: vec!["check".into()],
                    expires_at,
                },
                &ClientInfo::default(),
            )
            .await
            .unwrap();
    (org, record.id, key.expose_secret().to_owned())
}

async fn api_key_expiry(f: Fresh) {
    let w = World::new(f, &[]).await;
    let (_, _, key) = new_key(&w, Some(w.now() + secs(3600))).await;
    assert!(
        w.s.keys.authenticate(&key).await.is_ok(),
        "now in the cache"
    );
    w.advance(secs(3599));
    assert!(w.s.keys.authenticate(&key).await.is_ok());
    w.advance(secs(1));
    let r = w.s.keys.authenticate(&key).await;
    assert!(
        matches!(r, Err(Error::Unauthenticated(AuthFailure::Expired))),
        "{r:?}"
    );
}

async fn last_used(w: &World, org: &Org, id: ApiKeyId) -> Option<i64> {
    let key = w.f.store.api_key(org.id, id).await.unwrap().unwrap();
    key.last_used_at.map(|t| w.since_start(t))
}

/// Waits (in real time, for the background write only; the clock stands still) until the
/// key's `last_used_at` is `want`.
async fn written(w: &World, org: &Org, id: ApiKeyId, want: i64) {
    for _ in 0..500 {
        if last_used(w, org, id).await == Some(want) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!(
        "last_used_at never became {want}: {:?}",
        last_used(w, org, id).await
    );
}

async fn api_key_last_used_write_interval(f: Fresh) {
    let w = World::new(f, &[]).await;
    let (org, id, key) = new_key(&w, None).await;
    assert_eq!(last_used(&w, &org, id).await, None);
    w.s.keys.authenticate(&key).await.unwrap();
    written(&w, &org, id, 0).await;
    w.advance(secs(59));
    for _ in 0..5 {
        w.s.keys.authenticate(&key).await.unwrap();
    }
    // Another key's first use is written after anything the uses above started.
    let (other_org, other, other_key) = new_key(&w, None).await;
    w.s.keys.authenticate(&other_key).await.unwrap();
    written(&w, &other_org, other, 59).await;
    assert_eq!(last_used(&w, &org, id).await, Some(0), "59 s: not written");
    w.advance(secs(1));
    w.s.keys.authenticate(&key).await.unwrap();
    written(&w, &org, id, 60).await;
}

crate::conformance!(api_key_expiry, api_key_last_used_write_interval);
