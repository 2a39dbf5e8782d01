//! The secrets vault over HTTP (SPEC §10): versions, listing without values, validation,
//! permissions, audit events without values, and ciphertexts moved inside the database.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    versions_listing_and_validation,
    who_may_do_what,
    moved_ciphertexts_never_open
);

fn secret(org: &str, name: &str) -> String {
    format!("/v1/orgs/{org}/secrets/{name}")
}

async fn versions_listing_and_validation(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[("GATEHOUSE_LOG", "trace")]).await;
    let org = first_org(&owner).await;
    let first = "vault-value-one-7f3a";
    let r = owner
        .put(&secret(&org, "db.password"), json!({ "value": first }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        (r.body["name"].as_str(), r.body["version"].as_i64()),
        (Some("db.password"), Some(1))
    );
    assert!(r.body["created_at"].is_string() && r.body["updated_at"].is_string());
    assert!(r.body.get("value").is_none());
    let created_at = r.body["created_at"].clone();
    let r = owner
        .put(
            &secret(&org, "db.password"),
            json!({ "value": "vault-value-two-7f3a" }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["version"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{}",
        r.text
    );
    assert_eq!(
        r.body["created_at"], created_at,
        "created_at is the secret's first write"
    );

    let r = owner.get(&secret(&org, "db.password")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["value"], "vault-value-two-7f3a");
    assert_eq!(r.body["version"], 2);
    assert!(r.body["updated_at"].is_string());
    let r = owner
        .get(&format!("{}?version=1", secret(&org, "db.password")))
        .await;
    assert_eq!(
        (r.status, r.body["value"].as_str()),
        (StatusCode::OK, Some(first))
    );
    for bad in ["0", "-1", "x"] {
        let r = owner
            .get(&format!("{}?version={bad}", secret(&org, "db.password")))
            .await;
        assert!(
            r.status.is_client_error() && r.status != StatusCode::NOT_FOUND,
            "{bad}: {}",
            r.status
        );
    }
    let r = owner
        .get(&format!("{}?version=3", secret(&org, "db.password")))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    owner
        .put(&secret(&org, "api-token"), json!({ "value": "" }))
        .await;
    let r = owner.get(&format!("/v1/orgs/{org}/secrets")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let listed = r.body["secrets"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["api-token", "db.password"]);
    assert_eq!(listed[1]["version"], 2);
    assert_eq!(listed[1]["updated_by"]["type"], "user");
    assert!(listed[1]["updated_by"]["id"].is_string());
    assert!(
        !r.text.contains("vault-value"),
        "listing shows no values: {}",
        r.text
    );
    assert!(listed.iter().all(|s| s.get("value").is_none()));

    // Ten latest versions kept.
    for n in 3..=12 {
        owner
            .put(
                &secret(&org, "db.password"),
                json!({ "value": format!("v{n}") }),
            )
            .await;
    }
    for (version, status) in [
        (1, StatusCode::NOT_FOUND),
        (2, StatusCode::NOT_FOUND),
        (3, StatusCode::OK),
        (12, StatusCode::OK),
    ] {
        let r = owner
            .get(&format!(
                "{}?version={version}",
                secret(&org, "db.password")
            ))
            .await;
        assert_eq!(r.status, status, "version {version}");
    }

    // Names and values.
    for bad in [
        ".hidden",
        "-x",
        "a%20b",
        "a%2Fb",
        "%C3%A9",
        &"a".repeat(129),
    ] {
        let r = owner.put(&secret(&org, bad), json!({ "value": "x" })).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{bad}: {}",
            r.text
        );
    }
    let r = owner
        .put(&secret(&org, &"a".repeat(128)), json!({ "value": "x" }))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = owner
        .put(
            &secret(&org, "big"),
            json!({ "value": "x".repeat(32 * 1024) }),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "32 KiB is allowed: {}",
        r.text
    );
    let r = owner
        .put(
            &secret(&org, "big"),
            json!({ "value": "x".repeat(32 * 1024 + 1) }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    for body in [json!({ "value": 5 }), json!({}), json!({ "value": null })] {
        let r = owner.put(&secret(&org, "typed"), body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {}",
            r.text
        );
    }

    // Delete removes every version; writing again starts at 1.
    let r = owner.delete(&secret(&org, "db.password")).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    for path in [
        secret(&org, "db.password"),
        format!("{}?version=12", secret(&org, "db.password")),
    ] {
        assert_eq!(owner.get(&path).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        owner.delete(&secret(&org, "db.password")).await.status,
        StatusCode::NOT_FOUND
    );
    let r = owner
        .put(&secret(&org, "db.password"), json!({ "value": "again" }))
        .await;
    assert_eq!(
        (r.status, r.body["version"].as_i64()),
        (StatusCode::CREATED, Some(1))
    );

    // Audited with name and version, never the value.
    let r = owner.get(&format!("/v1/orgs/{org}/audit?limit=1000")).await;
    let events = r.body["events"].as_array().unwrap();
    let of =
        |action: &str| -> Vec<&Value> { events.iter().filter(|e| e["action"] == action).collect() };
    let written = of("secret.written");
    assert_eq!(written.len(), 2 + 1 + 10 + 1 + 1 + 1, "{}", r.text);
    assert_eq!(
        written[0]["details"],
        json!({ "name": "db.password", "version": 1 })
    );
    assert_eq!(
        written[0]["target"],
        json!({ "type": "secret", "id": "db.password" })
    );
    assert_eq!(written[0]["actor"]["type"], "user");
    let read = of("secret.read");
    assert_eq!(read.len(), 1 + 1 + 2, "reads that answered a value");
    assert_eq!(
        read[0]["details"],
        json!({ "name": "db.password", "version": 2 })
    );
    let deleted = of("secret.deleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(
        deleted[0]["details"],
        json!({ "name": "db.password", "version": 12 })
    );

    // No value in the logs, the audit log or the raw database.
    let dump = db.everything().await;
    let logs = server.logs();
    for value in [first, "vault-value-two-7f3a", "again"] {
        assert!(!r.text.contains(value), "{value} in the audit log");
        assert!(!logs.contains(value), "{value} in the logs");
        assert!(!dump.contains(value), "{value} in the database");
    }
}

async fn who_may_do_what(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let path = secret(&org, "shared");
    owner.put(&path, json!({ "value": "s3cr3t-shared" })).await;
    let list = format!("/v1/orgs/{org}/secrets");
    let (admin, _) = server
        .member(&owner, &org, "admin@example.com", "admin")
        .await;
    let (member, _) = server
        .member(&owner, &org, "member@example.com", "member")
        .await;
    let (_, reader) = owner.create_key(&org, &["secrets:read"]).await;
    let (_, writer) = owner.create_key(&org, &["secrets:write"]).await;
    let (_, neither) = owner.create_key(&org, &["check"]).await;
    let reader = server.client().with_key(&reader);
    let writer = server.client().with_key(&writer);
    let neither = server.client().with_key(&neither);
    let other_org = owner.create_org("Other").await;
    let (_, foreign) = owner
        .create_key(&other_org, &["secrets:read", "secrets:write"])
        .await;
    let foreign = server.client().with_key(&foreign);

    // Admins do everything.
    assert_eq!(
        admin
            .put(&path, json!({ "value": "by-admin" }))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(admin.get(&path).await.status, StatusCode::OK);
    assert_eq!(admin.get(&list).await.status, StatusCode::OK);
    // Members: 403 for every operation.
    for r in [
        member.get(&list).await,
        member.get(&path).await,
        member.put(&path, json!({ "value": "m" })).await,
        member.delete(&path).await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "forbidden"),
            "{}",
            r.text
        );
    }
    // A reading key reads and lists, and writes nothing.
    assert_eq!(reader.get(&list).await.status, StatusCode::OK);
    let r = reader.get(&path).await;
    assert_eq!(
        (r.status, r.body["value"].as_str()),
        (StatusCode::OK, Some("by-admin"))
    );
    for r in [
        reader.put(&path, json!({ "value": "r" })).await,
        reader.delete(&path).await,
    ] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{}",
            r.text
        );
    }
    // A writing key writes and deletes, and reads nothing.
    let r = writer.put(&path, json!({ "value": "by-key" })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    for r in [writer.get(&path).await, writer.get(&list).await] {
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::FORBIDDEN, "insufficient_scope"),
            "{}",
            r.text
        );
    }
    for r in [
        neither.get(&path).await,
        neither.put(&path, json!({ "value": "n" })).await,
    ] {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
    // Another org's key, and an org the caller is not in: 404, whatever the scopes.
    for r in [
        foreign.get(&path).await,
        foreign.get(&list).await,
        foreign.put(&path, json!({ "value": "f" })).await,
        foreign.delete(&path).await,
    ] {
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    }
    let r = owner.get(&list).await;
    let by = &r.body["secrets"][0]["updated_by"];
    assert_eq!(by["type"], "api_key", "{}", r.text);
    let r = owner.get(&format!("/v1/orgs/{org}/audit?limit=1000")).await;
    assert!(
        r.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "secret.read" && e["actor"]["type"] == "api_key")
    );
    assert_eq!(writer.delete(&path).await.status, StatusCode::NO_CONTENT);
    let r = server.client().get(&path).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

async fn moved_ciphertexts_never_open(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (_server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let other = owner.create_org("Other").await;
    owner
        .put(&secret(&org, "a"), json!({ "value": "value-of-a-11" }))
        .await;
    owner
        .put(&secret(&org, "a"), json!({ "value": "value-of-a-22" }))
        .await;
    owner
        .put(&secret(&org, "b"), json!({ "value": "value-of-b-11" }))
        .await;
    owner
        .put(&secret(&other, "c"), json!({ "value": "value-of-c-11" }))
        .await;
    let sealed_of = |o: &str, name: &str, version: i64| {
        format!(
            "(SELECT sealed FROM secrets WHERE org_id = '{o}' AND name = '{name}' AND version = {version})"
        )
    };
    // Another name, another version, another org — each the attacker's copy of a's version 1.
    let moves = [
        (org.as_str(), "b", 1),
        (org.as_str(), "a", 2),
        (other.as_str(), "c", 1),
    ];
    for (o, name, version) in moves {
        db.query_strings(&format!(
            "UPDATE secrets SET sealed = {} WHERE org_id = '{o}' AND name = '{name}' AND version = {version}",
            sealed_of(&org, "a", 1)
        ))
        .await;
    }
    for (o, name, version) in moves {
        let r = owner
            .get(&format!("{}?version={version}", secret(o, name)))
            .await;
        assert_eq!(
            r.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{o}/{name}/{version}: {}",
            r.text
        );
        assert_eq!(r.code(), "internal");
        assert!(!r.text.contains("value-of"), "{}", r.text);
        let events = owner.get(&format!("/v1/orgs/{o}/audit?limit=1000")).await;
        let unsealable: Vec<&Value> = events.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "secret.unsealable")
            .collect();
        assert!(
            unsealable.iter().any(
                |e| e["details"] == json!({ "name": name, "version": version })
                    && e["category"] == "security"
            ),
            "{}",
            events.text
        );
    }
    // The original still opens.
    let r = owner.get(&format!("{}?version=1", secret(&org, "a"))).await;
    assert_eq!(r.body["value"], "value-of-a-11");
}
