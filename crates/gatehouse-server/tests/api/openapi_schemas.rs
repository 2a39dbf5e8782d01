//! Real responses against the document: a realistic flow (setup, sign-in, orgs, members,
//! invitations, API keys, tokens, introspection, audit, errors) where every answer's status must
//! be documented for its route and its body must validate against the documented schema.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(real_responses_match_the_documented_schemas);

/// The document, and a count of the bodies it checked.
pub(crate) struct Contract {
    doc: Value,
    pub checked: usize,
}

impl Contract {
    pub(crate) fn new(doc: Value) -> Self {
        Self { doc, checked: 0 }
    }

    /// `reply` to `method template` must be a documented status whose schema its body meets.
    pub(crate) fn check(&mut self, method: &str, template: &str, reply: &Reply) {
        let op = &self.doc["paths"][template][method.to_lowercase()];
        assert!(op.is_object(), "{method} {template} is not documented");
        let status = reply.status.as_u16().to_string();
        let response = &op["responses"][&status];
        assert!(
            response.is_object(),
            "{method} {template} answered {status}, which is not documented: {}",
            reply.text
        );
        let response = match response["$ref"].as_str() {
            Some(r) => self.pointer(r).clone(),
            None => response.clone(),
        };
        let Some(content) = response["content"].as_object() else {
            assert!(
                reply.text.is_empty(),
                "{method} {template} {status}: documented without a body, sent {}",
                reply.text
            );
            return;
        };
        let Some(json_schema) = content.get("application/json") else {
            return; // text/plain (metrics)
        };
        let mut schema = json_schema["schema"].clone();
        schema["components"] = self.doc["components"].clone();
        let validator = jsonschema::draft202012::new(&schema)
            .unwrap_or_else(|e| panic!("{method} {template} {status}: bad schema: {e}"));
        let errors: Vec<String> = validator
            .iter_errors(&reply.body)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {template} {status}: body does not match the schema: {errors:?}\n{}",
            reply.text
        );
        self.checked += 1;
    }

    fn pointer(&self, reference: &str) -> &Value {
        self.doc
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or(&Value::Null)
    }
}

