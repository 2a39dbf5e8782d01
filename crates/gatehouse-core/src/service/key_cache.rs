//! The in-memory API key cache: verification without a database round trip, made safe by
//! invalidation. Entries are dropped when a key is revoked or deleted (locally at once, on other
//! instances through the store's change feed), the whole cache is dropped and bypassed while
//! that feed is down, and a generation counter keeps a lookup that raced an invalidation from
//! caching what it read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::changes::{Change, ChangeSink};
use crate::store::{ApiKey, Org};

/// How long a cached key is trusted without a change heard.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(300);
/// How many keys one instance caches (the cache starts over when full).
pub const KEY_CACHE_CAPACITY: usize = 100_000;

/// A cached key and its org, with the last `last_used_at` written for it (unix seconds).
#[derive(Debug, Clone)]
pub struct CachedKey {
    pub key: Arc<ApiKey>,
    pub org: Arc<Org>,
    pub last_touch: Arc<AtomicI64>,
}

#[derive(Debug)]
struct Entry {
    cached: CachedKey,
    fetched: Instant,
}

#[derive(Debug)]
pub struct KeyCache {
    entries: RwLock<HashMap<String, Entry>>,
    live: AtomicBool,
    generation: AtomicU64,
    ttl: Duration,
    capacity: usize,
}

impl KeyCache {
    /// `live`: whether the cache may be used from the start (single instance: yes; PostgreSQL:
    /// not until the change feed listens).
    #[must_use]
    pub fn new(live: bool, ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
            live: AtomicBool::new(live),
            generation: AtomicU64::new(0),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// The generation to pass to [`insert`](Self::insert) after a database read.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    pub fn get(&self, public_id: &str) -> Option<CachedKey> {
        if !self.live.load(Ordering::SeqCst) {
            return None;
        }
        let entries = self.entries.read().ok()?;
        let entry = entries.get(public_id)?;
        (entry.fetched.elapsed() < self.ttl).then(|| entry.cached.clone())
    }

    /// Caches `key` read at `generation`, unless an invalidation happened since.
    pub fn insert(&self, generation: u64, key: ApiKey, org: Org) -> CachedKey {
        let last = key.last_used_at.map(|t| t.unix_timestamp()).unwrap_or(0);
        let cached = CachedKey {
            key: Arc::new(key),
            org: Arc::new(org),
            last_touch: Arc::new(AtomicI64::new(last)),
        };
        if !self.live.load(Ordering::SeqCst) {
            return cached;
        }
        if let Ok(mut entries) = self.entries.write() {
            if self.generation.load(Ordering::SeqCst) != generation {
                return cached;
            }
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(
                cached.key.public_id.clone(),
                Entry {
                    cached: cached.clone(),
                    fetched: Instant::now(),
                },
            );
        }
        cached
    }

    /// Forgets one key (revoked, deleted or changed).
    pub fn invalidate(&self, public_id: &str) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            entries.remove(public_id);
        }
    }

    /// Forgets every key.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            entries.clear();
        }
    }

    /// The change feed is up (`true`) or down (`false`: cleared and bypassed until it is back).
    pub fn set_live(&self, live: bool) {
        self.clear();
        self.live.store(live, Ordering::SeqCst);
    }

    pub fn len(&self) -> usize {
        self.entries.read().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The cache follows the store's change feed.
impl ChangeSink for KeyCache {
    fn feed_live(&self, live: bool) {
        self.set_live(live);
    }

    fn changed(&self, change: Change) {
        match change {
            Change::ApiKey(public_id) => self.invalidate(&public_id),
            Change::AllKeys => self.clear(),
            Change::User(_) | Change::Jti(_) | Change::AllUsers => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ApiKeyId, OrgId};
    use crate::store::Org;
    use time::OffsetDateTime;

    fn key(public_id: &str) -> (ApiKey, Org) {
        let org = Org {
            id: OrgId::new(),
            name: "o".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        let key = ApiKey {
            id: ApiKeyId::new(),
            org_id: OrgId::new(),
            name: "k".into(),
            public_id: public_id.into(),
            digest: vec![0; 32],
            scopes: vec!["a:b".into()],
            created_by: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        };
        (key, org)
    }

    impl KeyCache {
        fn insert_pair(&self, generation: u64, (key, org): (ApiKey, Org)) -> CachedKey {
            self.insert(generation, key, org)
        }
    }

    #[test]
    fn hit_invalidate_and_race() {
        let cache = KeyCache::new(true, Duration::from_secs(60), 10);
        let g = cache.generation();
        cache.insert_pair(g, key("aaa"));
        assert!(cache.get("aaa").is_some());
        cache.invalidate("aaa");
        assert!(cache.get("aaa").is_none());
        // A read that started before an invalidation is not cached.
        let before = cache.generation();
        cache.invalidate("other");
        cache.insert_pair(before, key("bbb"));
        assert!(cache.get("bbb").is_none());
    }

    #[test]
    fn not_live_bypasses_and_capacity_bounds() {
        let cache = KeyCache::new(false, Duration::from_secs(60), 2);
        cache.insert_pair(cache.generation(), key("a"));
        assert!(cache.get("a").is_none() && cache.is_empty());
        cache.set_live(true);
        for id in ["a", "b", "c"] {
            cache.insert_pair(cache.generation(), key(id));
        }
        assert!(cache.len() <= 2);
        let expired = KeyCache::new(true, Duration::ZERO, 2);
        expired.insert_pair(expired.generation(), key("a"));
        assert!(
            expired.get("a").is_none(),
            "entries older than the ttl are not served"
        );
    }

    #[test]
    fn follows_the_change_feed() {
        let cache = KeyCache::new(false, Duration::from_secs(60), 10);
        let sink: &dyn ChangeSink = &cache;
        sink.feed_live(true);
        for id in ["a", "b", "c"] {
            cache.insert_pair(cache.generation(), key(id));
        }
        sink.changed(Change::ApiKey("a".into()));
        assert!(cache.get("a").is_none() && cache.get("b").is_some());
        sink.changed(Change::AllKeys);
        assert!(cache.is_empty());
        cache.insert_pair(cache.generation(), key("d"));
        sink.feed_live(false);
        assert!(
            cache.get("d").is_none(),
            "a lost feed clears and bypasses the cache"
        );
    }
}
