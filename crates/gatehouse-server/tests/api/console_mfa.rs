//! The console and second factors (SPEC §14, §15): a right password on an account with TOTP
//! answers the code page (no cookie yet), a wrong code the same page refused, the right code the
//! session cookie and the redirect; and the second-factors page: setting up with a QR code,
//! the recovery codes shown once with a download, and turning it off.

use reqwest::{Method, StatusCode};

use crate::both;
use crate::support::*;

both!(
    console_sign_in_asks_for_the_second_factor,
    console_turns_totp_on_and_off
);

fn form(client: &Client, path: &str, body: &str) -> reqwest::RequestBuilder {
    client
        .request(Method::POST, path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
}

/// The value of the hidden `mfa_token` input of a code page.
fn mfa_token_of(html: &str) -> String {
    let at = html
        .find("name=\"mfa_token\" value=\"")
        .expect("an mfa_token field");
    let rest = &html[at + "name=\"mfa_token\" value=\"".len()..];
    rest[..rest.find('"').expect("a closing quote")].to_owned()
}

async fn console_sign_in_asks_for_the_second_factor(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, email) = with_admin(&db, &[]).await;
    let totp = enable_totp(&admin).await;
    let anon = server.client();
    let r = Client::send(form(
        &anon,
        "/console/login",
        &format!("email={email}&password={}", PASSWORD.replace(' ', "+")),
    ))
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.header("set-cookie").is_none(),
        "no session before the code"
    );
    assert!(
        r.text.contains("action=\"/console/login/mfa\""),
        "{}",
        r.text
    );
    let token = mfa_token_of(&r.text);

    let wrong = Client::send(form(
        &anon,
        "/console/login/mfa",
        &format!("mfa_token={token}&otp={}", wrong_totp(&totp.secret)),
    ))
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);
    assert!(wrong.header("set-cookie").is_none());
    assert_eq!(mfa_token_of(&wrong.text), token, "the page keeps its token");

    let right = Client::send(form(
        &anon,
        "/console/login/mfa",
        &format!("mfa_token={token}&otp={}", totp_at(&totp.secret, 1)),
    ))
    .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.text);
    assert_eq!(right.header("location").as_deref(), Some("/console/orgs"));
    let cookie = right.header("set-cookie").expect("the session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    // A GET on the action is refused like every console action.
    let get = anon.get("/console/login/mfa").await;
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// The text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let at = html
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in {html}"));
    let rest = &html[at + start.len()..];
    &rest[..rest.find(end).expect("the end")]
}

async fn console_turns_totp_on_and_off(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, admin, _) = with_admin(&db, &[]).await;
    let csrf = admin.csrf.clone().expect("csrf token");
    let password = PASSWORD.replace(' ', "+");
    let off = admin.get("/console/account/mfa").await;
    assert_eq!(off.status, StatusCode::OK);
    assert!(
        off.text.contains("action=\"/console/account/mfa/totp\""),
        "{}",
        off.text
    );

    let wrong = Client::send(form(
        &admin,
        "/console/account/mfa/totp",
        &format!("csrf_token={csrf}&current_password=wrong+password+here"),
    ))
    .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text);

    let started = Client::send(form(
        &admin,
        "/console/account/mfa/totp",
        &format!("csrf_token={csrf}&current_password={password}"),
    ))
    .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let qr = between(
        &started.text,
        "<figure class=\"qr\" id=\"totp-qr\">",
        "</figure>",
    );
    assert!(qr.starts_with("<svg") && qr.contains("<path"), "{qr}");
    assert!(!qr.contains("otpauth") && !qr.contains("style="), "{qr}");
    let secret = between(&started.text, "<code id=\"totp-secret\">", "<").to_owned();
    assert_eq!(secret.len(), 32, "{secret}");
    // Shown in that answer only: the page again (any session) never shows a pending seed.
    let later = admin.get("/console/account/mfa").await;
    assert!(
        !later.text.contains(&secret) && !later.text.contains("totp-qr"),
        "{}",
        later.text
    );

    let confirmed = Client::send(form(
        &admin,
        "/console/account/mfa/totp/confirm",
        &format!("csrf_token={csrf}&code={}", totp_at(&secret, 0)),
    ))
    .await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.text);
    let list = between(&confirmed.text, "<ul class=\"codes\">", "</ul>");
    let codes: Vec<&str> = list
        .split("<code>")
        .skip(1)
        .map(|c| &c[..c.find('<').expect("code end")])
        .collect();
    assert_eq!(codes.len(), 10, "{list}");
    assert!(
        confirmed
            .text
            .contains("download=\"gatehouse-recovery-codes.txt\"")
    );
    assert!(
        confirmed
            .text
            .contains("href=\"data:text/plain;charset=utf-8,")
    );

    // Shown once: the page again says on, and shows neither codes nor the secret.
    let on = admin.get("/console/account/mfa").await;
    assert!(on.text.contains("10 recovery codes left"), "{}", on.text);
    assert!(!on.text.contains(codes[0]) && !on.text.contains(&secret));

    let done = Client::send(form(
        &admin,
        "/console/account/mfa/totp/disable",
        &format!(
            "csrf_token={csrf}&current_password={password}&code={}",
            codes[0]
        ),
    ))
    .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert!(done.text.contains("TOTP is off."), "{}", done.text);
    assert_eq!(mfa_status(&admin).await["totp"]["enabled"], false);
}
