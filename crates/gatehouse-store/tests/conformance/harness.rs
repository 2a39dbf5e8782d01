//! A fresh, migrated database per test, on either backend, and the `conformance!` macro that
//! declares each test once per backend.

use std::sync::Arc;

use gatehouse_core::store::Store;
use gatehouse_store::{Backend, Opened};
use sqlx::Connection;
use time::OffsetDateTime;

/// The PostgreSQL server the suite uses (trust auth); `TEST_POSTGRES_URL` overrides.
pub(crate) fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// One test's database; dropped with the test.
pub(crate) struct Fresh {
    pub store: Arc<dyn Store>,
    pub opened: Opened,
    pub url: String,
    _dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl Fresh {
    /// `None` (with a visible message) when PostgreSQL is unreachable and CI is not set.
    pub(crate) async fn new(backend: Backend) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (url, pg_name) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("conformance.db").display()),
                None,
            ),
            Backend::Postgres => {
                let admin_url = pg_admin_url();
                let mut admin = match sqlx::PgConnection::connect(&admin_url).await {
                    Ok(c) => c,
                    Err(e) => {
                        if std::env::var("CI").as_deref() == Ok("true") {
                            panic!("PostgreSQL is required when CI=true: {e}");
                        }
                        eprintln!("SKIPPED (PostgreSQL not reachable at {admin_url}): {e}");
                        return None;
                    }
                };
                let name = format!("gh_conf_{}", uuid::Uuid::now_v7().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create database");
                let base = admin_url
                    .rsplit_once('/')
                    .map(|(b, _)| b)
                    .unwrap_or(&admin_url);
                (format!("{base}/{name}"), Some(name))
            }
        };
        gatehouse_store::migrate(&url).await.expect("migrate");
        let opened = gatehouse_store::open(&url).await.expect("open");
        Some(Self {
            store: opened.store.clone(),
            opened,
            url,
            _dir: dir,
            pg_name,
        })
    }
}

impl Fresh {
    /// Runs one statement directly (as the test's privileged user), behind the store's back:
    /// for states no port writes (a disabled user).
    pub(crate) async fn exec(&self, sql: &str) {
        if self.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.url)
                .await
                .expect("sqlite");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut c)
                .await
                .expect("exec");
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.expect("pg");
            sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                .execute(&mut c)
                .await
                .expect("exec");
        }
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let url = pg_admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                            .execute(&mut c)
                            .await;
                        // Roles are cluster-wide: the database's application role goes too.
                        let sql = format!("DROP ROLE IF EXISTS gatehouse_app_{name}");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                            .execute(&mut c)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Whole seconds, as storage keeps them.
pub(crate) fn at(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + secs).expect("time")
}

/// Declares `NAME::sqlite` and `NAME::postgres` for `async fn NAME(f: Fresh)`.
#[macro_export]
macro_rules! conformance {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                if let Some(f) = $crate::harness::Fresh::new(gatehouse_store::Backend::Sqlite).await {
                    super::$name(f).await
                }
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(f) = $crate::harness::Fresh::new(gatehouse_store::Backend::Postgres).await {
                    super::$name(f).await
                }
            }
        }
    )* };
}
