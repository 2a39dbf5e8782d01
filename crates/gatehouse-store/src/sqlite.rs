//! The storage ports on SQLite: WAL, `synchronous=FULL` (an acknowledged write survives a crash),
//! foreign keys on, write transactions opened with `BEGIN IMMEDIATE`.

use std::str::FromStr;
use std::time::Duration;

use gatehouse_core::store::RoleReport;
use sqlx::Sqlite;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteQueryResult,
    SqliteSynchronous,
};

use crate::OpenError;
use crate::dialect::{Dialect, Tx};
use crate::sql_store::SqlStore;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// SQLite as a [`Dialect`].
#[derive(Debug, Clone, Copy)]
pub struct SqliteDialect;

/// The storage ports on SQLite.
pub type SqliteStore = SqlStore<SqliteDialect>;

fn options(url: &str) -> Result<SqliteConnectOptions, OpenError> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| OpenError::Connect(e.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5)))
}

/// Creates the database file readable by its owner only (it holds password hashes and sealed
/// keys); SQLite gives its `-wal` and `-shm` files the same mode.
fn create_private(url: &str) -> Result<(), OpenError> {
    use std::os::unix::fs::OpenOptionsExt;
    let Some(path) = crate::sqlite_path(url) else {
        return Ok(());
    };
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| OpenError::Connect(format!("{}: {e}", dir.display())))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map(|_| ())
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(e)
            }
        })
        .map_err(|e| OpenError::Connect(format!("{}: {e}", path.display())))
}

pub async fn migrate(url: &str) -> Result<(), OpenError> {
    create_private(url)?;
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options(url)?)
        .await
        .map_err(|e| OpenError::Connect(e.to_string()))?;
    MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| OpenError::Migrate(e.to_string()))?;
    pool.close().await;
    Ok(())
}

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self, OpenError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(5))
            // An in-process database has no connection that breaks while idle; the ping would be
            // one more round trip to the connection's worker thread on every acquire.
            .test_before_acquire(false)
            .connect_with(options(url)?)
            .await
            .map_err(|e| OpenError::Connect(e.to_string()))?;
        Ok(Self::new(pool))
    }
}

impl Dialect for SqliteDialect {
    type Db = Sqlite;

    /// SQLite serializes writers: taking the write lock at `BEGIN` means a transaction never
    /// fails to upgrade halfway.
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    /// SQLite has no row locks (writers are serialized by `BEGIN IMMEDIATE`).
    const FOR_UPDATE: &'static str = "";
    const SCOPED_READS_NEED_TX: bool = false;
    const HOT_READ_CONNECTIONS: usize = 4;
    /// The two-argument maximum (`MAX(a, b)` is scalar in SQLite).
    const MAX_FN: &'static str = "MAX";

    fn rows_affected(done: &SqliteQueryResult) -> u64 {
        done.rows_affected()
    }

    /// SQLite has no row-level security: isolation rests on every query's `org_id` filter.
    async fn set_local(
        _tx: &mut Tx<Self>,
        _setting: &str,
        _value: &str,
    ) -> gatehouse_core::Result<()> {
        Ok(())
    }

    /// One process owns a SQLite database, so the local cache invalidation is the whole story.
    async fn notify_key_change(_tx: &mut Tx<Self>, _public_id: &str) -> gatehouse_core::Result<()> {
        Ok(())
    }

    async fn role_report(_pool: &SqlitePool) -> gatehouse_core::Result<Option<RoleReport>> {
        Ok(None)
    }
}
