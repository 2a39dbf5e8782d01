//! Issue 10's token rules, black-box: every refresh re-checks the user (demotion, removal,
//! disabling, credential changes end the family at once and introspection agrees), a token is
//! no stronger than its scope on gatehouse's own routes, the org decides which application
//! scopes each role may put on tokens. (Sign-ins racing a credential change: `credential_races`.)

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    demotion_removal_and_disabling_end_refresh_at_once,
    a_token_is_no_stronger_than_its_scope,
    the_org_decides_application_scopes_per_role
);

pub(crate) async fn token_for(c: &Client, email: &str, org: Option<&str>, scope: &str) -> Reply {
    let mut body = json!({ "grant_type": "password", "email": email, "password": PASSWORD });
    if let Some(org) = org {
        body["org_id"] = json!(org);
    }
    if !scope.is_empty() {
        body["scope"] = json!(scope);
    }
    c.post("/v1/auth/token", body).await
}

async fn pair(c: &Client, email: &str, org: Option<&str>, scope: &str) -> (String, String) {
    let r = token_for(c, email, org, scope).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    (
        r.body["access_token"].as_str().unwrap().to_owned(),
        r.body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

async fn refresh(c: &Client, refresh_token: &str) -> Reply {
    c.post(
        "/v1/auth/token",
        json!({ "grant_type": "refresh_token", "refresh_token": refresh_token }),
    )
    .await
}

async fn introspect(server: &Server, key: &str, token: &str) -> Value {
    let r = server
        .client()
        .with_key(key)
        .post("/v1/introspect", json!({ "token": token }))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body
}

async fn demotion_removal_and_disabling_end_refresh_at_once(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (_, introspector) = owner.create_key(&org, &["introspect"]).await;
    let (_, admin_id) = server
        .member(&owner, &org, "admin@example.com", "admin")
        .await;
    let anon = server.client();

    // An admin's token for managing the org: refresh works while the admin is one.
    let (access, rt) = pair(
        &anon,
        "admin@example.com",
        Some(&org),
        "org:admin tasks:read",
    )
    .await;
    let r = refresh(&anon, &rt).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    let access2 = r.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        introspect(&server, &introspector, &access2).await["active"],
        true
    );

    // Demoted to member: the family ends now, refresh and access tokens alike.
    let r = owner
        .patch(
            &format!("/v1/orgs/{org}/members/{admin_id}"),
            json!({ "role": "member" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // At once: before any refresh could notice.
    for token in [&access, &access2] {
        let r = server.client().with_key(token).get("/v1/auth/me").await;
        assert_eq!(r.code(), "token_revoked", "{}", r.text);
        assert_eq!(
            introspect(&server, &introspector, token).await["active"],
            false
        );
    }
    let r = refresh(&anon, &rt).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "token_revoked"),
        "{}",
        r.text
    );

    // What a member may hold survives a demotion…
    let (access, rt) = pair(&anon, "admin@example.com", Some(&org), "members:read").await;
    let r = refresh(&anon, &rt).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let rt = r.body["refresh_token"].as_str().unwrap().to_owned();
    // …but not a removal.
    let r = owner
        .delete(&format!("/v1/orgs/{org}/members/{admin_id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = server.client().with_key(&access).get("/v1/auth/me").await;
    assert_eq!(r.code(), "token_revoked", "at once: {}", r.text);
    let r = refresh(&anon, &rt).await;
    assert_eq!(r.code(), "token_revoked", "{}", r.text);
    assert_eq!(
        introspect(&server, &introspector, &access).await["active"],
        false
    );

    // Disabling a user (`gatehouse users disable`) ends their sessions and families at once.
    let (mut session, member_id) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let (access, rt) = pair(&anon, "member@example.com", Some(&org), "").await;
    // Both were used (and so cached) before the CLI, another process, disables the user: the
    // server sees that commit within its watch interval (SPEC §6: within a second).
    assert_eq!(
        server
            .client()
            .with_key(&access)
            .get("/v1/auth/me")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(session.get("/v1/auth/me").await.status, StatusCode::OK);
    let (code, out, err) = run_cli(&db, &[], &["users", "disable", "member@example.com"], None);
    assert_eq!(code, 0, "{out}{err}");
    let since = std::time::Instant::now();
    loop {
        let token = server.client().with_key(&access).get("/v1/auth/me").await;
        let cookie = session.get("/v1/auth/me").await.status;
        if token.code() == "token_revoked" && cookie == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            since.elapsed() < std::time::Duration::from_secs(1),
            "the disabled user still works after 1 s: {} {cookie}",
            token.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = refresh(&anon, &rt).await;
    assert_eq!(r.code(), "token_revoked", "{}", r.text);
    let r = session.login("member@example.com", PASSWORD).await;
    assert_eq!(r.code(), "invalid_credentials", "{}", r.text);
    let (code, _, err) = run_cli(&db, &[], &["users", "disable", "nobody@example.com"], None);
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = run_cli(&db, &[], &["users", "enable", "member@example.com"], None);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        session.login("member@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let changes = db
        .query_strings(&format!(
            "SELECT action FROM audit_events WHERE action IN ('user.disabled', 'user.enabled') \
             AND subject_user = '{member_id}' ORDER BY seq"
        ))
        .await;
    assert_eq!(changes, ["user.disabled", "user.enabled"]);

    // Disabled behind gatehouse's back (the operator's database): the next refresh notices.
    let (_, rt) = pair(&anon, "member@example.com", Some(&org), "").await;
    db.query_strings(&format!(
        "UPDATE users SET disabled_at = 1 WHERE id = '{member_id}'"
    ))
    .await;
    let r = refresh(&anon, &rt).await;
    assert_eq!(r.code(), "token_revoked", "{}", r.text);

    // Each refusal is recorded with its reason.
    let events = db
        .query_strings("SELECT body FROM audit_events WHERE action = 'token.revoked' ORDER BY seq")
        .await
        .join("\n");
    assert!(events.contains("user_disabled"), "{events}");
}

async fn a_token_is_no_stronger_than_its_scope(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let anon = server.client();

    // The owner asks for an application scope only: the token may read who it is and its
    // orgs, and nothing of the org's management.
    let (member, member_id) = server
        .member(&owner, &org, "someone@example.com", "member")
        .await;
    drop(member);
    let (key_id, _) = owner.create_key(&org, &["tasks:read"]).await;
    let (narrow, _) = pair(&anon, &email, Some(&org), "tasks:read").await;
    let t = server.client().with_key(&narrow);
    assert_eq!(t.get("/v1/auth/me").await.status, StatusCode::OK);
    assert_eq!(t.get("/v1/orgs").await.status, StatusCode::OK);
    let attempts: Vec<(&str, String, Value)> = vec![
        (
            "POST",
            format!("/v1/orgs/{org}/invitations"),
            json!({ "email": "x@example.com", "role": "owner" }),
        ),
        (
            "POST",
            format!("/v1/orgs/{org}/api-keys"),
            json!({ "name": "k", "scopes": ["tasks:read"] }),
        ),
        (
            "PATCH",
            format!("/v1/orgs/{org}"),
            json!({ "name": "Renamed" }),
        ),
        ("GET", format!("/v1/orgs/{org}"), Value::Null),
        ("GET", format!("/v1/orgs/{org}/api-keys"), Value::Null),
        ("GET", format!("/v1/orgs/{org}/members"), Value::Null),
        ("GET", format!("/v1/orgs/{org}/audit"), Value::Null),
        (
            "PATCH",
            format!("/v1/orgs/{org}/members/{member_id}"),
            json!({ "role": "admin" }),
        ),
        (
            "DELETE",
            format!("/v1/orgs/{org}/members/{member_id}"),
            Value::Null,
        ),
        (
            "POST",
            format!("/v1/orgs/{org}/api-keys/{key_id}/revoke"),
            json!({}),
        ),
        (
            "DELETE",
            format!("/v1/orgs/{org}/api-keys/{key_id}"),
            Value::Null,
        ),
        ("GET", format!("/v1/orgs/{org}/audit/verify"), Value::Null),
        (
            "POST",
            format!("/v1/orgs/{org}/audit/events"),
            json!({ "action": "app.did", "details": {} }),
        ),
        ("GET", format!("/v1/orgs/{org}/invitations"), Value::Null),
        ("DELETE", format!("/v1/orgs/{org}"), Value::Null),
        ("POST", "/v1/orgs".into(), json!({ "name": "Another" })),
    ];
    for (method, path, body) in &attempts {
        let r = match *method {
            "GET" => t.get(path).await,
            "POST" => t.post(path, body.clone()).await,
            "PATCH" => t.patch(path, body.clone()).await,
            _ => t.delete(path).await,
        };
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{method} {path}: {}",
            r.text
        );
    }
    let r = owner.get(&format!("/v1/orgs/{org}")).await;
    assert_eq!(r.body["name"], "Acme", "nothing changed: {}", r.text);

    // A token without an org carries no scope: no management either.
    let (unbound, _) = pair(&anon, &email, None, "").await;
    let r = server
        .client()
        .with_key(&unbound)
        .get(&format!("/v1/orgs/{org}/api-keys"))
        .await;
    assert_eq!(r.code(), "insufficient_scope", "{}", r.text);

    // gatehouse scopes open their own routes; org:admin the management routes.
    let (reader, _) = pair(&anon, &email, Some(&org), "audit:read members:read").await;
    let t = server.client().with_key(&reader);
    assert_eq!(
        t.get(&format!("/v1/orgs/{org}/audit")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get(&format!("/v1/orgs/{org}/members")).await.status,
        StatusCode::OK
    );
    let r = t.get(&format!("/v1/orgs/{org}/api-keys")).await;
    assert_eq!(r.code(), "insufficient_scope", "{}", r.text);
    let (admin, _) = pair(&anon, &email, Some(&org), "org:admin").await;
    let t = server.client().with_key(&admin);
    let r = t
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            json!({ "name": "by token", "scopes": ["tasks:read"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        t.get(&format!("/v1/orgs/{org}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get(&format!("/v1/orgs/{org}/members")).await.status,
        StatusCode::OK,
        "org:admin opens the members it manages"
    );
    // Account actions stay with the browser session, whatever the scope.
    let r = t.post("/v1/orgs", json!({ "name": "Another" })).await;
    assert_eq!(r.code(), "insufficient_scope", "{}", r.text);

    // org:admin is for owners and admins, and never on an API key.
    let (member, _) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    drop(member);
    let r = token_for(&anon, "member@example.com", Some(&org), "org:admin").await;
    assert_eq!(
        (r.status, r.body["error"]["fields"]["scope"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_allowed")),
        "{}",
        r.text
    );
    let r = owner
        .post(
            &format!("/v1/orgs/{org}/api-keys"),
            json!({ "name": "k", "scopes": ["org:admin"] }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
}

async fn the_org_decides_application_scopes_per_role(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let anon = server.client();

    // By default members may put no application scope on a token; owners any.
    let r = owner.get(&format!("/v1/orgs/{org}")).await;
    assert_eq!(
        r.body["token_scopes"],
        json!({ "owner": ["*"], "admin": ["*"], "member": [] }),
        "{}",
        r.text
    );
    let r = token_for(&anon, "member@example.com", Some(&org), "tasks:read").await;
    assert_eq!(
        r.body["error"]["fields"]["scope"], "not_allowed",
        "{}",
        r.text
    );
    pair(&anon, &email, Some(&org), "tasks:write").await;

    // Bad policies change nothing.
    for bad in [
        json!({ "member": ["audit:read"] }),
        json!({ "member": ["org:admin"] }),
        json!({ "boss": [] }),
        json!(["tasks:read"]),
    ] {
        let r = owner
            .patch(&format!("/v1/orgs/{org}"), json!({ "token_scopes": bad }))
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text
        );
    }
    let r = owner
        .patch(
            &format!("/v1/orgs/{org}"),
            json!({ "name": "", "token_scopes": { "member": ["tasks:read"] } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let r = token_for(&anon, "member@example.com", Some(&org), "tasks:read").await;
    assert_eq!(
        r.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "nothing was applied"
    );

    // The org lets members read tasks, and owners nothing.
    let (owner_access, owner_rt) = pair(&anon, &email, Some(&org), "tasks:read").await;
    let r = owner
        .patch(
            &format!("/v1/orgs/{org}"),
            json!({ "token_scopes": { "member": ["tasks:read"], "owner": [] } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["token_scopes"]["member"], json!(["tasks:read"]));
    let (_, member_rt) = pair(&anon, "member@example.com", Some(&org), "tasks:read").await;
    let r = token_for(&anon, "member@example.com", Some(&org), "tasks:write").await;
    assert_eq!(
        r.body["error"]["fields"]["scope"], "not_allowed",
        "{}",
        r.text
    );
    assert_eq!(refresh(&anon, &member_rt).await.status, StatusCode::OK);
    // The owner's family no longer fits the policy: its next refresh is refused.
    let r = refresh(&anon, &owner_rt).await;
    assert_eq!(r.code(), "token_revoked", "{}", r.text);
    let r = server
        .client()
        .with_key(&owner_access)
        .get("/v1/auth/me")
        .await;
    assert_eq!(r.code(), "token_revoked", "{}", r.text);
    // A member may not change it; the change is audited.
    let mut member = server.client();
    assert_eq!(
        member.login("member@example.com", PASSWORD).await.status,
        StatusCode::OK
    );
    let r = member
        .patch(&format!("/v1/orgs/{org}"), json!({ "token_scopes": {} }))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{}",
        r.text
    );
    let n = db
        .query_strings("SELECT action FROM audit_events WHERE action = 'org.token_scopes_changed'")
        .await
        .len();
    assert_eq!(n, 1);
}
