//! The audit log through the API: coverage of every mutation and security event, and apps' own
//! events (the chain's integrity, tampering and exports: `audit_chain.rs`).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    every_change_and_security_event_is_recorded,
    apps_append_and_read_their_events
);

pub(crate) async fn all_events(c: &Client, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let r = c.get(&format!("{path}?after={after}&limit=1000")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let page = r.body["events"].as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        after = last["seq"].as_i64().unwrap();
        out.extend(page);
    }
    out
}

pub(crate) fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) fn find<'a>(events: &'a [Value], action: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["action"] == action)
        .unwrap_or_else(|| panic!("{action} missing in {:?}", actions(events)))
}

async fn every_change_and_security_event_is_recorded(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[("GATEHOUSE_SIGNUP", "open")]).await;
    let org = first_org(&owner).await;
    let anon = server.client();
    anon.post(
        "/v1/auth/login",
        json!({ "email": email, "password": "not the password at all" }),
    )
    .await;
    anon.post(
        "/v1/auth/login",
        json!({ "email": "ghost@example.com", "password": "whatever it is" }),
    )
    .await;
    owner
        .patch(
            &format!("/v1/orgs/{org}"),
            json!({ "name": "Acme Audited" }),
        )
        .await;
    let invite = owner.invite(&org, "new@example.com", "member").await;
    anon.post(
        "/v1/invitations/accept",
        json!({ "token": invite, "password": PASSWORD }),
    )
    .await;
    let mut new_member = server.client();
    new_member.login("new@example.com", PASSWORD).await;
    let new_id = new_member.get("/v1/auth/me").await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    owner
        .patch(
            &format!("/v1/orgs/{org}/members/{new_id}"),
            json!({ "role": "admin" }),
        )
        .await;
    let created = Client::send(
        owner
            .request(Method::POST, &format!("/v1/orgs/{org}/api-keys"))
            .header("user-agent", "audit-test/1.0")
            .json(&json!({ "name": "ci", "scopes": ["audit:read"] })),
    )
    .await;
    let key_request_id = created.header("x-request-id").unwrap();
    let (key_id, key) = (
        created.body["id"].as_str().unwrap().to_owned(),
        created.body["key"].as_str().unwrap().to_owned(),
    );
    owner
        .post_empty(&format!("/v1/orgs/{org}/api-keys/{key_id}/revoke"))
        .await;
    owner
        .delete(&format!("/v1/orgs/{org}/api-keys/{key_id}"))
        .await;
    owner
        .delete(&format!("/v1/orgs/{org}/members/{new_id}"))
        .await;
    let (member, _) = server.member(&owner, &org, "m@example.com", "member").await;
    assert_eq!(
        member.delete(&format!("/v1/orgs/{org}")).await.status,
        StatusCode::FORBIDDEN
    );
    let mut no_csrf = member.clone();
    no_csrf.csrf = None;
    assert_eq!(
        no_csrf.post_empty("/v1/auth/logout").await.code(),
        "csrf_failed"
    );
    let mut second = server.client();
    second.login(&email, PASSWORD).await;
    let second_id = second.get("/v1/auth/me").await.body["auth"]["session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    owner
        .delete(&format!("/v1/auth/sessions/{second_id}"))
        .await;
    let new_pw = "an entirely new passphrase";
    owner
        .post(
            "/v1/auth/password",
            json!({ "current_password": PASSWORD, "new_password": new_pw }),
        )
        .await;
    member.post_empty("/v1/auth/logout").await;
    let other_org = owner.create_org("Short Lived").await;
    owner.delete(&format!("/v1/orgs/{other_org}")).await;

    let org_events = all_events(&owner, &format!("/v1/orgs/{org}/audit")).await;
    for action in [
        "org.created",
        "org.renamed",
        "invitation.created",
        "invitation.accepted",
        "member.role_changed",
        "api_key.created",
        "api_key.revoked",
        "api_key.deleted",
        "member.removed",
        "authz.denied",
    ] {
        find(&org_events, action);
    }
    let created_event = find(&org_events, "api_key.created");
    let owner_id = owner.get("/v1/auth/me").await.body["user"]["id"].clone();
    assert_eq!(
        created_event["actor"],
        json!({ "type": "user", "id": owner_id })
    );
    assert_eq!(
        created_event["target"],
        json!({ "type": "api_key", "id": key_id })
    );
    assert_eq!(
        (
            created_event["ip"].as_str(),
            created_event["user_agent"].as_str()
        ),
        (Some("127.0.0.1"), Some("audit-test/1.0"))
    );
    assert_eq!(
        created_event["request_id"].as_str(),
        Some(key_request_id.as_str())
    );
    assert_eq!(created_event["category"], "audit");
    assert_eq!(created_event["details"]["scopes"], json!(["audit:read"]));
    let denied = find(&org_events, "authz.denied");
    assert_eq!(
        (denied["category"].as_str(), denied["outcome"].as_str()),
        (Some("security"), Some("denied"))
    );

    let system = all_events(&owner, "/v1/system/audit").await;
    for action in [
        "user.created",
        "setup.completed",
        "auth.login_succeeded",
        "auth.login_failed",
        "session.revoked",
        "password.changed",
        "auth.logout",
        "csrf.rejected",
        "org.deleted",
    ] {
        find(&system, action);
    }
    let failures: Vec<&Value> = system
        .iter()
        .filter(|e| e["action"] == "auth.login_failed")
        .collect();
    let reasons: Vec<&str> = failures
        .iter()
        .map(|e| e["details"]["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons.contains(&"wrong_password") && reasons.contains(&"unknown_email"),
        "{reasons:?}"
    );
    assert!(
        failures
            .iter()
            .all(|e| e["outcome"] == "failure" && e["actor"]["type"] == "anonymous")
    );
    // A deleted org's chain stays (read back with the CLI: the org API is gone with the org).
    let (code, exported, _) = run_cli(&db, &[], &["audit", "export", "--org", &other_org], None);
    assert_eq!(code, 0);
    let deleted_chain: Vec<Value> = exported
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(find(&deleted_chain, "org.deleted")["actor"]["id"], owner_id);

    // The caller's own security events, and nobody else's.
    let mine = owner.get("/v1/auth/events").await.body["events"]
        .as_array()
        .unwrap()
        .clone();
    let mine_actions = actions(&mine);
    for action in [
        "auth.login_succeeded",
        "auth.login_failed",
        "password.changed",
        "session.revoked",
    ] {
        assert!(
            mine_actions.iter().any(|a| a == action),
            "{action} in {mine_actions:?}"
        );
    }
    assert!(mine.iter().all(|e| e["category"] == "security"));
    assert!(
        !mine
            .iter()
            .any(|e| e["details"]["reason"] == "unknown_email"),
        "other people's failures are not mine"
    );
    let mut member_again = server.client();
    member_again.login("m@example.com", PASSWORD).await;
    let theirs = member_again.get("/v1/auth/events").await;
    assert!(
        !actions(theirs.body["events"].as_array().unwrap())
            .iter()
            .any(|a| a == "password.changed")
    );
    assert_eq!(
        member_again.get("/v1/system/audit").await.status,
        StatusCode::FORBIDDEN,
        "platform admins only"
    );

    // No secret in any event.
    let text = format!(
        "{}{}",
        serde_json::to_string(&org_events).unwrap(),
        serde_json::to_string(&system).unwrap()
    );
    let cookie = owner.cookie.clone().unwrap();
    for secret in [
        PASSWORD,
        new_pw,
        "not the password at all",
        &key,
        &key[16..],
        &invite,
        cookie.split_once('=').unwrap().1,
        owner.csrf.as_deref().unwrap(),
    ] {
        assert!(!text.contains(secret), "an event holds a secret");
    }
    for chain in [
        format!("/v1/orgs/{org}/audit/verify"),
        "/v1/system/audit/verify".to_owned(),
    ] {
        let v = owner.get(&chain).await;
        assert_eq!(v.body["valid"], true, "{}", v.text);
    }
}

async fn apps_append_and_read_their_events(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (writer_id, writer_key) = owner.create_key(&org, &["audit:write"]).await;
    let (_, reader_key) = owner.create_key(&org, &["audit:read"]).await;
    let writer = server.client().with_key(&writer_key);
    let reader = server.client().with_key(&reader_key);
    let work_log = json!({
        "action": "agent.work_logged",
        "target": { "type": "pull_request", "id": "gh-1234" },
        "details": {
            "engine": "model-x", "summary": "fixed the flaky test", "tests": { "passed": 412, "failed": 0 },
            "pr_url": "https://example.com/pr/1234", "duration_s": 12.5, "ratio": 1e-7
        }
    });
    let r = writer
        .post(&format!("/v1/orgs/{org}/audit/events"), work_log.clone())
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (
            r.body["actor"]["type"].as_str(),
            r.body["actor"]["id"].as_str()
        ),
        (Some("api_key"), Some(writer_id.as_str()))
    );
    assert!(r.body["seq"].as_i64().unwrap() > 1 && r.body["hash"].as_str().unwrap().len() == 64);
    assert_eq!(r.body["details"]["duration_s"], 12.5);
    for (body, field, code) in [
        (json!({ "action": "api_key.created" }), "action", "reserved"),
        (json!({ "action": "Not Valid" }), "action", "invalid"),
        (
            json!({ "action": "app.x", "outcome": "maybe" }),
            "outcome",
            "invalid",
        ),
        (
            json!({ "action": "app.x", "details": [1, 2] }),
            "details",
            "invalid",
        ),
    ] {
        let bad = writer
            .post(&format!("/v1/orgs/{org}/audit/events"), body.clone())
            .await;
        assert_eq!(
            (bad.status, bad.body["error"]["fields"][field].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{body}"
        );
    }
    let no_scope = reader
        .post(&format!("/v1/orgs/{org}/audit/events"), work_log.clone())
        .await;
    assert_eq!(no_scope.code(), "insufficient_scope");
    assert_eq!(
        owner
            .post(&format!("/v1/orgs/{org}/audit/events"), work_log.clone())
            .await
            .code(),
        "insufficient_scope",
        "users do not write app events"
    );
    assert_eq!(
        writer.get(&format!("/v1/orgs/{org}/audit")).await.code(),
        "insufficient_scope"
    );

    let page = reader.get(&format!("/v1/orgs/{org}/audit?limit=2")).await;
    let events = page.body["events"].as_array().unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e["seq"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    let next = reader
        .get(&format!("/v1/orgs/{org}/audit?after=2&limit=1000"))
        .await;
    assert_eq!(next.body["events"][0]["seq"], 3);
    let security = reader
        .get(&format!("/v1/orgs/{org}/audit?category=security"))
        .await;
    assert!(
        security.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["category"] == "security")
    );
    assert_eq!(
        reader
            .get(&format!("/v1/orgs/{org}/audit?category=nope"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        reader
            .get(&format!("/v1/orgs/{org}/audit?limit=abc"))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let v = reader.get(&format!("/v1/orgs/{org}/audit/verify")).await;
    assert_eq!(v.body["valid"], true, "{}", v.text);
    assert_eq!(v.body["head"]["hash"].as_str().unwrap().len(), 64);
    assert!(v.body.get("first_bad_seq").is_none());
}
