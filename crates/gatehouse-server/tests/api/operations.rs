//! Operations: health, readiness (and fail-closed), metrics, OpenAPI, shutdown, durability, and
//! several processes on one PostgreSQL database.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::support::*;

both!(
    health_metrics_openapi,
    graceful_shutdown_finishes_in_flight,
    acknowledged_writes_survive_kill9
);

async fn health_metrics_openapi(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(&db, &[]);
    let c = server.client();
    let h = c.get("/healthz").await;
    assert_eq!(
        (h.status, h.body.clone()),
        (StatusCode::OK, json!({ "status": "ok" }))
    );
    assert_eq!(c.get("/readyz").await.status, StatusCode::OK);
    c.get("/nope").await;

    let m = c.get("/metrics").await;
    assert_eq!(m.status, StatusCode::OK);
    assert!(m.text.contains("http_requests_total{"), "{}", m.text);
    assert!(
        m.text.contains("route=\"/healthz\"") && m.text.contains("status=\"200\""),
        "{}",
        m.text
    );
    assert!(m.text.contains("route=\"unmatched\"") && m.text.contains("status=\"404\""));
    assert!(
        m.text.contains("http_request_duration_seconds_bucket{"),
        "latency histogram: {}",
        m.text
    );

    let doc = c.get("/openapi.json").await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths = doc.body["paths"].as_object().unwrap();
    for expected in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/v1/setup",
        "/v1/auth/signup",
        "/v1/auth/login",
        "/v1/auth/logout",
        "/v1/auth/logout-all",
        "/v1/auth/me",
        "/v1/auth/csrf",
        "/v1/auth/sessions",
        "/v1/auth/sessions/{id}",
        "/v1/auth/password",
        "/v1/orgs",
        "/v1/orgs/{org}",
        "/v1/orgs/{org}/members",
        "/v1/orgs/{org}/members/{user_id}",
        "/v1/orgs/{org}/invitations",
        "/v1/invitations/accept",
        "/v1/orgs/{org}/api-keys",
        "/v1/orgs/{org}/api-keys/{id}/revoke",
        "/v1/orgs/{org}/api-keys/{id}",
        "/v1/introspect",
    ] {
        assert!(paths.contains_key(expected), "{expected} documented");
    }
    // Every documented operation exists on the server (neither 404 from routing nor 405).
    for (path, ops) in paths {
        for method in ops.as_object().unwrap().keys() {
            let concrete: String = path
                .split('/')
                .map(|seg| {
                    if seg.starts_with('{') {
                        "01900000-0000-7000-8000-000000000000"
                    } else {
                        seg
                    }
                })
                .collect::<Vec<_>>()
                .join("/");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let r = Client::send(
                c.request(m, &concrete)
                    .header("content-type", "application/json")
                    .body("{}"),
            )
            .await;
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            // Setup once done, the mailed flows without SMTP and the provider routes without
            // providers (this server has neither) are documented `404`s.
            let mail_route = [
                "/v1/auth/email-code",
                "/v1/auth/email-code/verify",
                "/v1/auth/password/forgot",
                "/v1/auth/password/reset",
                "/v1/auth/email/verify",
                "/v1/auth/email/verify/send",
                "/v1/auth/oidc/{provider}/start",
                "/v1/auth/oidc/{provider}/callback",
                "/v1/auth/identities/{id}",
            ]
            .contains(&path.as_str());
            assert!(
                !(r.status == StatusCode::NOT_FOUND && path != "/v1/setup" && !mail_route),
                "{method} {path}: {}",
                r.text
            );
        }
    }
}

