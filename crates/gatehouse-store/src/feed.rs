//! The API key change feed on PostgreSQL: every instance LISTENs on [`KEY_CHANNEL`] and drops a
//! key from its cache the moment a revocation or deletion commits anywhere. A heartbeat sent
//! through the pool every second proves the feed alive; when it goes quiet, or the listening
//! connection drops, the cache is cleared and bypassed (every key read from the database) until
//! the feed is back, so a missed notification can never keep a revoked key working. Payloads:
//! a key's public id; `*` for every key (an org renamed or deleted); empty for the heartbeat.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::service::KeyCache;
use sqlx::postgres::{PgListener, PgPool};

use crate::postgres::KEY_CHANNEL;

const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
const SILENCE_LIMIT: Duration = Duration::from_secs(3);
const RETRY_AFTER: Duration = Duration::from_millis(500);

/// Starts the listener and the heartbeat; they run until the process ends.
pub fn spawn_key_feed(pool: PgPool, url: String, cache: Arc<KeyCache>) {
    let heartbeat_pool = pool.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
        loop {
            tick.tick().await;
            let beat = sqlx::query("SELECT pg_notify($1, '')")
                .bind(KEY_CHANNEL)
                .execute(&heartbeat_pool);
            if let Ok(Err(e)) = tokio::time::timeout(HEARTBEAT_EVERY, beat).await {
                tracing::debug!(error = %e, "key feed heartbeat failed");
            }
        }
    });
    tokio::spawn(async move {
        loop {
            match listen(&url).await {
                Ok(mut listener) => {
                    cache.set_live(true);
                    tracing::info!("API key change feed listening");
                    follow(&mut listener, &cache).await;
                    cache.set_live(false);
                    tracing::warn!(
                        "API key change feed lost; keys are read from the database until it is back"
                    );
                }
                Err(e) => tracing::debug!(error = %e, "API key change feed cannot connect"),
            }
            tokio::time::sleep(RETRY_AFTER).await;
        }
    });
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(KEY_CHANNEL).await?;
    Ok(listener)
}

/// Applies notifications until the connection drops or the heartbeat goes silent.
async fn follow(listener: &mut PgListener, cache: &KeyCache) {
    loop {
        match tokio::time::timeout(SILENCE_LIMIT, listener.try_recv()).await {
            Ok(Ok(Some(notification))) => match notification.payload() {
                "" => {}
                crate::ports::ALL_KEYS => cache.clear(),
                public_id => cache.invalidate(public_id),
            },
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => return,
        }
    }
}
