//! Setup, sign-up, sign-in, the password policy and the characters identities may hold.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::*;

both!(
    setup_once_then_404,
    signup_modes_and_policy,
    login_reveals_nothing,
    me_lists_orgs_and_method,
    identities_refuse_invisible_and_control_characters
);

async fn setup_once_then_404(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(&db, &[]);
    let token = server
        .setup_token()
        .expect("the setup line is printed on first start");
    assert_eq!(token.len(), 43, "256-bit base64url token");
    let c = server.client();
    let body = |t: &str| json!({ "token": t, "email": "root@example.com", "password": PASSWORD, "org_name": "Root Org" });

    let wrong = c.post("/v1/setup", body(&"A".repeat(43))).await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    let weak = c
        .post("/v1/setup", json!({ "token": token, "email": "root@example.com", "password": "password1", "org_name": "" }))
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(weak.body["error"]["fields"]["password"], "too_short");
    assert_eq!(weak.body["error"]["fields"]["org_name"], "required");

    let ok = c.post("/v1/setup", body(&token)).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    assert_eq!(ok.body["org"]["role"], "owner");
    assert_eq!(ok.body["user"]["email"], "root@example.com");
    assert!(ok.body["user"].get("password_hash").is_none());

    let again = c.post("/v1/setup", body(&token)).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );

    // A restart after setup prints no new setup line.
    drop(server);
    let server = Server::start(&db, &[]);
    assert_eq!(server.setup_token(), None);
}

