//! PostgreSQL roles (SPEC §1): one application role per database, migrations by the owner,
//! and `serve` in production only with a login role that holds nothing but the application
//! role (a superuser, a BYPASSRLS role or the tables' owner could `RESET ROLE` its way around
//! row-level security). PostgreSQL only: SQLite has no roles.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::Connection;

use crate::support::*;

const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789";

/// Roles and databases made by one test, dropped when it ends (even when it fails).
#[derive(Default)]
struct Scratch {
    databases: Vec<String>,
    roles: Vec<String>,
}

impl Scratch {
    async fn sql(&self, sql: &str) {
        let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut admin)
            .await
            .expect(sql);
    }

    /// A new login role with `options`.
    async fn role(&mut self, prefix: &str, options: &str) -> String {
        let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
        self.sql(&format!("CREATE ROLE {name} LOGIN {options}"))
            .await;
        self.roles.push(name.clone());
        name
    }

    /// A new database owned by `owner`; its name.
    async fn database(&mut self, owner: &str) -> String {
        let name = format!("gh_roles_{}", uuid::Uuid::now_v7().simple());
        self.sql(&format!("CREATE DATABASE {name} OWNER {owner}"))
            .await;
        self.databases.push(name.clone());
        self.roles.push(format!("gatehouse_app_{name}"));
        name
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let (databases, roles) = (
            std::mem::take(&mut self.databases),
            std::mem::take(&mut self.roles),
        );
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let Ok(mut c) = sqlx::PgConnection::connect(&pg_admin_url()).await else {
                    return;
                };
                for db in databases {
                    let sql = format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .execute(&mut c)
                        .await;
                }
                for role in roles.iter().rev() {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE IF EXISTS {role}")))
                        .execute(&mut c)
                        .await;
                }
            });
        })
        .join();
    }
}

fn production(url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GATEHOUSE_ENV", "production".into()),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com".into()),
        ("GATEHOUSE_SECRET", GOOD_SECRET.into()),
        ("GATEHOUSE_DATABASE_URL", url.into()),
    ]
}

