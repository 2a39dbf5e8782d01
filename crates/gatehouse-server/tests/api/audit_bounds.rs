//! The audit log's bounds (SPEC §9): apps' `details` at most 8 KiB canonical and holding only
//! numbers RFC 8785 writes back exactly, gatehouse's namespaces reserved, a few verifications at
//! a time, anonymous floods coalesced, and what no credential did attributed to `anonymous`.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both;
use crate::support::*;

both!(
    app_details_are_bounded_and_exact,
    every_reserved_namespace_is_refused,
    verifications_beyond_the_limit_are_answered_at_once,
    anonymous_floods_are_coalesced,
    unauthenticated_revocation_is_anonymous
);

async fn post_raw(c: &Client, path: &str, body: &str) -> Reply {
    Client::send(
        c.request(Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_owned()),
    )
    .await
}

async fn system_events(owner: &Client) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let r = owner
            .get(&format!("/v1/system/audit?after={after}&limit=1000"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let page = r.body["events"].as_array().unwrap().clone();
        let Some(last) = page.last() else { break };
        after = last["seq"].as_i64().unwrap();
        out.extend(page);
    }
    out
}

async fn app_details_are_bounded_and_exact(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (_, key) = owner.create_key(&org, &["audit:write"]).await;
    let k = server.client().with_key(&key);
    let path = format!("/v1/orgs/{org}/audit/events");
    // `{"s":"…"}` is the text plus 8 bytes: exactly 8 KiB passes, one byte more does not.
    let fits = "x".repeat(8192 - 8);
    let r = k
        .post(
            &path,
            json!({ "action": "app.big", "details": { "s": fits } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let over = format!("{fits}y");
    let r = k
        .post(
            &path,
            json!({ "action": "app.big", "details": { "s": over } }),
        )
        .await;
    assert_eq!(
        (r.status, r.body["error"]["fields"]["details"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("too_large")),
        "{}",
        r.text
    );
    // Canonical size counts escapes: 2,000 newlines are 4,000 bytes as JCS writes them.
    let escaped = "\n".repeat(4100);
    let r = k
        .post(
            &path,
            json!({ "action": "app.big", "details": { "s": escaped } }),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);

    for number in [
        "9007199254740993",
        "-9007199254740993",
        "18446744073709551616",
        "123456789012345678901234567890",
        "1e400",
        "-1E999",
    ] {
        let body =
            format!(r#"{{"action": "app.num", "details": {{"n": [1, {{"m": {number}}}]}}}}"#);
        let r = post_raw(&k, &path, &body).await;
        assert_eq!(
            (r.status, r.body["error"]["fields"]["details"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("number_out_of_range")
            ),
            "{number}: {}",
            r.text
        );
    }
    // Numbers RFC 8785 can write are taken and written the ECMAScript way; an export of them
    // verifies with the independent verifier.
    let fine = r#"{"action": "app.num", "details": {"max": 9007199254740992, "min": -9007199254740992,
        "big": 1e21, "tiny": 1.5e-7, "negzero": -0, "whole": 100.0, "huge": 1.7976931348623157e308,
        "s": "9007199254740993 in a string"}}"#;
    let r = post_raw(&k, &path, fine).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let seq = r.body["seq"].as_i64().unwrap();
    let stored = db
        .query_strings(&format!(
            "SELECT body FROM audit_events WHERE chain = '{org}' AND seq = {seq}"
        ))
        .await;
    let body = &stored[0];
    for canonical in [
        r#""big":1e+21"#,
        r#""tiny":1.5e-7"#,
        r#""negzero":0"#,
        r#""whole":100"#,
        r#""max":9007199254740992"#,
        r#""huge":1.7976931348623157e+308"#,
    ] {
        assert!(body.contains(canonical), "{canonical} in {body}");
    }
    let file = db.dir.path().join("numbers.jsonl");
    let (code, _, err) = run_cli(
        &db,
        &[],
        &[
            "audit",
            "export",
            "--org",
            &org,
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    if let Some((code, out)) = crate::audit_chain::node(&[file.to_str().unwrap()]) {
        assert_eq!(code, 0, "{out}");
    }
    let v = owner.get(&format!("/v1/orgs/{org}/audit/verify")).await;
    assert_eq!(v.body["valid"], true, "{}", v.text);
}

async fn every_reserved_namespace_is_refused(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, _) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let (_, key) = owner.create_key(&org, &["audit:write"]).await;
    let k = server.client().with_key(&key);
    let path = format!("/v1/orgs/{org}/audit/events");
    for ns in [
        "auth",
        "token",
        "session",
        "password",
        "user",
        "org",
        "member",
        "invitation",
        "api_key",
        "secret",
        "signing_key",
        "grant",
        "mfa",
        "passkey",
        "email",
        "gateway",
        "audit",
        "authz",
        "csrf",
        "system",
    ] {
        let r = k
            .post(&path, json!({ "action": format!("{ns}.read") }))
            .await;
        assert_eq!(
            (r.status, r.body["error"]["fields"]["action"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("reserved")),
            "{ns}."
        );
    }
    for own in ["systemic.check", "emails_sent", "app.secret.read"] {
        let r = k.post(&path, json!({ "action": own })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{own}: {}", r.text);
    }
}

async fn verifications_beyond_the_limit_are_answered_at_once(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let env = [("GATEHOUSE_AUDIT_VERIFY_CONCURRENCY", "1")];
    let (server, owner, _) = with_admin(&db, &env).await;
    let org = first_org(&owner).await;
    let (_, key) = owner.create_key(&org, &["audit:write", "audit:read"]).await;
    let k = server.client().with_key(&key);
    // A chain that takes a moment to verify: 300 events of about 8 KiB.
    let filler = "z".repeat(8000);
    let path = format!("/v1/orgs/{org}/audit/events");
    for round in 0..30 {
        let posts: Vec<_> = (0..10)
            .map(|i| {
                let (k, path, filler) = (k.clone(), path.clone(), filler.clone());
                tokio::spawn(async move {
                    k.post(&path, json!({ "action": "app.fill", "details": { "i": round * 10 + i, "f": filler } }))
                        .await
                        .status
                })
            })
            .collect();
        for p in posts {
            assert_eq!(p.await.unwrap(), StatusCode::CREATED);
        }
    }
    let verify = format!("/v1/orgs/{org}/audit/verify");
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (k, verify) = (k.clone(), verify.clone());
            tokio::spawn(async move { k.get(&verify).await })
        })
        .collect();
    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.unwrap());
    }
    let ok: Vec<&Reply> = answers
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .collect();
    let busy: Vec<&Reply> = answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert_eq!(ok.len() + busy.len(), answers.len(), "only 200 or 429");
    assert!(!ok.is_empty(), "some verification ran");
    assert!(
        !busy.is_empty(),
        "16 verifications at once with one slot: some are refused"
    );
    for r in &ok {
        assert_eq!(r.body["valid"], true, "{}", r.text);
        assert!(r.body["events"].as_i64().unwrap() >= 302);
    }
    for r in &busy {
        assert_eq!(r.code(), "rate_limited");
        assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    }
    // A listing of large events is complete, page after page.
    let page = k.get(&format!("/v1/orgs/{org}/audit?limit=1000")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        page.header("content-type").as_deref(),
        Some("application/json")
    );
    let events = page.body["events"].as_array().unwrap();
    assert_eq!(
        events.len(),
        302,
        "org.created, api_key.created, 300 app events"
    );
    let seqs: Vec<i64> = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs, (1..=302).collect::<Vec<_>>());
    assert!(
        events
            .iter()
            .all(|e| e["hash"].as_str().is_some_and(|h| h.len() == 64))
    );
    let tail = k
        .get(&format!("/v1/orgs/{org}/audit?after=300&limit=5"))
        .await;
    assert_eq!(tail.body["events"].as_array().unwrap().len(), 2);
    let none = k.get(&format!("/v1/orgs/{org}/audit?after=302")).await;
    assert_eq!(none.body, json!({ "events": [] }));
}

async fn anonymous_floods_are_coalesced(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let env = [("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")];
    let (server, owner, _) = with_admin(&db, &env).await;
    let anon = server.client();
    let forged = |ip: &'static str| {
        Client::send(
            anon.request(Method::POST, "/v1/auth/login")
                .header("sec-fetch-site", "cross-site")
                .header("x-forwarded-for", ip)
                .json(&json!({ "email": "owner@example.com", "password": "guess" })),
        )
    };
    // 150 forged cross-site POSTs from two addresses of one IPv6 /64, 30 from another /64.
    for i in 0..150 {
        let ip = if i % 2 == 0 {
            "2001:db8:1:2::a"
        } else {
            "2001:db8:1:2:ffff::b"
        };
        assert_eq!(forged(ip).await.code(), "csrf_failed");
    }
    for _ in 0..30 {
        assert_eq!(forged("2001:db8:1:3::c").await.code(), "csrf_failed");
    }
    let rejected: Vec<Value> = system_events(&owner)
        .await
        .into_iter()
        .filter(|e| e["action"] == "csrf.rejected")
        .collect();
    assert_eq!(rejected.len(), 2, "one per /64 this minute: {rejected:?}");
    for e in &rejected {
        assert_eq!(e["actor"]["type"], "anonymous");
        assert_eq!(e["actor"]["id"], e["ip"]);
        assert_eq!(e["details"]["count"], 1, "the first of its minute");
    }
    let ips: Vec<&str> = rejected.iter().map(|e| e["ip"].as_str().unwrap()).collect();
    assert!(ips.contains(&"2001:db8:1:3::c"), "{ips:?}");
}

async fn unauthenticated_revocation_is_anonymous(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let anon = server.client();
    let t = anon
        .post(
            "/v1/auth/token",
            json!({ "grant_type": "password", "email": email, "password": PASSWORD }),
        )
        .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    for kind in ["access_token", "refresh_token"] {
        let token = t.body[kind].as_str().unwrap();
        let r = anon
            .post("/v1/auth/revoke", json!({ "token": token }))
            .await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let revoked: Vec<Value> = system_events(&owner)
        .await
        .into_iter()
        .filter(|e| e["action"] == "token.revoked")
        .collect();
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    for e in &revoked {
        assert_eq!(
            (e["actor"]["type"].as_str(), e["actor"]["id"].as_str()),
            (Some("anonymous"), Some("127.0.0.1")),
            "no credential revoked it: {e}"
        );
    }
    let me = owner.get("/v1/auth/me").await;
    let user_id = me.body["user"]["id"].as_str().unwrap();
    assert!(
        revoked.iter().all(|e| e["actor"]["id"] != user_id),
        "not the token's owner"
    );
    // Failed sign-ins are anonymous too.
    let failed = anon
        .post(
            "/v1/auth/login",
            json!({ "email": email, "password": "not the password" }),
        )
        .await;
    assert_eq!(failed.status, StatusCode::UNAUTHORIZED);
    let events = system_events(&owner).await;
    let e = events
        .iter()
        .rev()
        .find(|e| e["action"] == "auth.login_failed")
        .unwrap();
    assert_eq!(e["actor"]["type"], "anonymous");
}