async fn graceful_shutdown_finishes_in_flight(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    // Slow hashing and one hashing lane, so sign-ins are still running when SIGTERM arrives.
    let env = [
        ("GATEHOUSE_SIGNUP", "open"),
        ("GATEHOUSE_ARGON2", "m=65536,t=3,p=1"),
    ];
    let mut server = Server::start(&db, &env);
    let c = server.client();
    let r = c
        .post(
            "/v1/auth/signup",
            json!({ "email": "slow@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let logins: Vec<_> = (0..6)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move {
                c.post(
                    "/v1/auth/login",
                    json!({ "email": "slow@example.com", "password": PASSWORD }),
                )
                .await
                .status
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = server.terminate();
        (s, server.logs())
    })
    .await
    .unwrap();
    for l in logins {
        assert_eq!(
            l.await.unwrap(),
            StatusCode::OK,
            "in-flight requests finish"
        );
    }
    assert!(status.0.success(), "clean exit on SIGTERM: {:?}", status.0);
    assert!(status.1.contains("shutdown signal received"));
}

async fn acknowledged_writes_survive_kill9(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let env = [("GATEHOUSE_SIGNUP", "open")];
    let mut server = Server::start(&db, &env);
    let mut c = server.client();
    let r = c
        .post(
            "/v1/auth/signup",
            json!({ "email": "durable@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(
        c.login("durable@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let new_pw = "another long passphrase 7";
    let r = c
        .post(
            "/v1/auth/password",
            json!({ "current_password": PASSWORD, "new_password": new_pw }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    server.kill9();

    let server = Server::start(&db, &env);
    let mut again = server.client();
    assert_eq!(
        again.login("durable@example.com", new_pw).await.status,
        StatusCode::OK
    );
    let mut kept = server.client();
    kept.cookie = c.cookie.clone();
    assert_eq!(
        kept.get("/v1/auth/me").await.status,
        StatusCode::OK,
        "the session survived too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_revocation_is_seen_by_a_second_process() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let (a, admin, email) = with_admin(&db, &[]).await;
    let b = Server::start(&db, &[]);
    let mut on_b = b.client();
    on_b.cookie = admin.cookie.clone();
    on_b.csrf = admin.csrf.clone();
    assert_eq!(
        on_b.get("/v1/auth/me").await.status,
        StatusCode::OK,
        "process B accepts A's session"
    );
    let mut second = a.client();
    second.login(&email, PASSWORD).await;
    let second_id = second.get("/v1/auth/me").await.body["auth"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut second_on_b = b.client();
    second_on_b.cookie = second.cookie.clone();
    assert_eq!(second_on_b.get("/v1/auth/me").await.status, StatusCode::OK);

    assert_eq!(
        admin
            .delete(&format!("/v1/auth/sessions/{second_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        second_on_b.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED,
        "revoked on A, refused by B at once"
    );
    assert_eq!(
        on_b.post_empty("/v1/auth/logout").await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED,
        "logout on B, refused by A"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fails_closed_and_readiness_recovers() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let proxy = CuttableProxy::start("127.0.0.1:5432").await;
    let url = db.url_via(proxy.port);
    let server = Server::start_url(&url, db.dir.path(), &[]);
    let token = server.setup_token().unwrap();
    let c = server.client();
    let r = c
        .post("/v1/setup", json!({ "token": token, "email": "o@example.com", "password": PASSWORD, "org_name": "O" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let mut admin = server.client();
    admin.login("o@example.com", PASSWORD).await;
    assert_eq!(c.get("/readyz").await.status, StatusCode::OK);

    proxy.cut().await;
    let r = c.get("/readyz").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    );
    let me = admin.get("/v1/auth/me").await;
    assert_eq!(
        (me.status, me.code()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "fail closed"
    );
    let login = c
        .post(
            "/v1/auth/login",
            json!({ "email": "o@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !me.text.contains("sqlx") && !me.text.contains("5432"),
        "no internals: {}",
        me.text
    );
    assert_eq!(
        c.get("/healthz").await.status,
        StatusCode::OK,
        "liveness needs no database"
    );

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if c.get("/readyz").await.status == StatusCode::OK {
            break;
        }
        assert!(Instant::now() < deadline, "readiness did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(admin.get("/v1/auth/me").await.status, StatusCode::OK);
}

both!(metrics_for_loopback_or_a_metrics_key);

/// Non-loopback clients (here: a client behind a trusted proxy) need a key with `metrics:read`.
async fn metrics_for_loopback_or_a_metrics_key(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) =
        with_admin(&db, &[("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let org = first_org(&owner).await;
    let (_, reader) = owner.create_key(&org, &["metrics:read"]).await;
    let (_, other) = owner.create_key(&org, &["check"]).await;
    let from_afar = |c: &Client| {
        Client::send(
            c.request(Method::GET, "/metrics")
                .header("x-forwarded-for", "203.0.113.5"),
        )
    };
    let anonymous = from_afar(&server.client()).await;
    assert_eq!(
        (anonymous.status, anonymous.code()),
        (StatusCode::FORBIDDEN, "forbidden")
    );
    let wrong = from_afar(&server.client().with_key(&other)).await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    let ok = from_afar(&server.client().with_key(&reader)).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.text.contains("http_requests_total"));
    assert_eq!(
        server.client().get("/metrics").await.status,
        StatusCode::FORBIDDEN,
        "a loopback peer that is a trusted proxy is not local (hardening::metrics_trust_the_tcp_peer_only)"
    );
}
