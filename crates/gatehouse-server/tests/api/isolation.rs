//! Tenant isolation: every org route of org B, called with org A's credentials (owner, admin,
//! API key) and with object ids swapped between the orgs, answers 404 and changes nothing.
//! The routes come from the OpenAPI document, so a new org route is covered automatically.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::support::*;

both!(cross_tenant_requests_answer_404);

const ALL_SCOPES: &[&str] = &[
    "audit:read",
    "audit:write",
    "secrets:read",
    "secrets:write",
    "grants:read",
    "grants:write",
    "check",
    "introspect",
    "members:read",
    "metrics:read",
];

async fn cross_tenant_requests_answer_404(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, alice, _) = with_admin(&db, &[("GATEHOUSE_SIGNUP", "open")]).await;
    let org_a = first_org(&alice).await;
    let (a_admin, _) = server
        .member(&alice, &org_a, "a-admin@example.com", "admin")
        .await;
    let (_, key_a) = alice.create_key(&org_a, ALL_SCOPES).await;
    let a_key = server.client().with_key(&key_a);
    let alice_id_in_a = alice.get("/v1/auth/me").await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    server
        .client()
        .post(
            "/v1/auth/signup",
            json!({ "email": "bob@example.com", "password": PASSWORD }),
        )
        .await;
    let mut bob = server.client();
    bob.login("bob@example.com", PASSWORD).await;
    let org_b = bob.create_org("Bravo").await;
    let (b_member, b_member_id) = server
        .member(&bob, &org_b, "b-member@example.com", "member")
        .await;
    let (key_b_id, key_b) = bob.create_key(&org_b, &["members:read"]).await;
    let bob_id = bob.get("/v1/auth/me").await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let secret_path = format!("/v1/orgs/{org_b}/secrets/stripe-key");
    let r = bob
        .put(&secret_path, json!({ "value": "sk_live_bravo" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);

    let doc = server.client().get("/openapi.json").await;
    let mut calls = Vec::new();
    for (path, ops) in doc.body["paths"].as_object().unwrap() {
        if !path.starts_with("/v1/orgs/{org}") {
            continue;
        }
        for method in ops.as_object().unwrap().keys() {
            calls.push((method.to_uppercase(), path.clone()));
        }
    }
    assert!(calls.len() >= 10, "{calls:?}");
    let fill = |path: &str, org: &str, user: &str, key: &str| {
        path.replace("{org}", org)
            .replace("{user_id}", user)
            .replace("{id}", key)
            .replace("{name}", "stripe-key")
    };
    let body = json!({ "name": "x", "role": "member", "email": "x@example.com", "scopes": ["check"], "action": "app.thing" });
    for (who, client) in [("owner", &alice), ("admin", &a_admin), ("api key", &a_key)] {
        for (method, path) in &calls {
            let m = Method::from_bytes(method.as_bytes()).unwrap();
            // B's org with B's objects, and A's org with B's objects in it.
            for concrete in [
                fill(path, &org_b, &b_member_id, &key_b_id),
                fill(path, &org_a, &b_member_id, &key_b_id),
            ] {
                if concrete.starts_with(&format!("/v1/orgs/{org_a}"))
                    && !path.contains("{user_id}")
                    && !path.contains("{id}")
                {
                    continue; // A's own collection routes are A's business.
                }
                let r = Client::send(client.request(m.clone(), &concrete).json(&body)).await;
                assert_eq!(
                    (r.status, r.code()),
                    (StatusCode::NOT_FOUND, "not_found"),
                    "{who}: {method} {concrete} answered {}",
                    r.text
                );
            }
        }
    }
    // A's objects under B's path, from B's side too.
    let r = bob
        .patch(
            &format!("/v1/orgs/{org_b}/members/{alice_id_in_a}"),
            json!({ "role": "member" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Nothing of B changed.
    let k = server.client().with_key(&key_b);
    assert_eq!(
        k.get(&format!("/v1/orgs/{org_b}/members")).await.status,
        StatusCode::OK,
        "B's key still works"
    );
    assert_eq!(
        bob.get(&format!("/v1/orgs/{org_b}")).await.body["name"],
        "Bravo"
    );
    let secret = bob.get(&secret_path).await;
    assert_eq!(
        (&secret.body["value"], &secret.body["version"]),
        (&json!("sk_live_bravo"), &json!(1)),
        "B's secret untouched"
    );
    let members = bob.get(&format!("/v1/orgs/{org_b}/members")).await;
    let roles: Vec<(&str, &str)> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["user_id"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        vec![(bob_id.as_str(), "owner"), (b_member_id.as_str(), "member")]
    );
    assert_eq!(
        b_member.get("/v1/auth/me").await.body["orgs"][0]["id"],
        org_b.as_str()
    );
    assert_eq!(
        bob.get(&format!("/v1/orgs/{org_b}/api-keys")).await.body["api_keys"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A's key sees only A, and B's key only B.
    assert_eq!(
        a_key.get("/v1/orgs").await.body["orgs"][0]["id"],
        org_a.as_str()
    );
    assert_eq!(
        k.get("/v1/orgs").await.body["orgs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}
