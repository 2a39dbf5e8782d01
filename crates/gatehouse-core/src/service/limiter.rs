//! The rate limiter as the server uses it: one `check` per request, on the memory backend (one
//! instance) or the database backend (shared by every instance, one atomic statement per
//! decision). A backend that cannot answer is an error, and the caller fails closed.

use std::sync::Arc;

use crate::Result;
use crate::clock::Clock;
use crate::rate_limit::{Decision, Limit, MemoryLimiter, decision_after};
use crate::store::Store;

pub enum Backend {
    Memory(MemoryLimiter),
    Database(Arc<dyn Store>),
}

pub struct RateLimiter {
    backend: Backend,
    clock: Arc<dyn Clock>,
}

impl RateLimiter {
    pub fn new(backend: Backend, clock: Arc<dyn Clock>) -> Self {
        Self { backend, clock }
    }

    #[must_use]
    pub fn now_us(&self) -> i64 {
        (self.clock.now().unix_timestamp_nanos() / 1_000) as i64
    }

    #[must_use]
    pub fn now_ms(&self) -> i64 {
        self.now_us() / 1_000
    }

    /// Counts one request against `key`'s `limit`.
    pub async fn check(&self, key: &str, limit: Limit) -> Result<Decision> {
        let now = self.now_us();
        match &self.backend {
            Backend::Memory(m) => Ok(m.check(key, now, limit)),
            Backend::Database(store) => {
                let (tat, admitted) = store
                    .rate_limit(key, now, limit.interval_us(), limit.period_us())
                    .await?;
                Ok(decision_after(tat, admitted, now, limit))
            }
        }
    }

    /// Drops state that no longer limits anything (database backend).
    pub async fn sweep(&self) -> Result<u64> {
        match &self.backend {
            Backend::Memory(_) => Ok(0),
            Backend::Database(store) => store.sweep_rate_limits(self.now_us()).await,
        }
    }
}
