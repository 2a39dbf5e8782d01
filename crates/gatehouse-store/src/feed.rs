//! The change feed on PostgreSQL: every instance LISTENs on [`KEY_CHANNEL`] and hands each change
//! committed anywhere (a revoked or deleted key, a renamed or deleted org) to its
//! [`ChangeSink`] the moment it commits. A heartbeat sent through the pool every second proves
//! the feed alive; when it goes quiet, or the listening connection drops, the sink hears that
//! the feed is lost until it is back, so a missed notification can never keep a revoked key
//! working. Payloads: a key's public id; `*` for every key; empty for the heartbeat.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::changes::ChangeSink;
use sqlx::postgres::{PgListener, PgPool};

use crate::postgres::KEY_CHANNEL;

const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
const SILENCE_LIMIT: Duration = Duration::from_secs(3);
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// The change feed of one PostgreSQL database, not yet started: [`run`](Self::run) it on the
/// runtime (it never ends).
pub struct ChangeFeed {
    pool: PgPool,
    url: String,
}

impl std::fmt::Debug for ChangeFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeFeed").finish_non_exhaustive()
    }
}

impl ChangeFeed {
    pub(crate) fn new(pool: PgPool, url: String) -> Self {
        Self { pool, url }
    }

    /// Sends the heartbeat and follows the channel, telling `sink` every change and whether the
    /// feed is live; reconnects when the connection drops. Runs until it is dropped.
    pub async fn run(self, sink: Arc<dyn ChangeSink>) {
        tokio::join!(
            heartbeat(&self.pool),
            follow_forever(&self.url, sink.as_ref())
        );
    }
}

/// A `pg_notify` with an empty payload every [`HEARTBEAT_EVERY`].
async fn heartbeat(pool: &PgPool) {
    let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tick.tick().await;
        let beat = sqlx::query("SELECT pg_notify($1, '')")
            .bind(KEY_CHANNEL)
            .execute(pool);
        if let Ok(Err(e)) = tokio::time::timeout(HEARTBEAT_EVERY, beat).await {
            tracing::debug!(error = %e, "key feed heartbeat failed");
        }
    }
}

async fn follow_forever(url: &str, sink: &dyn ChangeSink) {
    loop {
        match listen(url).await {
            Ok(mut listener) => {
                sink.feed_live(true);
                tracing::info!("API key change feed listening");
                follow(&mut listener, sink).await;
                sink.feed_live(false);
                tracing::warn!(
                    "API key change feed lost; keys are read from the database until it is back"
                );
            }
            Err(e) => tracing::debug!(error = %e, "API key change feed cannot connect"),
        }
        tokio::time::sleep(RETRY_AFTER).await;
    }
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(KEY_CHANNEL).await?;
    Ok(listener)
}

/// Applies notifications until the connection drops or the heartbeat goes silent.
async fn follow(listener: &mut PgListener, sink: &dyn ChangeSink) {
    loop {
        match tokio::time::timeout(SILENCE_LIMIT, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => {
                if let Some(change) = crate::sql_store::change_of(notification.payload()) {
                    sink.changed(change);
                }
            }
            Ok(Ok(None) | Err(_)) | Err(_) => return,
        }
    }
}
