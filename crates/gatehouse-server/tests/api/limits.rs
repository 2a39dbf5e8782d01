//! Rate limits and lockout over HTTP: budgets per IP and per credential, the headers, proxies,
//! the shared database backend across two instances, and lockout (parallel guessing, unknown
//! emails, restarts, unlocking).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    auth_routes_share_one_budget_per_ip,
    api_routes_count_per_credential,
    forwarded_for_is_believed_only_from_trusted_proxies,
    lockout_locks_known_and_unknown_emails_alike,
    parallel_guesses_run_at_most_the_allowed_checks
);

async fn login(c: &Client, email: &str, password: &str) -> Reply {
    c.post(
        "/v1/auth/login",
        json!({ "email": email, "password": password }),
    )
    .await
}

fn limited(r: &Reply) -> bool {
    r.status == StatusCode::TOO_MANY_REQUESTS
        && r.code() == "rate_limited"
        && r.header("retry-after").is_some()
}

async fn auth_routes_share_one_budget_per_ip(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, _owner, email) = with_admin(&db, &[("GATEHOUSE_RATE_LIMIT_AUTH", "5/1m")]).await;
    // with_admin ran setup and a sign-in: three more credential checks of any kind fit.
    let c = server.client();
    let r = c
        .post(
            "/v1/auth/signup",
            json!({ "email": "x@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("5"));
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("2"));
    let reset: i64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    assert!(reset > now && reset <= now + 61, "{reset} vs {now}");
    assert_eq!(
        r.header("ratelimit-policy").as_deref(),
        Some("\"auth\";q=5;w=60")
    );
    assert!(
        r.header("ratelimit")
            .unwrap()
            .starts_with("\"auth\";r=2;t=")
    );
    c.post(
        "/v1/auth/token",
        json!({ "grant_type": "password", "email": email, "password": "nope nope nope" }),
    )
    .await;
    assert_eq!(
        login(&c, &email, "wrong wrong wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
    let over = login(&c, &email, PASSWORD).await;
    assert!(limited(&over), "{} {}", over.status, over.text);
    assert_eq!(over.header("x-ratelimit-remaining").as_deref(), Some("0"));
    let retry: u64 = over.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=12).contains(&retry), "one request every 12 s: {retry}");
    assert!(limited(
        &c.post("/v1/invitations/accept", json!({ "token": "x" }))
            .await
    ));
    // Never limited: health, readiness, the JWKS, and routes outside /v1.
    for path in [
        "/healthz",
        "/readyz",
        "/.well-known/jwks.json",
        "/openapi.json",
    ] {
        for _ in 0..6 {
            let r = c.get(path).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            assert!(r.header("x-ratelimit-limit").is_none(), "{path}");
        }
    }
}

async fn api_routes_count_per_credential(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[("GATEHOUSE_RATE_LIMIT_API", "3/1m")]).await;
    let org = first_org(&owner).await;
    // The owner's session already made one request (first_org): two more fit.
    assert_eq!(owner.get("/v1/auth/me").await.status, StatusCode::OK);
    assert_eq!(owner.get("/v1/auth/me").await.status, StatusCode::OK);
    let over = owner.get("/v1/auth/me").await;
    assert!(limited(&over), "{}", over.text);
    assert_eq!(
        over.header("ratelimit-policy").as_deref(),
        Some("\"api\";q=3;w=60")
    );
    // A second session of the same user has its own budget; so has an API key.
    let mut other = server.client();
    other.login(&owner_email(), PASSWORD).await;
    assert_eq!(other.get("/v1/auth/me").await.status, StatusCode::OK);
    let key = {
        let mut fresh = server.client();
        fresh.login(&owner_email(), PASSWORD).await;
        fresh.create_key(&org, &["check"]).await.1
    };
    let k = server.client().with_key(&key);
    for _ in 0..3 {
        assert_eq!(k.get("/v1/auth/me").await.status, StatusCode::OK);
    }
    assert!(limited(&k.get("/v1/auth/me").await));
    // Credentials that do not work are counted against the client's IP: made-up keys do not
    // buy fresh budgets.
    let statuses: Vec<StatusCode> = {
        let mut v = Vec::new();
        for i in 0..5 {
            let bogus = format!("gk_{:012}_{}", i, "A".repeat(43));
            v.push(
                server
                    .client()
                    .with_key(&bogus)
                    .get("/v1/auth/me")
                    .await
                    .status,
            );
        }
        v
    };
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::UNAUTHORIZED)
            .count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        2,
        "{statuses:?}"
    );
}

fn owner_email() -> String {
    "owner@example.com".to_owned()
}

async fn forwarded_for_is_believed_only_from_trusted_proxies(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(&db, &[("GATEHOUSE_RATE_LIMIT_AUTH", "2/1m")]);
    let c = server.client();
    let attempt = |xff: String| {
        let c = c.clone();
        async move {
            Client::send(
                c.request(Method::POST, "/v1/auth/login")
                    .header("x-forwarded-for", xff)
                    .json(&json!({ "email": "a@example.com", "password": "whatever it is" })),
            )
            .await
        }
    };
    let mut limited_count = 0;
    for i in 0..4 {
        limited_count += usize::from(limited(&attempt(format!("198.51.100.{i}")).await));
    }
    assert_eq!(
        limited_count, 2,
        "a forged X-Forwarded-For from an untrusted peer changes nothing"
    );
    drop(server);

    let server = Server::start(
        &db,
        &[
            ("GATEHOUSE_RATE_LIMIT_AUTH", "2/1m"),
            ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32"),
        ],
    );
    let c = server.client();
    for i in 0..4 {
        let r = Client::send(
            c.request(Method::POST, "/v1/auth/login")
                .header("x-forwarded-for", format!("203.0.113.{i}, 127.0.0.1"))
                .json(&json!({ "email": "a@example.com", "password": "whatever it is" })),
        )
        .await;
        assert_eq!(
            r.status,
            StatusCode::UNAUTHORIZED,
            "behind a trusted proxy each client has its own budget"
        );
    }
}

