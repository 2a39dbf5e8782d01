//! Commits by other processes on a SQLite database (a `gatehouse users disable` run beside the
//! server): SQLite has no notifications, so one dedicated connection polls `PRAGMA data_version`,
//! which moves whenever any other connection commits, and tells the sink "anything may have
//! changed" ([`Change::AllUsers`]). The server's own pool counts as other connections too, so its
//! writes clear the cache as well; that costs re-reads, never a stale answer. A connection that
//! cannot be opened or polled leaves the sink not live (bypassed) until it can.

use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::changes::{Change, ChangeSink};
use sqlx::{Connection, Row, SqliteConnection};

/// How often the version is read: what another process commits is seen within this.
pub const POLL_EVERY: Duration = Duration::from_millis(100);

/// The watch over one SQLite database, not yet started: [`run`](Self::run) it (it never ends).
pub struct SqliteWatch {
    url: String,
}

impl SqliteWatch {
    pub(crate) fn new(url: String) -> Self {
        Self { url }
    }

    /// Polls until dropped, telling `sink` of other connections' commits.
    pub async fn run(self, sink: Arc<dyn ChangeSink>) {
        loop {
            if let Ok(mut conn) = SqliteConnection::connect(&self.url).await {
                let mut seen = version(&mut conn).await;
                if seen.is_some() {
                    sink.feed_live(true);
                }
                while let Some(was) = seen {
                    tokio::time::sleep(POLL_EVERY).await;
                    let now = version(&mut conn).await;
                    if now != Some(was) {
                        sink.changed(Change::AllUsers);
                    }
                    seen = now;
                }
                sink.feed_live(false);
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

async fn version(conn: &mut SqliteConnection) -> Option<i64> {
    sqlx::query("PRAGMA data_version")
        .fetch_one(&mut *conn)
        .await
        .ok()
        .and_then(|r| r.try_get::<i64, _>(0).ok())
}
