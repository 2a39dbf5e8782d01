//! The org API: create, list, read, rename, delete; members and the role rules.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::*;

both!(org_lifecycle, member_role_rules, members_manage_nothing);

async fn org_lifecycle(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, owner, _) = with_admin(&db, &[]).await;
    let r = owner
        .post("/v1/orgs", json!({ "name": "  Second Org " }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (r.body["name"].as_str(), r.body["role"].as_str()),
        (Some("Second Org"), Some("owner"))
    );
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    for bad in ["", "   "] {
        let r = owner.post("/v1/orgs", json!({ "name": bad })).await;
        assert_eq!(
            (r.status, r.body["error"]["fields"]["name"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("required"))
        );
    }
    let long = owner
        .post("/v1/orgs", json!({ "name": "x".repeat(201) }))
        .await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);

    let list = owner.get("/v1/orgs").await;
    let names: Vec<&str> = list.body["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Acme", "Second Org"]);

    let got = owner.get(&format!("/v1/orgs/{id}")).await;
    assert_eq!(
        (got.status, got.body["role"].as_str()),
        (StatusCode::OK, Some("owner"))
    );
    let renamed = owner
        .patch(&format!("/v1/orgs/{id}"), json!({ "name": "Renamed" }))
        .await;
    assert_eq!(
        (renamed.status, renamed.body["name"].as_str()),
        (StatusCode::OK, Some("Renamed"))
    );
    assert_eq!(
        owner.get(&format!("/v1/orgs/{id}")).await.body["name"],
        "Renamed"
    );

    assert_eq!(
        owner.delete(&format!("/v1/orgs/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    let gone = owner.get(&format!("/v1/orgs/{id}")).await;
    assert_eq!(
        (gone.status, gone.code()),
        (StatusCode::NOT_FOUND, "not_found")
    );
    assert_eq!(
        owner.get("/v1/orgs").await.body["orgs"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        owner.get("/v1/orgs/not-a-uuid").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn member_role_rules(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let owner_id = owner.get("/v1/auth/me").await.body["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin, admin_id) = server
        .member(&owner, &org, "admin@example.com", "admin")
        .await;
    let (member, member_id) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let path = |user: &str| format!("/v1/orgs/{org}/members/{user}");

    let members = owner.get(&format!("/v1/orgs/{org}/members")).await;
    let roles: Vec<(&str, &str)> = members.body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("owner@example.com", "owner"),
            ("admin@example.com", "admin"),
            ("member@example.com", "member")
        ]
    );

    let last = owner
        .patch(&path(&owner_id), json!({ "role": "admin" }))
        .await;
    assert_eq!(
        (last.status, last.code()),
        (StatusCode::CONFLICT, "conflict"),
        "the last owner stays: {}",
        last.text
    );
    let leave_last = owner.delete(&path(&owner_id)).await;
    assert_eq!(leave_last.status, StatusCode::CONFLICT);
    let r = admin
        .patch(&path(&owner_id), json!({ "role": "member" }))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "forbidden"),
        "admins cannot demote owners"
    );
    assert_eq!(
        admin.delete(&path(&owner_id)).await.status,
        StatusCode::FORBIDDEN,
        "admins cannot remove owners"
    );
    assert_eq!(
        admin
            .patch(&path(&admin_id), json!({ "role": "owner" }))
            .await
            .status,
        StatusCode::FORBIDDEN,
        "no self-promotion"
    );
    assert_eq!(
        admin
            .patch(&path(&member_id), json!({ "role": "owner" }))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let bad = owner
        .patch(&path(&member_id), json!({ "role": "god" }))
        .await;
    assert_eq!(
        (bad.status, bad.body["error"]["fields"]["role"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid"))
    );

    let promoted = admin
        .patch(&path(&member_id), json!({ "role": "admin" }))
        .await;
    assert_eq!(promoted.status, StatusCode::OK, "{}", promoted.text);
    assert_eq!(
        (
            promoted.body["user_id"].as_str(),
            promoted.body["role"].as_str()
        ),
        (Some(member_id.as_str()), Some("admin"))
    );
    assert_eq!(
        owner
            .patch(&path(&admin_id), json!({ "role": "owner" }))
            .await
            .status,
        StatusCode::OK
    );
    // Two owners now: the first may step down.
    assert_eq!(
        owner
            .patch(&path(&owner_id), json!({ "role": "member" }))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        member.delete(&path(&owner_id)).await.status,
        StatusCode::NO_CONTENT,
        "an admin removes a member"
    );
    assert_eq!(
        owner.get("/v1/auth/me").await.body["orgs"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let unknown = admin
        .patch(
            &path("01900000-0000-7000-8000-000000000000"),
            json!({ "role": "member" }),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

async fn members_manage_nothing(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (admin, _) = server
        .member(&owner, &org, "admin@example.com", "admin")
        .await;
    let (member, member_id) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let (other, other_id) = server
        .member(&owner, &org, "other@example.com", "member")
        .await;
    let forbidden = |r: &Reply| r.status == StatusCode::FORBIDDEN && r.code() == "forbidden";

    assert!(forbidden(&member.get(&format!("/v1/orgs/{org}")).await));
    assert!(forbidden(
        &member
            .patch(&format!("/v1/orgs/{org}"), json!({ "name": "x" }))
            .await
    ));
    assert!(forbidden(&member.delete(&format!("/v1/orgs/{org}")).await));
    assert!(forbidden(
        &member
            .post(
                &format!("/v1/orgs/{org}/invitations"),
                json!({ "email": "x@example.com" })
            )
            .await
    ));
    assert!(forbidden(
        &member
            .post(
                &format!("/v1/orgs/{org}/api-keys"),
                json!({ "name": "k", "scopes": ["check"] })
            )
            .await
    ));
    assert!(forbidden(
        &member.get(&format!("/v1/orgs/{org}/api-keys")).await
    ));
    assert!(forbidden(
        &member
            .patch(
                &format!("/v1/orgs/{org}/members/{other_id}"),
                json!({ "role": "admin" })
            )
            .await
    ));
    assert!(forbidden(
        &member
            .delete(&format!("/v1/orgs/{org}/members/{other_id}"))
            .await
    ));
    assert_eq!(
        member.get(&format!("/v1/orgs/{org}/members")).await.status,
        StatusCode::OK,
        "members see members"
    );
    // Admins cannot delete the org, nor invite owners.
    assert!(forbidden(&admin.delete(&format!("/v1/orgs/{org}")).await));
    assert!(forbidden(
        &admin
            .post(
                &format!("/v1/orgs/{org}/invitations"),
                json!({ "email": "o@example.com", "role": "owner" })
            )
            .await
    ));
    // Anyone may leave.
    assert_eq!(
        other
            .delete(&format!("/v1/orgs/{org}/members/{other_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        other.get(&format!("/v1/orgs/{org}/members")).await.status,
        StatusCode::NOT_FOUND,
        "gone means 404"
    );
    assert_eq!(
        admin
            .delete(&format!("/v1/orgs/{org}/members/{member_id}"))
            .await
            .status,
        StatusCode::NO_CONTENT
    );
}
