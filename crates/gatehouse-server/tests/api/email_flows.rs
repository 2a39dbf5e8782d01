//! Mailed flows against a real SMTP sink (SPEC §16): sign-in codes and links (single use, five
//! wrong codes at most, the same answer for unknown addresses, send limits counted for them
//! too, `mfa_required` with TOTP on, accounts only with signup open), password reset (killing
//! every credential), address verification, and no code or token in logs or raw dumps.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::*;
use crate::tokens::password_grant;

both!(
    a_mailed_code_signs_in_once,
    the_mailed_link_signs_in_once,
    five_wrong_codes_end_the_flow,
    unknown_addresses_get_the_same_answer_and_the_same_limits,
    an_email_code_makes_an_account_only_when_signup_is_open,
    totp_still_asks_for_the_second_step,
    a_password_reset_kills_every_credential,
    the_address_is_verified_by_its_link,
    whoever_registered_an_address_first_loses_it_to_its_mailbox,
);

const FROM: &str = "gatehouse@example.com";

/// A server mailing to `sink`, with setup done: (server, owner client, owner email).
async fn mailing(db: &TestDb, sink: &MailSink, env: &[(&str, &str)]) -> (Server, Client, String) {
    let url = sink.url();
    let mut all = vec![
        ("GATEHOUSE_SMTP_URL", url.as_str()),
        ("GATEHOUSE_SMTP_FROM", FROM),
    ];
    all.extend_from_slice(env);
    with_admin(db, &all).await
}

async fn request_code(c: &Client, email: &str) -> Reply {
    c.post("/v1/auth/email-code", json!({ "email": email }))
        .await
}

fn started(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    rfc3339(&r.body["expires_at"]);
    let mut keys: Vec<&String> = r.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["expires_at", "flow_id"]);
    r.body["flow_id"].as_str().unwrap().to_owned()
}

async fn verify(c: &mut Client, body: Value) -> Reply {
    let r = c.post("/v1/auth/email-code/verify", body).await;
    keep_session(c, &r);
    r
}

/// Without SMTP every route of §16 answers `404`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_smtp_the_routes_are_not_there() {
    let Some(db) = TestDb::new(Db::Sqlite).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let c = server.client();
    for (path, body) in [
        ("/v1/auth/email-code", json!({ "email": email })),
        (
            "/v1/auth/email-code/verify",
            json!({ "flow_id": "x", "code": "123456" }),
        ),
        ("/v1/auth/password/forgot", json!({ "email": email })),
        (
            "/v1/auth/password/reset",
            json!({ "token": "x", "new_password": "y" }),
        ),
        ("/v1/auth/email/verify", json!({ "token": "x" })),
    ] {
        let r = c.post(path, body).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
    let r = owner.post_empty("/v1/auth/email/verify/send").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}

/// The mail: from the configured sender, the code and a console link; the code signs in once
/// (`method: email_code`), and neither it nor the link's token is in the logs or the database.
async fn a_mailed_code_signs_in_once(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, owner, email) = mailing(&db, &sink, &[]).await;
    let mut c = server.client();
    let flow = started(&request_code(&c, &email).await);
    let mail = sink.nth(&email, 1).await;
    assert_eq!(mail["from"], FROM);
    assert_eq!(mail["subject"], "Your sign-in code");
    let code = mailed_code(&mail);
    let (path, token) = mailed_link(&mail);
    assert_eq!(path, "/console/email-code/link");
    assert!(!mail["body"].as_str().unwrap().contains(PASSWORD));
    let r = verify(&mut c, json!({ "flow_id": flow, "code": code })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["user"]["email"], email.as_str());
    assert_eq!(c.get("/v1/auth/me").await.status, StatusCode::OK);
    let again = verify(
        &mut server.client(),
        json!({ "flow_id": flow, "code": code }),
    )
    .await;
    assert!(invalid_credentials(&again), "{}", again.text);
    let by_link = verify(
        &mut server.client(),
        json!({ "flow_id": flow, "token": token }),
    )
    .await;
    assert!(
        invalid_credentials(&by_link),
        "the code ended the flow: {}",
        by_link.text
    );
    let methods: Vec<Value> = my_events(&owner, "auth.login_succeeded")
        .await
        .iter()
        .map(|e| e["details"]["method"].clone())
        .collect();
    assert!(methods.contains(&json!("email_code")), "{methods:?}");
    assert_eq!(my_events(&owner, "auth.email_code_sent").await.len(), 1);
    let logs = server.logs();
    let dump = db.everything().await;
    for secret in [&code, &token] {
        assert!(!logs.contains(secret.as_str()), "{secret} in the logs");
        assert!(!dump.contains(secret.as_str()), "{secret} in the database");
    }
}

