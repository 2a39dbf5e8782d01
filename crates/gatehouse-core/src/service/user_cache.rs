//! The per-instance cache of what every request with an access token, and every gateway check,
//! would otherwise read from the database: a token's revocation state (its family, its `jti`,
//! its user's disabled flag and logout-all instant) and a user's memberships. It follows the
//! rule API keys follow (SPEC §6): the store announces every committed change of a user (locally
//! at commit; on other instances through the change feed, within a second), the cache drops
//! what changed, drops everything and is bypassed while the feed is down, and a generation
//! counter keeps a read that raced an invalidation from caching what it read. Entries also age
//! out after [`USER_CACHE_TTL`] by the injected clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use time::OffsetDateTime;

use crate::Result;
use crate::changes::{Change, ChangeSink};
use crate::clock::Clock;
use crate::ids::{FamilyId, UserId};
use crate::store::{Membership, Store, TokenState};

/// How long an entry is trusted without a change heard.
pub const USER_CACHE_TTL: Duration = Duration::from_secs(60);
/// Entries per map at most (the map starts over when full).
pub const USER_CACHE_CAPACITY: usize = 100_000;

struct Timed<T> {
    value: T,
    user: UserId,
    fetched: OffsetDateTime,
}

pub struct UserCache {
    tokens: RwLock<HashMap<(FamilyId, String), Timed<TokenState>>>,
    memberships: RwLock<HashMap<UserId, Timed<Arc<Vec<Membership>>>>>,
    live: AtomicBool,
    generation: AtomicU64,
    clock: Arc<dyn Clock>,
    ttl: Duration,
}

impl UserCache {
    /// `live`: usable from the start (one process owns the database) or only once the change
    /// feed listens (PostgreSQL).
    pub fn new(live: bool, clock: Arc<dyn Clock>, ttl: Duration) -> Self {
        Self {
            tokens: RwLock::new(HashMap::new()),
            memberships: RwLock::new(HashMap::new()),
            live: AtomicBool::new(live),
            generation: AtomicU64::new(0),
            clock,
            ttl,
        }
    }

    /// The generation to hand back with what a database read returned.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    fn fresh<T>(&self, t: &Timed<T>) -> bool {
        self.clock.now() - t.fetched < self.ttl
    }

    pub fn token(&self, family: FamilyId, jti: &str) -> Option<TokenState> {
        if !self.live.load(Ordering::SeqCst) {
            return None;
        }
        let map = self.tokens.read().ok()?;
        let hit = map.get(&(family, jti.to_owned()))?;
        self.fresh(hit).then(|| hit.value.clone())
    }

    pub fn put_token(
        &self,
        generation: u64,
        family: FamilyId,
        jti: &str,
        user: UserId,
        state: &TokenState,
    ) {
        self.put(
            &self.tokens,
            generation,
            (family, jti.to_owned()),
            user,
            state.clone(),
        );
    }

    pub fn memberships(&self, user: UserId) -> Option<Arc<Vec<Membership>>> {
        if !self.live.load(Ordering::SeqCst) {
            return None;
        }
        let map = self.memberships.read().ok()?;
        let hit = map.get(&user)?;
        self.fresh(hit).then(|| hit.value.clone())
    }

    pub fn put_memberships(&self, generation: u64, user: UserId, list: Arc<Vec<Membership>>) {
        self.put(&self.memberships, generation, user, user, list);
    }

    /// `user`'s memberships: from the cache, else read from `store` (and kept when no change
    /// raced the read). Without a cache, straight from the store.
    pub async fn memberships_of(
        cache: Option<&Self>,
        store: &dyn Store,
        user: UserId,
    ) -> Result<Arc<Vec<Membership>>> {
        let Some(cache) = cache else {
            return Ok(Arc::new(store.memberships(user).await?));
        };
        if let Some(hit) = cache.memberships(user) {
            return Ok(hit);
        }
        let generation = cache.generation();
        let list = Arc::new(store.memberships(user).await?);
        cache.put_memberships(generation, user, list.clone());
        Ok(list)
    }

    fn put<K: std::hash::Hash + Eq, V>(
        &self,
        map: &RwLock<HashMap<K, Timed<V>>>,
        generation: u64,
        key: K,
        user: UserId,
        value: V,
    ) {
        if !self.live.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut map) = map.write() else {
            return;
        };
        // Checked under the write lock: an invalidation takes it too before it moves on.
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if map.len() >= USER_CACHE_CAPACITY {
            map.clear();
        }
        let fetched = self.clock.now();
        map.insert(
            key,
            Timed {
                value,
                user,
                fetched,
            },
        );
    }

    /// Forgets everything about `user`.
    pub fn forget_user(&self, user: UserId) {
        let (Ok(mut tokens), Ok(mut memberships)) = (self.tokens.write(), self.memberships.write())
        else {
            return;
        };
        self.generation.fetch_add(1, Ordering::SeqCst);
        tokens.retain(|_, t| t.user != user);
        memberships.remove(&user);
    }

    fn forget_jti(&self, jti: &str) {
        if let Ok(mut tokens) = self.tokens.write() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            tokens.retain(|(_, j), _| j != jti);
        }
    }

    pub fn clear(&self) {
        let (Ok(mut tokens), Ok(mut memberships)) = (self.tokens.write(), self.memberships.write())
        else {
            return;
        };
        self.generation.fetch_add(1, Ordering::SeqCst);
        tokens.clear();
        memberships.clear();
    }
}

