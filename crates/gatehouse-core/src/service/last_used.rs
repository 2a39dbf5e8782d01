//! The last-used writer: one background loop that records when API keys were used, fed by a
//! bounded queue so that verifying a key never waits on the database (a full queue drops the
//! note: `last_used_at` is advisory, written at most once a minute per key anyway).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::store::{ApiKey, Store};

/// Notes waiting to be written; beyond this they are dropped.
const QUEUE: usize = 1024;
/// One write may take this long before it is given up (and logged).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where verification drops "this key was used at" notes; cheap to clone.
#[derive(Clone)]
pub struct LastUsedQueue {
    notes: mpsc::Sender<(Arc<ApiKey>, OffsetDateTime)>,
}

impl LastUsedQueue {
    /// Queues a write of `key`'s `last_used_at`; never waits.
    pub fn note(&self, key: Arc<ApiKey>, at: OffsetDateTime) {
        if self.notes.try_send((key, at)).is_err() {
            tracing::debug!("last-used queue full or stopped; note dropped");
        }
    }
}

/// The queue and the loop that drains it into `store` (the caller runs the loop: the server
/// under its supervisor). The loop ends when every queue handle is dropped.
pub fn writer(store: Arc<dyn Store>) -> (LastUsedQueue, impl Future<Output = ()> + Send) {
    let (notes, mut queue) = mpsc::channel::<(Arc<ApiKey>, OffsetDateTime)>(QUEUE);
    let run = async move {
        while let Some((key, at)) = queue.recv().await {
            let write = store.touch_api_key(key.org_id, key.id, at);
            match tokio::time::timeout(WRITE_TIMEOUT, write).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::warn!(key_id = %key.id, error = %e, "recording API key use failed")
                }
                Err(_) => tracing::warn!(key_id = %key.id, "recording API key use timed out"),
            }
        }
    };
    (LastUsedQueue { notes }, run)
}
