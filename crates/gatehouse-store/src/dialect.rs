//! The backend contract: what differs between SQLite and PostgreSQL, as one trait each backend
//! implements. The SQL of the ports is written once over it (`SqlStore<D: Dialect>`).

use std::future::Future;

use gatehouse_core::Result;
use gatehouse_core::store::RoleReport;
use sqlx::{Database, Pool, Transaction};

/// A row of `D`'s database.
pub type DbRow<D> = <<D as Dialect>::Db as Database>::Row;

/// An open transaction on `D`'s database.
pub type Tx<D> = Transaction<'static, <D as Dialect>::Db>;

/// One database backend.
pub trait Dialect: Send + Sync + Sized + 'static {
    /// The sqlx driver.
    type Db: Database;

    /// The statement that opens a write transaction (`BEGIN IMMEDIATE` on SQLite, which
    /// serializes writers; `BEGIN` on PostgreSQL).
    const BEGIN_WRITE: &'static str;
    /// The row-lock suffix of a `SELECT` (empty where writers are serialized anyway).
    const FOR_UPDATE: &'static str;
    /// Whether a one-statement read scoped to an org needs its own transaction (PostgreSQL:
    /// the row-level-security setting is per transaction; SQLite: a bare statement is already
    /// consistent, and skipping `BEGIN`/`COMMIT` saves two trips to the driver's thread).
    const SCOPED_READS_NEED_TX: bool;
    /// How many connections the hottest one-statement reads keep beside the pool.
    const HOT_READ_CONNECTIONS: usize;
    /// The two-argument maximum (`MAX` in SQLite, `GREATEST` in PostgreSQL).
    const MAX_FN: &'static str;

    /// How many rows a statement touched.
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;

    /// A per-transaction setting (read by PostgreSQL's row-level security policies; nothing on
    /// SQLite).
    fn set_local(
        tx: &mut Tx<Self>,
        setting: &str,
        value: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// A transaction (a writer's when `write`) with `setting` set to `value` for its length.
    /// The default opens it, then sets the value (two statements).
    #[must_use]
    fn begin_scoped(
        pool: &Pool<Self::Db>,
        write: bool,
        setting: &str,
        value: &str,
    ) -> impl Future<Output = Result<Tx<Self>>> + Send {
        async move {
            let mut tx = if write {
                pool.begin_with(Self::BEGIN_WRITE).await
            } else {
                pool.begin().await
            }
            .map_err(crate::rows::db_err)?;
            Self::set_local(&mut tx, setting, value).await?;
            Ok(tx)
        }
    }

    /// Tells every instance, at commit, that the API key `public_id` (or every key, for `*`)
    /// changed.
    fn notify_key_change(
        tx: &mut Tx<Self>,
        public_id: &str,
    ) -> impl Future<Output = Result<()>> + Send;

    /// How the pool's role stands (PostgreSQL only).
    fn role_report(
        pool: &Pool<Self::Db>,
    ) -> impl Future<Output = Result<Option<RoleReport>>> + Send;
}
