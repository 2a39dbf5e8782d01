//! The change feed port: how a store tells every instance's caches that something they may hold
//! has changed (an API key revoked or deleted, an org renamed or deleted, a user's credentials
//! or memberships), wherever it committed. The store publishes; a [`ChangeSink`] (the API key
//! cache, the user state cache) subscribes; [`FanOut`] hands one feed to several.

use std::sync::Arc;

use crate::ids::UserId;

/// A committed change a cache must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The API key with this public id was revoked or deleted.
    ApiKey(String),
    /// Any API key may have changed (an org renamed or deleted).
    AllKeys,
    /// A user's credential state (token families, logout-all, password, disabled) or
    /// memberships changed.
    User(UserId),
    /// This access token id was revoked.
    Jti(String),
    /// Any user's memberships may have changed (an org deleted).
    AllUsers,
}

/// One feed, several sinks.
pub struct FanOut(pub Vec<Arc<dyn ChangeSink>>);

impl ChangeSink for FanOut {
    fn feed_live(&self, live: bool) {
        for sink in &self.0 {
            sink.feed_live(live);
        }
    }

    fn changed(&self, change: Change) {
        for sink in &self.0 {
            sink.changed(change.clone());
        }
    }
}

/// What subscribes to a store's change feed.
pub trait ChangeSink: Send + Sync {
    /// The feed is listening (`true`) or lost (`false`): while it is lost a missed change may
    /// exist, so the sink must not trust what it holds.
    fn feed_live(&self, live: bool);

    /// A change committed somewhere.
    fn changed(&self, change: Change);
}
