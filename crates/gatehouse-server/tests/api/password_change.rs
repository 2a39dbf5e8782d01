//! Password change is a credential check like sign-in (SPEC §8): it spends the per-IP budget of
//! the auth routes, and a wrong current password counts toward the account's lockout.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::*;

both!(
    password_change_spends_the_auth_budget,
    wrong_current_passwords_lock_the_account
);

const NEW_PASSWORD: &str = "a much better passphrase 42";

async fn change(c: &Client, current: &str) -> Reply {
    c.post(
        "/v1/auth/password",
        json!({ "current_password": current, "new_password": NEW_PASSWORD }),
    )
    .await
}

fn limited(r: &Reply) -> bool {
    r.status == StatusCode::TOO_MANY_REQUESTS
        && r.code() == "rate_limited"
        && r.header("retry-after").is_some()
}

/// 30 guesses of the current password from one IP: the auth budget (10) stops them, and the
/// right password is refused as well once it is spent.
async fn password_change_spends_the_auth_budget(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let env = [("GATEHOUSE_RATE_LIMIT_AUTH", "10/15m")];
    let (_server, owner, _email) = with_admin(&db, &env).await;
    // Setup and the sign-in spent two of the ten.
    let mut answers = Vec::new();
    for i in 0..30 {
        answers.push(change(&owner, &format!("guess number {i} of many")).await);
    }
    let wrong = answers
        .iter()
        .filter(|r| r.status == StatusCode::UNAUTHORIZED)
        .count();
    assert_eq!(wrong, 8, "eight guesses were checked");
    assert!(answers[8..].iter().all(limited), "the rest were limited");
    assert_eq!(
        answers[8].header("ratelimit-policy").as_deref(),
        Some("\"auth\";q=10;w=900")
    );
    let right = change(&owner, PASSWORD).await;
    assert!(limited(&right), "{} {}", right.status, right.text);
}

/// 30 guesses with an unlimited budget: the lockout (5) stops them, the account is locked for
/// sign-in as well, and the session already open keeps working.
async fn wrong_current_passwords_lock_the_account(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let env = [("GATEHOUSE_LOCKOUT", "5/15m")];
    let (server, owner, email) = with_admin(&db, &env).await;
    let mut answers = Vec::new();
    for i in 0..30 {
        answers.push(change(&owner, &format!("guess number {i} of many")).await);
    }
    assert!(
        answers[..5]
            .iter()
            .all(|r| (r.status, r.code()) == (StatusCode::UNAUTHORIZED, "invalid_credentials")),
        "five guesses were checked"
    );
    assert!(answers[5..].iter().all(limited), "the rest met the lock");
    let retry: u64 = answers[29].header("retry-after").unwrap().parse().unwrap();
    assert!(
        (800..=900).contains(&retry),
        "locked for the window: {retry}"
    );
    assert!(
        limited(&change(&owner, PASSWORD).await),
        "the right password is locked out too"
    );
    let mut c = server.client();
    let sign_in = c.login(&email, PASSWORD).await;
    assert!(
        limited(&sign_in),
        "the lock holds for sign-in: {}",
        sign_in.text
    );
    assert_eq!(owner.get("/v1/auth/me").await.status, StatusCode::OK);
    let events = owner
        .get("/v1/system/audit?category=security&limit=1000")
        .await;
    let locks = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "auth.locked")
        .count();
    assert_eq!(locks, 1, "one auth.locked: {}", events.text);
}
