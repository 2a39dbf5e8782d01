//! Sign-ins racing a credential change never survive it (SPEC §5): sessions and token families
//! from a password check that began before a password change are refused, and the hash upgrade
//! at sign-in never overwrites a newer password. Real hashing cost, so the races are real.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::*;
use crate::token_rules::token_for;

both!(
    sign_ins_racing_a_credential_change_never_survive,
    a_hash_upgrade_never_overwrites_a_newer_password
);

/// Many sign-ins with the old password run while the password changes: none of the sessions
/// or token families they produce works once the change has answered.
async fn sign_ins_racing_a_credential_change_never_survive(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    // Real hashing cost, so each sign-in's check is long enough to straddle the change.
    let (server, owner, email) = with_admin(&db, &[("GATEHOUSE_ARGON2", "m=19456,t=2,p=1")]).await;
    for round in 0..3 {
        let password = if round == 0 {
            PASSWORD.to_owned()
        } else {
            format!("{PASSWORD} {round}")
        };
        let next = format!("{PASSWORD} {}", round + 1);
        let mut signer = server.client();
        assert_eq!(signer.login(&email, &password).await.status, StatusCode::OK);
        let mut racers = Vec::new();
        // Spread over the change's own two hashes (the queue serves one account's checks one
        // after the other), and few enough at once for the queue to hold them (more: 429).
        for i in 0..8 {
            let c = server.client();
            let (email, password) = (email.clone(), password.clone());
            racers.push(tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(15 * i)).await;
                let mut c = c;
                if i % 2 == 0 {
                    let r = c.login(&email, &password).await;
                    (r.status == StatusCode::OK).then_some(c)
                } else {
                    let r = token_for(&c, &email, None, "").await;
                    (r.status == StatusCode::OK)
                        .then(|| c.with_key(r.body["access_token"].as_str().unwrap()))
                }
            }));
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let r = signer
            .post(
                "/v1/auth/password",
                json!({ "current_password": password, "new_password": next }),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        for racer in racers {
            if let Some(c) = racer.await.unwrap() {
                let r = c.get("/v1/auth/me").await;
                assert_eq!(
                    r.status,
                    StatusCode::UNAUTHORIZED,
                    "round {round}: a credential from the old password survived the change"
                );
            }
        }
        assert_eq!(signer.get("/v1/auth/me").await.status, StatusCode::OK);
    }
    drop(owner);
}

/// A stored hash due for an upgrade, a sign-in that upgrades it, and a password change, all at
/// once: the new password always works afterwards and the old one never does.
async fn a_hash_upgrade_never_overwrites_a_newer_password(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let cheap = [("GATEHOUSE_ARGON2", "m=8192,t=1,p=1")];
    let (mut server, owner, _) = with_admin(&db, &cheap).await;
    let org = first_org(&owner).await;
    let mut emails = Vec::new();
    for i in 0..4 {
        let email = format!("racer{i}@example.com");
        server.member(&owner, &org, &email, "member").await;
        emails.push(email);
    }
    // Sessions made under the old parameters; the new ones make every stored hash stale.
    let mut sessions = Vec::new();
    for email in &emails {
        let mut c = server.client();
        assert_eq!(c.login(email, PASSWORD).await.status, StatusCode::OK);
        sessions.push(c);
    }
    server.terminate();
    let server = Server::start(&db, &[("GATEHOUSE_ARGON2", "m=19456,t=2,p=1")]);
    for (email, mut c) in emails.iter().zip(sessions) {
        c.base = server.base.clone();
        let next = format!("{PASSWORD} new");
        let login = {
            let c = server.client();
            let email = email.clone();
            tokio::spawn(async move { token_for(&c, &email, None, "").await.status })
        };
        let r = c
            .post(
                "/v1/auth/password",
                json!({ "current_password": PASSWORD, "new_password": next }),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
        login.await.unwrap();
        let mut fresh = server.client();
        assert_eq!(
            fresh.login(email, &next).await.status,
            StatusCode::OK,
            "{email}: the new password must work"
        );
        assert_eq!(
            fresh.login(email, PASSWORD).await.status,
            StatusCode::UNAUTHORIZED,
            "{email}: the old password must not"
        );
    }
}