async fn signup_modes_and_policy(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let invite_only = Server::start(&db, &[]);
    let r = invite_only
        .client()
        .post(
            "/v1/auth/signup",
            json!({ "email": "a@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "signup_disabled")
    );
    drop(invite_only);

    let server = Server::start(&db, &[("GATEHOUSE_SIGNUP", "open")]);
    let c = server.client();
    let signup = |email: &str, pw: &str| {
        let c = c.clone();
        let body = json!({ "email": email, "password": pw, "name": "Ann" });
        async move { c.post("/v1/auth/signup", body).await }
    };
    let ok = signup("Ann.Lee@Example.com", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    assert_eq!(ok.body["user"]["email"], "Ann.Lee@Example.com");
    assert!(ok.header("set-cookie").is_none(), "signup does not sign in");

    let taken = signup(" ann.lee@example.COM ", PASSWORD).await;
    assert_eq!(
        (taken.status, taken.code()),
        (StatusCode::CONFLICT, "conflict"),
        "uniqueness ignores case"
    );

    for (pw, code) in [
        ("short pw", "too_short"),
        ("password1234", "too_common"),
        ("qwertyuiop123!", "too_common"),
        ("bob.smith-is-great", "too_similar"),
    ] {
        let r = signup("bob.smith@example.com", pw).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{pw}: {}",
            r.text
        );
        assert_eq!(r.code(), "validation_failed");
        assert_eq!(r.body["error"]["fields"]["password"], code, "{pw}");
    }
    let long = signup("bob.smith@example.com", &"x".repeat(257)).await;
    assert_eq!(long.body["error"]["fields"]["password"], "too_long");
    let long_email = signup(&format!("{}@example.com", "a".repeat(250)), PASSWORD).await;
    assert_eq!(long_email.body["error"]["fields"]["email"], "too_long");
    let bad_email = signup("not-an-email", PASSWORD).await;
    assert_eq!(bad_email.body["error"]["fields"]["email"], "invalid");

    // NFKC: a fullwidth password signs in with its ASCII form.
    let r = signup(
        "wide@example.com",
        "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ",
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mut w = server.client();
    assert_eq!(
        w.login("wide@example.com", "correct horse battery")
            .await
            .status,
        StatusCode::OK
    );
}

async fn login_reveals_nothing(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, _admin, email) = with_admin(&db, &[]).await;
    let c = server.client();
    let unknown = c
        .post(
            "/v1/auth/login",
            json!({ "email": "nobody@example.com", "password": PASSWORD }),
        )
        .await;
    let wrong = c
        .post(
            "/v1/auth/login",
            json!({ "email": email, "password": "wrong password here" }),
        )
        .await;
    let malformed = c
        .post(
            "/v1/auth/login",
            json!({ "email": "not an email", "password": PASSWORD }),
        )
        .await;
    for r in [&unknown, &wrong, &malformed] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, "invalid_credentials")
        );
        assert!(r.header("set-cookie").is_none());
    }
    let strip = |r: &Reply| {
        let mut b = r.body.clone();
        b["error"]["request_id"] = json!(null);
        b
    };
    assert_eq!(
        strip(&unknown),
        strip(&wrong),
        "same body for unknown email and wrong password"
    );
    // The email is matched without case and with surrounding spaces trimmed.
    let mut ok = server.client();
    assert_eq!(
        ok.login(&format!("  {}  ", email.to_uppercase()), PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
}

async fn me_lists_orgs_and_method(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, email) = with_admin(&db, &[]).await;
    let me = admin.get("/v1/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["user"]["email"], email.as_str());
    assert_eq!(me.body["user"]["platform_admin"], true);
    assert_eq!(me.body["orgs"][0]["name"], "Acme");
    assert_eq!(me.body["orgs"][0]["role"], "owner");
    assert_eq!(me.body["auth"]["method"], "session");
    assert!(me.body["auth"]["session_id"].is_string());
    let anon = server.client().get("/v1/auth/me").await;
    assert_eq!(
        (anon.status, anon.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
}

/// Zero-width and bidi-override characters, soft hyphens and control characters make two
/// identities look alike or rewrite a terminal: refused in emails, user, org and key names.
async fn identities_refuse_invisible_and_control_characters(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[("GATEHOUSE_SIGNUP", "open")]).await;
    let org = first_org(&owner).await;
    let hidden = [
        "\u{200B}", // zero-width space
        "\u{00AD}", // soft hyphen
        "\u{202E}", // right-to-left override
        "\u{2066}", // left-to-right isolate
        "\u{001B}", // escape
        "\u{0378}", // unassigned
    ];
    let refused = |r: &Reply, field: &str| {
        assert_eq!(
            (r.status, r.body["error"]["fields"][field].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_characters")),
            "{field}: {}",
            r.text
        );
    };
    let anon = server.client();
    for h in hidden {
        let r = anon
            .post(
                "/v1/auth/signup",
                json!({ "email": format!("ad{h}min@example.com"), "password": PASSWORD }),
            )
            .await;
        refused(&r, "email");
        let r = anon
            .post(
                "/v1/auth/signup",
                json!({ "email": "named@example.com", "password": PASSWORD, "name": format!("Ann{h}ie") }),
            )
            .await;
        refused(&r, "name");
        refused(
            &owner
                .post("/v1/orgs", json!({ "name": format!("Ac{h}me") }))
                .await,
            "name",
        );
        refused(
            &owner
                .patch(
                    &format!("/v1/orgs/{org}"),
                    json!({ "name": format!("Ac{h}me") }),
                )
                .await,
            "name",
        );
        let r = owner
            .post(
                &format!("/v1/orgs/{org}/api-keys"),
                json!({ "name": format!("ci{h}key"), "scopes": ["check"] }),
            )
            .await;
        refused(&r, "name");
        let r = owner
            .post(
                &format!("/v1/orgs/{org}/invitations"),
                json!({ "email": format!("new{h}@example.com"), "role": "member" }),
            )
            .await;
        refused(&r, "email");
    }
    let token = owner.invite(&org, "invitee@example.com", "member").await;
    let r = anon
        .post(
            "/v1/invitations/accept",
            json!({ "token": token, "password": PASSWORD, "name": "Eve\u{202E}lyn" }),
        )
        .await;
    refused(&r, "name");
    // Nothing of it was stored, and ordinary letters from any script pass.
    assert!(!db.everything().await.contains('\u{202E}'));
    let ok = anon
        .post(
            "/v1/auth/signup",
            json!({ "email": "zoë@exämple.com", "password": PASSWORD, "name": "Zoë Ångström 山田" }),
        )
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    assert_eq!(
        owner
            .post("/v1/orgs", json!({ "name": "Café Müller" }))
            .await
            .status,
        StatusCode::CREATED
    );
}
