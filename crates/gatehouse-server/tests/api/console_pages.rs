//! The console's HTTP contract below the browser (SPEC §14): the strict CSP and `no-store` on
//! every kind of console answer (page, refused form, error page), hashed assets with long
//! caching, forms only as urlencoded POSTs carrying the session's CSRF token from this origin,
//! the sign-in budget shared with the API, and another tenant's org as `404`.

use reqwest::{Method, StatusCode};

use crate::both;
use crate::support::*;

both!(
    console_headers_on_every_answer,
    console_forms_need_the_session_token,
    console_sign_in_shares_the_auth_budget,
);

const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// A console HTML answer: its CSP, `no-store`, and no inline script, style or handler.
fn assert_console_html(r: &Reply, what: &str) {
    assert_eq!(
        r.header("content-security-policy").as_deref(),
        Some(CONSOLE_CSP),
        "{what}"
    );
    assert_eq!(
        r.header("cache-control").as_deref(),
        Some("no-store"),
        "{what}"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{what}: {:?}",
        r.header("content-type")
    );
    let html = r.text.to_ascii_lowercase();
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..html[i..].find('>').map_or(html.len(), |e| i + e)];
        assert!(
            tag.contains(" src=\"/console/static/"),
            "{what}: inline script {tag}"
        );
    }
    assert!(!html.contains("<style"), "{what}: inline <style>");
    assert!(!html.contains(" style="), "{what}: style attribute");
    assert!(!html.contains(" onclick="), "{what}: inline handler");
}

fn form(client: &Client, path: &str, body: &str) -> reqwest::RequestBuilder {
    client
        .request(Method::POST, path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
}

async fn console_headers_on_every_answer(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, _) = with_admin(&db, &[]).await;
    let anon = server.client();

    let login = anon.get("/console/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert_console_html(&login, "sign-in page");
    let orgs = admin.get("/console/orgs").await;
    assert_eq!(orgs.status, StatusCode::OK, "{}", orgs.text);
    assert_console_html(&orgs, "orgs page");

    let missing = admin.get("/console/no-such-page").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_console_html(&missing, "unknown page");
    let id = missing.header("x-request-id").expect("request id");
    assert!(
        missing.text.contains("not_found") && missing.text.contains(&id),
        "{}",
        missing.text
    );
    let get_on_action = admin.get("/console/logout").await;
    assert_eq!(get_on_action.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_console_html(&get_on_action, "GET on an action");
    assert_eq!(admin.get("/v1/auth/me").await.status, StatusCode::OK);

    let signed_out = anon.get("/console/orgs?x=1").await;
    assert_eq!(signed_out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        signed_out.header("location").as_deref(),
        Some("/console/login?return_to=%2Fconsole%2Forgs%3Fx%3D1")
    );

    let css = login
        .text
        .split('"')
        .find(|s| s.starts_with("/console/static/console.") && s.ends_with(".css"))
        .expect("stylesheet link")
        .to_owned();
    let asset = anon.get(&css).await;
    assert_eq!(asset.status, StatusCode::OK);
    assert_eq!(
        asset.header("cache-control").as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        asset
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/css"))
    );
    let stale = anon
        .get("/console/static/console.0000000000000000.css")
        .await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND);
}

async fn console_forms_need_the_session_token(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, email) = with_admin(&db, &[]).await;
    let token = admin.csrf.clone().expect("csrf token");
    let mut other = server.client();
    assert_eq!(other.login(&email, PASSWORD).await.status, StatusCode::OK);
    let foreign = other.csrf.clone().expect("other token");

    let refused = |r: &Reply| r.status == StatusCode::FORBIDDEN && r.text.contains("csrf_failed");
    let r = Client::send(form(&admin, "/console/orgs", "name=NoToken")).await;
    assert!(refused(&r), "no token: {} {}", r.status, r.text);
    assert_console_html(&r, "refused form");
    let r = Client::send(form(
        &admin,
        "/console/orgs",
        &format!("csrf_token={foreign}&name=Foreign"),
    ))
    .await;
    assert!(refused(&r), "another session's token");
    let r = Client::send(
        form(
            &admin,
            "/console/orgs",
            &format!("csrf_token={token}&name=Evil"),
        )
        .header("origin", "http://localhost:1"),
    )
    .await;
    assert!(refused(&r), "another origin");
    let r = Client::send(
        admin
            .request(Method::POST, "/console/orgs")
            .header("content-type", "application/json")
            .body(format!("{{\"csrf_token\":\"{token}\",\"name\":\"Json\"}}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_console_html(&r, "a JSON body");
    let names = |body: &serde_json::Value| -> Vec<String> {
        body["orgs"]
            .as_array()
            .expect("orgs")
            .iter()
            .map(|o| o["name"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(
        names(&admin.get("/v1/orgs").await.body).len(),
        1,
        "nothing was created"
    );

    let r = Client::send(form(
        &admin,
        "/console/orgs",
        &format!("csrf_token={token}&name=Made+here"),
    ))
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let made = r.header("location").expect("location");
    assert!(made.starts_with("/console/orgs/"), "{made}");
    assert!(names(&admin.get("/v1/orgs").await.body).contains(&"Made here".to_owned()));

    // Another tenant's org page is not found, exactly as the API answers: a user invited to
    // another org of the admin's does not see this one.
    let elsewhere = admin.create_org("Elsewhere").await;
    let invitation = admin
        .invite(&elsewhere, "stranger@example.com", "member")
        .await;
    let accepted = server
        .client()
        .post(
            "/v1/invitations/accept",
            serde_json::json!({ "token": invitation, "password": PASSWORD }),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.text);
    let mut stranger = server.client();
    assert_eq!(
        stranger
            .login("stranger@example.com", PASSWORD)
            .await
            .status,
        StatusCode::OK
    );
    let r = stranger.get(&made).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_console_html(&r, "another tenant's org");
    assert_eq!(
        stranger
            .get(&format!("/console/orgs/{elsewhere}"))
            .await
            .status,
        StatusCode::OK
    );
}

async fn console_sign_in_shares_the_auth_budget(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, _admin, email) = with_admin(&db, &[("GATEHOUSE_RATE_LIMIT_AUTH", "3/1m")]).await;
    let anon = server.client();
    // `with_admin` spent some of this IP's budget already; the console's sign-in draws on the
    // same one until it answers 429.
    let mut last = None;
    for _ in 0..4 {
        let r = Client::send(form(
            &anon,
            "/console/login",
            &format!("email={email}&password=wrong+password+here"),
        ))
        .await;
        last = Some(r);
    }
    let r = last.expect("a reply");
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert!(r.header("retry-after").is_some());
    assert_console_html(&r, "rate limited sign-in");
    let api = anon
        .post(
            "/v1/auth/login",
            serde_json::json!({ "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(
        api.status,
        StatusCode::TOO_MANY_REQUESTS,
        "one budget for both"
    );
    // Pages themselves are not limited.
    assert_eq!(anon.get("/console/login").await.status, StatusCode::OK);
}
