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
        Ok(Some(gatehouse_core::store::RoleReport {
            session_user,
            current_user,
            superuser,
            bypass_rls,
        }))
    }
}

crate::ports::impl_ports!(PgStore, sqlx::Postgres, "BEGIN");
