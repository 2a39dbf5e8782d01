//! Second factors, managed (SPEC §15): enrolling TOTP and confirming it, recovery codes, turning
//! TOTP off, their events, and no TOTP secret, recovery code or mfa_token in logs or database.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::support::*;

both!(
    mfa_is_off_until_a_totp_secret_is_confirmed,
    enrollment_needs_the_password_and_hands_out_a_base32_secret,
    enrolling_again_replaces_the_pending_secret,
    confirmation_needs_a_pending_enrollment_and_the_right_code,
    enrollment_is_refused_while_totp_is_on,
    disabling_needs_the_password_and_a_code,
    disabling_totp_drops_the_codes_and_the_second_step,
    regenerated_recovery_codes_void_the_old_set,
    no_mfa_secret_in_logs_or_database,
);

async fn enroll(c: &Client, password: &str) -> Reply {
    c.post("/v1/auth/mfa/totp", json!({ "current_password": password }))
        .await
}

async fn confirm(c: &Client, code: &str) -> Reply {
    c.post("/v1/auth/mfa/totp/confirm", json!({ "code": code }))
        .await
}

/// `DELETE /v1/auth/mfa/totp` with its body.
async fn disable(c: &Client, password: &str, code: &str) -> Reply {
    Client::send(
        c.request(Method::DELETE, "/v1/auth/mfa/totp")
            .json(&json!({ "current_password": password, "code": code })),
    )
    .await
}

async fn regenerate(c: &Client, code: &str) -> Reply {
    c.post(
        "/v1/auth/mfa/recovery-codes",
        json!({ "current_password": PASSWORD, "code": code }),
    )
    .await
}

fn validation_failed(r: &Reply, field_code: &str) -> bool {
    r.status == StatusCode::UNPROCESSABLE_ENTITY
        && r.code() == "validation_failed"
        && r.body["error"]["fields"]["code"] == field_code
}

/// Nothing is on at first; a pending enrollment turns nothing on and asks no second factor.
async fn mfa_is_off_until_a_totp_secret_is_confirmed(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let anonymous = server.client().get("/v1/auth/mfa").await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let status = mfa_status(&owner).await;
    assert_eq!(status["totp"]["enabled"], false, "{status}");
    assert!(status["totp"]["created_at"].is_null(), "{status}");
    assert_eq!(status["recovery_codes"]["remaining"], 0, "{status}");
    assert_eq!(status["passkeys"], json!([]), "{status}");

    assert_eq!(enroll(&owner, PASSWORD).await.status, StatusCode::CREATED);
    let pending = mfa_status(&owner).await;
    assert_eq!(
        pending["totp"]["enabled"], false,
        "pending is not on: {pending}"
    );
    assert_eq!(pending["recovery_codes"]["remaining"], 0, "{pending}");
    let r = sign_in(&mut server.client(), &email, None).await;
    assert_eq!(r.status, StatusCode::OK, "no second step yet: {}", r.text);
}

async fn enrollment_needs_the_password_and_hands_out_a_base32_secret(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, owner, _email) = with_admin(&db, &[]).await;
    let wrong = enroll(&owner, "not the password at all").await;
    assert!(invalid_credentials(&wrong), "{}", wrong.text);

    let r = enroll(&owner, PASSWORD).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let secret = r.body["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits of base32, unpadded: {secret}");
    assert!(
        secret
            .chars()
            .all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)),
        "RFC 4648 base32: {secret}"
    );
    let uri = r.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer="), "{uri}");
    assert!(rfc3339(&r.body["expires_at"]) > time::OffsetDateTime::now_utc());
    // pyotp reads the secret: its code confirms the enrollment.
    let confirmed = confirm(&owner, &totp_at(secret, 0)).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
}

