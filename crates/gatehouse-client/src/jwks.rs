//! gatehouse's signing keys, cached. They are fetched on first use, again when a token names
//! a `kid` the cache lacks or the cache has outgrown its maximum age, and never more often
//! than the refresh interval (a minute by default), so unknown `kid`s cannot make an app
//! hammer gatehouse. When a refetch fails, the keys already known stay in use.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use ed25519_dalek::VerifyingKey;

use crate::clock::whole_seconds;
use crate::error::{SetupError, VerifyError};
use crate::fetch::HttpKeySet;
use crate::keyset::{KeysById, parse_key_set};

/// What a fetch yields: the JWKS document's bytes, or why there are none.
pub type FetchFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;

/// Where the JWKS document comes from ([`HttpKeySet`] in production; anything in tests).
pub trait KeySetSource: Send + Sync + 'static {
    /// Fetches the JWKS document once.
    fn fetch(&self) -> FetchFuture<'_>;
}

/// How often the key set may be fetched and how long it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwksSettings {
    /// No two fetches closer together than this (unknown `kid`s included).
    pub min_refresh_interval: Duration,
    /// Keys older than this are refetched on next use (gatehouse serves them with
    /// `max-age=300`), so a key gatehouse retired stops verifying.
    pub max_age: Duration,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            min_refresh_interval: Duration::from_secs(60),
            max_age: Duration::from_secs(300),
        }
    }
}

#[derive(Default)]
struct Cache {
    keys: KeysById,
    fetched_at: Option<i64>,
    attempted_at: Option<i64>,
    last_failure: Option<String>,
}

struct Shared {
    source: Box<dyn KeySetSource>,
    settings: JwksSettings,
    cache: RwLock<Cache>,
    /// Held while fetching, so that concurrent misses cause one fetch.
    fetching: tokio::sync::Mutex<()>,
}

/// A shareable, cheaply cloned key cache.
#[derive(Clone)]
pub struct Jwks {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("settings", &self.shared.settings)
            .finish_non_exhaustive()
    }
}

/// What the cache says about one `kid` at one time.
struct Lookup {
    key: Option<VerifyingKey>,
    should_fetch: bool,
    last_failure: Option<String>,
}

impl Jwks {
    /// Keys from `<issuer>/.well-known/jwks.json`, with the default settings.
    pub fn from_issuer(issuer: &str) -> Result<Self, SetupError> {
        Ok(Self::new(HttpKeySet::for_issuer(issuer)?))
    }

    /// Keys from `source`, with the default settings.
    pub fn new(source: impl KeySetSource) -> Self {
        Self::with_settings(source, JwksSettings::default())
    }

    /// Keys from `source`, fetched and trusted as `settings` say.
    pub fn with_settings(source: impl KeySetSource, settings: JwksSettings) -> Self {
        Self {
            shared: Arc::new(Shared {
                source: Box::new(source),
                settings,
                cache: RwLock::new(Cache::default()),
                fetching: tokio::sync::Mutex::new(()),
            }),
        }
    }

    fn lookup(&self, kid: &str, now: i64) -> Lookup {
        let cache = self
            .shared
            .cache
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let interval = whole_seconds(self.shared.settings.min_refresh_interval);
        let max_age = whole_seconds(self.shared.settings.max_age);
        // A clock that went backwards allows a fetch rather than blocking them for good.
        let may_fetch = cache
            .attempted_at
            .is_none_or(|at| now < at || now.saturating_sub(at) >= interval);
        let stale = cache
            .fetched_at
            .is_none_or(|at| now < at || now.saturating_sub(at) >= max_age);
        let key = cache.keys.get(kid).copied();
        Lookup {
            should_fetch: may_fetch && (key.is_none() || stale),
            key,
            last_failure: cache.last_failure.clone(),
        }
    }

    /// The key named `kid`, fetching the set when the rules above allow it; `now` is in Unix
    /// seconds.
    pub async fn key(&self, kid: &str, now: i64) -> Result<VerifyingKey, VerifyError> {
        let mut seen = self.lookup(kid, now);
        if seen.should_fetch {
            let _one_fetch = self.shared.fetching.lock().await;
            // Another task may have fetched while this one waited.
            seen = self.lookup(kid, now);
            if seen.should_fetch {
                self.refresh(now).await;
                seen = self.lookup(kid, now);
            }
        }
        match (seen.key, seen.last_failure) {
            (Some(key), _) => Ok(key),
            (None, Some(why)) => Err(VerifyError::KeySetUnavailable(why)),
            (None, None) => Err(VerifyError::UnknownKey),
        }
    }

    async fn refresh(&self, now: i64) {
        let fetched = self.shared.source.fetch().await;
        let parsed = fetched.and_then(|body| parse_key_set(&body));
        let mut cache = self
            .shared
            .cache
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        cache.attempted_at = Some(now);
        match parsed {
            Ok(keys) => {
                cache.keys = keys;
                cache.fetched_at = Some(now);
                cache.last_failure = None;
            }
            Err(why) => cache.last_failure = Some(why),
        }
    }
}
