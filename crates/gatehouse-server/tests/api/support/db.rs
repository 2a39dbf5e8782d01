//! Test databases: a fresh SQLite file or PostgreSQL database per test, dropped afterwards.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Db {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests use (trust auth); `TEST_POSTGRES_URL` overrides.
pub(crate) fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn pg_url_for(db: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{db}")
}

/// `url` (a PostgreSQL URL) signing in as `user` instead (trust auth).
pub(crate) fn with_user(url: &str, user: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    format!("postgres://{user}@{host}")
}

/// A database that exists for one test.
pub(crate) struct TestDb {
    pub kind: Db,
    pub url: String,
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
    /// Login roles made for this test (cluster-wide: dropped with the database).
    roles: Mutex<Vec<String>>,
}

impl TestDb {
    /// `None` when PostgreSQL is not reachable and CI is not set (the test is skipped, loudly).
    pub(crate) async fn new(kind: Db) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        match kind {
            Db::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("gatehouse.db").display());
                Some(Self {
                    kind,
                    url,
                    dir,
                    pg_name: None,
                    roles: Mutex::default(),
                })
            }
            Db::Postgres => {
                let mut admin = match sqlx::PgConnection::connect(&pg_admin_url()).await {
                    Ok(c) => c,
                    Err(e) => {
                        if std::env::var("CI").as_deref() == Ok("true") {
                            panic!("PostgreSQL is required when CI=true: {e}");
                        }
                        eprintln!(
                            "SKIPPED (PostgreSQL not reachable at {}): {e}",
                            pg_admin_url()
                        );
                        return None;
                    }
                };
                let name = format!("gh_test_{}", uuid::Uuid::now_v7().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create db");
                Some(Self {
                    kind,
                    url: pg_url_for(&name),
                    dir,
                    pg_name: Some(name),
                    roles: Mutex::default(),
                })
            }
        }
    }

    /// The URL `serve` uses in production: on PostgreSQL the owner (the test's superuser)
    /// migrates, and the URL names a new login role that only holds the database's
    /// application role; on SQLite the database's own URL.
    pub(crate) async fn production_url(&self) -> String {
        let Some(name) = &self.pg_name else {
            return self.url.clone();
        };
        let (code, out, err) = run_cli(self, &[], &["migrate"], None);
        assert_eq!(code, 0, "{out}{err}");
        let login = format!("gh_login_{}", uuid::Uuid::now_v7().simple());
        let mut admin = sqlx::PgConnection::connect(&pg_admin_url())
            .await
            .expect("pg connect");
        for sql in [
            format!("CREATE ROLE {login} LOGIN"),
            format!("GRANT gatehouse_app_{name} TO {login}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut admin)
                .await
                .expect(&sql);
        }
        self.roles.lock().expect("lock").push(login.clone());
        with_user(&self.url, &login)
    }

    /// The URL with another host:port (to route through a proxy).
    pub(crate) fn url_via(&self, port: u16) -> String {
        self.url
            .replace("127.0.0.1:5432", &format!("127.0.0.1:{port}"))
    }

    /// Runs one SQL statement directly (as the test's privileged user), returning text rows.
    pub(crate) async fn query_strings(&self, sql: &str) -> Vec<String> {
        use sqlx::Row;
        match self.kind {
            Db::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("sqlite connect");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut c)
                    .await
                    .expect("query");
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0).unwrap_or_default())
                    .collect()
            }
            Db::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("pg connect");
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut c)
                    .await
                    .expect("query");
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0).unwrap_or_default())
                    .collect()
            }
        }
    }

    /// Every byte the database holds, as text (SQLite files; PostgreSQL: a dump of all tables).
    pub(crate) async fn everything(&self) -> String {
        match self.kind {
            Db::Sqlite => {
                let mut all = Vec::new();
                for entry in std::fs::read_dir(self.dir.path()).expect("read dir") {
                    let path = entry.expect("entry").path();
                    if path.to_string_lossy().contains("gatehouse.db") {
                        all.extend(std::fs::read(&path).unwrap_or_default());
                    }
                }
                String::from_utf8_lossy(&all).into_owned()
            }
            Db::Postgres => {
                let tables = self
                    .query_strings(
                        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                    )
                    .await;
                let mut all = String::new();
                for t in tables {
                    for row in self
                        .query_strings(&format!("SELECT row_to_json(x)::text FROM {t} x"))
                        .await
                    {
                        all.push_str(&row);
                        all.push('\n');
                    }
                }
                all
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = self.pg_name.take() {
            let url = pg_admin_url();
            let mut roles = std::mem::take(&mut *self.roles.lock().expect("lock"));
            roles.push(format!("gatehouse_app_{name}"));
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("rt");
                rt.block_on(async {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&url).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                        )))
                        .execute(&mut c)
                        .await;
                        for role in roles {
                            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                                "DROP ROLE IF EXISTS {role}"
                            )))
                            .execute(&mut c)
                            .await;
                        }
                    }
                });
            })
            .join();
        }
    }
}
