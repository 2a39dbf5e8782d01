//! Sign-in with an OpenID provider (SPEC §17) against a provider on loopback (tests/api/support/
//! mock_op.rs): the whole flow (PKCE, state and the flow cookie, the code exchange, the ID
//! token), the same subject the same account, replayed callbacks, wrong state, a missing flow
//! cookie, ID tokens with a wrong `nonce`, `aud` or an expired `exp`, the signup policy,
//! linking by verified email only when allowed, a foreign return-to dropped, the SSRF guard, and
//! unlinking (not the last way in).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    a_provider_sign_in_makes_and_then_finds_the_account,
    a_callback_counts_once_and_only_with_its_flow_cookie,
    id_tokens_with_a_wrong_nonce_audience_or_expiry_are_refused,
    signup_and_linking_follow_the_policy,
    the_last_way_to_sign_in_is_not_unlinked,
    totp_still_asks_for_its_code_after_the_provider,
);

/// A server with the mock provider configured (and loopback reachable through the guard).
async fn with_provider(
    db: &TestDb,
    op: &MockOp,
    extra_toml: &str,
    env: &[(&str, &str)],
) -> (Server, Client, String) {
    let file = db.dir.path().join("gatehouse.toml");
    std::fs::write(&file, op.config(extra_toml)).expect("config file");
    let path = file.to_string_lossy().into_owned();
    let mut all = vec![
        ("GATEHOUSE_CONFIG", path.as_str()),
        ("GATEHOUSE_OIDC_TEST_SECRET", CLIENT_SECRET),
        ("GATEHOUSE_OUTBOUND_ALLOW", "127.0.0.1/32"),
    ];
    all.extend_from_slice(env);
    with_admin(db, &all).await
}

/// The browser's part: start (JSON), follow to the provider, come back with the flow cookie.
/// The callback's answer, and the flow cookie (`name=value`).
async fn through_provider(server: &Server, return_to: Option<&str>) -> (Reply, String, String) {
    let c = server.client();
    let body = return_to.map_or(json!({}), |to| json!({ "return_to": to }));
    let r = Client::send(
        c.request(reqwest::Method::POST, "/v1/auth/oidc/test/start")
            .header("accept", "application/json")
            .json(&body),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let authorization = r.body["authorization_url"].as_str().unwrap().to_owned();
    for must in [
        "code_challenge_method=S256",
        "code_challenge=",
        "nonce=",
        "state=",
    ] {
        assert!(authorization.contains(must), "{must} in {authorization}");
    }
    let set = r.header("set-cookie").expect("the flow cookie");
    assert!(set.starts_with("gatehouse_oidc_"), "{set}");
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/v1/auth/oidc"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let flow_cookie = set.split(';').next().unwrap().to_owned();
    let at_provider = Client::send(c.http.get(&authorization)).await;
    assert_eq!(
        at_provider.status,
        StatusCode::FOUND,
        "{}",
        at_provider.text
    );
    let back = at_provider.header("location").expect("back to gatehouse");
    let callback = back.replacen("localhost", "127.0.0.1", 1);
    let r = Client::send(c.http.get(&callback).header("cookie", &flow_cookie)).await;
    (r, callback, flow_cookie)
}

/// The session cookie a successful callback set, on a new client.
fn signed_in(server: &Server, r: &Reply) -> Client {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html"),
        "an HTML answer"
    );
    let session = r
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gatehouse_session="))
        .expect("the session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let mut c = server.client();
    c.cookie = Some(session);
    c
}

fn refused(r: &Reply) {
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    assert_eq!(
        r.header("location").as_deref(),
        Some("/console/login?oidc=failed")
    );
    assert!(
        !r.headers
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap_or("").starts_with("gatehouse_session=")),
        "no session"
    );
}

/// The reasons of every `auth.oidc_failed` so far (the owner is platform admin).
async fn failures(owner: &Client) -> Vec<String> {
    let r = owner.get("/v1/system/audit?limit=200").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.oidc_failed")
        .map(|e| e["details"]["reason"].as_str().unwrap_or("").to_owned())
        .collect()
}