fn run(db: &TestDb, env: &[(&'static str, String)], args: &[&str]) -> (i32, String, String) {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run_cli(db, &env, args, None)
}

/// `serve` with `env`: its exit code and standard error, or `None` when it was still serving
/// after 20 s (then it is killed), so a server that wrongly starts fails the test instead of
/// hanging it.
fn serve(db: &TestDb, env: &[(&'static str, String)]) -> Option<(i32, String)> {
    use std::io::Read;
    let mut cmd = command(&db.url, &[]);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(db.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return Some((status.code().unwrap_or(-1), err));
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The login role a URL names.
fn user_of(url: &str) -> &str {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split('@').next().unwrap_or(rest)
}

/// `url` on the database `name`.
fn on_database(url: &str, name: &str) -> String {
    let base = url.rsplit_once('/').map(|(b, _)| b).unwrap_or(url);
    format!("{base}/{name}")
}

/// What a connection as `url` gets from `sql`: the first column of the first row, or the error.
async fn try_query(url: &str, setup: &[&str], sql: &str) -> Result<String, String> {
    let mut c = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    for s in setup {
        sqlx::query(sqlx::AssertSqlSafe(s.to_string()))
            .execute(&mut c)
            .await
            .map_err(|e| e.to_string())?;
    }
    sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(&mut c)
        .await
        .map_err(|e| e.to_string())
}

/// Two deployments on one cluster: the application role of one, and the shared
/// `gatehouse_app` of older versions, reach none of the other's tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_app_role_is_per_database() {
    let (Some(a), Some(b)) = (
        TestDb::new(Db::Postgres).await,
        TestDb::new(Db::Postgres).await,
    ) else {
        return;
    };
    let a_url = a.production_url().await;
    let b_url = b.production_url().await;
    let mut scratch = Scratch::default();
    let sibling = scratch.role("gh_sibling", "IN ROLE gatehouse_app").await;
    let count = "SELECT count(*)::text FROM users";
    assert_eq!(
        try_query(&a_url, &[], count).await.as_deref(),
        Ok("0"),
        "A's login role reads A"
    );
    let b_name = b.url.rsplit('/').next().unwrap();
    let a_on_b = with_user(&b_url, user_of(&a_url));
    let denied = try_query(&a_on_b, &[], count).await;
    assert!(
        denied
            .as_ref()
            .is_err_and(|e| e.contains("permission denied")),
        "A's login role reads nothing of B: {denied:?}"
    );
    let set_role = format!("SET ROLE gatehouse_app_{b_name}");
    let denied = try_query(&a_on_b, &[&set_role], count).await;
    assert!(denied.is_err(), "nor becomes B's role: {denied:?}");
    let old_sibling = with_user(&b.url, &sibling);
    for setup in [&[][..], &["SET ROLE gatehouse_app"][..]] {
        let denied = try_query(&old_sibling, setup, count).await;
        assert!(
            denied
                .as_ref()
                .is_err_and(|e| e.contains("permission denied")),
            "the shared gatehouse_app keeps no right on B: {denied:?}"
        );
    }
}

/// Production refuses a superuser, the tables' owner and a member of the owner's role, in one
/// line naming the setting; it serves with a login role that only holds the application role;
/// `doctor` fails the former and passes the latter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_production_takes_only_an_application_login_role() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let mut scratch = Scratch::default();
    let owner = scratch.role("gh_owner", "CREATEROLE").await;
    let name = scratch.database(&owner).await;
    let owner_url = on_database(&with_user(&db.url, &owner), &name);
    let (code, out, err) = run(&db, &[], &["migrate", "--database-url", &owner_url]);
    assert_eq!(code, 0, "the owner migrates: {out}{err}");
    let app = scratch
        .role("gh_app", &format!("IN ROLE gatehouse_app_{name}"))
        .await;
    let member = scratch.role("gh_member", &format!("IN ROLE {owner}")).await;
    let superuser_url = with_user(&owner_url, "postgres");
    for (url, problem) in [
        (&superuser_url, "is a superuser"),
        (&owner_url, "owns gatehouse's tables"),
        (&with_user(&owner_url, &member), "owns gatehouse's tables"),
    ] {
        let (code, err) = serve(&db, &production(url)).expect("serve refuses to start");
        assert_eq!(code, 2, "{url}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(
            err.contains("GATEHOUSE_DATABASE_URL") && err.contains(problem),
            "{url}: {err}"
        );
        let (code, out, _) = run(&db, &production(url), &["doctor"]);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.lines()
                .any(|l| l.starts_with("FAIL") && l.contains("login_role") && l.contains(problem)),
            "{out}"
        );
    }

    let app_url = with_user(&owner_url, &app);
    let (code, out, err) = run(&db, &production(&app_url), &["doctor"]);
    assert_eq!(code, 0, "the application login role passes: {out}{err}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok") && l.contains("login_role")),
        "{out}"
    );
    let env = production(&app_url);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_url(&app_url, db.dir.path(), &env);
    let token = server.setup_token().expect("setup token");
    let r = server
        .client()
        .post(
            "/v1/setup",
            json!({ "token": token, "email": "o@example.com", "password": PASSWORD, "org_name": "Acme" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut c = server.client();
    assert_eq!(
        c.login("o@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    assert_eq!(c.get("/v1/auth/me").await.status, StatusCode::OK);
    // Production serve never migrates: a schema behind the binary is refused.
    drop(server);
    let mut c = sqlx::PgConnection::connect(&superuser_url).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = 9")
        .execute(&mut c)
        .await
        .unwrap();
    let (code, _, err) = run(
        &db,
        &production(&app_url),
        &["serve", "--listen", "127.0.0.1:0"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("GATEHOUSE_DATABASE_URL") && err.contains("gatehouse migrate"),
        "{err}"
    );
}
