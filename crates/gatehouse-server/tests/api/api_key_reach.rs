//! Where an API key reaches: introspection of credentials by an org's key, and revocation
//! reaching every instance on one PostgreSQL within a second.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::*;

both!(introspection);

async fn introspection(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[("GATEHOUSE_SIGNUP", "open")]).await;
    let org = first_org(&owner).await;
    let (_, introspector) = owner.create_key(&org, &["introspect"]).await;
    let (_, plain) = owner.create_key(&org, &["check"]).await;
    let other_org = owner.create_org("Other").await;
    let (_, foreign) = owner.create_key(&other_org, &["check"]).await;
    server
        .client()
        .post(
            "/v1/auth/signup",
            json!({ "email": "outsider@example.com", "password": PASSWORD }),
        )
        .await;
    let mut outsider = server.client();
    outsider.login("outsider@example.com", PASSWORD).await;
    let mut member = server.client();
    member.login(&email, PASSWORD).await;
    let session_token = member
        .cookie
        .clone()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();
    let outsider_token = outsider
        .cookie
        .clone()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned();

    let ask = |token: String| {
        let c = server.client().with_key(&introspector);
        async move { c.post("/v1/introspect", json!({ "token": token })).await }
    };
    let s = ask(session_token.clone()).await;
    assert_eq!(s.status, StatusCode::OK, "{}", s.text);
    assert_eq!(
        (s.body["active"].as_bool(), s.body["token_type"].as_str()),
        (Some(true), Some("session"))
    );
    assert_eq!(
        s.body["sub"],
        owner.get("/v1/auth/me").await.body["user"]["id"]
    );
    assert!(s.body["exp"].is_i64());
    let k = ask(plain.clone()).await;
    assert_eq!(
        (k.body["active"].as_bool(), k.body["token_type"].as_str()),
        (Some(true), Some("api_key"))
    );
    assert_eq!(
        (k.body["org_id"].as_str(), k.body["scope"].as_str()),
        (Some(org.as_str()), Some("check"))
    );
    for inactive in [
        outsider_token,
        foreign,
        "garbage".to_owned(),
        "A".repeat(43),
    ] {
        let r = ask(inactive.clone()).await;
        assert_eq!(
            (r.status, r.body.clone()),
            (StatusCode::OK, json!({ "active": false })),
            "{inactive}"
        );
    }
    member.post_empty("/v1/auth/logout").await;
    assert_eq!(
        ask(session_token.clone()).await.body,
        json!({ "active": false }),
        "ended sessions are inactive"
    );

    let no_scope = server
        .client()
        .with_key(&plain)
        .post("/v1/introspect", json!({ "token": plain }))
        .await;
    assert_eq!(
        (no_scope.status, no_scope.code()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    let by_user = owner
        .post("/v1/introspect", json!({ "token": plain }))
        .await;
    assert_eq!(
        by_user.code(),
        "insufficient_scope",
        "introspection needs an API key"
    );
    assert_eq!(
        server
            .client()
            .post("/v1/introspect", json!({ "token": plain }))
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
}

/// Revocation and deletion on one instance stop the key on another within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_revocation_reaches_every_instance_within_a_second() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let (a, owner, _) = with_admin(&db, &[]).await;
    let b = Server::start(&db, &[]);
    let org = first_org(&owner).await;
    for action in ["revoke", "delete"] {
        let (id, key) = owner.create_key(&org, &["check"]).await;
        let on_b = b.client().with_key(&key);
        for _ in 0..3 {
            assert_eq!(
                on_b.get("/v1/auth/me").await.status,
                StatusCode::OK,
                "B accepts (and caches) the key"
            );
        }
        let r = match action {
            "revoke" => {
                owner
                    .post_empty(&format!("/v1/orgs/{org}/api-keys/{id}/revoke"))
                    .await
            }
            _ => owner.delete(&format!("/v1/orgs/{org}/api-keys/{id}")).await,
        };
        assert!(r.status.is_success(), "{}", r.text);
        let done = Instant::now();
        loop {
            let status = on_b.get("/v1/auth/me").await.status;
            if status == StatusCode::UNAUTHORIZED {
                break;
            }
            assert!(
                done.elapsed() < Duration::from_secs(1),
                "{action} on A not seen by B within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(
            a.client().with_key(&key).get("/v1/auth/me").await.status,
            StatusCode::UNAUTHORIZED
        );
    }

    // Renaming or deleting the org reaches B's cache too.
    let (_, key) = owner.create_key(&org, &["check"]).await;
    let on_b = b.client().with_key(&key);
    assert_eq!(on_b.get("/v1/orgs").await.body["orgs"][0]["name"], "Acme");
    owner
        .patch(&format!("/v1/orgs/{org}"), json!({ "name": "Renamed" }))
        .await;
    let done = Instant::now();
    while on_b.get("/v1/orgs").await.body["orgs"][0]["name"] != "Renamed" {
        assert!(
            done.elapsed() < Duration::from_secs(1),
            "rename not seen by B within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let doomed = owner.create_org("Doomed").await;
    let (_, doomed_key) = owner.create_key(&doomed, &["check"]).await;
    let on_b = b.client().with_key(&doomed_key);
    assert_eq!(on_b.get("/v1/auth/me").await.status, StatusCode::OK);
    assert_eq!(
        owner.delete(&format!("/v1/orgs/{doomed}")).await.status,
        StatusCode::NO_CONTENT
    );
    let done = Instant::now();
    while on_b.get("/v1/auth/me").await.status != StatusCode::UNAUTHORIZED {
        assert!(
            done.elapsed() < Duration::from_secs(1),
            "org deletion not seen by B within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
