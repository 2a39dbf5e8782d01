//! The console's sign-in with a second factor (SPEC §14, §15): a right password on an account
//! with TOTP answers the code page (no cookie yet), a wrong code the same page refused, and the
//! right code the session cookie and the redirect.

use reqwest::{Method, StatusCode};

use crate::both;
use crate::support::*;

both!(console_sign_in_asks_for_the_second_factor);

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
