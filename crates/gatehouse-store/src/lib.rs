//! gatehouse-store: the core storage ports on SQLite and on PostgreSQL, with their migrations.

pub mod dialect;
pub mod feed;
mod hot_reads;
mod ports;
pub mod postgres;
mod rows;
pub mod sql_store;
pub mod sqlite;
pub mod sqlite_watch;

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse_core::store::Store;

pub use feed::ChangeFeed;
pub use sqlite_watch::SqliteWatch;

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    #[must_use]
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else {
            None
        }
    }
}

/// How the PostgreSQL connection's role stands (SQLite has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleStatus {
    /// The login role of the URL.
    pub session_user: String,
    /// The login role is, or may `SET ROLE` to, a superuser.
    pub superuser: bool,
    /// The login role has, or may `SET ROLE` to a role with, BYPASSRLS.
    pub bypass_rls: bool,
    /// The login role owns (or may become the owner of) gatehouse's tables or their schema.
    pub owns_tables: bool,
    /// This database's application role, `gatehouse_app_<database>`.
    pub app_role: String,
    /// Queries run as the application role (after `SET ROLE`).
    pub restricted: bool,
}

impl RoleStatus {
    /// The login role could undo row-level security: `SET ROLE` is reversible (`RESET ROLE`
    /// gives the privileged role back), so stepping down does not make it safe.
    #[must_use]
    pub fn is_unsafe(&self) -> bool {
        self.superuser || self.bypass_rls || self.owns_tables
    }

    /// What makes the login role unsafe, in words.
    #[must_use]
    pub fn problems(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.superuser {
            out.push("is a superuser");
        }
        if self.bypass_rls {
            out.push("has BYPASSRLS");
        }
        if self.owns_tables {
            out.push("owns gatehouse's tables");
        }
        out
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedUrl,
    #[error("cannot open the database: {0}")]
    Connect(String),
    #[error("migration failed: {0}")]
    Migrate(String),
}

/// An open database: the ports, and what the server needs to know about it.
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub backend: Backend,
    pub role: Option<RoleStatus>,
    url: String,
    pg_pool: Option<sqlx::PgPool>,
}

impl Opened {
    /// The feed of changes other processes commit, for the caller to run: `None` on SQLite (one
    /// process owns the database, so a cache is live at once and local invalidation is the
    /// whole story); on PostgreSQL a cache is live only while this feed listens.
    #[must_use]
    pub fn change_feed(&self) -> Option<ChangeFeed> {
        self.pg_pool
            .as_ref()
            .map(|pool| ChangeFeed::new(pool.clone(), self.url.clone()))
    }

    /// On SQLite, the watch over other processes' commits (the CLI run beside the server).
    #[must_use]
    pub fn sqlite_watch(&self) -> Option<SqliteWatch> {
        (self.backend == Backend::Sqlite).then(|| SqliteWatch::new(self.url.clone()))
    }
}

/// Applies the migrations of the database `url` names.
pub async fn migrate(url: &str) -> Result<(), OpenError> {
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => sqlite::migrate(url).await,
        Some(Backend::Postgres) => postgres::migrate(url).await,
        None => Err(OpenError::UnsupportedUrl),
    }
}

/// Opens a pool on `url` (migrations are separate: call [`migrate`] first).
pub async fn open(url: &str) -> Result<Opened, OpenError> {
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => {
            let store = sqlite::SqliteStore::open(url).await?;
            Ok(Opened {
                store: Arc::new(store),
                backend: Backend::Sqlite,
                role: None,
                url: url.to_owned(),
                pg_pool: None,
            })
        }
        Some(Backend::Postgres) => {
            let (store, role) = postgres::PgStore::open(url).await?;
            Ok(Opened {
                pg_pool: Some(store.pool().clone()),
                store: Arc::new(store),
                backend: Backend::Postgres,
                role: Some(role),
                url: url.to_owned(),
            })
        }
        None => Err(OpenError::UnsupportedUrl),
    }
}

/// The file behind a `sqlite://` URL (`None` for in-memory or other databases).
#[must_use]
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(PathBuf::from(path))
    }
}