async fn a_provider_sign_in_makes_and_then_finds_the_account(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let op = MockOp::start().await;
    let (server, _owner, _) = with_provider(&db, &op, "", &[("GATEHOUSE_SIGNUP", "open")]).await;
    let (r, _, _) = through_provider(&server, Some("/console/account")).await;
    assert!(r.text.contains("url=/console/account"), "{}", r.text);
    let ann = signed_in(&server, &r);
    let me = ann.get("/v1/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["user"]["email"], "ann@example.com");
    assert_eq!(me.body["user"]["email_verified"], true);
    let id = me.body["user"]["id"].clone();
    let (r, _, _) = through_provider(&server, Some("https://evil.example/")).await;
    assert!(
        r.text.contains("url=/console/orgs"),
        "a foreign return-to: {}",
        r.text
    );
    let again = signed_in(&server, &r);
    assert_eq!(again.get("/v1/auth/me").await.body["user"]["id"], id);
    let links = again.get("/v1/auth/identities").await;
    assert_eq!(
        links.body.as_array().map(Vec::len),
        Some(1),
        "{}",
        links.text
    );
    assert_eq!(links.body[0]["subject"], "subject-1");
    let methods: Vec<Value> = my_events(&again, "auth.login_succeeded")
        .await
        .iter()
        .map(|e| e["details"]["method"].clone())
        .collect();
    assert_eq!(methods, [json!("oidc"), json!("oidc")]);
}

async fn a_callback_counts_once_and_only_with_its_flow_cookie(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let op = MockOp::start().await;
    let (server, owner, _) = with_provider(&db, &op, "", &[("GATEHOUSE_SIGNUP", "open")]).await;
    let (r, callback, cookie) = through_provider(&server, None).await;
    signed_in(&server, &r);
    let c = server.client();
    let replay = Client::send(c.http.get(&callback).header("cookie", &cookie)).await;
    refused(&replay);
    // A fresh flow: its callback without the cookie, with another flow's, with a bent state.
    let fresh = |server: &Server| {
        let c = server.client();
        async move {
            let r = Client::send(
                c.request(reqwest::Method::POST, "/v1/auth/oidc/test/start")
                    .header("accept", "application/json")
                    .json(&json!({})),
            )
            .await;
            let cookie = r
                .header("set-cookie")
                .unwrap()
                .split(';')
                .next()
                .unwrap()
                .to_owned();
            let url = r.body["authorization_url"].as_str().unwrap().to_owned();
            let back = Client::send(c.http.get(&url))
                .await
                .header("location")
                .unwrap();
            (back.replacen("localhost", "127.0.0.1", 1), cookie)
        }
    };
    let (callback, _) = fresh(&server).await;
    refused(&Client::send(c.http.get(&callback)).await);
    let (callback, _) = fresh(&server).await;
    let (_, other_cookie) = fresh(&server).await;
    refused(&Client::send(c.http.get(&callback).header("cookie", &other_cookie)).await);
    let (callback, cookie) = fresh(&server).await;
    let bent = callback.replace("state=", "state=x");
    refused(&Client::send(c.http.get(&bent).header("cookie", &cookie)).await);
    let bent_iss = format!("{callback}&iss=http%3A%2F%2Fevil.example");
    let bent_iss = bent_iss.replacen("&iss=", "&ignored=", 1);
    refused(&Client::send(c.http.get(&bent_iss).header("cookie", &cookie)).await);
    let reasons = failures(&owner).await;
    for reason in ["unknown_state", "no_flow_cookie", "iss_mismatch"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} in {reasons:?}"
        );
    }
    // Neither the client secret nor a flow's state or code is in the logs or stored.
    let state = cookie.split('=').nth(1).unwrap().to_owned();
    let code = callback
        .split("code=")
        .nth(1)
        .and_then(|c| c.split('&').next())
        .unwrap()
        .to_owned();
    let logs = server.logs();
    let dump = db.everything().await;
    for secret in [CLIENT_SECRET, state.as_str(), code.as_str()] {
        assert!(!logs.contains(secret), "{secret} in the logs");
        assert!(!dump.contains(secret), "{secret} in the database");
    }
}

async fn id_tokens_with_a_wrong_nonce_audience_or_expiry_are_refused(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let op = MockOp::start().await;
    let (server, owner, _) = with_provider(&db, &op, "", &[("GATEHOUSE_SIGNUP", "open")]).await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (bend, reason) in [
        (json!({ "nonce": "not the nonce" }), "id_token_nonce"),
        (json!({ "aud": "someone-else" }), "id_token_audience"),
        (json!({ "exp": now - 120 }), "id_token_expired"),
        (json!({ "iss": "http://evil.example" }), "id_token_issuer"),
        (json!({ "sub": null }), "id_token_no_subject"),
    ] {
        op.bend(bend);
        let (r, _, _) = through_provider(&server, None).await;
        refused(&r);
        let reasons = failures(&owner).await;
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} in {reasons:?}"
        );
    }
    op.bend(json!({}));
    let (r, _, _) = through_provider(&server, None).await;
    signed_in(&server, &r);
}

