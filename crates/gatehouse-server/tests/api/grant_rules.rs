//! The grant rules that take more than one actor (SPEC §7): every way a sharing member might
//! escalate, a removed member's grants going with them, two instances on one PostgreSQL
//! answering from the last committed write, and gateway routes that require a capability.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::grants::{check, grant, grants, key_client};
use crate::support::*;

both!(
    a_sharing_member_cannot_escalate,
    a_removed_member_loses_their_grants,
    routes_can_require_a_capability
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_answer_from_the_last_write() {
    let Some(db) = TestDb::new(Db::Postgres).await else {
        return;
    };
    let (a, owner, _) = with_admin(&db, &[]).await;
    let b = Server::start(&db, &[]);
    let org = first_org(&owner).await;
    let (_, member_id) = a.member(&owner, &org, "member@example.com", "member").await;
    let subject = format!("user:{member_id}");
    let on_b = key_client(&b, &owner, &org, &["check"]).await;
    let r = grant(
        &owner,
        &org,
        json!({ "resource": "page:1", "subject": subject, "capabilities": ["view"] }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    // No waiting anywhere: a check reads the database, never a cache.
    assert_eq!(
        check(&on_b, &org, &subject, "page:1", "view").await,
        (StatusCode::OK, Some(true), "grant".to_owned()),
        "granted on A, allowed on B at once"
    );
    let r = owner.delete(&format!("{}/{id}", grants(&org))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        check(&on_b, &org, &subject, "page:1", "view").await,
        (StatusCode::OK, Some(false), "none".to_owned()),
        "deleted on A, refused on B at once"
    );
}

async fn a_sharing_member_cannot_escalate(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (sharer, sharer_id) = server
        .member(&owner, &org, "sharer@example.com", "member")
        .await;
    let (_, friend_id) = server
        .member(&owner, &org, "friend@example.com", "member")
        .await;
    let (_, third_id) = server
        .member(&owner, &org, "third@example.com", "member")
        .await;
    let (key_id, _) = owner.create_key(&org, &["tasks:read"]).await;
    let me = format!("user:{sharer_id}");
    let friend = format!("user:{friend_id}");
    let third = format!("user:{third_id}");
    let until = "2999-01-01T00:00:00Z";
    let give = |subject: &str, resource: &str, caps: &[&str], expires: Option<&str>| {
        let mut b = json!({ "resource": resource, "subject": subject, "capabilities": caps });
        if let Some(e) = expires {
            b["expires_at"] = json!(e);
        }
        b
    };
    let r = grant(
        &owner,
        &org,
        give(&me, "page:1", &["view", "share"], Some(until)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = grant(
        &owner,
        &org,
        give(&third, "page:1", &["view", "edit"], None),
    )
    .await;
    let admins_grant = r.body["id"].as_str().unwrap().to_owned();

    for (body, why) in [
        (
            give(&friend, "page:1", &["edit"], Some(until)),
            "a capability the sharer lacks",
        ),
        (
            give(&friend, "page:1", &["view", "delete"], Some(until)),
            "more than held",
        ),
        (
            give(&friend, "page:1", &["view"], None),
            "forever, past the sharer's own expiry",
        ),
        (
            give(&friend, "page:1", &["view"], Some("2999-01-01T00:00:01Z")),
            "past the sharer's expiry",
        ),
        (
            give(&me, "page:1", &["view", "share"], None),
            "their own grant",
        ),
        (
            give(&me, "page:1", &["view", "share", "edit"], Some(until)),
            "their own grant, widened",
        ),
        (
            give(&third, "page:1", &["view"], Some(until)),
            "over a grant they did not make",
        ),
        (
            give(&friend, "page:2", &["view"], Some(until)),
            "another resource",
        ),
        (
            give(&friend, "page:1/child", &["view"], Some(until)),
            "a child: no inheritance",
        ),
    ] {
        let r = grant(&sharer, &org, body).await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{why}: {}",
            r.text
        );
    }
    // Within the limit: to a member or a key, then replaced by the sharer, all allowed.
    let r = grant(
        &sharer,
        &org,
        give(&friend, "page:1", &["view", "share"], Some(until)),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["created_by"], me.as_str());
    let friends_grant = r.body["id"].as_str().unwrap().to_owned();
    let r = grant(
        &sharer,
        &org,
        give(&friend, "page:1", &["view"], Some(until)),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = grant(
        &sharer,
        &org,
        give(
            &format!("api_key:{key_id}"),
            "page:1",
            &["view"],
            Some("2998-01-01T00:00:00Z"),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // The sharer sees the resource's grants, revokes what they made and nothing else.
    let r = sharer
        .get(&format!("{}?resource=page:1", grants(&org)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["grants"].as_array().unwrap().len(), 4);
    let r = sharer
        .delete(&format!("{}/{admins_grant}", grants(&org)))
        .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = sharer
        .delete(&format!("{}/{friends_grant}", grants(&org)))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    // Nothing the refusals tried was stored.
    assert_eq!(
        check(&owner, &org, &third, "page:1", "edit").await,
        (StatusCode::OK, Some(true), "grant".to_owned())
    );
    assert_eq!(
        check(&owner, &org, &friend, "page:2", "view").await.1,
        Some(false)
    );
    // Once the sharer's own grant is gone, so is their share.
    let r = owner.get(&format!("{}?subject={me}", grants(&org))).await;
    let mine = r.body["grants"][0]["id"].as_str().unwrap().to_owned();
    owner.delete(&format!("{}/{mine}", grants(&org))).await;
    let r = grant(
        &sharer,
        &org,
        give(&friend, "page:1", &["view"], Some(until)),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
}

async fn a_removed_member_loses_their_grants(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (_, member_id) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let subject = format!("user:{member_id}");
    for resource in ["page:1", "page:2"] {
        let body = json!({ "resource": resource, "subject": subject, "capabilities": ["view"] });
        assert_eq!(grant(&owner, &org, body).await.status, StatusCode::CREATED);
    }
    let r = owner
        .delete(&format!("/v1/orgs/{org}/members/{member_id}"))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = owner
        .get(&format!("{}?subject={subject}", grants(&org)))
        .await;
    assert_eq!(r.body["grants"], json!([]), "{}", r.text);
    let leftover = db
        .query_strings(&format!(
            "SELECT id FROM grants WHERE subject = '{subject}'"
        ))
        .await;
    assert!(leftover.is_empty(), "no grant row is left behind");
    let got = check(&owner, &org, &subject, "page:1", "view").await;
    assert_eq!(
        got.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no longer a member"
    );
    // Invited back, they start with nothing.
    let (_, again) = server
        .member(&owner, &org, "member2@example.com", "member")
        .await;
    assert_eq!(
        check(&owner, &org, &format!("user:{again}"), "page:1", "view")
            .await
            .1,
        Some(false)
    );
}

const CAPABILITY_ROUTES: &str = r#"
[[gateway.routes]]
prefix = "/pages"
capability = "edit"
resource = "page:{1}"

[[gateway.routes]]
prefix = "/open"
auth = "optional"
capability = "view"
resource = "page:{2}"
"#;

async fn ask(c: &Client, uri: &str) -> Reply {
    let rb = c
        .request(reqwest::Method::GET, "/v1/forward-auth")
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", uri);
    Client::send(rb).await
}

async fn routes_can_require_a_capability(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let config = db.dir.path().join("routes.toml");
    std::fs::write(&config, CAPABILITY_ROUTES).expect("config");
    let config = config.display().to_string();
    let (server, owner, _) = with_admin(&db, &[("GATEHOUSE_CONFIG", &config)]).await;
    let org = first_org(&owner).await;
    let (member, member_id) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let (key_id, key) = owner.create_key(&org, &["tasks:read"]).await;
    let key = server.client().with_key(&key);
    for (subject, resource, caps) in [
        (format!("user:{member_id}"), "page:42", vec!["view", "edit"]),
        (format!("user:{member_id}"), "page:7", vec!["view"]),
        (format!("api_key:{key_id}"), "page:42", vec!["edit"]),
    ] {
        let body = json!({ "resource": resource, "subject": subject, "capabilities": caps });
        assert_eq!(grant(&owner, &org, body).await.status, StatusCode::CREATED);
    }
    for (who, c, uri, status) in [
        ("member with edit", &member, "/pages/42", StatusCode::OK),
        (
            "member, below the segment",
            &member,
            "/pages/42/comments?x=1",
            StatusCode::OK,
        ),
        (
            "member with view only",
            &member,
            "/pages/7",
            StatusCode::FORBIDDEN,
        ),
        (
            "member without a grant",
            &member,
            "/pages/8",
            StatusCode::FORBIDDEN,
        ),
        ("no segment", &member, "/pages", StatusCode::FORBIDDEN),
        (
            "an escaped segment",
            &member,
            "/pages/4%32",
            StatusCode::FORBIDDEN,
        ),
        ("key with edit", &key, "/pages/42", StatusCode::OK),
        ("key without", &key, "/pages/7", StatusCode::FORBIDDEN),
        ("the owner", &owner, "/pages/999", StatusCode::OK),
        (
            "optional route, second segment",
            &member,
            "/open/x/7",
            StatusCode::OK,
        ),
        (
            "optional route, no grant",
            &member,
            "/open/x/8",
            StatusCode::FORBIDDEN,
        ),
    ] {
        let r = ask(c, uri).await;
        assert_eq!(r.status, status, "{who}: {uri}: {}", r.text);
        if status == StatusCode::FORBIDDEN {
            assert_eq!(r.code(), "forbidden", "{who}: {}", r.text);
        }
    }
    let anonymous = server.client();
    for uri in ["/pages/42", "/open/x/7"] {
        let r = ask(&anonymous, uri).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{uri}: {}", r.text);
    }
    // Revoked: refused on the next request (no cache).
    let r = owner
        .get(&format!("{}?resource=page:42", grants(&org)))
        .await;
    for g in r.body["grants"].as_array().unwrap() {
        let id = g["id"].as_str().unwrap();
        owner.delete(&format!("{}/{id}", grants(&org))).await;
    }
    assert_eq!(
        ask(&member, "/pages/42").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(ask(&key, "/pages/42").await.status, StatusCode::FORBIDDEN);
}