impl ChangeSink for UserCache {
    fn feed_live(&self, live: bool) {
        self.clear();
        self.live.store(live, Ordering::SeqCst);
    }

    fn changed(&self, change: Change) {
        match change {
            Change::User(user) => self.forget_user(user),
            Change::Jti(jti) => self.forget_jti(&jti),
            // An org renamed or deleted: memberships name it.
            Change::AllUsers | Change::AllKeys => self.clear(),
            Change::ApiKey(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn state(revoked: bool) -> TokenState {
        TokenState {
            family_revoked: revoked,
            jti_revoked: false,
            user: None,
        }
    }

    fn cache(live: bool) -> (UserCache, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(OffsetDateTime::UNIX_EPOCH));
        (
            UserCache::new(live, clock.clone(), Duration::from_secs(60)),
            clock,
        )
    }

    #[test]
    fn hits_until_the_user_changes_or_the_entry_ages() {
        let (c, clock) = cache(true);
        let (user, other, family) = (UserId::new(), UserId::new(), FamilyId::new());
        c.put_token(c.generation(), family, "j1", user, &state(false));
        c.put_memberships(c.generation(), user, Arc::new(Vec::new()));
        assert!(c.token(family, "j1").is_some() && c.memberships(user).is_some());
        c.changed(Change::User(other));
        assert!(
            c.token(family, "j1").is_some(),
            "another user's change keeps it"
        );
        c.changed(Change::User(user));
        assert!(c.token(family, "j1").is_none() && c.memberships(user).is_none());

        c.put_token(c.generation(), family, "j1", user, &state(false));
        c.changed(Change::Jti("j1".into()));
        assert!(c.token(family, "j1").is_none());

        c.put_token(c.generation(), family, "j2", user, &state(false));
        clock.advance(Duration::from_secs(59));
        assert!(c.token(family, "j2").is_some());
        clock.advance(Duration::from_secs(1));
        assert!(c.token(family, "j2").is_none(), "aged out at the TTL");
    }

    #[test]
    fn a_read_that_raced_a_change_is_not_kept() {
        let (c, _) = cache(true);
        let (user, family) = (UserId::new(), FamilyId::new());
        let before = c.generation();
        c.changed(Change::User(user));
        c.put_token(before, family, "j", user, &state(false));
        assert!(c.token(family, "j").is_none());
    }

    #[test]
    fn a_lost_feed_clears_and_bypasses() {
        let (c, _) = cache(false);
        let (user, family) = (UserId::new(), FamilyId::new());
        c.put_token(c.generation(), family, "j", user, &state(false));
        assert!(c.token(family, "j").is_none(), "not live: nothing kept");
        c.feed_live(true);
        c.put_token(c.generation(), family, "j", user, &state(false));
        assert!(c.token(family, "j").is_some());
        c.feed_live(false);
        assert!(c.token(family, "j").is_none());
        c.feed_live(true);
        assert!(
            c.token(family, "j").is_none(),
            "what was held before the loss is gone"
        );
        c.put_memberships(c.generation(), user, Arc::new(Vec::new()));
        c.changed(Change::AllUsers);
        assert!(c.memberships(user).is_none());
    }
}
