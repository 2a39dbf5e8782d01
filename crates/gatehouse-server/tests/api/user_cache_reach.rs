//! The per-instance cache of token revocation states and memberships (SPEC §11 budget, §6's
//! rule) on two instances of one PostgreSQL: a role change, a revoked token family and a member
//! removed on A are refused or narrowed on B within a second, though B had just cached them; a
//! sign-out on A (sessions are never cached) is refused on B as well.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::*;
use crate::token_rules::token_for;

const ROUTES: &str = r#"
[[gateway.routes]]
prefix = "/app"

[[gateway.routes]]
prefix = "/admin"
roles = ["admin"]
"#;

async fn judged(on: &Client, token: &str, path: &str) -> StatusCode {
    Client::send(
        on.with_key(token)
            .request(reqwest::Method::GET, "/v1/forward-auth")
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-host", "app.example.com")
            .header("x-forwarded-uri", path),
    )
    .await
    .status
}

/// Until `path` with `token` on `on` answers `want`, at most one second.
async fn within_a_second(on: &Client, token: &str, path: &str, want: StatusCode, what: &str) {
    let since = Instant::now();
    loop {
        if judged(on, token, path).await == want {
            return;
        }
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "{what} not seen by B within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_on_a_reach_b_within_a_second() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let config = db.dir.path().join("routes.toml");
    std::fs::write(&config, ROUTES).expect("config");
    let config = config.display().to_string();
    // One issuer for both, as behind one load balancer.
    let env = [
        ("GATEHOUSE_CONFIG", config.as_str()),
        ("GATEHOUSE_PUBLIC_URL", "http://auth.example.test"),
    ];
    let (a, owner, _) = with_admin(&db, &env).await;
    let b = Server::start(&db, &env);
    let on_b = b.client();
    let org = first_org(&owner).await;
    let (mut member, member_id) = a.member(&owner, &org, "m@example.com", "admin").await;
    let jwt = token(&a, &org).await;
    for _ in 0..3 {
        assert_eq!(
            judged(&on_b, &jwt, "/admin/x").await,
            StatusCode::OK,
            "B caches"
        );
    }

    // A role change on A: B's cached membership no longer lets the member into /admin.
    let r = owner
        .patch(
            &format!("/v1/orgs/{org}/members/{member_id}"),
            json!({ "role": "member" }),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    within_a_second(
        &on_b,
        &jwt,
        "/admin/x",
        StatusCode::FORBIDDEN,
        "a role change",
    )
    .await;
    assert_eq!(
        judged(&on_b, &jwt, "/app/x").await,
        StatusCode::OK,
        "still a member"
    );

    // A session revoked on A (signing out): B refuses the cookie it had cached.
    let mut browser = a.client();
    assert_eq!(
        browser.login("m@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let cookie_on_b = Client {
        base: b.base.clone(),
        ..browser.clone()
    };
    for _ in 0..3 {
        assert_eq!(
            cookie_on_b.get("/v1/auth/me").await.status,
            StatusCode::OK,
            "B caches"
        );
    }
    assert_eq!(
        browser.post_empty("/v1/auth/logout").await.status,
        StatusCode::NO_CONTENT
    );
    let since = Instant::now();
    while cookie_on_b.get("/v1/auth/me").await.status != StatusCode::UNAUTHORIZED {
        assert!(
            since.elapsed() < Duration::from_secs(1),
            "a sign-out not seen by B within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Logout-all on A revokes the family: B refuses the token it had cached.
    assert_eq!(
        member.post_empty("/v1/auth/logout-all").await.status,
        StatusCode::NO_CONTENT
    );
    within_a_second(
        &on_b,
        &jwt,
        "/app/x",
        StatusCode::UNAUTHORIZED,
        "a revoked family",
    )
    .await;

    // A member removed on A: B refuses their new token.
    assert_eq!(
        member.login("m@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let jwt = token(&a, &org).await;
    for _ in 0..3 {
        assert_eq!(
            judged(&on_b, &jwt, "/app/x").await,
            StatusCode::OK,
            "B caches"
        );
    }
    let r = owner
        .delete(&format!("/v1/orgs/{org}/members/{member_id}"))
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    within_a_second(&on_b, &jwt, "/app/x", StatusCode::UNAUTHORIZED, "a removal").await;
}

/// An access token of the member, bound to `org`.
async fn token(a: &Server, org: &str) -> String {
    let r = token_for(&a.client(), "m@example.com", Some(org), "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["access_token"].as_str().unwrap().to_owned()
}
