//! Per-resource grants over HTTP (SPEC §7): the shapes of grant, list and check, replace
//! semantics, expired grants marked and answered `expired`, validation (`422`), who may grant,
//! list and check (owners, admins, scoped keys, members about themselves), other orgs `404`,
//! and the audit trail (grants audited, checks not).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    grants_replace_list_and_check,
    bad_grants_are_refused,
    who_may_grant_list_and_check
);

pub(crate) fn grants(org: &str) -> String {
    format!("/v1/orgs/{org}/grants")
}

pub(crate) async fn grant(c: &Client, org: &str, body: Value) -> Reply {
    c.post(&grants(org), body).await
}

/// `POST /check` as `c`: (status, allowed, reason).
pub(crate) async fn check(
    c: &Client,
    org: &str,
    subject: &str,
    resource: &str,
    capability: &str,
) -> (StatusCode, Option<bool>, String) {
    let r = c
        .post(
            &format!("/v1/orgs/{org}/check"),
            json!({ "subject": subject, "resource": resource, "capability": capability }),
        )
        .await;
    (
        r.status,
        r.body["allowed"].as_bool(),
        r.body["reason"].as_str().unwrap_or(r.code()).to_owned(),
    )
}

/// A client authenticating with a new key of `org` holding `scopes`.
pub(crate) async fn key_client(
    server: &Server,
    owner: &Client,
    org: &str,
    scopes: &[&str],
) -> Client {
    server
        .client()
        .with_key(&owner.create_key(org, scopes).await.1)
}

