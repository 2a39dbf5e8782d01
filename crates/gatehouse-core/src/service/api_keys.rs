//! API keys: creation (the key shown once), listing, revocation, deletion, and verification of
//! a presented key — cached, constant-time, and fresh within a second of any revocation.

use crate::secret::SecretString;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use time::OffsetDateTime;

use crate::ambient::Ambient;
use crate::error::AuthFailure;
use crate::ids::ApiKeyId;
use crate::scope::Scopes;
use crate::service::ClientInfo;
use crate::service::access::{KeyPrincipal, Manager, OrgAccess, unauthenticated};
use crate::service::events;
use crate::service::key_cache::KeyCache;
use crate::service::last_used::LastUsedQueue;
use crate::store::{ApiKey, Store};
use crate::token;
use crate::{Error, Result};

/// `last_used_at` is written at most this often per key and instance.
pub const TOUCH_EVERY_SECS: i64 = 60;

pub struct ApiKeyService {
    store: Arc<dyn Store>,
    ambient: Ambient,
    cache: Arc<KeyCache>,
    last_used: LastUsedQueue,
}

/// Proof that a key belongs to the caller's org and that the caller manages the org: only
/// [`ApiKeyService::target`] makes one, and revoking or deleting a key takes it.
#[derive(Debug)]
pub struct OrgApiKey<'a> {
    manager: Manager<'a>,
    id: ApiKeyId,
}

impl OrgApiKey<'_> {
    #[must_use]
    pub fn id(&self) -> ApiKeyId {
        self.id
    }
}

/// What a new key is made of, as the API receives it.
#[derive(Debug, Clone)]
pub struct NewKeyRequest {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
}

impl ApiKeyService {
    /// `last_used` is drained by the loop [`crate::service::last_used::writer`] returned with it.
    pub fn new(
        store: Arc<dyn Store>,
        ambient: Ambient,
        cache: Arc<KeyCache>,
        last_used: LastUsedQueue,
    ) -> Self {
        Self {
            store,
            ambient,
            cache,
            last_used,
        }
    }

    #[must_use]
    pub fn cache(&self) -> &Arc<KeyCache> {
        &self.cache
    }

    /// `POST /v1/orgs/{org}/api-keys`: returns the record and the key (shown once).
    pub async fn create(
        &self,
        manager: &Manager<'_>,
        req: NewKeyRequest,
        client: &ClientInfo,
    ) -> Result<(ApiKey, SecretString)> {
        let now = self.ambient.now();
        let mut fields = std::collections::BTreeMap::new();
        let name = match crate::identity_chars::name("name", &req.name) {
            Ok(name) => name,
            Err(Error::Validation(f)) => {
                fields.extend(f);
                String::new()
            }
            Err(e) => return Err(e),
        };
        let scopes = Scopes::parse(&req.scopes);
        if let Err(Error::Validation(f)) = &scopes {
            fields.extend(f.clone());
        }
        if req.expires_at.is_some_and(|t| t <= now) {
            fields.insert("expires_at".to_owned(), "in_the_past".to_owned());
        }
        let (Ok(scopes), true) = (scopes, fields.is_empty()) else {
            return Err(Error::Validation(fields));
        };
        let (public_id, key) = self.ambient.api_key()?;
        let record = ApiKey {
            id: self.ambient.id()?,
            org_id: manager.org().id,
            name,
            public_id,
            digest: token::digest(&key),
            scopes: scopes.as_slice().to_vec(),
            created_by: Some(manager.user()),
            created_at: now,
            expires_at: req.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        let event = events::api_key_created(&record, manager.user(), client);
        self.store.create_api_key(&record, &[event]).await?;
        Ok((record, SecretString::from(key)))
    }

    /// The key `id` of the caller's org, to revoke or delete: `404` unless the key belongs to
    /// the org (checked before any permission check, so another org's ids are never even
    /// "forbidden"), then the caller must manage the org.
    pub async fn target<'a>(&self, access: &'a OrgAccess, id: ApiKeyId) -> Result<OrgApiKey<'a>> {
        if self.store.api_key(access.org().id, id).await?.is_none() {
            return Err(Error::NotFound);
        }
        Ok(OrgApiKey {
            manager: access.manager()?,
            id,
        })
    }

    pub async fn list(&self, manager: &Manager<'_>) -> Result<Vec<ApiKey>> {
        self.store.api_keys(manager.org().id).await
    }

    /// Revokes; the record stays. Revoking twice keeps the first time.
    pub async fn revoke(&self, key: &OrgApiKey<'_>, client: &ClientInfo) -> Result<ApiKey> {
        let (manager, id) = (&key.manager, key.id);
        let now = self.ambient.now();
        let event = events::api_key_changed(
            "api_key.revoked",
            manager.org().id,
            id,
            manager.user(),
            client,
            now,
        );
        let key = self
            .store
            .revoke_api_key(manager.org().id, id, now, &[event])
            .await?
            .ok_or(Error::NotFound)?;
        self.cache.invalidate(&key.public_id);
        Ok(key)
    }

    pub async fn delete(&self, key: &OrgApiKey<'_>, client: &ClientInfo) -> Result<()> {
        let (manager, id) = (&key.manager, key.id);
        let event = events::api_key_changed(
            "api_key.deleted",
            manager.org().id,
            id,
            manager.user(),
            client,
            self.ambient.now(),
        );
        let key = self
            .store
            .delete_api_key(manager.org().id, id, &[event])
            .await?
            .ok_or(Error::NotFound)?;
        self.cache.invalidate(&key.public_id);
        Ok(())
    }

    /// A presented key to its principal: malformed, unknown or wrong secret `unauthenticated`;
    /// then revoked `token_revoked`; then expired `token_expired`.
    pub async fn authenticate(&self, presented: &str) -> Result<KeyPrincipal> {
        let public_id = token::api_key_public_id(presented).ok_or_else(unauthenticated)?;
        let cached = if let Some(hit) = self.cache.get(public_id) {
            hit
        } else {
            let generation = self.cache.generation();
            let (key, org) = self
                .store
                .api_key_by_public_id(public_id)
                .await?
                .ok_or_else(unauthenticated)?;
            self.cache.insert(generation, key, org)
        };
        let key = &cached.key;
        if !token::ct_eq(&token::digest(presented), &key.digest) {
            return Err(unauthenticated());
        }
        if key.revoked_at.is_some() {
            return Err(Error::Unauthenticated(AuthFailure::Revoked));
        }
        let now = self.ambient.now();
        if key.expires_at.is_some_and(|t| t <= now) {
            return Err(Error::Unauthenticated(AuthFailure::Expired));
        }
        self.note_use(&cached.last_touch, key, now);
        Ok(KeyPrincipal {
            key: key.clone(),
            org: cached.org.clone(),
            scopes: Scopes::from_stored(key.scopes.clone()),
        })
    }

    /// Writes `last_used_at` in the background, at most once a minute per key.
    fn note_use(
        &self,
        last_touch: &std::sync::atomic::AtomicI64,
        key: &Arc<ApiKey>,
        now: OffsetDateTime,
    ) {
        let now_secs = now.unix_timestamp();
        let last = last_touch.load(Ordering::Relaxed);
        if now_secs - last < TOUCH_EVERY_SECS
            || last_touch
                .compare_exchange(last, now_secs, Ordering::SeqCst, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.last_used.note(key.clone(), now);
    }
}
