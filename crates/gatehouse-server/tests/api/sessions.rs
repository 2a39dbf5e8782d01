//! Browser sessions: cookies, CSRF, logout, revocation, password change, expiry, fixation.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::support::*;

both!(
    cookie_flags_plain_http,
    cookie_flags_under_https,
    tampered_cookie_refused,
    csrf_rules,
    logout_and_logout_all,
    session_list_and_revoke,
    password_change_revokes_others,
    new_session_at_every_login,
    expiry_idle_and_absolute,
);

async fn cookie_flags_plain_http(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, _admin, email) = with_admin(&db, &[]).await;
    let r = server
        .client()
        .post(
            "/v1/auth/login",
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with("gatehouse_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=6048"] {
        assert!(cookie.contains(flag), "{flag} missing in {cookie}");
    }
    assert!(!cookie.contains("Secure"));
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert!(r.header("strict-transport-security").is_none());
}

async fn cookie_flags_under_https(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let env = [
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com"),
        ("GATEHOUSE_SESSION_SAMESITE", "lax"),
    ];
    let (server, mut admin, email) = with_admin(&db, &env).await;
    let r = server
        .client()
        .post(
            "/v1/auth/login",
            json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    let cookie = r.header("set-cookie").unwrap();
    assert!(cookie.starts_with("__Host-gatehouse_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert_eq!(
        r.header("strict-transport-security").as_deref(),
        Some("max-age=31536000; includeSubDomains")
    );
    // The plain name is not accepted when the __Host- name is in force.
    let value = admin.cookie.clone().unwrap();
    admin.cookie = Some(value.replace("__Host-gatehouse_session", "gatehouse_session"));
    assert_eq!(
        admin.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    admin.cookie = Some(value);
    assert_eq!(admin.get("/v1/auth/me").await.status, StatusCode::OK);
}

async fn tampered_cookie_refused(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, mut admin, _) = with_admin(&db, &[]).await;
    let good = admin.cookie.clone().unwrap();
    let (name, value) = good.split_once('=').unwrap();
    let mut chars: Vec<char> = value.chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    for bad in [
        chars.iter().collect::<String>(),
        format!("{value}x"),
        String::new(),
        "../../etc".into(),
    ] {
        admin.cookie = Some(format!("{name}={bad}"));
        let r = admin.get("/v1/auth/me").await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "unauthenticated"),
            "{bad}"
        );
    }
    admin.cookie = Some(good);
    assert_eq!(admin.get("/v1/auth/me").await.status, StatusCode::OK);
}

