//! Invitations: shown once, single use, expiring, bound to the invited email.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::*;

both!(
    new_user_accepts,
    existing_user_accepts_when_signed_in,
    invitations_expire
);

async fn new_user_accepts(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let r = owner
        .post(
            &format!("/v1/orgs/{org}/invitations"),
            json!({ "email": "New.Person@Example.com", "role": "admin" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let token = r.body["token"].as_str().unwrap().to_owned();
    assert!(r.body["id"].is_string() && r.body["expires_at"].as_str().unwrap().ends_with('Z'));
    let bad = owner
        .post(
            &format!("/v1/orgs/{org}/invitations"),
            json!({ "email": "nope", "role": "member" }),
        )
        .await;
    assert_eq!(bad.body["error"]["fields"]["email"], "invalid");

    let anon = server.client();
    let no_pw = anon
        .post("/v1/invitations/accept", json!({ "token": token }))
        .await;
    assert_eq!(
        (
            no_pw.status,
            no_pw.body["error"]["fields"]["password"].as_str()
        ),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("required"))
    );
    let weak = anon
        .post(
            "/v1/invitations/accept",
            json!({ "token": token, "password": "password123" }),
        )
        .await;
    assert_eq!(
        weak.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the password policy applies"
    );
    let ok = anon
        .post(
            "/v1/invitations/accept",
            json!({ "token": token, "password": PASSWORD, "name": "New" }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    assert_eq!(
        (
            ok.body["org"]["id"].as_str(),
            ok.body["org"]["role"].as_str()
        ),
        (Some(org.as_str()), Some("admin"))
    );
    assert_eq!(ok.body["user"]["email"], "New.Person@Example.com");
    let again = anon
        .post(
            "/v1/invitations/accept",
            json!({ "token": token, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::NOT_FOUND, "not_found"),
        "single use"
    );
    let unknown = anon
        .post(
            "/v1/invitations/accept",
            json!({ "token": "A".repeat(43), "password": PASSWORD }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);

    let mut c = server.client();
    assert_eq!(
        c.login("new.person@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let me = c.get("/v1/auth/me").await;
    assert_eq!(me.body["orgs"][0]["role"], "admin");
    // The token is never stored in clear.
    assert!(!db.everything().await.contains(&token));
}

async fn existing_user_accepts_when_signed_in(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[("GATEHOUSE_SIGNUP", "open")]).await;
    let org = first_org(&owner).await;
    for email in ["bob@example.com", "eve@example.com"] {
        server
            .client()
            .post(
                "/v1/auth/signup",
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
    }
    let token = owner.invite(&org, "BOB@example.com", "member").await;

    let anon = server
        .client()
        .post(
            "/v1/invitations/accept",
            json!({ "token": token, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        (anon.status, anon.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated"),
        "an existing account signs in first"
    );
    let mut eve = server.client();
    eve.login("eve@example.com", PASSWORD).await;
    let wrong = eve
        .post("/v1/invitations/accept", json!({ "token": token }))
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::FORBIDDEN, "forbidden"),
        "bound to the invited email"
    );
    let mut no_csrf = eve.clone();
    no_csrf.csrf = None;
    assert_eq!(
        no_csrf
            .post("/v1/invitations/accept", json!({ "token": token }))
            .await
            .code(),
        "csrf_failed"
    );

    let mut bob = server.client();
    bob.login("bob@example.com", PASSWORD).await;
    let ok = bob
        .post("/v1/invitations/accept", json!({ "token": token }))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(
        bob.get("/v1/auth/me").await.body["orgs"][0]["id"],
        org.as_str()
    );
    let twice = owner.invite(&org, "bob@example.com", "admin").await;
    let dup = bob
        .post("/v1/invitations/accept", json!({ "token": twice }))
        .await;
    assert_eq!((dup.status, dup.code()), (StatusCode::CONFLICT, "conflict"));
    // An API key can never accept invitations.
    let (_, key) = owner.create_key(&org, &["members:read"]).await;
    let third = owner.invite(&org, "eve@example.com", "member").await;
    let r = server
        .client()
        .with_key(&key)
        .post("/v1/invitations/accept", json!({ "token": third }))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
}

async fn invitations_expire(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[("GATEHOUSE_INVITATION_TTL", "1s")]).await;
    let org = first_org(&owner).await;
    let token = owner.invite(&org, "late@example.com", "member").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = server
        .client()
        .post(
            "/v1/invitations/accept",
            json!({ "token": token, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "token_expired")
    );
    let mut c = server.client();
    assert_eq!(
        c.login("late@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED,
        "no account was made"
    );
}
