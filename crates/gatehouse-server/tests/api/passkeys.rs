//! Passkeys through the API (SPEC §15), with a software authenticator: registering (after the
//! password or a code), listing, removing (another user's: `404`), signing in by email and
//! discoverable, single-use ceremonies, the decoy answer for unknown emails, counter regression,
//! the passkey way to finish `mfa_required`, and passkeys off for an IP-address public URL.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    a_registered_passkey_is_listed_and_signs_in_by_email,
    registering_needs_the_password_or_a_code,
    a_ceremony_finishes_once_and_only_for_its_user,
    an_unknown_email_gets_an_answer_like_a_real_one,
    a_discoverable_passkey_signs_in_without_an_email,
    a_regressed_counter_is_refused_and_recorded,
    removing_a_passkey_needs_the_password_and_spares_other_users,
    a_passkey_finishes_the_second_step_of_a_password_sign_in,
    another_users_passkey_does_not_answer_my_ceremony,
);

/// The user id of `c`'s session.
async fn my_id(c: &Client) -> String {
    let me = c.get("/v1/auth/me").await;
    me.body["user"]["id"].as_str().unwrap().to_owned()
}

/// The sorted keys of an object (to compare answers by shape).
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fn listed_ids(start: &Value) -> Vec<String> {
    start["publicKey"]["allowCredentials"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|c| c["id"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Register, list (in `/v1/auth/passkeys` and `/v1/auth/mfa`), sign in by email with it: a
/// session, `auth.login_succeeded` with `method: passkey`, `last_used_at` set; no password
/// needed and user verification was required in both ceremonies.
async fn a_registered_passkey_is_listed_and_signs_in_by_email(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let mut auth = Authenticator::new(&server);
    let start = owner
        .post(
            "/v1/auth/passkeys/register/start",
            json!({ "name": "Laptop", "current_password": PASSWORD }),
        )
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.text);
    let options = &start.body["publicKey"];
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    assert_eq!(options["user"]["name"], email.as_str());
    let credential = auth.create(&start.body);
    let r = owner
        .post(
            "/v1/auth/passkeys/register/finish",
            json!({ "ceremony_id": start.body["ceremony_id"], "credential": credential }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["name"], "Laptop");
    assert_eq!(r.body["backup_eligible"], false);
    rfc3339(&r.body["created_at"]);
    let id = r.body["id"].as_str().unwrap().to_owned();

    let list = owner.get("/v1/auth/passkeys").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    assert_eq!(list.body.as_array().map(Vec::len), Some(1), "{}", list.text);
    assert_eq!(list.body[0]["id"], id.as_str());
    assert!(list.body[0]["last_used_at"].is_null());
    assert_eq!(mfa_status(&owner).await["passkeys"][0]["id"], id.as_str());

    let mut c = server.client();
    let start = passkey_login_start(&c, json!({ "email": email })).await;
    assert_eq!(start["publicKey"]["userVerification"], "required");
    assert_eq!(listed_ids(&start).len(), 1, "{start}");
    assert!(start.get("mediation").is_none(), "{start}");
    let answer = auth.get(&start).expect("the authenticator answers");
    let r = passkey_login_finish(&mut c, &start, answer).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["user"]["email"], email.as_str());
    assert_eq!(c.get("/v1/auth/me").await.status, StatusCode::OK);
    let methods: Vec<Value> = my_events(&c, "auth.login_succeeded")
        .await
        .iter()
        .map(|e| e["details"]["method"].clone())
        .collect();
    assert!(methods.contains(&json!("passkey")), "{methods:?}");
    assert_eq!(my_events(&c, "passkey.registered").await.len(), 1);
    let list = c.get("/v1/auth/passkeys").await;
    rfc3339(&list.body[0]["last_used_at"]);
}

/// Registration start needs the current password or a second-factor code: neither is `422`,
/// a wrong password `401`; with TOTP on a code alone is enough. A bad name is `422`.
async fn registering_needs_the_password_or_a_code(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, owner, _) = with_admin(&db, &[]).await;
    let start = |body: Value| {
        let owner = owner.clone();
        async move { owner.post("/v1/auth/passkeys/register/start", body).await }
    };
    let r = start(json!({ "name": "Key" })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["fields"]["current_password"], "required");
    let r = start(json!({ "name": "Key", "current_password": "wrong password here" })).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let r = start(json!({ "name": "", "current_password": PASSWORD })).await;
    assert_eq!(r.body["error"]["fields"]["name"], "required", "{}", r.text);
    let r = start(json!({ "name": "x".repeat(65), "current_password": PASSWORD })).await;
    assert_eq!(r.body["error"]["fields"]["name"], "too_long", "{}", r.text);
    let on = enable_totp(&owner).await;
    let r = start(json!({ "name": "Key", "code": wrong_totp(&on.secret) })).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let r = start(json!({ "name": "Key", "code": totp_at(&on.secret, 1) })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // No session: 401 before anything else.
    let anon = _server.client();
    let r = anon
        .post(
            "/v1/auth/passkeys/register/start",
            json!({ "name": "Key", "current_password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}

/// A registration ceremony finishes once, and not for another user; a sign-in ceremony too.
async fn a_ceremony_finishes_once_and_only_for_its_user(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (other, _) = server
        .member(&owner, &org, "other@example.com", "member")
        .await;
    let mut auth = Authenticator::new(&server);
    let start = owner
        .post(
            "/v1/auth/passkeys/register/start",
            json!({ "name": "Key", "current_password": PASSWORD }),
        )
        .await;
    let credential = auth.create(&start.body);
    let finish = json!({ "ceremony_id": start.body["ceremony_id"], "credential": credential });
    let r = other
        .post("/v1/auth/passkeys/register/finish", finish.clone())
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["error"]["fields"]["ceremony_id"], "unknown");
    // The other user's attempt spent it.
    let r = owner
        .post("/v1/auth/passkeys/register/finish", finish.clone())
        .await;
    assert_eq!(
        r.body["error"]["fields"]["ceremony_id"], "unknown",
        "{}",
        r.text
    );
    register_passkey(&owner, &mut auth, "Key").await;
    // A tampered answer does not verify.
    let start = owner
        .post(
            "/v1/auth/passkeys/register/start",
            json!({ "name": "Key 2", "current_password": PASSWORD }),
        )
        .await;
    let mut credential = Authenticator::new(&server).create(&start.body);
    credential["response"]["clientDataJSON"] = json!("e30");
    let r = owner
        .post(
            "/v1/auth/passkeys/register/finish",
            json!({ "ceremony_id": start.body["ceremony_id"], "credential": credential }),
        )
        .await;
    assert_eq!(
        r.body["error"]["fields"]["credential"], "invalid",
        "{}",
        r.text
    );

    let mut c = server.client();
    let start = passkey_login_start(&c, json!({ "email": email })).await;
    let answer = auth.get(&start).expect("answer");
    let r = passkey_login_finish(&mut c, &start, answer.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut again = server.client();
    let r = passkey_login_finish(&mut again, &start, answer).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    // An answer made for another origin does not verify.
    let start = passkey_login_start(&c, json!({ "email": email })).await;
    let mut elsewhere = Authenticator::for_origin("http://localhost:1");
    assert!(elsewhere.get(&start).is_none(), "a stranger holds no key");
    let r = passkey_login_finish(&mut again, &start, json!({ "id": "x" })).await;
    assert!(invalid_credentials(&r), "{}", r.text);
}

/// `login/start` for an unknown email, and for an account without passkeys, answers like a
/// real account: the same fields, listed credential ids that are the same each time for that
/// email, a fresh challenge; finishing it signs in no one.
async fn an_unknown_email_gets_an_answer_like_a_real_one(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let mut auth = Authenticator::new(&server);
    register_passkey(&owner, &mut auth, "Key").await;
    let c = server.client();
    let real = passkey_login_start(&c, json!({ "email": email })).await;
    let decoy = passkey_login_start(&c, json!({ "email": "nobody@example.com" })).await;
    let decoy_again = passkey_login_start(&c, json!({ "email": "NoBody@Example.com" })).await;
    let org = first_org(&owner).await;
    server
        .member(&owner, &org, "nopasskey@example.com", "member")
        .await;
    let no_passkey = passkey_login_start(&c, json!({ "email": "nopasskey@example.com" })).await;
    for other in [&decoy, &no_passkey] {
        assert_eq!(keys(other), keys(&real), "{other} vs {real}");
        assert_eq!(keys(&other["publicKey"]), keys(&real["publicKey"]));
        assert!(!listed_ids(other).is_empty(), "{other}");
        assert_eq!(
            keys(&other["publicKey"]["allowCredentials"][0]),
            ["id", "type"]
        );
    }
    assert_eq!(listed_ids(&decoy), listed_ids(&decoy_again));
    assert_ne!(listed_ids(&decoy), listed_ids(&no_passkey));
    assert_ne!(
        decoy["publicKey"]["challenge"],
        decoy_again["publicKey"]["challenge"]
    );
    // The real passkey's answer to the decoy ceremony signs no one in.
    let answer = auth.get(&real).expect("answer");
    let mut stranger = server.client();
    let r = passkey_login_finish(&mut stranger, &decoy, answer).await;
    assert!(invalid_credentials(&r), "{}", r.text);
}

/// Without an email: options with no credential list (conditional mediation); the passkey the
/// authenticator picks signs its owner in, and only with its owner's user handle.
async fn a_discoverable_passkey_signs_in_without_an_email(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let user = my_id(&owner).await;
    let mut auth = Authenticator::new(&server);
    let registered = register_passkey(&owner, &mut auth, "Key").await;
    let by_email = passkey_login_start(&owner, json!({ "email": email })).await;
    let credential_id = listed_ids(&by_email).remove(0);
    let _ = registered;

    let mut c = server.client();
    let start = passkey_login_start(&c, json!({})).await;
    assert!(listed_ids(&start).is_empty(), "{start}");
    assert_eq!(start["mediation"], "conditional");
    let forged = auth.get_discoverable(&start, &credential_id, &uuid::Uuid::nil().to_string());
    let r = passkey_login_finish(&mut c, &start, forged).await;
    assert!(invalid_credentials(&r), "{}", r.text);

    let start = passkey_login_start(&c, json!({ "email": "" })).await;
    let answer = auth.get_discoverable(&start, &credential_id, &user);
    let r = passkey_login_finish(&mut c, &start, answer).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["user"]["email"], email.as_str());
}

/// A counter that did not go up past the stored one (a cloned authenticator) is refused and
/// recorded as `passkey.counter_regressed`; the stored counter stays.
async fn a_regressed_counter_is_refused_and_recorded(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let mut auth = Authenticator::new(&server);
    register_passkey(&owner, &mut auth, "Key").await;
    let mut c = server.client();
    assert_eq!(
        passkey_sign_in(&mut c, &mut auth, &email).await.status,
        StatusCode::OK
    );
    let counts = db
        .query_strings("SELECT CAST(sign_count AS TEXT) FROM passkeys")
        .await;
    assert_eq!(counts, ["1"], "the first sign-in counted");
    // A clone elsewhere has signed a hundred times since.
    db.query_strings("UPDATE passkeys SET sign_count = 100")
        .await;
    let mut c = server.client();
    let r = passkey_sign_in(&mut c, &mut auth, &email).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let events = my_events(&owner, "passkey.counter_regressed").await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["outcome"], "failure");
    let counts = db
        .query_strings("SELECT CAST(sign_count AS TEXT) FROM passkeys")
        .await;
    assert_eq!(counts, ["100"]);
}

/// `DELETE /v1/auth/passkeys/{id}`: another user's id (or none) is `404` whatever is sent; a
/// wrong password `401`; then `204`, `passkey.removed`, and the passkey signs in no more.
async fn removing_a_passkey_needs_the_password_and_spares_other_users(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (other, _) = server
        .member(&owner, &org, "other@example.com", "member")
        .await;
    let mut auth = Authenticator::new(&server);
    let id = register_passkey(&owner, &mut auth, "Key").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let delete = |c: &Client, id: &str, body: Value| {
        let rb = c
            .request(reqwest::Method::DELETE, &format!("/v1/auth/passkeys/{id}"))
            .json(&body);
        Client::send(rb)
    };
    let r = delete(&other, &id, json!({ "current_password": PASSWORD })).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = delete(&owner, "not-an-id", json!({ "current_password": PASSWORD })).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = delete(
        &owner,
        &id,
        json!({ "current_password": "wrong password here" }),
    )
    .await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let r = delete(&owner, &id, json!({ "current_password": PASSWORD })).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(owner.get("/v1/auth/passkeys").await.body, json!([]));
    assert_eq!(my_events(&owner, "passkey.removed").await.len(), 1);
    let r = delete(&owner, &id, json!({ "current_password": PASSWORD })).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // Its sign-in now gets the decoy, and the key answers none of it.
    let c = server.client();
    let start = passkey_login_start(&c, json!({ "email": email })).await;
    assert!(auth.get(&start).is_none());
}

/// Passkeys alone ask for no second step: the password signs in (SPEC §15: TOTP does). With
/// TOTP on, `mfa_required` carries `methods: [totp, recovery_code, passkey]` and a `passkey`
/// ceremony; the answer to it at `login/mfa` finishes the sign-in once; a wrong one is
/// `auth.mfa_failed`; another user's ceremony or token does not finish it.
async fn a_passkey_finishes_the_second_step_of_a_password_sign_in(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let mut auth = Authenticator::new(&server);
    register_passkey(&owner, &mut auth, "Key").await;
    let mut c = server.client();
    let r = sign_in(&mut c, &email, None).await;
    assert_eq!(r.status, StatusCode::OK, "passkeys alone: {}", r.text);
    enable_totp(&owner).await;

    // Another user with TOTP and a passkey, for crossing ceremonies and tokens.
    let org = first_org(&owner).await;
    let (other, _) = server
        .member(&owner, &org, "other@example.com", "member")
        .await;
    let mut other_auth = Authenticator::new(&server);
    register_passkey(&other, &mut other_auth, "Theirs").await;
    enable_totp(&other).await;
    let mut o = server.client();
    let theirs = sign_in(&mut o, "other@example.com", None).await;
    let their_token = theirs.body["error"]["mfa_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let their_ceremony = theirs.body["error"]["passkey"].clone();

    let mut c = server.client();
    let r = sign_in(&mut c, &email, None).await;
    assert_eq!(r.code(), "mfa_required", "{}", r.text);
    let error = &r.body["error"];
    assert_eq!(
        error["methods"],
        json!(["totp", "recovery_code", "passkey"])
    );
    let token = error["mfa_token"].as_str().unwrap().to_owned();
    let ceremony = error["passkey"].clone();
    assert!(ceremony["ceremony_id"].is_string(), "{}", r.text);
    assert_eq!(listed_ids(&ceremony).len(), 1);
    let finish = |c: &Client, token: &str, ceremony: &Value, answer: &Value| {
        let body = json!({ "mfa_token": token, "passkey": {
            "ceremony_id": ceremony["ceremony_id"], "credential": answer } });
        let c = c.clone();
        async move { c.post("/v1/auth/login/mfa", body).await }
    };
    // My token with their ceremony and their passkey's answer: no.
    let their_answer = other_auth.get(&their_ceremony).expect("answer");
    let r = finish(&c, &token, &their_ceremony, &their_answer).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    // Their token with my ceremony and my passkey's answer: no.
    let answer = auth.get(&ceremony).expect("answer");
    let r = finish(&c, &their_token, &ceremony, &answer).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    // Both ceremonies are spent now; a fresh one, first answered wrongly.
    let r = sign_in(&mut c, &email, None).await;
    let token = r.body["error"]["mfa_token"].as_str().unwrap().to_owned();
    let ceremony = r.body["error"]["passkey"].clone();
    let mut wrong = auth.get(&ceremony).expect("answer");
    wrong["response"]["signature"] = json!("AAAA");
    let r = finish(&c, &token, &ceremony, &wrong).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    assert_eq!(my_events(&owner, "auth.mfa_failed").await.len(), 1);
    let r = sign_in(&mut c, &email, None).await;
    let token = r.body["error"]["mfa_token"].as_str().unwrap().to_owned();
    let ceremony = r.body["error"]["passkey"].clone();
    let answer = auth.get(&ceremony).expect("answer");
    let r = finish(&c, "x".repeat(43).as_str(), &ceremony, &answer).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let r = sign_in(&mut c, &email, None).await;
    let token2 = r.body["error"]["mfa_token"].as_str().unwrap().to_owned();
    let ceremony = r.body["error"]["passkey"].clone();
    let answer = auth.get(&ceremony).expect("answer");
    let r = finish(&c, &token2, &ceremony, &answer).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.header("set-cookie").is_some());
    let r = finish(&c, &token2, &ceremony, &answer).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let _ = token;
}

/// One user's passkey cannot answer another user's sign-in ceremony; the attempt is recorded
/// against the account the ceremony was for.
async fn another_users_passkey_does_not_answer_my_ceremony(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (other, _) = server
        .member(&owner, &org, "other@example.com", "member")
        .await;
    let mut mine = Authenticator::new(&server);
    register_passkey(&owner, &mut mine, "Mine").await;
    let mut theirs = Authenticator::new(&server);
    register_passkey(&other, &mut theirs, "Theirs").await;
    let c = server.client();
    let my_ceremony = passkey_login_start(&c, json!({ "email": email })).await;
    let their_ceremony = passkey_login_start(&c, json!({ "email": "other@example.com" })).await;
    // Their key, answering their options, sent for my ceremony.
    let answer = theirs.get(&their_ceremony).expect("answer");
    let mut attacker = server.client();
    let r = passkey_login_finish(&mut attacker, &my_ceremony, answer).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    // An attempt on my account (as a wrong password for my email is), not on theirs.
    assert_eq!(my_events(&owner, "auth.login_failed").await.len(), 1);
    assert!(
        my_events(&other, "auth.login_failed").await.is_empty(),
        "recorded against the key's owner"
    );
}

/// With an IP address as the public URL's host, passkeys are off: a warning at start, a
/// `doctor` line, and `503` from their routes; everything else works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ip_address_public_url_turns_passkeys_off() {
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let env = [("GATEHOUSE_PUBLIC_URL", "http://127.0.0.1:9")];
    let (server, owner, _) = with_admin(&db, &env).await;
    let line = server.log_line("passkeys are off").await;
    assert!(line.contains("127.0.0.1"), "{line}");
    let r = owner
        .post(
            "/v1/auth/passkeys/register/start",
            json!({ "name": "Key", "current_password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    let r = server
        .client()
        .post("/v1/auth/passkeys/login/start", json!({}))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(owner.get("/v1/auth/passkeys").await.body, json!([]));
    let (_, doctor, _) = run_cli(&db, &env, &["doctor"], None);
    let line = doctor
        .lines()
        .find(|l| l.contains("passkeys"))
        .unwrap_or_else(|| panic!("{doctor}"));
    assert!(line.contains("off") && line.contains("127.0.0.1"), "{line}");
}
