//! Shared set-up for the in-process benchmarks: a real store (SQLite file or a fresh PostgreSQL
//! database) and the auth service built exactly as `serve` builds it.
#![allow(dead_code)]

use std::sync::Arc;

use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::api_keys::NewKeyRequest;
use gatehouse_core::service::{AuthService, ClientInfo, Principal};
use gatehouse_server::app::Services;
use gatehouse_server::config::{Config, Overrides};
use sqlx::Connection;

pub(crate) const PASSWORD: &str = "correct horse battery staple";

pub(crate) fn pg_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database for one benchmark run; PostgreSQL ones are dropped at the end.
pub(crate) struct BenchDb {
    pub url: String,
    _dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl BenchDb {
    pub(crate) async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        Self {
            url,
            _dir: dir,
            pg_name: None,
        }
    }

    /// `None` when PostgreSQL is not reachable.
    pub(crate) async fn postgres() -> Option<Self> {
        let admin = pg_admin_url();
        let mut conn = match sqlx::PgConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("PostgreSQL benchmarks SKIPPED ({admin}): {e}");
                return None;
            }
        };
        let name = format!("gh_bench_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Some(Self {
            url: format!("{base}/{name}"),
            _dir: tempfile::tempdir().expect("tempdir"),
            pg_name: Some(name),
        })
    }

    pub(crate) async fn drop_now(mut self) {
        if let Some(name) = self.pg_name.take()
            && let Ok(mut c) = sqlx::PgConnection::connect(&pg_admin_url()).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut c)
            .await;
        }
    }

    /// The store alone, opened (and migrated) as `serve` opens it.
    pub(crate) async fn opened(&self) -> gatehouse_store::Opened {
        let env = vec![
            ("GATEHOUSE_DATABASE_URL".to_owned(), self.url.clone()),
            ("GATEHOUSE_SECRET".to_owned(), "b".repeat(43)),
        ];
        let mut config = Config::from_sources(&Overrides::default(), env).expect("config");
        gatehouse_server::app::check_config(&mut config).expect("config checks");
        gatehouse_server::app::open_database(&config)
            .await
            .expect("database")
    }

    /// Every service over this database, with `argon2` parameters (default: production's).
    pub(crate) async fn services(&self, argon2: Option<&str>) -> Services {
        let mut env = vec![
            ("GATEHOUSE_DATABASE_URL".to_owned(), self.url.clone()),
            ("GATEHOUSE_SECRET".to_owned(), "b".repeat(43)),
            ("GATEHOUSE_SIGNUP".to_owned(), "open".to_owned()),
        ];
        if let Some(a) = argon2 {
            env.push(("GATEHOUSE_ARGON2".to_owned(), a.to_owned()));
        }
        let mut config = Config::from_sources(&Overrides::default(), env).expect("config");
        gatehouse_server::app::check_config(&mut config).expect("config checks");
        let opened = gatehouse_server::app::open_database(&config)
            .await
            .expect("database");
        let mut loops = gatehouse_server::supervisor::Supervisor::new();
        let services = gatehouse_server::app::services(
            &config,
            &opened,
            "http://127.0.0.1:8080",
            &gatehouse_core::ambient::Ambient::system(),
            &mut loops,
        )
        .expect("services");
        loops.detach();
        services.tokens.start().await.expect("signing key");
        services
    }

    /// The auth service alone.
    pub(crate) async fn auth(&self, argon2: Option<&str>) -> Arc<AuthService> {
        self.services(argon2).await.auth
    }
}

/// Signs up `email` and signs in: the session token a browser would hold.
pub(crate) async fn signed_in(auth: &AuthService, email: &str) -> String {
    auth.signup(email, PASSWORD, None, &ClientInfo::default())
        .await
        .expect("signup");
    auth.login(email, PASSWORD, ClientInfo::default(), None)
        .await
        .expect("login")
        .token
        .expose_secret()
        .to_owned()
}

/// A user, an org they own, and an API key of that org with `scopes`: the key.
pub(crate) async fn api_key(services: &Services, email: &str, scopes: &[&str]) -> String {
    let token = signed_in(&services.auth, email).await;
    let session = services
        .auth
        .authenticate_session(&token)
        .await
        .expect("session");
    let principal = Principal::Session(Box::new(session));
    let org = services
        .orgs
        .create(&principal, "Bench Org", &ClientInfo::default())
        .await
        .expect("org");
    let access = services
        .orgs
        .access(&principal, org.id)
        .await
        .expect("access");
    let manager = access.manager().expect("owner");
    let request = NewKeyRequest {
        name: "bench".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        expires_at: None,
    };
    services
        .keys
        .create(&manager, request, &ClientInfo::default())
        .await
        .expect("key")
        .1
        .expose_secret()
        .to_owned()
}