async fn lockout_locks_known_and_unknown_emails_alike(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let env = [("GATEHOUSE_LOCKOUT", "3/1m"), ("GATEHOUSE_SIGNUP", "open")];
    let (server, owner, email) = with_admin(&db, &env).await;
    let c = server.client();
    for target in [email.as_str(), "nobody@example.com"] {
        for _ in 0..3 {
            let r = login(&c, target, "wrong password here").await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::UNAUTHORIZED, "invalid_credentials"),
                "{target}"
            );
        }
    }
    let known = login(&c, &email, PASSWORD).await;
    let unknown = login(&c, "nobody@example.com", PASSWORD).await;
    assert!(
        limited(&known) && limited(&unknown),
        "{} / {}",
        known.text,
        unknown.text
    );
    let strip = |r: &Reply| {
        let mut b: Value = r.body.clone();
        b["error"]["request_id"] = json!(null);
        b
    };
    assert_eq!(
        strip(&known),
        strip(&unknown),
        "lockout reveals nothing about which emails exist"
    );
    let retry: u64 = known.header("retry-after").unwrap().parse().unwrap();
    assert!((50..=60).contains(&retry), "{retry}");
    // The password grant is locked too; the existing session keeps working.
    let grant = c
        .post(
            "/v1/auth/token",
            json!({ "grant_type": "password", "email": email, "password": PASSWORD }),
        )
        .await;
    assert!(limited(&grant));
    assert_eq!(owner.get("/v1/auth/me").await.status, StatusCode::OK);
    let system = owner
        .get("/v1/system/audit?category=security&limit=1000")
        .await;
    let locks = system.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.locked")
        .count();
    assert_eq!(locks, 2, "one auth.locked per email");

    // The lock survives a restart; the operator lifts it.
    drop(server);
    let server = Server::start(&db, &env);
    assert!(
        limited(&login(&server.client(), &email, PASSWORD).await),
        "still locked after a restart"
    );
    let (code, out, err) = run_cli(&db, &env, &["users", "unlock", &email.to_uppercase()], None);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("unlocked"), "{out}");
    assert_eq!(
        login(&server.client(), &email, PASSWORD).await.status,
        StatusCode::OK
    );
}

async fn parallel_guesses_run_at_most_the_allowed_checks(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[("GATEHOUSE_LOCKOUT", "5/15m")]).await;
    let guesses: Vec<_> = (0..40)
        .map(|i| {
            let c = server.client();
            let email = email.clone();
            tokio::spawn(async move {
                login(&c, &email, &format!("guess number {i} is wrong"))
                    .await
                    .status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for g in guesses {
        statuses.push(g.await.unwrap());
    }
    let checked = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!((checked, refused), (5, 35), "{statuses:?}");
    // Exactly as many password checks ran (each failed one is an auth.login_failed event).
    let system = owner
        .get("/v1/system/audit?category=security&limit=1000")
        .await;
    let failures = system.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "auth.login_failed" && e["details"]["reason"] == "wrong_password"
        })
        .count();
    assert_eq!(failures, 5);
}

/// With the database backend, two instances on one PostgreSQL share every budget: together
/// they never admit more than the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_backend_is_shared_by_instances() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let env = [
        ("GATEHOUSE_RATE_LIMIT_BACKEND", "database"),
        ("GATEHOUSE_RATE_LIMIT_AUTH", "5/1m"),
    ];
    let a = Server::start(&db, &env);
    let b = Server::start(&db, &env);
    let mut admitted = 0;
    for i in 0..12 {
        let server = if i % 2 == 0 { &a } else { &b };
        let r = login(
            &server.client(),
            "someone@example.com",
            "wrong but long enough",
        )
        .await;
        admitted += usize::from(r.status != StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(admitted, 5);
    let concurrent: Vec<_> = (0..20)
        .map(|i| {
            let c = if i % 2 == 0 { a.client() } else { b.client() };
            tokio::spawn(async move {
                login(&c, "other@example.com", "wrong but long enough")
                    .await
                    .status
            })
        })
        .collect();
    let mut passed = 0;
    for t in concurrent {
        passed += usize::from(t.await.unwrap() != StatusCode::TOO_MANY_REQUESTS);
    }
    assert_eq!(passed, 0, "the IP's budget is spent on both instances");
}

/// The database backend failing closed: while PostgreSQL is unreachable no `/v1` request is let
/// through unchecked, and limits resume with the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_database_backend_fails_closed() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let proxy = CuttableProxy::start("127.0.0.1:5432").await;
    let url = db.url_via(proxy.port);
    let env = [("GATEHOUSE_RATE_LIMIT_BACKEND", "database")];
    let server = Server::start_url(&url, db.dir.path(), &env);
    let c = server.client();
    assert_eq!(c.get("/v1/auth/me").await.status, StatusCode::UNAUTHORIZED);
    proxy.cut().await;
    for path in ["/v1/auth/me", "/v1/orgs"] {
        let r = c.get(path).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            "{path}"
        );
    }
    let login = login(&c, "a@example.com", "whatever it is").await;
    assert_eq!(login.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        c.get("/healthz").await.status,
        StatusCode::OK,
        "never limited, never needs the database"
    );
    proxy.restore();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while c.get("/v1/auth/me").await.status != StatusCode::UNAUTHORIZED {
        assert!(
            std::time::Instant::now() < deadline,
            "limits did not come back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