async fn grants_replace_list_and_check(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let owner_id = owner.get("/v1/auth/me").await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, admin_id) = server
        .member(&owner, &org, "admin@example.com", "admin")
        .await;
    let (_, member_id) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let (key_id, _) = owner.create_key(&org, &["tasks:read"]).await;
    let member = format!("user:{member_id}");
    let key = format!("api_key:{key_id}");

    let r = grant(
        &owner,
        &org,
        json!({ "resource": "page:123", "subject": member, "capabilities": ["edit", "view", "view"] }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["resource"], "page:123");
    assert_eq!(r.body["subject"], member);
    assert_eq!(
        r.body["capabilities"],
        json!(["view", "edit"]),
        "a set, in order"
    );
    assert_eq!(r.body["expires_at"], Value::Null);
    assert_eq!(r.body["created_by"], format!("user:{owner_id}"));
    assert!(r.body["created_at"].is_string());

    // Granting again replaces capabilities and expiry: 200, same id.
    let r = grant(
        &owner,
        &org,
        json!({ "resource": "page:123", "subject": member, "capabilities": ["view"],
                "expires_at": "2999-01-01T00:00:00.750Z" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["capabilities"], json!(["view"]));
    assert_eq!(
        r.body["expires_at"], "2999-01-01T00:00:00Z",
        "kept to the second"
    );

    let r = grant(
        &owner,
        &org,
        json!({ "resource": "page:123", "subject": key, "capabilities": ["view", "delete"] }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let key_grant = r.body["id"].as_str().unwrap().to_owned();
    let r = grant(
        &owner,
        &org,
        json!({ "resource": "page:9", "subject": member, "capabilities": ["share"] }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    // Checks: roles first, then the grant.
    for (subject, capability, allowed, reason) in [
        (format!("user:{owner_id}"), "delete", true, "owner"),
        (format!("user:{admin_id}"), "share", true, "admin"),
        (member.clone(), "view", true, "grant"),
        (member.clone(), "edit", false, "none"),
        (key.clone(), "delete", true, "grant"),
        (key.clone(), "edit", false, "none"),
    ] {
        let got = check(&owner, &org, &subject, "page:123", capability).await;
        assert_eq!(
            got,
            (StatusCode::OK, Some(allowed), reason.to_owned()),
            "{subject} {capability}"
        );
    }
    // No inheritance: a grant on page:123 says nothing of page:123/child.
    let got = check(&owner, &org, &member, "page:123/child", "view").await;
    assert_eq!(got, (StatusCode::OK, Some(false), "none".to_owned()));

    // The member's grant expires (moved to the past in the database: no sleeping).
    db.query_strings(&format!(
        "UPDATE grants SET expires_at = 1000 WHERE id = '{id}'"
    ))
    .await;
    let got = check(&owner, &org, &member, "page:123", "view").await;
    assert_eq!(got, (StatusCode::OK, Some(false), "expired".to_owned()));
    let got = check(&owner, &org, &member, "page:123", "edit").await;
    assert_eq!(
        got,
        (StatusCode::OK, Some(false), "none".to_owned()),
        "it never held edit"
    );

    // Listing by resource (by subject) and by subject (by resource), expired ones marked.
    let r = owner
        .get(&format!("{}?resource=page:123", grants(&org)))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let listed = r.body["grants"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{}", r.text);
    let of = |subject: &str| listed.iter().find(|g| g["subject"] == subject).unwrap();
    assert_eq!(of(&member)["expired"], true);
    assert_eq!(of(&key)["expired"], false);
    assert_eq!(of(&key)["id"], key_grant.as_str());
    let r = owner
        .get(&format!("{}?subject={member}", grants(&org)))
        .await;
    let resources: Vec<&str> = r.body["grants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["resource"].as_str().unwrap())
        .collect();
    assert_eq!(resources, vec!["page:123", "page:9"], "{}", r.text);
    for bad in [
        "",
        "?resource=page:1&subject=user:x",
        "?resource=Bad",
        "?subject=bob",
    ] {
        let r = owner.get(&format!("{}{bad}", grants(&org))).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text
        );
    }

    // Revoking: 204, then 404; the check no longer counts it.
    let path = format!("{}/{key_grant}", grants(&org));
    assert_eq!(owner.delete(&path).await.status, StatusCode::NO_CONTENT);
    assert_eq!(owner.delete(&path).await.status, StatusCode::NOT_FOUND);
    let got = check(&owner, &org, &key, "page:123", "delete").await;
    assert_eq!(got, (StatusCode::OK, Some(false), "none".to_owned()));

    // Audited: created, updated, deleted, with resource, subject and capabilities; checks not.
    let r = owner.get(&format!("/v1/orgs/{org}/audit?limit=1000")).await;
    let events = r.body["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("grant.") || a.contains("check"))
        .collect();
    let mut sorted = actions.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        vec![
            "grant.created",
            "grant.created",
            "grant.created",
            "grant.deleted",
            "grant.updated"
        ],
        "{}",
        r.text
    );
    let updated = events
        .iter()
        .find(|e| e["action"] == "grant.updated")
        .unwrap();
    assert_eq!(updated["target"], json!({ "type": "grant", "id": id }));
    assert_eq!(
        updated["details"],
        json!({ "resource": "page:123", "subject": member, "capabilities": ["view"],
                "expires_at": "2999-01-01T00:00:00Z" })
    );
}

async fn bad_grants_are_refused(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (_, member_id) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let member = format!("user:{member_id}");
    let other = owner.create_org("Other").await;
    let (foreign_key, _) = owner.create_key(&other, &["tasks:read"]).await;
    // A user of another org only.
    let (_, stranger_id) = server
        .member(&owner, &other, "stranger@example.com", "member")
        .await;
    let long = format!("page:{}", "1".repeat(201));
    for (body, field) in [
        (
            json!({ "resource": "Page:1", "subject": member, "capabilities": ["view"] }),
            "resource",
        ),
        (
            json!({ "resource": "page:", "subject": member, "capabilities": ["view"] }),
            "resource",
        ),
        (
            json!({ "resource": "page:a b", "subject": member, "capabilities": ["view"] }),
            "resource",
        ),
        (
            json!({ "resource": long, "subject": member, "capabilities": ["view"] }),
            "resource",
        ),
        (
            json!({ "resource": "page:1", "subject": "bob", "capabilities": ["view"] }),
            "subject",
        ),
        (
            json!({ "resource": "page:1", "subject": format!("user:{stranger_id}"), "capabilities": ["view"] }),
            "subject",
        ),
        (
            json!({ "resource": "page:1", "subject": format!("api_key:{foreign_key}"), "capabilities": ["view"] }),
            "subject",
        ),
        (
            json!({ "resource": "page:1", "subject": member, "capabilities": [] }),
            "capabilities",
        ),
        (
            json!({ "resource": "page:1", "subject": member, "capabilities": ["own"] }),
            "capabilities",
        ),
        (
            json!({ "resource": "page:1", "subject": member, "capabilities": ["view"], "expires_at": "2001-01-01T00:00:00Z" }),
            "expires_at",
        ),
        (
            json!({ "resource": "page:1", "subject": member, "capabilities": ["view"], "expires_at": "tomorrow" }),
            "expires_at",
        ),
    ] {
        let r = grant(&owner, &org, body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
        assert!(
            r.body["error"]["fields"].get(field).is_some(),
            "{body}: {}",
            r.text
        );
    }
    // A missing field is judged like a bad one (who may ask comes first: see isolation.rs).
    let r = grant(
        &owner,
        &org,
        json!({ "resource": "page:1", "subject": member }),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(
        r.body["error"]["fields"].get("capabilities").is_some(),
        "{}",
        r.text
    );
    for (subject, resource, capability) in [
        (member.as_str(), "page:1", "own"),
        (member.as_str(), "nope", "view"),
        ("user:x", "page:1", "view"),
    ] {
        let got = check(&owner, &org, subject, resource, capability).await;
        assert_eq!(
            got.0,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{subject} {resource} {capability}"
        );
    }
    let got = check(
        &owner,
        &org,
        &format!("user:{stranger_id}"),
        "page:1",
        "view",
    )
    .await;
    assert_eq!(
        got.0,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not a member of the org"
    );
    let r = owner
        .get(&format!("{}?resource=page:1", grants(&org)))
        .await;
    assert_eq!(r.body["grants"], json!([]), "nothing was stored");
}

async fn who_may_grant_list_and_check(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (admin, _) = server
        .member(&owner, &org, "admin@example.com", "admin")
        .await;
    let (member, member_id) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let (_, other_id) = server
        .member(&owner, &org, "other@example.com", "member")
        .await;
    let writer = key_client(&server, &owner, &org, &["grants:write"]).await;
    let reader = key_client(&server, &owner, &org, &["grants:read"]).await;
    let checker = key_client(&server, &owner, &org, &["check"]).await;
    let neither = key_client(&server, &owner, &org, &["tasks:read"]).await;
    let other_org = owner.create_org("Other").await;
    let foreign = server.client().with_key(
        &owner
            .create_key(&other_org, &["grants:write", "grants:read", "check"])
            .await
            .1,
    );
    let me = format!("user:{member_id}");
    let them = format!("user:{other_id}");
    let body = |subject: &str| json!({ "resource": "doc:1", "subject": subject, "capabilities": ["view"] });
    let list = format!("{}?resource=doc:1", grants(&org));

    // Admins and grants:write keys grant and revoke anything.
    let r = grant(&admin, &org, body(&them)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = grant(&writer, &org, body(&me)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert!(
        r.body["created_by"]
            .as_str()
            .unwrap()
            .starts_with("api_key:")
    );
    let by_key = r.body["id"].as_str().unwrap().to_owned();
    // Reading keys list; writing keys do not (grants:read is its own scope).
    assert_eq!(reader.get(&list).await.status, StatusCode::OK);
    for r in [
        writer.get(&list).await,
        reader.post(&grants(&org), body(&them)).await,
        reader.delete(&format!("{}/{by_key}", grants(&org))).await,
        neither.get(&list).await,
        neither.post(&grants(&org), body(&them)).await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{}",
            r.text
        );
    }
    // Checks: admins, check keys, a member about themselves; not about others; no other key.
    assert_eq!(
        check(&admin, &org, &me, "doc:1", "view").await.1,
        Some(true)
    );
    assert_eq!(
        check(&checker, &org, &me, "doc:1", "view").await.1,
        Some(true)
    );
    assert_eq!(
        check(&member, &org, &me, "doc:1", "view").await.1,
        Some(true)
    );
    assert_eq!(
        check(&member, &org, &them, "doc:1", "view").await,
        (StatusCode::FORBIDDEN, None, "forbidden".to_owned())
    );
    for c in [&writer, &reader, &neither] {
        let got = check(c, &org, &me, "doc:1", "view").await;
        assert_eq!(
            got,
            (StatusCode::FORBIDDEN, None, "insufficient_scope".to_owned())
        );
    }
    // A member without share: grants nothing, lists nothing but their own, revokes nothing.
    for r in [
        grant(&member, &org, body(&them)).await,
        member.get(&list).await,
        member
            .get(&format!("{}?subject={them}", grants(&org)))
            .await,
        member.delete(&format!("{}/{by_key}", grants(&org))).await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{}",
            r.text
        );
    }
    let r = member.get(&format!("{}?subject={me}", grants(&org))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["grants"].as_array().unwrap().len(), 1);
    // Another org's key, whatever its scopes, and an unknown grant id: 404.
    for r in [
        foreign.post(&grants(&org), body(&me)).await,
        foreign.get(&list).await,
        foreign.delete(&format!("{}/{by_key}", grants(&org))).await,
        foreign
            .post(
                &format!("/v1/orgs/{org}/check"),
                json!({ "subject": me, "resource": "doc:1", "capability": "view" }),
            )
            .await,
        owner
            .delete(&format!("{}/{by_key}", grants(&other_org)))
            .await,
        owner.delete(&format!("{}/not-an-id", grants(&org))).await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    }
    let r = writer.delete(&format!("{}/{by_key}", grants(&org))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
}