/// The link's console page, opened with GET (as a mail scanner does), consumes nothing; its
/// token then signs in once (`method: email_link`), and the code is void with it.
async fn the_mailed_link_signs_in_once(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, owner, email) = mailing(&db, &sink, &[]).await;
    let flow = started(&request_code(&server.client(), &email).await);
    let mail = sink.nth(&email, 1).await;
    let (path, token) = mailed_link(&mail);
    for _ in 0..3 {
        let page = server.client().get(&format!("{path}?token={token}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text);
        assert!(
            page.text.contains("method=\"post\""),
            "one button that POSTs"
        );
    }
    let mut c = server.client();
    let r = verify(&mut c, json!({ "flow_id": flow, "token": token })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = verify(
        &mut server.client(),
        json!({ "flow_id": flow, "token": token }),
    )
    .await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let code = mailed_code(&mail);
    let r = verify(
        &mut server.client(),
        json!({ "flow_id": flow, "code": code }),
    )
    .await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let methods: Vec<Value> = my_events(&owner, "auth.login_succeeded")
        .await
        .iter()
        .map(|e| e["details"]["method"].clone())
        .collect();
    assert!(methods.contains(&json!("email_link")), "{methods:?}");
}

/// Five wrong codes, each `401` and `auth.email_code_failed`; then the right one is refused.
async fn five_wrong_codes_end_the_flow(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, owner, email) = mailing(&db, &sink, &[]).await;
    let flow = started(&request_code(&server.client(), &email).await);
    let code = mailed_code(&sink.nth(&email, 1).await);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let r = verify(
            &mut server.client(),
            json!({ "flow_id": flow, "code": wrong }),
        )
        .await;
        assert!(invalid_credentials(&r), "{}", r.text);
    }
    let r = verify(
        &mut server.client(),
        json!({ "flow_id": flow, "code": code }),
    )
    .await;
    assert!(invalid_credentials(&r), "the flow is dead: {}", r.text);
    assert_eq!(my_events(&owner, "auth.email_code_failed").await.len(), 5);
}

/// An unknown address gets the very same answer and no mail; a second request within the
/// minute is `429` with `Retry-After` for it exactly as for a known one.
async fn unknown_addresses_get_the_same_answer_and_the_same_limits(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, _owner, email) = mailing(&db, &sink, &[]).await;
    let c = server.client();
    started(&request_code(&c, "nobody@example.com").await);
    started(&request_code(&c, &email).await);
    sink.wait_for(&email, 1).await;
    for address in ["nobody@example.com", email.as_str()] {
        let r = request_code(&c, address).await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{address}: {}",
            r.text
        );
        let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
        let r = c
            .post("/v1/auth/password/forgot", json!({ "email": address }))
            .await;
        assert_eq!(
            r.status,
            StatusCode::TOO_MANY_REQUESTS,
            "all kinds count together"
        );
    }
    assert!(sink.to("nobody@example.com").is_empty());
    for bad in [
        "not an address",
        "\"x\" <ann@example.com>",
        "<ann@example.com>",
    ] {
        let r = request_code(&c, bad).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text
        );
    }
}

/// With signup invite-only, an unknown address gets no mail; with signup open it does, and the
/// code makes a verified account without a password.
async fn an_email_code_makes_an_account_only_when_signup_is_open(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, _owner, _) = mailing(&db, &sink, &[("GATEHOUSE_SIGNUP", "open")]).await;
    let newcomer = "newcomer@example.com";
    let flow = started(&request_code(&server.client(), newcomer).await);
    let code = mailed_code(&sink.nth(newcomer, 1).await);
    let mut c = server.client();
    let r = verify(&mut c, json!({ "flow_id": flow, "code": code })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["user"]["email"], newcomer);
    let me = c.get("/v1/auth/me").await;
    assert_eq!(me.body["user"]["email_verified"], true, "{}", me.text);
    let r = c
        .post(
            "/v1/auth/login",
            json!({ "email": newcomer, "password": "" }),
        )
        .await;
    assert!(invalid_credentials(&r), "no password yet: {}", r.text);
    drop(server);

    let Some(db) = TestDb::new(db.kind).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, _owner, email) = mailing(&db, &sink, &[]).await;
    started(&request_code(&server.client(), newcomer).await);
    started(&request_code(&server.client(), &email).await);
    sink.wait_for(&email, 1).await;
    assert!(
        sink.to(newcomer).is_empty(),
        "mail to an unknown address, signup closed"
    );
}

