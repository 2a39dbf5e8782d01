//! No password, session token or CSRF token in the logs or in clear in the database.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::*;

both!(no_secret_in_logs_or_database);

async fn no_secret_in_logs_or_database(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(&db, &[("GATEHOUSE_LOG", "trace")]);
    let setup_token = server.setup_token().unwrap();
    let c = server.client();
    let r = c
        .post("/v1/setup", json!({ "token": setup_token, "email": "s@example.com", "password": PASSWORD, "org_name": "S" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut user = server.client();
    user.login("s@example.com", PASSWORD).await;
    let mut second = server.client();
    second.login("s@example.com", PASSWORD).await;
    let wrong = "wrong-password-attempt-xyz";
    c.post(
        "/v1/auth/login",
        json!({ "email": "s@example.com", "password": wrong }),
    )
    .await;
    let new_pw = "the-new-secret-passphrase-99";
    let r = user
        .post(
            "/v1/auth/password",
            json!({ "current_password": PASSWORD, "new_password": new_pw }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    user.get("/v1/auth/me").await;
    user.get("/v1/auth/csrf").await;

    let cookie_value = user
        .cookie
        .clone()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let second_cookie = second
        .cookie
        .clone()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let csrf = user.csrf.clone().unwrap();
    let secret_file =
        std::fs::read_to_string(db.dir.path().join("gatehouse.secret")).unwrap_or_default();

    let stdout = server.stdout.lock().unwrap().clone();
    let stderr = server.stderr.lock().unwrap().clone();
    let stderr_without_setup_line: String = stderr
        .lines()
        .filter(|l| !l.starts_with("setup: open "))
        .collect();
    assert!(
        stdout.contains("gatehouse::access"),
        "trace logs were captured"
    );
    let db_text = db.everything().await;
    let mut secrets = vec![
        PASSWORD,
        new_pw,
        wrong,
        cookie_value.as_str(),
        second_cookie.as_str(),
        csrf.as_str(),
        setup_token.as_str(),
    ];
    if !secret_file.trim().is_empty() {
        secrets.push(secret_file.trim());
    }
    for s in secrets {
        assert!(!stdout.contains(s), "log (stdout) contains a secret");
        assert!(
            !stderr_without_setup_line.contains(s),
            "stderr contains a secret"
        );
        assert!(!db_text.contains(s), "the database holds a secret in clear");
    }
    assert!(
        db_text.contains("s@example.com"),
        "the dump did read the database"
    );
}
