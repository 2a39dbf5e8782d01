//! Readiness (`GET /readyz`): one database round trip within a deadline, and nothing else of
//! the store, so the HTTP layer needs no handle on the store to ask.

use std::sync::Arc;
use std::time::Duration;

use crate::store::Store;
use crate::{Error, Result};

/// The one question the readiness probe asks the database.
pub struct Readiness {
    store: Arc<dyn Store>,
    deadline: Duration,
}

impl Readiness {
    pub fn new(store: Arc<dyn Store>, deadline: Duration) -> Self {
        Self { store, deadline }
    }

    /// `Ok` when the database answered within the deadline; `Unavailable` otherwise.
    pub async fn check(&self) -> Result<()> {
        match tokio::time::timeout(self.deadline, self.store.ping()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Unavailable(format!("readiness: {e}"))),
            Err(_) => Err(Error::Unavailable(format!(
                "readiness: database did not answer in {}s",
                self.deadline.as_secs()
            ))),
        }
    }
}