/// An account with TOTP answers the right code with `mfa_required`.
async fn totp_still_asks_for_the_second_step(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, owner, email) = mailing(&db, &sink, &[]).await;
    let on = enable_totp(&owner).await;
    let flow = started(&request_code(&server.client(), &email).await);
    let code = mailed_code(&sink.nth(&email, 1).await);
    let mut c = server.client();
    let r = verify(&mut c, json!({ "flow_id": flow, "code": code })).await;
    let token = mfa_required(&r);
    let r = second_step(&mut c, &token, &totp_at(&on.secret, 1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// `forgot` mails a reset link (and answers `202` for an unknown address too); `reset` takes a
/// new password under the policy (a weak one spends nothing), ends every session, refresh
/// family and access token, and works once.
async fn a_password_reset_kills_every_credential(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, owner, email) = mailing(&db, &sink, &[]).await;
    let grant = password_grant(&server.client(), &email).await;
    let access = grant.body["access_token"].as_str().unwrap().to_owned();
    let refresh = grant.body["refresh_token"].as_str().unwrap().to_owned();
    let bearer = server.client().with_key(&access);
    assert_eq!(bearer.get("/v1/auth/me").await.status, StatusCode::OK);
    let c = server.client();
    for address in [email.as_str(), "nobody@example.com"] {
        let r = c
            .post("/v1/auth/password/forgot", json!({ "email": address }))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    }
    let mail = sink.nth(&email, 1).await;
    assert_eq!(mail["subject"], "Reset your password");
    let (path, token) = mailed_link(&mail);
    assert_eq!(path, "/console/reset-password");
    let page = c.get(&format!("{path}?token={token}")).await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "GET shows the form: {}",
        page.text
    );
    let reset = |password: &str| {
        let body = json!({ "token": token, "new_password": password });
        let c = c.clone();
        async move { c.post("/v1/auth/password/reset", body).await }
    };
    let r = reset("short").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    let new_password = "a brand new passphrase here";
    let r = reset(new_password).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        owner.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        bearer.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = c
        .post(
            "/v1/auth/token",
            json!({ "grant_type": "refresh_token", "refresh_token": refresh }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    let r = reset("yet another new passphrase").await;
    assert!(invalid_credentials(&r), "single use: {}", r.text);
    assert!(
        !db.everything().await.contains(&token),
        "the token is in the database"
    );
    let mut again = server.client();
    assert_eq!(
        again.login(&email, new_password).await.status,
        StatusCode::OK
    );
    assert_eq!(my_events(&again, "password.reset").await.len(), 1);
    assert_eq!(my_events(&again, "password.reset_requested").await.len(), 1);
    assert!(!server.logs().contains(&token) && !db.everything().await.contains(&token));
}

/// `email/verify/send` mails a link; its token sets `email_verified` (once).
async fn the_address_is_verified_by_its_link(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, owner, email) = mailing(&db, &sink, &[]).await;
    let me = owner.get("/v1/auth/me").await;
    assert_eq!(me.body["user"]["email_verified"], false);
    let r = owner.post_empty("/v1/auth/email/verify/send").await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.text);
    let mail = sink.nth(&email, 1).await;
    let (path, token) = mailed_link(&mail);
    assert_eq!(path, "/console/verify-email");
    let c = server.client();
    let r = c
        .post("/v1/auth/email/verify", json!({ "token": token }))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let me = owner.get("/v1/auth/me").await;
    assert_eq!(me.body["user"]["email_verified"], true, "{}", me.text);
    let r = c
        .post("/v1/auth/email/verify", json!({ "token": token }))
        .await;
    assert!(invalid_credentials(&r), "{}", r.text);
    assert_eq!(my_events(&owner, "email.verified").await.len(), 1);
}

/// Signup open: someone registers an address that is not theirs, with a password. When the
/// mailbox's owner signs in by code, the account is theirs: the password is gone and every
/// session made with it ended.
async fn whoever_registered_an_address_first_loses_it_to_its_mailbox(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let sink = MailSink::start();
    let (server, _owner, _) = mailing(&db, &sink, &[("GATEHOUSE_SIGNUP", "open")]).await;
    let victim = "victim@example.com";
    let r = server
        .client()
        .post(
            "/v1/auth/signup",
            json!({ "email": victim, "password": PASSWORD }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut squatter = server.client();
    assert_eq!(
        squatter.login(victim, PASSWORD).await.status,
        StatusCode::OK
    );
    let flow = started(&request_code(&server.client(), victim).await);
    let code = mailed_code(&sink.nth(victim, 1).await);
    let mut owner = server.client();
    let r = verify(&mut owner, json!({ "flow_id": flow, "code": code })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        squatter.get("/v1/auth/me").await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = server
        .client()
        .post(
            "/v1/auth/login",
            json!({ "email": victim, "password": PASSWORD }),
        )
        .await;
    assert!(
        invalid_credentials(&r),
        "the squatter's password: {}",
        r.text
    );
    assert_eq!(
        owner.get("/v1/auth/me").await.body["user"]["email_verified"],
        true
    );
}