/// A second enrollment before confirming replaces the pending secret: the first one's codes no
/// longer confirm.
async fn enrolling_again_replaces_the_pending_secret(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, owner, _email) = with_admin(&db, &[]).await;
    let first = enroll(&owner, PASSWORD).await.body["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = enroll(&owner, PASSWORD).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.text);
    let second = second.body["secret"].as_str().unwrap().to_owned();
    assert_ne!(first, second, "a new secret");
    let stale = confirm(&owner, &totp_at(&first, 0)).await;
    assert!(validation_failed(&stale, "invalid"), "{}", stale.text);
    let r = confirm(&owner, &totp_at(&second, 1)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(mfa_status(&owner).await["totp"]["enabled"], true);
}

async fn confirmation_needs_a_pending_enrollment_and_the_right_code(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, owner, _email) = with_admin(&db, &[]).await;
    let none = confirm(&owner, "123456").await;
    assert!(validation_failed(&none, "no_enrollment"), "{}", none.text);

    let r = enroll(&owner, PASSWORD).await;
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let wrong = confirm(&owner, &wrong_totp(&secret)).await;
    assert!(validation_failed(&wrong, "invalid"), "{}", wrong.text);
    assert_eq!(mfa_status(&owner).await["totp"]["enabled"], false);

    let r = confirm(&owner, &totp_at(&secret, 0)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    recovery_codes(&r);
    let status = mfa_status(&owner).await;
    assert_eq!(status["totp"]["enabled"], true, "{status}");
    rfc3339(&status["totp"]["created_at"]);
    assert_eq!(status["recovery_codes"]["remaining"], 10, "{status}");
    assert_eq!(my_events(&owner, "mfa.totp_enabled").await.len(), 1);
}

/// With TOTP on, enrolling answers `409` and leaves the secret in force.
async fn enrollment_is_refused_while_totp_is_on(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let again = enroll(&owner, PASSWORD).await;
    assert_eq!(
        (again.status, again.code()),
        (StatusCode::CONFLICT, "conflict"),
        "{}",
        again.text
    );
    assert!(again.body["secret"].is_null());
    let mut c = server.client();
    mfa_required(&sign_in(&mut c, &email, None).await);
    let code = totp_at(&on.secret, 1);
    let r = sign_in(&mut c, &email, Some(code.as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "the old secret holds: {}", r.text);
}

/// Turning TOTP off needs both the password and a code, and only while it is on.
async fn disabling_needs_the_password_and_a_code(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, owner, _email) = with_admin(&db, &[]).await;
    let off = disable(&owner, PASSWORD, "123456").await;
    assert_eq!(
        (off.status, off.code()),
        (StatusCode::NOT_FOUND, "not_found"),
        "{}",
        off.text
    );
    let on = enable_totp(&owner).await;
    let r = disable(&owner, "not the password at all", &totp_at(&on.secret, 1)).await;
    assert!(invalid_credentials(&r), "wrong password: {}", r.text);
    let r = disable(&owner, PASSWORD, &wrong_totp(&on.secret)).await;
    assert!(invalid_credentials(&r), "wrong code: {}", r.text);
    let status = mfa_status(&owner).await;
    assert_eq!(status["totp"]["enabled"], true, "{status}");
    assert_eq!(status["recovery_codes"]["remaining"], 10, "{status}");
}

/// Off: the recovery codes go with it, sign-in takes the password alone, and it can be turned
/// on again.
async fn disabling_totp_drops_the_codes_and_the_second_step(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let r = disable(&owner, PASSWORD, &totp_at(&on.secret, 1)).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let status = mfa_status(&owner).await;
    assert_eq!(status["totp"]["enabled"], false, "{status}");
    assert_eq!(status["recovery_codes"]["remaining"], 0, "{status}");
    let r = sign_in(&mut server.client(), &email, None).await;
    assert_eq!(r.status, StatusCode::OK, "no second step: {}", r.text);
    assert_eq!(my_events(&owner, "mfa.totp_disabled").await.len(), 1);

    let again = disable(&owner, PASSWORD, &totp_at(&on.secret, 1)).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "{}", again.text);
    assert_eq!(enroll(&owner, PASSWORD).await.status, StatusCode::CREATED);
}

/// A new set of ten replaces the old one entirely; a recovery code or a TOTP code authorizes it.
async fn regenerated_recovery_codes_void_the_old_set(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let on = enable_totp(&owner).await;
    let old = &on.recovery_codes;
    let r = regenerate(&owner, &old[0]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let new = recovery_codes(&r);
    assert!(new.iter().all(|c| !old.contains(c)), "a new set");
    assert_eq!(mfa_status(&owner).await["recovery_codes"]["remaining"], 10);
    let mut c = server.client();
    let r = sign_in(&mut c, &email, Some(old[1].as_str())).await;
    assert!(invalid_credentials(&r), "an old code is void: {}", r.text);
    let r = sign_in(&mut c, &email, Some(new[0].as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let r = regenerate(&owner, &totp_at(&on.secret, 1)).await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "with a TOTP code: {}",
        r.text
    );
    let newest = recovery_codes(&r);
    let r = sign_in(&mut server.client(), &email, Some(new[1].as_str())).await;
    assert!(invalid_credentials(&r), "{}", r.text);
    let r = sign_in(&mut server.client(), &email, Some(newest[0].as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        my_events(&owner, "mfa.recovery_codes_regenerated")
            .await
            .len(),
        2
    );
}

/// After enrolling, signing in both ways and regenerating, with trace logs: neither the TOTP
/// secret nor any recovery code (either spelling) nor the mfa_token is in the logs or in clear
/// in the database.
async fn no_mfa_secret_in_logs_or_database(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[("GATEHOUSE_LOG", "trace")]).await;
    let on = enable_totp(&owner).await;
    let mut c = server.client();
    let token = mfa_required(&sign_in(&mut c, &email, None).await);
    assert!(invalid_credentials(
        &second_step(&mut c, &token, &wrong_totp(&on.secret)).await
    ));
    let dashless = on.recovery_codes[0].to_lowercase().replace('-', "");
    assert_eq!(
        second_step(&mut c, &token, &dashless).await.status,
        StatusCode::OK
    );
    let recovery = on.recovery_codes[1].as_str();
    let r = sign_in(&mut server.client(), &email, Some(recovery)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let code = totp_at(&on.secret, 1);
    let r = sign_in(&mut server.client(), &email, Some(code.as_str())).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = regenerate(&owner, &on.recovery_codes[2]).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let new = recovery_codes(&r);

    let mut secrets = vec![on.secret, token];
    for rc in on.recovery_codes.iter().chain(&new) {
        secrets.push(rc.clone());
        secrets.push(rc.replace('-', ""));
        secrets.push(rc.to_lowercase().replace('-', ""));
    }
    let logs = server.logs();
    assert!(
        logs.contains("gatehouse::access"),
        "trace logs were captured"
    );
    let db_text = db.everything().await;
    assert!(db_text.contains(&email), "the dump did read the database");
    for s in &secrets {
        assert!(
            !logs.contains(s.as_str()),
            "the logs hold a second-factor secret"
        );
        assert!(
            !db_text.contains(s.as_str()),
            "the database holds a second-factor secret in clear"
        );
    }
}