async fn csrf_rules(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, email) = with_admin(
        &db,
        &[("GATEHOUSE_ALLOWED_ORIGINS", "https://app.example.com")],
    )
    .await;
    let mut other = server.client();
    assert_eq!(other.login(&email, PASSWORD).await.status, StatusCode::OK);
    let csrf_failed = |r: &Reply| r.status == StatusCode::FORBIDDEN && r.code() == "csrf_failed";

    let mut no_token = admin.clone();
    no_token.csrf = None;
    assert!(csrf_failed(&no_token.post_empty("/v1/auth/logout").await));

    let mut foreign_token = admin.clone();
    foreign_token.csrf = other.csrf.clone();
    assert!(
        csrf_failed(&foreign_token.post_empty("/v1/auth/logout").await),
        "another session's token"
    );

    let r = Client::send(
        admin
            .request(Method::POST, "/v1/auth/logout")
            .header("origin", "https://evil.example"),
    )
    .await;
    assert!(csrf_failed(&r), "foreign Origin");
    let r = Client::send(
        admin
            .request(Method::POST, "/v1/auth/logout")
            .header("sec-fetch-site", "cross-site"),
    )
    .await;
    assert!(csrf_failed(&r), "Sec-Fetch-Site: cross-site");
    let r = Client::send(
        admin
            .request(Method::POST, "/v1/auth/login")
            .header("sec-fetch-site", "cross-site")
            .json(&json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    assert!(csrf_failed(&r), "login from another site");

    // GET needs no token; the CSRF endpoint returns this session's token.
    let t = admin.get("/v1/auth/csrf").await;
    assert_eq!(t.body["csrf_token"].as_str(), admin.csrf.as_deref());
    // Another port of localhost is another origin.
    let r = Client::send(
        admin
            .request(Method::POST, "/v1/auth/logout")
            .header("origin", "http://localhost:1"),
    )
    .await;
    assert!(csrf_failed(&r), "another port");
    // An allowed origin, the server's own origin (the defaulted `localhost` public URL, and
    // the bound `127.0.0.1` address while it is defaulted), and same-origin fetches pass.
    let public = server.public_url();
    for origin in [
        "https://app.example.com",
        public.as_str(),
        server.base.as_str(),
    ] {
        let r = Client::send(
            admin
                .request(
                    Method::POST,
                    "/v1/auth/sessions/00000000-0000-0000-0000-000000000000",
                )
                .header("origin", origin),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{origin}: {}",
            r.text
        );
    }
    let r = Client::send(
        admin
            .request(Method::POST, "/v1/auth/logout")
            .header("sec-fetch-site", "same-origin"),
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        admin.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        other.get("/v1/auth/me").await.status,
        StatusCode::OK,
        "the other session lives"
    );
}

async fn logout_and_logout_all(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, email) = with_admin(&db, &[]).await;
    let r = admin.post_empty("/v1/auth/logout").await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let cleared = r.header("set-cookie").unwrap();
    assert!(
        cleared.starts_with("gatehouse_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    assert_eq!(
        admin.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );

    let mut a = server.client();
    let mut b = server.client();
    a.login(&email, PASSWORD).await;
    b.login(&email, PASSWORD).await;
    assert_eq!(
        a.post_empty("/v1/auth/logout-all").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(a.get("/v1/auth/me").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(b.get("/v1/auth/me").await.status, StatusCode::UNAUTHORIZED);
    let mut c = server.client();
    assert_eq!(
        c.login(&email, PASSWORD).await.status,
        StatusCode::OK,
        "signing in again works"
    );
    assert_eq!(c.get("/v1/auth/me").await.status, StatusCode::OK);
}

async fn session_list_and_revoke(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, email) = with_admin(&db, &[("GATEHOUSE_SIGNUP", "open")]).await;
    let mut second = server.client();
    let r = Client::send(
        second
            .request(Method::POST, "/v1/auth/login")
            .header("user-agent", "second-browser/1.0")
            .json(&json!({ "email": email, "password": PASSWORD })),
    )
    .await;
    second.cookie = Some(
        r.header("set-cookie")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned(),
    );
    second.csrf = r.body["csrf_token"].as_str().map(str::to_owned);
    let second_id = r.body["session"]["id"].as_str().unwrap().to_owned();

    let list = admin.get("/v1/auth/sessions").await;
    let sessions = list.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{}", list.text);
    let theirs = sessions
        .iter()
        .find(|s| s["id"] == second_id.as_str())
        .unwrap();
    assert_eq!(theirs["current"], false);
    assert_eq!(theirs["user_agent"], "second-browser/1.0");
    assert_eq!(theirs["ip"], "127.0.0.1");
    for key in ["created_at", "last_seen_at", "expires_at"] {
        assert!(
            theirs[key].as_str().unwrap().ends_with('Z'),
            "{key} is RFC 3339 UTC"
        );
    }
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);

    // Another user cannot revoke (or learn about) this session: 404.
    server
        .client()
        .post(
            "/v1/auth/signup",
            json!({ "email": "eve@example.com", "password": PASSWORD }),
        )
        .await;
    let mut eve = server.client();
    eve.login("eve@example.com", PASSWORD).await;
    let r = eve.delete(&format!("/v1/auth/sessions/{second_id}")).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    assert_eq!(
        eve.delete("/v1/auth/sessions/not-a-uuid").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(second.get("/v1/auth/me").await.status, StatusCode::OK);

    assert_eq!(
        admin
            .delete(&format!("/v1/auth/sessions/{second_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        second.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED,
        "revoked at the next request"
    );
    assert_eq!(
        admin
            .delete(&format!("/v1/auth/sessions/{second_id}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin.get("/v1/auth/sessions").await.body["sessions"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

async fn password_change_revokes_others(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, email) = with_admin(&db, &[]).await;
    let mut other = server.client();
    other.login(&email, PASSWORD).await;
    let new_pw = "a much better passphrase 42";

    let wrong = admin
        .post(
            "/v1/auth/password",
            json!({ "current_password": "nope nope nope", "new_password": new_pw }),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let weak = admin
        .post(
            "/v1/auth/password",
            json!({ "current_password": PASSWORD, "new_password": "password" }),
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(weak.body["error"]["fields"]["new_password"].is_string());

    let ok = admin
        .post(
            "/v1/auth/password",
            json!({ "current_password": PASSWORD, "new_password": new_pw }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::NO_CONTENT, "{}", ok.text);
    assert_eq!(
        admin.get("/v1/auth/me").await.status,
        StatusCode::OK,
        "the current session stays"
    );
    assert_eq!(
        other.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED,
        "other sessions end"
    );
    let mut c = server.client();
    assert_eq!(
        c.login(&email, PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(c.login(&email, new_pw).await.status, StatusCode::OK);
}

async fn new_session_at_every_login(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, mut admin, email) = with_admin(&db, &[]).await;
    let first_cookie = admin.cookie.clone().unwrap();
    let first_id = admin.get("/v1/auth/me").await.body["auth"]["session_id"].clone();
    let r = admin.login(&email, PASSWORD).await;
    assert_ne!(r.body["session"]["id"], first_id);
    assert_ne!(admin.cookie.clone().unwrap(), first_cookie);
    // The session the browser held before signing in again is over.
    let mut stale = admin.clone();
    stale.cookie = Some(first_cookie);
    assert_eq!(
        stale.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(admin.get("/v1/auth/me").await.status, StatusCode::OK);
}

async fn expiry_idle_and_absolute(db: Db) {
    // The rules themselves (idle window, absolute lifetime, to the second) are proven with a
    // manual clock at service level (tests/rules/sessions.rs); here, across the process
    // boundary, that the configured lifetimes reach the running server: one real idle expiry,
    // and the absolute lifetime in the cookie.
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, email) = with_admin(
        &db,
        &[
            ("GATEHOUSE_SESSION_TTL", "5s"),
            ("GATEHOUSE_SESSION_IDLE_TTL", "2s"),
        ],
    )
    .await;
    // Times are kept in whole seconds: 2.1 s after the last use is past the idle window.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        admin.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED,
        "idle expiry"
    );
    let mut fresh = server.client();
    let r = fresh.login(&email, PASSWORD).await;
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.contains("Max-Age=5") || cookie.contains("Max-Age=4"),
        "{cookie}"
    );
    assert_eq!(fresh.get("/v1/auth/me").await.status, StatusCode::OK);
}