async fn signup_and_linking_follow_the_policy(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let op = MockOp::start().await;
    // Signup by invitation: a new subject makes no account; the owner's own address does not
    // link without link_by_verified_email.
    let (server, owner, email) = with_provider(&db, &op, "", &[]).await;
    op.sign_in_as("stranger", "stranger@example.com");
    refused(&through_provider(&server, None).await.0);
    op.sign_in_as("owner-at-provider", &email);
    refused(&through_provider(&server, None).await.0);
    let reasons = failures(&owner).await;
    assert!(reasons.contains(&"signup_closed".to_owned()), "{reasons:?}");
    assert!(
        reasons.contains(&"email_taken_not_linked".to_owned()),
        "{reasons:?}"
    );
    // An address with a pending invitation may get its account from the provider.
    let org = first_org(&owner).await;
    owner.invite(&org, "invited@example.com", "member").await;
    op.sign_in_as("invited-subject", "invited@example.com");
    let (r, _, _) = through_provider(&server, None).await;
    let invited = signed_in(&server, &r);
    assert_eq!(
        invited.get("/v1/auth/me").await.body["user"]["email"],
        "invited@example.com"
    );
    drop(server);

    let Some(db) = TestDb::new(db.kind).await else {
        return;
    };
    let (server, owner, email) = with_provider(
        &db,
        &op,
        "link_by_verified_email = true\nallowed_email_domains = [\"example.com\"]",
        &[],
    )
    .await;
    // The local account's address is not proven yet: no link (whoever registered it first
    // must not be handed the provider's user).
    op.sign_in_as("owner-at-provider", &email);
    refused(&through_provider(&server, None).await.0);
    db.query_strings(&format!(
        "UPDATE users SET email_verified_at = 1000 WHERE email_key = '{email}'"
    ))
    .await;
    op.bend(json!({ "email_verified": false }));
    refused(&through_provider(&server, None).await.0);
    op.bend(json!({}));
    op.sign_in_as("elsewhere", "someone@elsewhere.example");
    refused(&through_provider(&server, None).await.0);
    let reasons = failures(&owner).await;
    // An unverified address counts as none: the allow-list refuses it like a foreign domain.
    assert!(
        reasons.iter().any(|r| r == "email_taken_not_linked"),
        "{reasons:?}"
    );
    let domain = reasons
        .iter()
        .filter(|r| *r == "email_domain_not_allowed")
        .count();
    assert_eq!(domain, 2, "{reasons:?}");
    op.sign_in_as("owner-at-provider", &email);
    let (r, _, _) = through_provider(&server, None).await;
    let linked = signed_in(&server, &r);
    assert_eq!(
        linked.get("/v1/auth/me").await.body["user"]["id"],
        owner.get("/v1/auth/me").await.body["user"]["id"],
        "linked to {email}"
    );
}

async fn the_last_way_to_sign_in_is_not_unlinked(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let op = MockOp::start().await;
    let (server, _owner, _) = with_provider(&db, &op, "", &[("GATEHOUSE_SIGNUP", "open")]).await;
    let (r, _, _) = through_provider(&server, None).await;
    let mut ann = signed_in(&server, &r);
    let csrf = ann.get("/v1/auth/csrf").await;
    ann.csrf = csrf.body["csrf_token"].as_str().map(str::to_owned);
    let links = ann.get("/v1/auth/identities").await;
    let id = links.body[0]["id"].as_str().unwrap().to_owned();
    let r = ann.delete(&format!("/v1/auth/identities/{id}")).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    let other = server.client().with_key("x");
    let r = other.delete(&format!("/v1/auth/identities/{id}")).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}

/// A provider on loopback without `GATEHOUSE_OUTBOUND_ALLOW`: the guard refuses discovery
/// (`ssrf_blocked` in the log) and the start answers `503`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssrf_guard_stands_between_gatehouse_and_the_provider() {
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let op = MockOp::start().await;
    let file = db.dir.path().join("gatehouse.toml");
    std::fs::write(&file, op.config("")).expect("config file");
    let path = file.to_string_lossy().into_owned();
    let env = [
        ("GATEHOUSE_CONFIG", path.as_str()),
        ("GATEHOUSE_OIDC_TEST_SECRET", CLIENT_SECRET),
    ];
    let (server, _, _) = with_admin(&db, &env).await;
    let r = Client::send(
        server
            .client()
            .request(reqwest::Method::POST, "/v1/auth/oidc/test/start")
            .header("accept", "application/json")
            .json(&json!({})),
    )
    .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    let line = server.log_line("ssrf_blocked").await;
    assert!(line.contains("127.0.0.1"), "{line}");
    let r = server
        .client()
        .post("/v1/auth/oidc/nope/start", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

/// An account with TOTP, signed in by the provider: the callback answers the second-step page
/// (keeping the return-to), and the code finishes the sign-in.
async fn totp_still_asks_for_its_code_after_the_provider(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let op = MockOp::start().await;
    let (server, owner, email) =
        with_provider(&db, &op, "link_by_verified_email = true", &[]).await;
    db.query_strings(&format!(
        "UPDATE users SET email_verified_at = 1000 WHERE email_key = '{email}'"
    ))
    .await;
    let on = enable_totp(&owner).await;
    op.sign_in_as("owner-at-provider", &email);
    let (r, _, _) = through_provider(&server, Some("/console/account")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.text.contains("action=\"/console/login/mfa\""),
        "{}",
        r.text
    );
    assert!(
        r.text.contains("value=\"/console/account\""),
        "the return-to is kept"
    );
    assert!(
        !r.headers
            .get_all("set-cookie")
            .iter()
            .any(|v| v.to_str().unwrap_or("").starts_with("gatehouse_session=")),
        "no session before the code"
    );
    let token = r
        .text
        .split("name=\"mfa_token\" value=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .unwrap()
        .to_owned();
    let mut c = server.client();
    let done = second_step(&mut c, &token, &totp_at(&on.secret, 1)).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
}
