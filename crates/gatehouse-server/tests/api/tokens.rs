//! Access and refresh tokens: grants, the JWT profile, every rejection (with tokens forged by the
//! test), rotation and reuse detection, the concurrent-refresh race, revocation, logout-all and
//! password change, signing-key rotation, and verification by a third-party JWT library.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use gatehouse_core::jwt::{AccessClaims, Signer25519};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{Connection, Row};

use crate::both;
use crate::support::*;

both!(
    password_grant_issues_a_profiled_jwt,
    every_forged_or_stale_token_is_refused,
    refresh_rotates_and_reuse_revokes_the_family,
    concurrent_refreshes_never_fork_a_family
);

pub(crate) async fn grant(c: &Client, body: Value) -> Reply {
    c.post("/v1/auth/token", body).await
}

pub(crate) async fn password_grant(c: &Client, email: &str) -> Reply {
    let r = grant(
        c,
        json!({ "grant_type": "password", "email": email, "password": PASSWORD }),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r
}

pub(crate) fn decode(part: &str) -> Value {
    serde_json::from_slice(&B64URL.decode(part).unwrap()).unwrap()
}

pub(crate) fn parts(token: &str) -> (Value, Value) {
    let mut p = token.split('.');
    (decode(p.next().unwrap()), decode(p.next().unwrap()))
}

pub(crate) fn bearer(server: &Server, token: &str) -> Client {
    server.client().with_key(token)
}

/// gatehouse's current signing key, unsealed with the development secret: what an attacker who
/// stole both would hold, so the test can sign tokens the server must still refuse.
pub(crate) async fn signing_key(db: &TestDb) -> Signer25519 {
    let (kid, sealed): (String, Vec<u8>) = match db.kind {
        Db::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            let r = sqlx::query(
                "SELECT kid, sealed_private FROM signing_keys WHERE retired_at IS NULL",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            (r.get(0), r.get(1))
        }
        Db::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            let r = sqlx::query(
                "SELECT kid, sealed_private FROM signing_keys WHERE retired_at IS NULL",
            )
            .fetch_one(&mut c)
            .await
            .unwrap();
            (r.get(0), r.get(1))
        }
    };
    let secret = std::fs::read_to_string(db.dir.path().join("gatehouse.secret")).unwrap();
    let master = gatehouse_core::secret::MasterSecret::new(secret.trim().as_bytes().to_vec());
    let aad = format!("gatehouse/signing-key/{kid}");
    let seed: [u8; 32] = gatehouse_core::vault::open(&[&master], aad.as_bytes(), &sealed)
        .unwrap()
        .as_slice()
        .try_into()
        .unwrap();
    Signer25519::from_seed(kid, &seed)
}