async fn real_responses_match_the_documented_schemas(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(&db, &[]);
    let anon = server.client();
    let mut k = Contract::new(anon.get("/openapi.json").await.body);
    let token = server.setup_token().expect("setup token");

    k.check("GET", "/healthz", &anon.get("/healthz").await);
    k.check("GET", "/readyz", &anon.get("/readyz").await);
    k.check("GET", "/openapi.json", &anon.get("/openapi.json").await);
    k.check("GET", "/metrics", &anon.get("/metrics").await);
    k.check(
        "GET",
        "/.well-known/jwks.json",
        &anon.get("/.well-known/jwks.json").await,
    );
    let body = json!({ "token": token, "email": "owner@example.com", "password": PASSWORD, "org_name": "Acme" });
    let setup = anon.post("/v1/setup", body.clone()).await;
    assert_eq!(setup.status, StatusCode::CREATED, "{}", setup.text);
    k.check("POST", "/v1/setup", &setup);
    k.check("POST", "/v1/setup", &anon.post("/v1/setup", body).await);
    let org = setup.body["org"]["id"].as_str().unwrap().to_owned();
    let signup = json!({ "email": "x@example.com", "password": PASSWORD });
    k.check(
        "POST",
        "/v1/auth/signup",
        &anon.post("/v1/auth/signup", signup).await,
    );

    let mut owner = server.client();
    let wrong = owner.login("owner@example.com", "wrong password!").await;
    k.check("POST", "/v1/auth/login", &wrong);
    let login = owner.login("owner@example.com", PASSWORD).await;
    assert_eq!(login.status, StatusCode::OK);
    k.check("POST", "/v1/auth/login", &login);
    k.check("GET", "/v1/auth/me", &owner.get("/v1/auth/me").await);
    k.check("GET", "/v1/auth/me", &anon.get("/v1/auth/me").await);
    k.check("GET", "/v1/auth/csrf", &owner.get("/v1/auth/csrf").await);
    k.check(
        "GET",
        "/v1/auth/sessions",
        &owner.get("/v1/auth/sessions").await,
    );
    k.check("GET", "/v1/orgs", &owner.get("/v1/orgs").await);
    let second = owner.post("/v1/orgs", json!({ "name": "Bravo" })).await;
    k.check("POST", "/v1/orgs", &second);
    k.check(
        "POST",
        "/v1/orgs",
        &owner.post("/v1/orgs", json!({ "name": "" })).await,
    );
    let malformed = Client::send(
        owner
            .request(Method::POST, "/v1/orgs")
            .header("content-type", "application/json")
            .body("{"),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    k.check("POST", "/v1/orgs", &malformed);
    let untyped = Client::send(owner.request(Method::POST, "/v1/orgs").body("{}")).await;
    assert_eq!(untyped.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    k.check("POST", "/v1/orgs", &untyped);
    let o = format!("/v1/orgs/{org}");
    k.check("GET", "/v1/orgs/{org}", &owner.get(&o).await);
    k.check("GET", "/v1/orgs/{org}", &owner.get("/v1/orgs/nope").await);
    let renamed = owner.patch(&o, json!({ "name": "Acme Inc" })).await;
    k.check("PATCH", "/v1/orgs/{org}", &renamed);
    let policy = json!({ "token_scopes": { "member": ["check"] } });
    k.check("PATCH", "/v1/orgs/{org}", &owner.patch(&o, policy).await);

    // Members and invitations.
    let invite = json!({ "email": "member@example.com", "role": "member" });
    let issued = owner.post(&format!("{o}/invitations"), invite).await;
    k.check("POST", "/v1/orgs/{org}/invitations", &issued);
    let listed = owner.get(&format!("{o}/invitations")).await;
    k.check("GET", "/v1/orgs/{org}/invitations", &listed);
    let accept = json!({ "token": issued.body["token"], "password": PASSWORD });
    let accepted = anon.post("/v1/invitations/accept", accept).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    k.check("POST", "/v1/invitations/accept", &accepted);
    let unknown = anon
        .post("/v1/invitations/accept", json!({ "token": "nope" }))
        .await;
    k.check("POST", "/v1/invitations/accept", &unknown);
    let mut member = server.client();
    member.login("member@example.com", PASSWORD).await;
    let second_org = second.body["id"].as_str().unwrap();
    let again = json!({ "email": "member@example.com", "role": "admin" });
    let issued = owner
        .post(&format!("/v1/orgs/{second_org}/invitations"), again)
        .await;
    let joined = member
        .post(
            "/v1/invitations/accept",
            json!({ "token": issued.body["token"] }),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.text);
    k.check("POST", "/v1/invitations/accept", &joined);
    let member_id = member.get("/v1/auth/me").await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    k.check(
        "GET",
        "/v1/orgs/{org}/members",
        &owner.get(&format!("{o}/members")).await,
    );
    let m = format!("{o}/members/{member_id}");
    let promoted = owner.patch(&m, json!({ "role": "admin" })).await;
    k.check("PATCH", "/v1/orgs/{org}/members/{user_id}", &promoted);
    let bad_role = owner.patch(&m, json!({ "role": "emperor" })).await;
    k.check("PATCH", "/v1/orgs/{org}/members/{user_id}", &bad_role);
    let owner_id = login.body["user"]["id"].as_str().unwrap();
    let last_owner = owner.delete(&format!("{o}/members/{owner_id}")).await;
    assert_eq!(
        last_owner.status,
        StatusCode::CONFLICT,
        "{}",
        last_owner.text
    );
    k.check("DELETE", "/v1/orgs/{org}/members/{user_id}", &last_owner);
    k.check(
        "DELETE",
        "/v1/orgs/{org}/members/{user_id}",
        &owner.delete(&m).await,
    );
    let pending = owner
        .post(
            &format!("{o}/invitations"),
            json!({ "email": "later@example.com" }),
        )
        .await;
    let revoke = format!("{o}/invitations/{}", pending.body["id"].as_str().unwrap());
    k.check(
        "DELETE",
        "/v1/orgs/{org}/invitations/{id}",
        &owner.delete(&revoke).await,
    );

    // API keys, the key's view of things, introspection, app events.
    let keys = format!("{o}/api-keys");
    let scopes = json!(["introspect", "audit:write", "audit:read", "members:read"]);
    let created = owner
        .post(&keys, json!({ "name": "app", "scopes": scopes }))
        .await;
    k.check("POST", "/v1/orgs/{org}/api-keys", &created);
    let bad_key = owner
        .post(&keys, json!({ "name": "app", "scopes": ["nope"] }))
        .await;
    k.check("POST", "/v1/orgs/{org}/api-keys", &bad_key);
    k.check("GET", "/v1/orgs/{org}/api-keys", &owner.get(&keys).await);
    let key = owner.with_key(created.body["key"].as_str().unwrap());
    k.check("GET", "/v1/auth/me", &key.get("/v1/auth/me").await);
    k.check("GET", "/v1/orgs", &key.get("/v1/orgs").await);
    k.check("GET", "/v1/orgs/{org}/api-keys", &key.get(&keys).await);
    let event = json!({ "action": "app.deployed", "target": { "type": "service", "id": "web" } });
    let appended = key.post(&format!("{o}/audit/events"), event).await;
    assert_eq!(appended.status, StatusCode::CREATED, "{}", appended.text);
    k.check("POST", "/v1/orgs/{org}/audit/events", &appended);
    let introspected = key
        .post("/v1/introspect", json!({ "token": key.bearer }))
        .await;
    k.check("POST", "/v1/introspect", &introspected);
    let inactive = key.post("/v1/introspect", json!({ "token": "nope" })).await;
    k.check("POST", "/v1/introspect", &inactive);

    // Tokens.
    let grant = json!({ "grant_type": "password", "email": "owner@example.com", "password": PASSWORD, "org_id": org });
    let tokens = anon.post("/v1/auth/token", grant).await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.text);
    k.check("POST", "/v1/auth/token", &tokens);
    let bad_grant = anon
        .post("/v1/auth/token", json!({ "grant_type": "magic" }))
        .await;
    k.check("POST", "/v1/auth/token", &bad_grant);
    let bearer = owner.with_key(tokens.body["access_token"].as_str().unwrap());
    k.check("GET", "/v1/auth/me", &bearer.get("/v1/auth/me").await);
    let seen = key
        .post(
            "/v1/introspect",
            json!({ "token": tokens.body["access_token"] }),
        )
        .await;
    k.check("POST", "/v1/introspect", &seen);
    let session_token = owner.cookie.clone().unwrap();
    let session_token = session_token.split_once('=').unwrap().1;
    let session = key
        .post("/v1/introspect", json!({ "token": session_token }))
        .await;
    k.check("POST", "/v1/introspect", &session);
    let refresh =
        json!({ "grant_type": "refresh_token", "refresh_token": tokens.body["refresh_token"] });
    let renewed = anon.post("/v1/auth/token", refresh).await;
    k.check("POST", "/v1/auth/token", &renewed);
    let revoke = json!({ "token": renewed.body["refresh_token"] });
    k.check(
        "POST",
        "/v1/auth/revoke",
        &anon.post("/v1/auth/revoke", revoke).await,
    );

    // Audit.
    k.check(
        "GET",
        "/v1/orgs/{org}/audit",
        &owner.get(&format!("{o}/audit")).await,
    );
    let page = owner.get(&format!("{o}/audit?category=app&limit=5")).await;
    k.check("GET", "/v1/orgs/{org}/audit", &page);
    let bad_page = owner.get(&format!("{o}/audit?limit=many")).await;
    k.check("GET", "/v1/orgs/{org}/audit", &bad_page);
    k.check(
        "GET",
        "/v1/orgs/{org}/audit/verify",
        &owner.get(&format!("{o}/audit/verify")).await,
    );
    k.check(
        "GET",
        "/v1/auth/events",
        &owner.get("/v1/auth/events").await,
    );
    k.check(
        "GET",
        "/v1/system/audit",
        &owner.get("/v1/system/audit").await,
    );
    k.check(
        "GET",
        "/v1/system/audit",
        &member.get("/v1/system/audit").await,
    );
    k.check(
        "GET",
        "/v1/system/audit/verify",
        &owner.get("/v1/system/audit/verify").await,
    );

    // Ending things.
    let key_path = format!("{keys}/{}", created.body["id"].as_str().unwrap());
    let revoked = owner.post_empty(&format!("{key_path}/revoke")).await;
    k.check("POST", "/v1/orgs/{org}/api-keys/{id}/revoke", &revoked);
    k.check(
        "DELETE",
        "/v1/orgs/{org}/api-keys/{id}",
        &owner.delete(&key_path).await,
    );
    k.check(
        "DELETE",
        "/v1/orgs/{org}/api-keys/{id}",
        &owner.delete(&key_path).await,
    );
    let s = format!("{o}/secrets/db");
    let name = "/v1/orgs/{org}/secrets/{name}";
    k.check("PUT", name, &owner.put(&s, json!({ "value": "v1" })).await);
    k.check("PUT", name, &owner.put(&s, json!({ "value": "v2" })).await);
    let bad = format!("{o}/secrets/.bad");
    k.check("PUT", name, &owner.put(&bad, json!({ "value": "v" })).await);
    let listed = owner.get(&format!("{o}/secrets")).await;
    k.check("GET", "/v1/orgs/{org}/secrets", &listed);
    k.check("GET", name, &owner.get(&s).await);
    k.check("GET", name, &member.get(&s).await);
    k.check("DELETE", name, &owner.delete(&s).await);
    k.check("GET", name, &owner.get(&s).await);
    let grants = format!("{o}/grants");
    let g = json!({ "resource": "page:1", "subject": format!("user:{owner_id}"), "capabilities": ["view"] });
    let made = owner.post(&grants, g.clone()).await;
    k.check("POST", "/v1/orgs/{org}/grants", &made);
    k.check(
        "POST",
        "/v1/orgs/{org}/grants",
        &owner.post(&grants, g).await,
    );
    let bad = json!({ "resource": "Page", "subject": "x", "capabilities": [] });
    k.check(
        "POST",
        "/v1/orgs/{org}/grants",
        &owner.post(&grants, bad).await,
    );
    let listed = owner.get(&format!("{grants}?resource=page:1")).await;
    k.check("GET", "/v1/orgs/{org}/grants", &listed);
    k.check("GET", "/v1/orgs/{org}/grants", &owner.get(&grants).await);
    let ask = json!({ "subject": format!("user:{owner_id}"), "resource": "page:1", "capability": "view" });
    k.check(
        "POST",
        "/v1/orgs/{org}/check",
        &owner.post(&format!("{o}/check"), ask).await,
    );
    let grant_path = format!("{grants}/{}", made.body["id"].as_str().unwrap());
    k.check(
        "DELETE",
        "/v1/orgs/{org}/grants/{id}",
        &owner.delete(&grant_path).await,
    );
    k.check(
        "DELETE",
        "/v1/orgs/{org}/grants/{id}",
        &owner.delete(&grant_path).await,
    );
    let password = json!({ "current_password": PASSWORD, "new_password": "short" });
    k.check(
        "POST",
        "/v1/auth/password",
        &owner.post("/v1/auth/password", password).await,
    );
    let mut other = server.client();
    other.login("owner@example.com", PASSWORD).await;
    let sessions = owner.get("/v1/auth/sessions").await;
    let theirs = sessions.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = owner.delete(&format!("/v1/auth/sessions/{theirs}")).await;
    k.check("DELETE", "/v1/auth/sessions/{id}", &revoked);
    let second_path = format!("/v1/orgs/{second_org}");
    k.check(
        "DELETE",
        "/v1/orgs/{org}",
        &owner.delete(&second_path).await,
    );
    k.check(
        "POST",
        "/v1/auth/logout-all",
        &member.post_empty("/v1/auth/logout-all").await,
    );
    k.check(
        "POST",
        "/v1/auth/logout",
        &owner.post_empty("/v1/auth/logout").await,
    );
    k.check(
        "POST",
        "/v1/auth/logout",
        &owner.post_empty("/v1/auth/logout").await,
    );
    assert!(k.checked >= 50, "{} bodies checked", k.checked);
}
