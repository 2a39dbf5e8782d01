//! The storage ports on PostgreSQL. Migrations run as the owner (`gatehouse migrate
//! --database-url <owner URL>`); the pool's queries run as the database's own restricted role,
//! `gatehouse_app_<database>` (`SET ROLE` on every new connection).

use std::str::FromStr;
use std::time::Duration;

use gatehouse_core::store::RoleReport;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgQueryResult};
use sqlx::{AssertSqlSafe, Connection, Postgres};

use crate::dialect::{Dialect, Tx};
use crate::hot_reads::PING_WHEN_IDLE_FOR;
use crate::rows::db_err;
use crate::sql_store::SqlStore;
use crate::{OpenError, RoleStatus};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The application role of the database named `database`: `gatehouse_app_<database>`, one per
/// database so that deployments sharing a cluster cannot reach each other's tables.
#[must_use]
pub fn app_role(database: &str) -> String {
    format!("gatehouse_app_{database}")
}

/// `name` as a quoted SQL identifier.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The channel on which changed API keys are announced (payload: the key's public id; empty:
/// a heartbeat).
pub const KEY_CHANNEL: &str = "gatehouse_api_keys";

/// PostgreSQL as a [`Dialect`].
#[derive(Debug, Clone, Copy)]
pub struct PgDialect;

/// The storage ports on PostgreSQL.
pub type PgStore = SqlStore<PgDialect>;

fn options(url: &str) -> Result<PgConnectOptions, OpenError> {
    PgConnectOptions::from_str(url).map_err(|e| OpenError::Connect(e.to_string()))
}

pub async fn migrate(url: &str) -> Result<(), OpenError> {
    let mut conn = PgConnection::connect_with(&options(url)?)
        .await
        .map_err(|e| OpenError::Connect(e.to_string()))?;
    MIGRATOR
        .run(&mut conn)
        .await
        .map_err(|e| OpenError::Migrate(e.to_string()))?;
    // Rights that migrations granted to the shared `gatehouse_app` move to this database's role.
    sqlx::query("SELECT gatehouse_move_app_grants()")
        .execute(&mut conn)
        .await
        .map_err(|e| OpenError::Migrate(e.to_string()))?;
    conn.close()
        .await
        .map_err(|e| OpenError::Connect(e.to_string()))
}

/// How many of this binary's migrations the database at `url` has not applied (all of them
/// when it has none).
pub async fn pending_migrations(url: &str) -> Result<usize, OpenError> {
    let connect = |e: sqlx::Error| OpenError::Connect(e.to_string());
    let mut conn = PgConnection::connect_with(&options(url)?)
        .await
        .map_err(connect)?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(&mut conn)
            .await
            .unwrap_or_default();
    conn.close().await.map_err(connect)?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .count())
}

/// What the configured login role is, what it could become, and whether it steps down to the
/// application role. Membership counts: a role that can `SET ROLE` to a superuser, a BYPASSRLS
/// role or the tables' owner can undo the step down with `RESET ROLE`.
async fn probe_role(url: &str) -> Result<RoleStatus, OpenError> {
    let connect = |e: sqlx::Error| OpenError::Connect(e.to_string());
    let mut conn = PgConnection::connect_with(&options(url)?)
        .await
        .map_err(connect)?;
    let (session_user, database, superuser, bypass_rls, owns_tables): (String, String, bool, bool, bool) =
        sqlx::query_as(
            "SELECT session_user::text, current_database()::text, \
               EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolsuper AND pg_has_role(session_user, r.oid, 'MEMBER')), \
               EXISTS (SELECT 1 FROM pg_roles r WHERE r.rolbypassrls AND pg_has_role(session_user, r.oid, 'MEMBER')), \
               EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                       WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'v', 'm', 'S') \
                         AND pg_has_role(session_user, c.relowner, 'MEMBER')) \
               OR EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = current_schema() \
                          AND pg_has_role(session_user, n.nspowner, 'MEMBER'))",
        )
        .fetch_one(&mut conn)
        .await
        .map_err(connect)?;
    let app_role = app_role(&database);
    let restricted = sqlx::query(AssertSqlSafe(format!("SET ROLE {}", quoted(&app_role))))
        .execute(&mut conn)
        .await
        .is_ok();
    conn.close().await.map_err(connect)?;
    Ok(RoleStatus {
        session_user,
        superuser,
        bypass_rls,
        owns_tables,
        app_role,
        restricted,
    })
}