async fn password_grant_issues_a_profiled_jwt(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let org = first_org(&owner).await;
    let r = password_grant(&server.client(), &email).await;
    assert_eq!(
        (r.body["token_type"].as_str(), r.body["expires_in"].as_u64()),
        (Some("Bearer"), Some(900))
    );
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let access = r.body["access_token"].as_str().unwrap();
    let refresh = r.body["refresh_token"].as_str().unwrap();
    assert!(
        refresh.starts_with("grt_") && refresh.len() == 4 + 43,
        "{refresh}"
    );
    let (header, claims) = parts(access);
    assert_eq!(
        (header["alg"].as_str(), header["typ"].as_str()),
        (Some("EdDSA"), Some("at+jwt"))
    );
    let me = owner.get("/v1/auth/me").await;
    assert_eq!(claims["iss"], server.public_url().as_str());
    assert_eq!(claims["aud"], "gatehouse");
    assert_eq!(claims["sub"], me.body["user"]["id"]);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["nbf"], claims["iat"]);
    assert!(
        claims["jti"].is_string() && claims["sid"].is_string() && claims.get("org_id").is_none()
    );
    let jwks = server.client().get("/.well-known/jwks.json").await;
    let key = &jwks.body["keys"][0];
    assert_eq!(
        (
            key["kty"].as_str(),
            key["crv"].as_str(),
            key["kid"].as_str()
        ),
        (Some("OKP"), Some("Ed25519"), header["kid"].as_str())
    );
    assert!(!jwks.text.contains("\"d\""), "no private part is published");

    let via_jwt = bearer(&server, access).get("/v1/auth/me").await;
    assert_eq!(
        (via_jwt.status, via_jwt.body["auth"]["method"].as_str()),
        (StatusCode::OK, Some("jwt"))
    );
    // No gatehouse scope: who it is and its orgs, nothing more (SPEC §5).
    assert_eq!(
        bearer(&server, access)
            .get(&format!("/v1/orgs/{org}/members"))
            .await
            .code(),
        "insufficient_scope"
    );
    assert_eq!(
        bearer(&server, access)
            .get("/v1/auth/sessions")
            .await
            .code(),
        "insufficient_scope",
        "session routes need a session"
    );

    // Bound to an org, with scopes the role allows.
    let scoped = grant(&server.client(), json!({ "grant_type": "password", "email": email, "password": PASSWORD, "org_id": org, "scope": "tasks:read audit:read" })).await;
    assert_eq!(scoped.status, StatusCode::OK, "{}", scoped.text);
    assert_eq!(scoped.body["scope"], "audit:read tasks:read");
    let (_, c) = parts(scoped.body["access_token"].as_str().unwrap());
    assert_eq!(
        (c["org_id"].as_str(), c["scope"].as_str()),
        (Some(org.as_str()), Some("audit:read tasks:read"))
    );
    let other = owner.create_org("Other").await;
    let bound = bearer(&server, scoped.body["access_token"].as_str().unwrap());
    assert_eq!(
        bound.get(&format!("/v1/orgs/{other}/members")).await.status,
        StatusCode::NOT_FOUND,
        "bound to one org"
    );
    let member_email = "member@example.com";
    server.member(&owner, &org, member_email, "member").await;
    let refused = grant(&server.client(), json!({ "grant_type": "password", "email": member_email, "password": PASSWORD, "org_id": org, "scope": "audit:read" })).await;
    assert_eq!(
        (
            refused.status,
            refused.body["error"]["fields"]["scope"].as_str()
        ),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("not_allowed"))
    );
    let foreign = grant(&server.client(), json!({ "grant_type": "password", "email": member_email, "password": PASSWORD, "org_id": other })).await;
    assert_eq!(foreign.body["error"]["fields"]["org_id"], "not_a_member");
    let no_org = grant(&server.client(), json!({ "grant_type": "password", "email": email, "password": PASSWORD, "scope": "tasks:read" })).await;
    assert_eq!(no_org.status, StatusCode::UNPROCESSABLE_ENTITY);
    let wrong = grant(
        &server.client(),
        json!({ "grant_type": "password", "email": email, "password": "wrong wrong wrong" }),
    )
    .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    // Introspection by a key of the org: active for the member's token, inactive for a stranger's.
    let (_, introspector) = owner.create_key(&org, &["introspect"]).await;
    let ask = |token: &str| {
        let c = server.client().with_key(&introspector);
        let body = json!({ "token": token });
        async move { c.post("/v1/introspect", body).await }
    };
    let i = ask(access).await;
    assert_eq!(
        (i.body["active"].as_bool(), i.body["token_type"].as_str()),
        (Some(true), Some("access_token")),
        "{}",
        i.text
    );
    assert_eq!(i.body["sub"], me.body["user"]["id"]);
    assert_eq!(ask("a.b.c").await.body, json!({ "active": false }));
    let odd = grant(
        &server.client(),
        json!({ "grant_type": "client_credentials" }),
    )
    .await;
    assert_eq!(
        (odd.status, odd.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
}

async fn every_forged_or_stale_token_is_refused(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, _owner, email) = with_admin(&db, &[]).await;
    let good = password_grant(&server.client(), &email).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (header, claims) = parts(&good);
    let key = signing_key(&db).await;
    let base: AccessClaims = serde_json::from_value(claims.clone()).unwrap();
    assert_eq!(
        bearer(&server, &key.sign(&base))
            .get("/v1/auth/me")
            .await
            .status,
        StatusCode::OK,
        "the test signs like the server"
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let with = |f: &dyn Fn(&mut AccessClaims)| {
        let mut c = base.clone();
        f(&mut c);
        key.sign(&c)
    };
    let raw = |h: Value, c: &Value, sig: &[u8]| {
        format!(
            "{}.{}.{}",
            B64URL.encode(h.to_string()),
            B64URL.encode(c.to_string()),
            B64URL.encode(sig)
        )
    };
    let public = B64URL
        .decode(
            server.client().get("/.well-known/jwks.json").await.body["keys"][0]["x"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let hs256 = {
        use hmac::{Hmac, KeyInit, Mac};
        let h = B64URL
            .encode(json!({ "alg": "HS256", "typ": "at+jwt", "kid": header["kid"] }).to_string());
        let c = B64URL.encode(claims.to_string());
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(&public).unwrap();
        mac.update(format!("{h}.{c}").as_bytes());
        format!("{h}.{c}.{}", B64URL.encode(mac.finalize().into_bytes()))
    };
    let stranger = Signer25519::from_seed("unknown-kid".into(), &[3; 32]);
    let mut tampered = good.split('.').map(str::to_owned).collect::<Vec<_>>();
    let mut evil = claims.clone();
    evil["sub"] = json!(uuid::Uuid::now_v7().to_string());
    tampered[1] = B64URL.encode(evil.to_string());
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "alg none",
            raw(
                json!({ "alg": "none", "typ": "at+jwt", "kid": header["kid"] }),
                &claims,
                b"",
            ),
            "unauthenticated",
        ),
        ("HS256 keyed with the public key", hs256, "unauthenticated"),
        ("unknown kid", stranger.sign(&base), "unauthenticated"),
        ("bad signature", tampered.join("."), "unauthenticated"),
        (
            "wrong iss",
            with(&|c| c.iss = "https://evil.example".into()),
            "unauthenticated",
        ),
        (
            "wrong aud",
            with(&|c| c.aud = "another-api".into()),
            "unauthenticated",
        ),
        (
            "expired",
            with(&|c| {
                c.iat = now - 1000;
                c.nbf = now - 1000;
                c.exp = now - 31
            }),
            "token_expired",
        ),
        (
            "not yet valid",
            with(&|c| c.nbf = now + 120),
            "unauthenticated",
        ),
        ("garbage", "not.a.jwt".into(), "unauthenticated"),
    ];
    for (what, token, code) in cases {
        let r = bearer(&server, &token).get("/v1/auth/me").await;
        assert_eq!(
            (r.status, r.code()),
            (StatusCode::UNAUTHORIZED, code),
            "{what}: {}",
            r.text
        );
    }
    let within_leeway = with(&|c| c.exp = now - 10);
    assert_eq!(
        bearer(&server, &within_leeway)
            .get("/v1/auth/me")
            .await
            .status,
        StatusCode::OK,
        "30 s leeway"
    );
}

async fn refresh_rotates_and_reuse_revokes_the_family(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, owner, email) = with_admin(&db, &[]).await;
    let first = password_grant(&server.client(), &email).await;
    let r1 = first.body["refresh_token"].as_str().unwrap().to_owned();
    let a1 = first.body["access_token"].as_str().unwrap().to_owned();
    let second = grant(
        &server.client(),
        json!({ "grant_type": "refresh_token", "refresh_token": r1 }),
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    let r2 = second.body["refresh_token"].as_str().unwrap().to_owned();
    let a2 = second.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(r1, r2);
    assert_eq!(parts(&a1).1["sid"], parts(&a2).1["sid"], "one family");
    assert_eq!(
        bearer(&server, &a2).get("/v1/auth/me").await.status,
        StatusCode::OK
    );

    // The spent token again: the whole family dies, access tokens included.
    let reuse = grant(
        &server.client(),
        json!({ "grant_type": "refresh_token", "refresh_token": r1 }),
    )
    .await;
    assert_eq!(
        (reuse.status, reuse.code()),
        (StatusCode::UNAUTHORIZED, "token_revoked")
    );
    for token in [&a1, &a2] {
        assert_eq!(
            bearer(&server, token).get("/v1/auth/me").await.code(),
            "token_revoked"
        );
    }
    let after = grant(
        &server.client(),
        json!({ "grant_type": "refresh_token", "refresh_token": r2 }),
    )
    .await;
    assert_eq!(
        after.code(),
        "token_revoked",
        "the thief's fresh token is dead too"
    );
    let events = owner.get("/v1/auth/events").await;
    assert!(
        events.text.contains("token.refresh_reuse"),
        "{}",
        events.text
    );
    let unknown = grant(&server.client(), json!({ "grant_type": "refresh_token", "refresh_token": format!("grt_{}", "A".repeat(43)) })).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (StatusCode::UNAUTHORIZED, "invalid_credentials")
    );
    assert!(
        !db.everything().await.contains(&r2[4..]),
        "refresh tokens are stored hashed"
    );
}

async fn concurrent_refreshes_never_fork_a_family(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, _owner, email) = with_admin(&db, &[]).await;
    for _ in 0..3 {
        let refresh = password_grant(&server.client(), &email).await.body["refresh_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let c = server.client();
                let body = json!({ "grant_type": "refresh_token", "refresh_token": refresh });
                tokio::spawn(async move { grant(&c, body).await })
            })
            .collect();
        let mut winners = Vec::new();
        for r in racers {
            let r = r.await.unwrap();
            if r.status == StatusCode::OK {
                winners.push(r.body["refresh_token"].as_str().unwrap().to_owned());
            }
        }
        assert!(winners.len() <= 1, "both refreshes succeeded");
        let sid = parts(
            password_grant(&server.client(), &email).await.body["access_token"]
                .as_str()
                .unwrap(),
        )
        .1["sid"]
            .clone();
        let _ = sid;
        // Whatever happened, no family has two live refresh tokens.
        let forks = db
            .query_strings(
                "SELECT family_id FROM refresh_tokens r WHERE used_at IS NULL GROUP BY family_id HAVING COUNT(*) > 1",
            )
            .await;
        assert!(forks.is_empty(), "a family forked: {forks:?}");
    }
}
