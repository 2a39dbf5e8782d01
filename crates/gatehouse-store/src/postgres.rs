//! The storage ports on PostgreSQL. Migrations run as the configured user; the pool's queries
//! run as the restricted `gatehouse_app` role (`SET ROLE` on every new connection).

use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::{OpenError, RoleStatus};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The role the server's queries run as.
pub const APP_ROLE: &str = "gatehouse_app";

/// The channel on which changed API keys are announced (payload: the key's public id; empty:
/// a heartbeat).
pub const KEY_CHANNEL: &str = "gatehouse_api_keys";

pub struct PgStore {
    pool: PgPool,
}

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
    conn.close()
        .await
        .map_err(|e| OpenError::Connect(e.to_string()))
}

/// What the configured user is, and whether it can step down to `gatehouse_app`.
async fn probe_role(url: &str) -> Result<RoleStatus, OpenError> {
    let connect = |e: sqlx::Error| OpenError::Connect(e.to_string());
    let mut conn = PgConnection::connect_with(&options(url)?)
        .await
        .map_err(connect)?;
    let (session_user, superuser, bypass_rls): (String, bool, bool) = sqlx::query_as(
        "SELECT session_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = session_user",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(connect)?;
    let restricted = sqlx::query(&format!("SET ROLE {APP_ROLE}"))
        .execute(&mut conn)
        .await
        .is_ok();
    conn.close().await.map_err(connect)?;
    Ok(RoleStatus {
        session_user,
        superuser,
        bypass_rls,
        restricted,
    })
}

impl PgStore {
    /// Opens the pool. When the role cannot step down, the pool runs as the configured user and
    /// the caller decides (production refuses a privileged one).
    pub async fn open(url: &str) -> Result<(PgStore, RoleStatus), OpenError> {
        let role = probe_role(url).await?;
        let mut pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(3));
        if role.restricted {
            pool = pool.after_connect(|conn, _meta| {
                Box::pin(async move {
                    sqlx::query(&format!("SET ROLE {APP_ROLE}"))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool.connect_lazy_with(options(url)?);
        Ok((PgStore { pool }, role))
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn backend_role_report(
        &self,
    ) -> gatehouse_core::Result<Option<gatehouse_core::store::RoleReport>> {
        let (session_user, current_user, superuser, bypass_rls): (String, String, bool, bool) = sqlx::query_as(
            "SELECT session_user::text, current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(crate::rows::db_err)?;
        let org_tables: Vec<(String, bool, bool)> = sqlx::query_as(
            "SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND EXISTS ( \
               SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped) \
             ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(crate::rows::db_err)?;
        Ok(Some(gatehouse_core::store::RoleReport {
            session_user,
            current_user,
            superuser,
            bypass_rls,
            org_tables,
        }))
    }

    const FOR_UPDATE: &'static str = " FOR UPDATE";
    const MAX_FN: &'static str = "GREATEST";

    /// `set_config(setting, value, true)`: lasts until the transaction ends; the row-level
    /// security policies read it with `current_setting(setting, true)`.
    async fn set_local(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        setting: &str,
        value: &str,
    ) -> gatehouse_core::Result<()> {
        sqlx::query("SELECT set_config($1, $2, true)")
            .bind(setting)
            .bind(value)
            .execute(&mut **tx)
            .await
            .map_err(crate::rows::db_err)?;
        Ok(())
    }

    /// Announces a changed key on [`KEY_CHANNEL`]; delivered to listeners at commit.
    async fn notify_key_change(
        tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
        public_id: &str,
    ) -> gatehouse_core::Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(KEY_CHANNEL)
            .bind(public_id)
            .execute(&mut **tx)
            .await
            .map_err(crate::rows::db_err)?;
        Ok(())
    }
}

crate::ports::impl_ports!(PgStore, sqlx::Postgres, "BEGIN");
