//! Configuration: production refusals (exit 2, one line naming the setting), unknown keys, and
//! `gatehouse doctor`.

use sqlx::Connection;

use crate::both;
use crate::support::*;

const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789";

fn serve_refused(db: &TestDb, env: &[(&str, &str)], setting: &str) {
    let (code, _out, err) = run_cli(db, env, &["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(code, 2, "exit code 2 for {setting}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].contains(setting),
        "the line names {setting}: {err}"
    );
}

both!(
    production_refusals,
    unknown_settings_are_errors,
    doctor_reports
);

async fn production_refusals(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let prod = ("GATEHOUSE_ENV", "production");
    let https = ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com");
    let secret = ("GATEHOUSE_SECRET", GOOD_SECRET);
    serve_refused(&db, &[prod, https], "GATEHOUSE_SECRET");
    serve_refused(
        &db,
        &[prod, https, ("GATEHOUSE_SECRET", "too-short-secret")],
        "GATEHOUSE_SECRET",
    );
    serve_refused(
        &db,
        &[
            prod,
            https,
            secret,
            ("GATEHOUSE_ALLOWED_ORIGINS", "https://a.example.com,*"),
        ],
        "GATEHOUSE_ALLOWED_ORIGINS",
    );
    serve_refused(
        &db,
        &[
            prod,
            secret,
            ("GATEHOUSE_PUBLIC_URL", "http://auth.example.com"),
        ],
        "GATEHOUSE_PUBLIC_URL",
    );
    serve_refused(&db, &[prod, secret], "GATEHOUSE_PUBLIC_URL");
    assert!(
        !db.dir.path().join("gatehouse.secret").exists(),
        "production never generates a secret file"
    );
    // The same settings start fine when correct (on PostgreSQL with a login role that only
    // holds the application role).
    let url = db.production_url().await;
    let server = Server::start_url(&url, db.dir.path(), &[prod, https, secret]);
    assert_eq!(
        server.client().get("/healthz").await.status,
        reqwest::StatusCode::OK
    );
}

async fn unknown_settings_are_errors(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (code, _, err) = run_cli(&db, &[("GATEHOUSE_SINGUP", "open")], &["migrate"], None);
    assert_eq!(code, 2);
    assert!(err.contains("GATEHOUSE_SINGUP"), "{err}");
    let file = db.dir.path().join("gatehouse.toml");
    std::fs::write(&file, "signup = \"open\"\nsession_tll = \"1h\"\n").unwrap();
    let (code, _, err) = run_cli(
        &db,
        &[],
        &["migrate", "--config", file.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("session_tll"), "{err}");
    let (code, _, err) = run_cli(
        &db,
        &[("GATEHOUSE_SESSION_TTL", "forever")],
        &["migrate"],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("GATEHOUSE_SESSION_TTL"), "{err}");
    // A valid file is read, and the environment wins over it, and flags over both.
    std::fs::write(&file, "signup = \"open\"\nlisten = \"127.0.0.1:1\"\nallowed_origins = [\"https://a.example.com\"]\n").unwrap();
    let (code, out, err) = run_cli(
        &db,
        &[("GATEHOUSE_LISTEN", "127.0.0.1:2")],
        &[
            "migrate",
            "--config",
            file.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        None,
    );
    assert_eq!(code, 0, "{out}{err}");
}

async fn doctor_reports(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    // doctor never migrates; the database it checks is one serve has used.
    assert_eq!(run_cli(&db, &[], &["migrate"], None).0, 0);
    let (code, out, err) = run_cli(&db, &[], &["doctor"], None);
    assert_eq!(code, 0, "development passes with warnings: {out}{err}");
    assert!(
        out.contains("secret") && out.contains("generated into"),
        "{out}"
    );
    assert!(out.contains("warn  public_url"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok") && l.contains("signing_key")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok") && l.contains("audit")),
        "{out}"
    );
    let prod = [
        ("GATEHOUSE_ENV", "production"),
        ("GATEHOUSE_ALLOWED_ORIGINS", "*"),
        ("GATEHOUSE_SECRET", "short"),
    ];
    let (code, out, _) = run_cli(&db, &prod, &["doctor"], None);
    assert_eq!(code, 1, "{out}");
    for name in ["secret", "public_url", "allowed_origins"] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("FAIL") && l.contains(name)),
            "{name}: {out}"
        );
    }
    if db.kind == Db::Postgres {
        assert!(out.contains("runs queries as gatehouse_app"), "{out}");
        assert!(
            out.lines().any(|l| l.starts_with("ok")
                && l.contains("bypass_rls")
                && l.contains("superuser=false")),
            "{out}"
        );
        let rls = out
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("rls"))
            .unwrap_or_default();
        assert!(
            rls.starts_with("ok") && rls.contains("api_keys") && rls.contains("org_members"),
            "{out}"
        );
        // Row-level security switched off behind gatehouse's back fails the check in production.
        db.query_strings("ALTER TABLE api_keys NO FORCE ROW LEVEL SECURITY")
            .await;
        let (code, out, _) = run_cli(&db, &prod, &["doctor"], None);
        assert_eq!(code, 1);
        let rls = out
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some("rls"))
            .unwrap_or_default();
        assert!(
            rls.starts_with("FAIL") && rls.contains("api_keys") && !rls.contains("org_members"),
            "{out}"
        );
    } else {
        assert!(
            out.lines()
                .any(|l| l.starts_with("warn") && l.contains("SQLite in production")),
            "{out}"
        );
    }
}

/// A PostgreSQL role with BYPASSRLS that cannot step down to gatehouse_app is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_privileged_role_refused_in_production() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let (code, _, err) = run_cli(&db, &[], &["migrate"], None);
    assert_eq!(code, 0, "{err}");
    let mut admin = sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap();
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    let (role, dbname) = (
        format!("gh_bypass_{suffix}"),
        format!("gh_bypass_db_{suffix}"),
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN BYPASSRLS"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {dbname} OWNER {role}"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    let url = format!("postgres://{role}@127.0.0.1:5432/{dbname}");
    let env = [
        ("GATEHOUSE_ENV", "production"),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com"),
        ("GATEHOUSE_SECRET", GOOD_SECRET),
        ("GATEHOUSE_DATABASE_URL", url.as_str()),
    ];
    let (code, _, err) = run_cli(&db, &env, &["serve", "--listen", "127.0.0.1:0"], None);
    let (dev_code, dev_out, _) = run_cli(
        &db,
        &[("GATEHOUSE_DATABASE_URL", url.as_str())],
        &["doctor"],
        None,
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {dbname} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP ROLE {role}")))
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(code, 2, "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("GATEHOUSE_DATABASE_URL") && err.contains("BYPASSRLS"),
        "{err}"
    );
    assert_eq!(dev_code, 1, "doctor fails on a BYPASSRLS role: {dev_out}");
    assert!(
        dev_out
            .lines()
            .any(|l| l.starts_with("FAIL") && l.contains("bypass_rls")),
        "{dev_out}"
    );
}
