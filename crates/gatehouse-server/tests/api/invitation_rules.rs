//! Invitations managed: listed and revoked by managers (audited, never showing tokens, 404 for
//! another org's ids), dying with the inviter's role, and limited per inviter.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    pending_invitations_are_listed_and_revoked,
    invitations_die_with_their_inviters_role,
    invitations_are_limited_per_inviter
);

async fn accept_new(server: &Server, token: &str) -> Reply {
    server
        .client()
        .post(
            "/v1/invitations/accept",
            json!({ "token": token, "password": PASSWORD }),
        )
        .await
}

fn emails(r: &Reply) -> Vec<String> {
    r.body["invitations"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", r.text))
        .iter()
        .map(|i| i["email"].as_str().unwrap().to_owned())
        .collect()
}

async fn pending_invitations_are_listed_and_revoked(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[("GATEHOUSE_SIGNUP", "open")]).await;
    let org = first_org(&owner).await;
    let path = format!("/v1/orgs/{org}/invitations");
    let (admin, _) = server
        .member(&owner, &org, "admin@example.com", "admin")
        .await;
    let (member, _) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let t1 = owner.invite(&org, "one@example.com", "member").await;
    let t2 = owner.invite(&org, "two@example.com", "owner").await;
    let t3 = admin.invite(&org, "three@example.com", "admin").await;

    let listed = owner.get(&path).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(
        emails(&listed),
        ["one@example.com", "two@example.com", "three@example.com"],
        "accepted invitations are not pending"
    );
    for t in [&t1, &t2, &t3] {
        assert!(!listed.text.contains(t.as_str()), "never a token");
    }
    let first = &listed.body["invitations"][0];
    let mut keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "created_by",
            "email",
            "expires_at",
            "id",
            "role"
        ]
    );
    assert_eq!(first["role"], "member");
    assert_eq!(admin.get(&path).await.status, StatusCode::OK);
    assert_eq!(
        (
            member.get(&path).await.status,
            member.get(&path).await.code().to_owned()
        ),
        (StatusCode::FORBIDDEN, "forbidden".to_owned())
    );
    let (_, key) = owner.create_key(&org, &["members:read"]).await;
    let with_key = server.client().with_key(&key);
    assert_eq!(with_key.get(&path).await.code(), "insufficient_scope");

    let id = |n: usize| {
        listed.body["invitations"][n]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Admins never revoke what only an owner could issue; members revoke nothing.
    assert_eq!(
        admin.delete(&format!("{path}/{}", id(1))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        member.delete(&format!("{path}/{}", id(0))).await.status,
        StatusCode::FORBIDDEN
    );
    let r = owner.delete(&format!("{path}/{}", id(0))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    let r = admin.delete(&format!("{path}/{}", id(2))).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        owner.delete(&format!("{path}/{}", id(0))).await.status,
        StatusCode::NOT_FOUND,
        "gone"
    );
    assert_eq!(emails(&owner.get(&path).await), ["two@example.com"]);
    for revoked in [&t1, &t3] {
        let r = accept_new(&server, revoked).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    }
    assert_eq!(accept_new(&server, &t2).await.status, StatusCode::ACCEPTED);
    assert_eq!(
        owner.delete(&format!("{path}/{}", id(1))).await.status,
        StatusCode::NOT_FOUND,
        "an accepted invitation is no longer pending"
    );
    let audit = owner.get(&format!("/v1/orgs/{org}/audit?limit=1000")).await;
    let revoked: Vec<&Value> = audit.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "invitation.revoked")
        .collect();
    assert_eq!(revoked.len(), 2, "{}", audit.text);
    assert_eq!(
        revoked[0]["target"],
        json!({ "type": "invitation", "id": id(0) })
    );
    assert_eq!(revoked[0]["details"]["email"], "one@example.com");

    // Another org's invitation: 404 under its own org and under ours, and it stays.
    server
        .client()
        .post(
            "/v1/auth/signup",
            json!({ "email": "bea@example.com", "password": PASSWORD }),
        )
        .await;
    let mut bea = server.client();
    bea.login("bea@example.com", PASSWORD).await;
    let org_b = bea.create_org("Bravo").await;
    bea.invite(&org_b, "guest@example.com", "member").await;
    let b_path = format!("/v1/orgs/{org_b}/invitations");
    let b_id = bea.get(&b_path).await.body["invitations"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for (who, c) in [("owner", &owner), ("admin", &admin)] {
        for p in [format!("{b_path}/{b_id}"), format!("{path}/{b_id}")] {
            let r = c.delete(&p).await;
            assert_eq!(
                (r.status, r.code()),
                (StatusCode::NOT_FOUND, "not_found"),
                "{who}: DELETE {p}"
            );
        }
        assert_eq!(c.get(&b_path).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(emails(&bea.get(&b_path).await), ["guest@example.com"]);
}

async fn invitations_die_with_their_inviters_role(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (admin, admin_id) = server
        .member(&owner, &org, "ada@example.com", "admin")
        .await;
    let as_admin = admin.invite(&org, "sneaky@example.com", "admin").await;
    let as_member = admin.invite(&org, "quiet@example.com", "member").await;
    let kept = owner.invite(&org, "kept@example.com", "member").await;

    // Demoted, the admin's invitations die with the role (and promotion does not revive them).
    let r = owner
        .patch(
            &format!("/v1/orgs/{org}/members/{admin_id}"),
            json!({ "role": "member" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    owner
        .patch(
            &format!("/v1/orgs/{org}/members/{admin_id}"),
            json!({ "role": "admin" }),
        )
        .await;
    for token in [&as_admin, &as_member] {
        let r = accept_new(&server, token).await;
        assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    }
    let pending = owner.get(&format!("/v1/orgs/{org}/invitations")).await;
    assert_eq!(emails(&pending), ["kept@example.com"]);

    // Removed, the same.
    let late = admin.invite(&org, "late@example.com", "admin").await;
    assert_eq!(
        owner
            .delete(&format!("/v1/orgs/{org}/members/{admin_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        accept_new(&server, &late).await.status,
        StatusCode::NOT_FOUND
    );

    // An invitation whose inviter lost the role behind the store's back (made before this
    // rule, say) is judged at acceptance against the inviter's role as it is then.
    let (ben, ben_id) = server
        .member(&owner, &org, "ben@example.com", "admin")
        .await;
    let stale = ben.invite(&org, "stale@example.com", "admin").await;
    db.query_strings(&format!(
        "UPDATE org_members SET role = 'member' WHERE user_id = '{ben_id}'"
    ))
    .await;
    let r = accept_new(&server, &stale).await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let mut c = server.client();
    assert_eq!(
        c.login("stale@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED,
        "no account was made either"
    );
    assert_eq!(
        accept_new(&server, &kept).await.status,
        StatusCode::ACCEPTED
    );
}

async fn invitations_are_limited_per_inviter(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[("GATEHOUSE_RATE_LIMIT_INVITATIONS", "3/1h")]).await;
    let org = first_org(&owner).await;
    let (admin, _) = server
        .member(&owner, &org, "ada@example.com", "admin")
        .await;
    let path = format!("/v1/orgs/{org}/invitations");
    for n in 0..2 {
        owner
            .invite(&org, &format!("n{n}@example.com"), "member")
            .await;
    }
    let over = owner
        .post(
            &path,
            json!({ "email": "more@example.com", "role": "member" }),
        )
        .await;
    assert_eq!(
        (over.status, over.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "the member's invitation counted too: {}",
        over.text
    );
    let wait: u64 = over.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=1200).contains(&wait), "one every 20 minutes: {wait}");
    assert!(
        !emails(&owner.get(&path).await).contains(&"more@example.com".to_owned()),
        "nothing was created"
    );
    // Another inviter has a budget of their own; invalid requests cost nothing.
    for _ in 0..3 {
        let bad = admin
            .post(&path, json!({ "email": "nope", "role": "member" }))
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    for n in 0..3 {
        admin
            .invite(&org, &format!("a{n}@example.com"), "member")
            .await;
    }
    let r = admin
        .post(
            &path,
            json!({ "email": "a4@example.com", "role": "member" }),
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}