impl PgStore {
    /// Opens the pool. When the role cannot step down, the pool runs as the configured user and
    /// the caller decides (production refuses a privileged one).
    pub async fn open(url: &str) -> Result<(Self, RoleStatus), OpenError> {
        let role = probe_role(url).await?;
        let mut pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3))
            // sqlx pings every connection it hands out by default: one more round trip on every
            // query. A connection back in the pool for less than a second was just working, so
            // only one idle for longer is pinged (a restarted server's dead ones are dropped).
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            });
        if role.restricted {
            let set_role = format!("SET ROLE {}", quoted(&role.app_role));
            pool = pool.after_connect(move |conn, _meta| {
                let set_role = set_role.clone();
                Box::pin(async move {
                    sqlx::query(AssertSqlSafe(set_role))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_lazy_with(options(url)?);
        Ok((Self::new(pool), role))
    }
}

impl Dialect for PgDialect {
    type Db = Postgres;

    const BEGIN_WRITE: &'static str = "BEGIN";
    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const SCOPED_READS_NEED_TX: bool = true;
    const HOT_READ_CONNECTIONS: usize = 8;
    const MAX_FN: &'static str = "GREATEST";

    fn rows_affected(done: &PgQueryResult) -> u64 {
        done.rows_affected()
    }

    /// `set_config(setting, value, true)`: lasts until the transaction ends; the row-level
    /// security policies read it with `current_setting(setting, true)`.
    async fn set_local(
        tx: &mut Tx<Self>,
        setting: &str,
        value: &str,
    ) -> gatehouse_core::Result<()> {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(setting)
            .bind(value)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// `BEGIN` and the setting in one simple-query message (one round trip instead of two: an
    /// org-scoped read is then three, with its statement and `COMMIT`). Only a setting and value
    /// made of `[a-z0-9._-]` (names and ids gatehouse writes) are spelled into the message;
    /// anything else takes the two-statement way with bound parameters.
    async fn begin_scoped(
        pool: &PgPool,
        _write: bool,
        setting: &str,
        value: &str,
    ) -> gatehouse_core::Result<Tx<Self>> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        };
        if plain(setting) && plain(value) {
            let begin = format!("BEGIN; SELECT set_config('{setting}', '{value}', true)");
            return pool.begin_with(AssertSqlSafe(begin)).await.map_err(db_err);
        }
        let mut tx = pool.begin().await.map_err(db_err)?;
        Self::set_local(&mut tx, setting, value).await?;
        Ok(tx)
    }

    /// Announces a changed key on [`KEY_CHANNEL`]; delivered to listeners at commit.
    async fn notify_key_change(tx: &mut Tx<Self>, public_id: &str) -> gatehouse_core::Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(KEY_CHANNEL)
            .bind(public_id)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    async fn role_report(pool: &PgPool) -> gatehouse_core::Result<Option<RoleReport>> {
        let (session_user, current_user, superuser, bypass_rls): (String, String, bool, bool) = sqlx::query_as(
            "SELECT session_user::text, current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(pool)
        .await
        .map_err(db_err)?;
        let org_tables: Vec<(String, bool, bool)> = sqlx::query_as(
            "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND EXISTS ( \
               SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped) \
             ORDER BY 1",
        )
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        Ok(Some(RoleReport {
            session_user,
            current_user,
            superuser,
            bypass_rls,
            org_tables,
        }))
    }
}
