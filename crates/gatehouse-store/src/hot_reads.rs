//! Connections for the hottest one-statement reads (a permission check, a vault read), kept
//! beside sqlx's pool. sqlx pings every connection on its way back to its pool, one more round
//! trip per query; a connection here goes back only once its statement has finished cleanly, and
//! is pinged only after sitting idle for a while. A statement that failed or was cancelled midway
//! (its request dropped) takes its connection with it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use gatehouse_core::{Error, Result};
use sqlx::{Connection, Database, Pool};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::rows::db_err;

/// How long a connection may sit idle before it is pinged on its way out.
pub(crate) const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);
/// How long a read waits for one of the connections before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// At most `size` connections, taken from (and opened through) `pool`, so each starts as the
/// pool's do (PostgreSQL: `SET ROLE` to the application role).
pub(crate) struct HotReads<DB: Database> {
    pool: Pool<DB>,
    permits: Semaphore,
    /// Most recently used last: the warm ones are taken first.
    idle: Mutex<Vec<(DB::Connection, Instant)>>,
}

/// One connection of [`HotReads`]; call [`HotConn::release`] after a clean statement.
/// Dropped without a release, its connection closes.
pub(crate) struct HotConn<'a, DB: Database> {
    conn: DB::Connection,
    home: &'a HotReads<DB>,
    _permit: SemaphorePermit<'a>,
}

impl<DB: Database> HotReads<DB> {
    pub(crate) fn new(pool: Pool<DB>, size: usize) -> Self {
        Self {
            pool,
            permits: Semaphore::new(size),
            idle: Mutex::new(Vec::with_capacity(size)),
        }
    }

    pub(crate) async fn acquire(&self) -> Result<HotConn<'_, DB>> {
        let permit = tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire())
            .await
            .map_err(|_| Error::Unavailable("database connections busy".into()))?
            .map_err(|_| Error::Unavailable("database closed".into()))?;
        let mut conn = None;
        while let Some((mut idle, since)) = self.take_idle() {
            if since.elapsed() < PING_WHEN_IDLE_FOR || idle.ping().await.is_ok() {
                conn = Some(idle);
                break;
            }
        }
        let conn = match conn {
            Some(conn) => conn,
            None => self.pool.acquire().await.map_err(db_err)?.detach(),
        };
        Ok(HotConn {
            conn,
            home: self,
            _permit: permit,
        })
    }

    fn take_idle(&self) -> Option<(DB::Connection, Instant)> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }
}

impl<DB: Database> HotConn<'_, DB> {
    pub(crate) fn conn(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }

    /// Returns the connection for the next read: its statement finished cleanly.
    pub(crate) fn release(self) {
        let Self {
            conn,
            home,
            _permit,
        } = self;
        home.idle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((conn, Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use sqlx::PgPool;

    use super::*;

    async fn backend_pid(hot: &mut HotConn<'_, sqlx::Postgres>) -> i32 {
        sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(hot.conn())
            .await
            .unwrap()
    }

    /// `None` where no PostgreSQL is reachable outside CI (as the conformance suite does).
    async fn pool() -> Option<PgPool> {
        let url = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        match PgPool::connect(&url).await {
            Ok(pool) => Some(pool),
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("skipped: no PostgreSQL at {url}: {e}");
                None
            }
            Err(e) => panic!("no PostgreSQL at {url}: {e}"),
        }
    }

    #[tokio::test]
    async fn a_released_connection_is_reused_and_a_failed_one_is_not() {
        let Some(pool) = pool().await else { return };
        let hot = HotReads::new(pool, 2);
        let mut first = hot.acquire().await.unwrap();
        let pid = backend_pid(&mut first).await;
        first.release();
        let mut again = hot.acquire().await.unwrap();
        assert_eq!(backend_pid(&mut again).await, pid, "released: reused");
        // A statement that fails (or a request dropped midway) takes its connection with it.
        let failed = sqlx::query("SELECT 1/0").execute(again.conn()).await;
        assert!(failed.is_err());
        drop(again);
        let mut fresh = hot.acquire().await.unwrap();
        assert_ne!(backend_pid(&mut fresh).await, pid, "dropped: not reused");
    }

    #[tokio::test]
    async fn reads_wait_for_a_connection_beyond_the_size() {
        let Some(pool) = pool().await else { return };
        let hot = HotReads::new(pool, 1);
        let held = hot.acquire().await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(50), hot.acquire()).await;
        assert!(
            waiting.is_err(),
            "a second read waits while the one is held"
        );
        held.release();
        assert!(hot.acquire().await.is_ok());
    }
}
