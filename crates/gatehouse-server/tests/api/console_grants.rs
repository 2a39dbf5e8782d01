//! The console's grants page over HTTP (SPEC §7, §14): a resource's grants listed with expired
//! ones marked, granted and removed through the forms with the API's rules (a sharing member
//! within their own grant, a member without `share` refused), another org's grant `404`.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::grants::{check, grant, grants};
use crate::support::*;

both!(the_grants_page_follows_the_api_rules);

/// A console form POST as `c`, with its session's CSRF token.
async fn post_form(c: &Client, path: &str, fields: &[(&str, &str)]) -> Reply {
    let token = c.csrf.clone().expect("signed in");
    let mut body = format!("csrf_token={token}");
    for (k, v) in fields {
        let v: String = v
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        body.push_str(&format!("&{k}={v}"));
    }
    Client::send(
        c.request(Method::POST, path)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

async fn the_grants_page_follows_the_api_rules(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (sharer, sharer_id) = server
        .member(&owner, &org, "sharer@example.com", "member")
        .await;
    let (plain, plain_id) = server
        .member(&owner, &org, "plain@example.com", "member")
        .await;
    let page = format!("/console/orgs/{org}/grants");
    let sharer_subject = format!("user:{sharer_id}");
    let plain_subject = format!("user:{plain_id}");

    let r = owner.get(&page).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("id=\"pick-resource\""), "{}", r.text);
    assert!(
        !r.text.contains("id=\"add-grant\""),
        "no resource picked yet"
    );

    // The owner grants the sharer view+share on doc:7 through the form.
    let r = post_form(
        &owner,
        &page,
        &[
            ("resource", "doc:7"),
            ("subject", &sharer_subject),
            ("capability", "view"),
            ("capability", "share"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.text.contains("Granted view, share on doc:7."),
        "{}",
        r.text
    );
    assert!(r.text.contains("sharer@example.com"), "{}", r.text);
    assert_eq!(
        check(&owner, &org, &sharer_subject, "doc:7", "share")
            .await
            .1,
        Some(true)
    );

    // The sharer may pass on view, not edit; the plain member may grant nothing.
    let r = post_form(
        &sharer,
        &page,
        &[
            ("resource", "doc:7"),
            ("subject", &plain_subject),
            ("capability", "edit"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(
        r.text.contains("id=\"notice\""),
        "the refusal is said on the page"
    );
    let r = post_form(
        &sharer,
        &page,
        &[
            ("resource", "doc:7"),
            ("subject", &plain_subject),
            ("capability", "view"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = post_form(
        &plain,
        &page,
        &[
            ("resource", "doc:7"),
            ("subject", &sharer_subject),
            ("capability", "view"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = plain.get(&format!("{page}?resource=doc:7")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        !r.text.contains("id=\"grants\""),
        "a plain member sees no one's grants"
    );

    // Expired grants are marked (the expiry moved to the past in the database).
    db.query_strings(&format!(
        "UPDATE grants SET expires_at = 1000 WHERE subject = '{plain_subject}'"
    ))
    .await;
    let r = owner.get(&format!("{page}?resource=doc:7")).await;
    assert_eq!(
        r.text.matches("<strong>expired</strong>").count(),
        1,
        "{}",
        r.text
    );

    // Removing, through the form: the sharer removes what they made.
    let listed = owner.get(&format!("{}?resource=doc:7", grants(&org))).await;
    let id_of = |subject: &str| {
        listed.body["grants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["subject"] == subject)
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let (plains, sharers) = (id_of(&plain_subject), id_of(&sharer_subject));
    let remove = |id: &str| format!("{page}/{id}/delete");
    let r = post_form(&sharer, &remove(&sharers), &[("resource", "doc:7")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "not theirs: {}", r.text);
    let r = post_form(&sharer, &remove(&plains), &[("resource", "doc:7")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("Grant removed."));
    // Another org's grant id: 404.
    let other = owner.create_org("Other").await;
    let r = grant(
        &owner,
        &other,
        json!({ "resource": "doc:1", "subject": format!("user:{}", owner.get("/v1/auth/me").await.body["user"]["id"].as_str().unwrap()), "capabilities": ["view"] }),
    )
    .await;
    let theirs = r.body["id"].as_str().unwrap().to_owned();
    let r = post_form(&owner, &remove(&theirs), &[("resource", "doc:1")]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
}
