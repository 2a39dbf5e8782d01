//! Sign-in with a real OpenID provider (npm `oidc-provider`, on loopback): its login and
//! consent pages driven headless, RS256 ID tokens, RFC 9207 `iss`, PKCE required by the
//! provider. The whole flow twice (the same subject, the same account) and a replayed
//! callback refused.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::support::*;

both!(a_real_provider_signs_in_end_to_end);

const SECRET: &str = "a client secret for the real provider";

/// Start, the provider's pages, the callback (with the flow cookie): its answer and URL.
async fn round_trip(server: &Server, login: &str) -> (Reply, String, String) {
    let c = server.client();
    let r = Client::send(
        c.request(reqwest::Method::POST, "/v1/auth/oidc/real/start")
            .header("accept", "application/json")
            .json(&json!({ "return_to": "/console/account" })),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let cookie = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let authorization = r.body["authorization_url"].as_str().unwrap().to_owned();
    let back = log_in_at_provider(&authorization, login, &server.public_url()).await;
    let callback = back.replacen("localhost", "127.0.0.1", 1);
    let answer = Client::send(c.http.get(&callback).header("cookie", &cookie)).await;
    (answer, callback, cookie)
}

fn session_of(r: &Reply) -> String {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.text.contains("url=/console/account"), "{}", r.text);
    r.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gatehouse_session="))
        .expect("the session cookie")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn a_real_provider_signs_in_end_to_end(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let op_port = free_port();
    let file = db.dir.path().join("gatehouse.toml");
    std::fs::write(
        &file,
        format!(
            "[[oidc.providers]]\nid = \"real\"\nissuer = \"http://127.0.0.1:{op_port}\"\n\
             client_id = \"gatehouse\"\nclient_secret_env = \"GATEHOUSE_OIDC_REAL_SECRET\"\n"
        ),
    )
    .expect("config file");
    let path = file.to_string_lossy().into_owned();
    let env = [
        ("GATEHOUSE_CONFIG", path.as_str()),
        ("GATEHOUSE_OIDC_REAL_SECRET", SECRET),
        ("GATEHOUSE_OUTBOUND_ALLOW", "127.0.0.1/32"),
        ("GATEHOUSE_SIGNUP", "open"),
    ];
    let (server, _owner, _) = with_admin(&db, &env).await;
    let redirect = format!("{}/v1/auth/oidc/real/callback", server.public_url());
    let _op = RealOp::start(op_port, "gatehouse", SECRET, &redirect);

    let (r, callback, cookie) = round_trip(&server, "alice").await;
    let mut alice = server.client();
    alice.cookie = Some(session_of(&r));
    let me = alice.get("/v1/auth/me").await;
    assert_eq!(me.body["user"]["email"], "alice@example.com", "{}", me.text);
    assert_eq!(me.body["user"]["email_verified"], true);
    let replay = Client::send(
        server
            .client()
            .http
            .get(&callback)
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(replay.status, StatusCode::SEE_OTHER, "{}", replay.text);

    let (r, _, _) = round_trip(&server, "alice").await;
    let mut again = server.client();
    again.cookie = Some(session_of(&r));
    assert_eq!(
        again.get("/v1/auth/me").await.body["user"]["id"],
        me.body["user"]["id"],
        "the same subject, the same account"
    );
}
