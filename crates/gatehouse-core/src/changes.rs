//! The change feed port: how a store tells every instance's caches that something they may hold
//! has changed (an API key revoked or deleted, an org renamed or deleted), wherever it committed.
//! The store publishes; a [`ChangeSink`] (the API key cache) subscribes.

/// A committed change a cache must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The API key with this public id was revoked or deleted.
    ApiKey(String),
    /// Any API key may have changed (an org renamed or deleted).
    AllKeys,
}

/// What subscribes to a store's change feed.
pub trait ChangeSink: Send + Sync {
    /// The feed is listening (`true`) or lost (`false`): while it is lost a missed change may
    /// exist, so the sink must not trust what it holds.
    fn feed_live(&self, live: bool);

    /// A change committed somewhere.
    fn changed(&self, change: Change);
}
