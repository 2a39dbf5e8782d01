//! Signing in with TOTP on (SPEC §15): `mfa_required` only after the right password, the
//! mfa_token's second step, each code used once, recovery codes, the password grant, lockout.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    the_right_password_alone_asks_for_the_second_factor,
    a_wrong_password_never_mentions_the_second_factor,
    the_mfa_token_finishes_the_sign_in_once,
    an_mfa_token_takes_five_wrong_codes_at_most,
    a_totp_code_signs_in_once,
    the_enrollment_code_is_never_the_first_sign_in_code,
    a_step_before_the_last_used_one_is_refused,
    recovery_codes_sign_in_once_in_any_spelling,
    parallel_uses_of_one_recovery_code_admit_one,
    the_password_grant_asks_for_the_second_factor_too,
    wrong_codes_lock_the_account_like_wrong_passwords,
);

/// The `details.method` of every `auth.login_succeeded` of `c`'s user, sorted.
async fn login_methods(c: &Client) -> Vec<String> {
    let mut methods: Vec<String> = my_events(c, "auth.login_succeeded")
        .await
        .iter()
        .map(|e| {
            e["details"]["method"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    methods.sort();
    methods
}

fn limited(r: &Reply) -> bool {
    r.status == StatusCode::TOO_MANY_REQUESTS
        && r.code() == "rate_limited"
        && r.header("retry-after").is_some()
}

/// No `otp`: `mfa_required` and no cookie; with a TOTP code: the usual sign-in, recorded with
/// its method, and the code's use shows in the status.
async fn the_right_password_alone_asks_for_the_second_factor(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let mut c = server.client();
    mfa_required(&sign_in(&mut c, &email, None).await);
    assert!(c.cookie.is_none());
    let code = totp_at(&on.secret, 1);
    let r = sign_in(&mut c, &email, Some(code.as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["user"]["email"], email.as_str());
    assert!(r.body["session"]["id"].is_string() && r.body["csrf_token"].is_string());
    assert_eq!(c.get("/v1/auth/me").await.status, StatusCode::OK);
    rfc3339(&mfa_status(&owner).await["totp"]["last_used_at"]);
    // with_admin signed in with the password alone, before TOTP was on.
    assert_eq!(login_methods(&owner).await, ["password", "totp"]);
}

/// A wrong password gets the answer an unknown email gets, with or without `otp`, and spends
/// no code.
async fn a_wrong_password_never_mentions_the_second_factor(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let c = server.client();
    let attempt = |email: &str, otp: Option<&str>| {
        let mut body = json!({ "email": email, "password": "not the password at all" });
        if let Some(otp) = otp {
            body["otp"] = json!(otp);
        }
        c.post("/v1/auth/login", body)
    };
    let strip = |r: &Reply| {
        let mut b: Value = r.body.clone();
        b["error"]["request_id"] = json!(null);
        b
    };
    let known = attempt(email.as_str(), None).await;
    let unknown = attempt("nobody@example.com", None).await;
    assert!(invalid_credentials(&known), "{}", known.text);
    assert_eq!(strip(&known), strip(&unknown), "nothing tells them apart");
    let recovery = on.recovery_codes[0].as_str();
    let with_code = attempt(email.as_str(), Some(recovery)).await;
    assert!(invalid_credentials(&with_code), "{}", with_code.text);
    let r = sign_in(&mut server.client(), &email, Some(recovery)).await;
    assert_eq!(r.status, StatusCode::OK, "the code is unspent: {}", r.text);
}

/// The mfa_token takes a wrong code and then the right one, signs in once, and nothing else.
async fn the_mfa_token_finishes_the_sign_in_once(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let mut c = server.client();
    let token = mfa_required(&sign_in(&mut c, &email, None).await);
    let wrong = second_step(&mut c, &token, &wrong_totp(&on.secret)).await;
    assert!(invalid_credentials(&wrong), "{}", wrong.text);
    let r = second_step(&mut c, &token, &totp_at(&on.secret, 1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.header("set-cookie").is_some());
    assert_eq!(r.body["user"]["email"], email.as_str());
    assert!(r.body["session"]["expires_at"].is_string() && r.body["csrf_token"].is_string());
    let me = c.get("/v1/auth/me").await;
    assert_eq!(me.body["auth"]["method"], "session", "{}", me.text);
    assert_eq!(my_events(&owner, "auth.mfa_failed").await.len(), 1);
    assert_eq!(login_methods(&owner).await, ["password", "totp"]);

    let mut other = server.client();
    let again = second_step(&mut other, &token, &on.recovery_codes[0]).await;
    assert_eq!(
        again.status,
        StatusCode::UNAUTHORIZED,
        "single use: {}",
        again.text
    );
    let forged = format!("{token}x");
    for bad in ["garbage", forged.as_str()] {
        let r = second_step(&mut other, bad, &on.recovery_codes[0]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad:?}: {}", r.text);
    }
}

/// Five wrong codes spend the token: the right code is refused after them. The account is
/// not locked by it (the lockout here is 1000).
async fn an_mfa_token_takes_five_wrong_codes_at_most(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let mut c = server.client();
    let token = mfa_required(&sign_in(&mut c, &email, None).await);
    let wrong = wrong_totp(&on.secret);
    for attempt in 1..=5 {
        let r = second_step(&mut c, &token, &wrong).await;
        assert!(invalid_credentials(&r), "attempt {attempt}: {}", r.text);
    }
    let right = second_step(&mut c, &token, &totp_at(&on.secret, 1)).await;
    assert_eq!(right.status, StatusCode::UNAUTHORIZED, "{}", right.text);
    assert!(c.cookie.is_none());
    let recovery = on.recovery_codes[0].as_str();
    let r = sign_in(&mut c, &email, Some(recovery)).await;
    assert_eq!(r.status, StatusCode::OK, "a new sign-in works: {}", r.text);
}

async fn a_totp_code_signs_in_once(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let code = totp_at(&on.secret, 1);
    let first = sign_in(&mut server.client(), &email, Some(code.as_str())).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text);
    let replay = sign_in(&mut server.client(), &email, Some(code.as_str())).await;
    assert!(invalid_credentials(&replay), "{}", replay.text);
    let mut c = server.client();
    let token = mfa_required(&sign_in(&mut c, &email, None).await);
    let replay = second_step(&mut c, &token, &code).await;
    assert!(invalid_credentials(&replay), "{}", replay.text);
}

/// The code that confirmed enrollment spent its step.
async fn the_enrollment_code_is_never_the_first_sign_in_code(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let mut c = server.client();
    let r = sign_in(&mut c, &email, Some(on.confirmed_with.as_str())).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let next = totp_at(&on.secret, 1);
    let r = sign_in(&mut c, &email, Some(next.as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "a later step passes: {}", r.text);
}

/// Confirmed with the code of the next step, the current step's code is inside the window but
/// not later than the last used one: refused.
async fn a_step_before_the_last_used_one_is_refused(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let r = owner
        .post("/v1/auth/mfa/totp", json!({ "current_password": PASSWORD }))
        .await;
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let r = owner
        .post(
            "/v1/auth/mfa/totp/confirm",
            json!({ "code": totp_at(&secret, 1) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let codes = recovery_codes(&r);
    let mut c = server.client();
    let earlier = totp_at(&secret, 0);
    let r = sign_in(&mut c, &email, Some(earlier.as_str())).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let r = sign_in(&mut c, &email, Some(codes[0].as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Lowercase, without dashes, through either route: each code once; the events count down.
async fn recovery_codes_sign_in_once_in_any_spelling(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let codes = enable_totp(&owner).await.recovery_codes;
    let lower_bare = codes[0].to_lowercase().replace('-', "");
    let r = sign_in(&mut server.client(), &email, Some(lower_bare.as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = sign_in(&mut server.client(), &email, Some(codes[0].as_str())).await;
    assert!(invalid_credentials(&r), "spent in any spelling: {}", r.text);
    let upper_bare = codes[1].replace('-', "");
    let r = sign_in(&mut server.client(), &email, Some(upper_bare.as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let mut c = server.client();
    let token = mfa_required(&sign_in(&mut c, &email, None).await);
    let r = second_step(&mut c, &token, &codes[2].to_lowercase()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    assert_eq!(mfa_status(&owner).await["recovery_codes"]["remaining"], 7);
    let used = my_events(&owner, "mfa.recovery_code_used").await;
    let mut remaining: Vec<i64> = used
        .iter()
        .map(|e| e["details"]["remaining"].as_i64().unwrap_or(-1))
        .collect();
    remaining.sort_unstable();
    assert_eq!(remaining, [7_i64, 8, 9], "{used:?}");
    assert_eq!(
        login_methods(&owner).await,
        [
            "password",
            "recovery_code",
            "recovery_code",
            "recovery_code"
        ]
    );
}

/// Two sign-ins racing with one recovery code: exactly one wins.
async fn parallel_uses_of_one_recovery_code_admit_one(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let codes = enable_totp(&owner).await.recovery_codes;
    let body = json!({ "email": email, "password": PASSWORD, "otp": codes[0] });
    let (a, b) = (server.client(), server.client());
    let (ra, rb) = tokio::join!(
        a.post("/v1/auth/login", body.clone()),
        b.post("/v1/auth/login", body)
    );
    let won = [&ra, &rb]
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    let lost = [&ra, &rb].iter().filter(|r| invalid_credentials(r)).count();
    assert_eq!((won, lost), (1, 1), "{} / {}", ra.text, rb.text);
    assert_eq!(mfa_status(&owner).await["recovery_codes"]["remaining"], 9);
    let used = my_events(&owner, "mfa.recovery_code_used").await;
    assert_eq!(used.len(), 1, "{used:?}");
    assert_eq!(used[0]["details"]["remaining"], 9);
}

/// `POST /v1/auth/token` with the password grant takes `otp` the same way.
async fn the_password_grant_asks_for_the_second_factor_too(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let c = server.client();
    let grant = |password: &str, otp: Option<&str>| {
        let mut body = json!({ "grant_type": "password", "email": email, "password": password });
        if let Some(otp) = otp {
            body["otp"] = json!(otp);
        }
        c.post("/v1/auth/token", body)
    };
    mfa_required(&grant(PASSWORD, None).await);
    let r = grant("not the password at all", None).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let r = grant(PASSWORD, Some(wrong_totp(&on.secret).as_str())).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let code = totp_at(&on.secret, 1);
    let r = grant(PASSWORD, Some(code.as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["token_type"], "Bearer");
    let access = r.body["access_token"].as_str().unwrap();
    let me = server.client().with_key(access).get("/v1/auth/me").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    let r = grant(PASSWORD, Some(on.recovery_codes[0].as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = grant(PASSWORD, Some(code.as_str())).await;
    assert!(
        invalid_credentials(&r),
        "the TOTP code was spent: {}",
        r.text
    );
}

/// Wrong codes after the right password, through either route, count toward the account's
/// lockout (3 here): then even the right code meets `429`, the mfa_token finishes nothing, and
/// the open session keeps working.
async fn wrong_codes_lock_the_account_like_wrong_passwords(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[("GATEHOUSE_LOCKOUT", "3/15m")]).await;
    let on = enable_totp(&owner).await;
    let wrong = wrong_totp(&on.secret);
    let mut c = server.client();
    let token = mfa_required(&sign_in(&mut c, &email, None).await);
    for _ in 0..2 {
        let r = second_step(&mut c, &token, &wrong).await;
        assert!(invalid_credentials(&r), "{}", r.text);
    }
    let r = sign_in(&mut c, &email, Some(wrong.as_str())).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    assert_eq!(my_events(&owner, "auth.mfa_failed").await.len(), 3);

    let right = totp_at(&on.secret, 1);
    let r = sign_in(&mut c, &email, Some(right.as_str())).await;
    assert!(limited(&r), "locked: {} {}", r.status, r.text);
    let r = second_step(&mut c, &token, &right).await;
    assert_ne!(
        r.status,
        StatusCode::OK,
        "the lock holds for the second step"
    );
    assert!(c.cookie.is_none());
    assert_eq!(owner.get("/v1/auth/me").await.status, StatusCode::OK);
    let system = owner
        .get("/v1/system/audit?category=security&limit=1000")
        .await;
    let locks = system.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.locked")
        .count();
    assert_eq!(locks, 1, "one auth.locked: {}", system.text);
}
