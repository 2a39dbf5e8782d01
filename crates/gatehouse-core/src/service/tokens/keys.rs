//! The signing key ring: the first key at first start, rotation, reloading (keys another
//! instance or the CLI made), and the JWKS. Private halves are stored sealed (vault), bound to
//! their `kid`; a retired key stays published for one access lifetime plus leeway.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::TokenService;
use crate::audit::{Actor, Category, Chain, NewEvent, Target};
use crate::jwt::{self, Signer25519};
use crate::service::ClientInfo;
use crate::store::StoredSigningKey;
use crate::{Error, Result};

pub(crate) fn key_aad(kid: &str) -> Vec<u8> {
    format!("gatehouse/signing-key/{kid}").into_bytes()
}

impl TokenService {
    /// Loads the key ring, creating the first signing key when there is none.
    pub async fn start(&self) -> Result<()> {
        if !self
            .store
            .signing_keys()
            .await?
            .iter()
            .any(|k| k.retired_at.is_none())
        {
            self.rotate_signing_key().await?;
        }
        self.reload_keys().await
    }

    /// A new signing key; the previous one stays published until its last token expires.
    pub async fn rotate_signing_key(&self) -> Result<String> {
        let seed = Zeroizing::new(self.ambient.bytes::<32>()?);
        let kid = format!("k{}", &self.ambient.uuid_v7()?.simple().to_string()[..20]);
        let signer = Signer25519::from_seed(kid.clone(), &seed);
        let sealed = self
            .keyring
            .seal(self.ambient.random(), &key_aad(&kid), seed.as_slice())?;
        let now = self.ambient.now();
        let key = StoredSigningKey {
            kid: kid.clone(),
            public_key: signer.public_key().to_vec(),
            sealed_private: sealed,
            sealed_by: Some(self.keyring.current_id().to_owned()),
            created_at: now,
            retired_at: None,
        };
        let event = NewEvent::new(
            Chain::System,
            Category::Security,
            "signing_key.rotated",
            Actor::System,
            &ClientInfo::default(),
            now,
        )
        .target(Target::new("signing_key", &kid));
        self.store.add_signing_key(&key, &[event]).await?;
        self.reload_keys().await?;
        Ok(kid)
    }

    /// Reads the keys again: the newest unretired key signs; keys retired less than an access
    /// lifetime (plus leeway) ago stay published and accepted.
    pub async fn reload_keys(&self) -> Result<()> {
        let keys = self.store.signing_keys().await?;
        let now = self.ambient.now();
        let grace = self.settings.access_ttl + Duration::from_secs(jwt::LEEWAY_SECS as u64);
        let mut published = HashMap::new();
        let mut signer = None;
        for k in &keys {
            let live = k.retired_at.is_none_or(|r| r + grace > now);
            let public = <[u8; 32]>::try_from(k.public_key.as_slice())
                .ok()
                .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok());
            if let (true, Some(public)) = (live, public) {
                published.insert(k.kid.clone(), public);
            }
            if k.retired_at.is_none() {
                let seed = self
                    .keyring
                    .open(k.sealed_by.as_deref(), &key_aad(&k.kid), &k.sealed_private)?
                    .plaintext;
                let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
                    seed.as_slice()
                        .try_into()
                        .map_err(|_| Error::internal("signing key has the wrong length"))?,
                );
                signer = Some(Arc::new(Signer25519::from_seed(k.kid.clone(), &seed)));
            }
        }
        let mut ring = self
            .ring
            .write()
            .map_err(|_| Error::internal("key ring poisoned"))?;
        ring.published = published;
        if signer.is_some() {
            ring.signer = signer;
        }
        ring.loaded = Some(Instant::now());
        if let Ok(mut v) = self.verified.write() {
            v.clear();
        }
        Ok(())
    }

    /// `GET /.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        let ring = self
            .ring
            .read()
            .map(|r| r.published.clone())
            .unwrap_or_default();
        let mut keys: Vec<(&String, [u8; 32])> =
            ring.iter().map(|(kid, k)| (kid, k.to_bytes())).collect();
        keys.sort();
        json!({ "keys": keys.into_iter().map(|(kid, public)| jwt::jwk(kid, &public)).collect::<Vec<_>>() })
    }

    pub(super) fn public_key(&self, kid: &str) -> Option<ed25519_dalek::VerifyingKey> {
        self.ring.read().ok()?.published.get(kid).copied()
    }

    /// An unknown `kid` may be a key another instance just made: reload at most once a second.
    pub(super) fn may_reload(&self) -> bool {
        self.ring
            .read()
            .ok()
            .and_then(|r| r.loaded)
            .is_none_or(|t| t.elapsed() > Duration::from_secs(1))
    }
}
