//! The gateway (SPEC §11) in front of a real app on a loopback port: identity headers and the
//! assertion, forged and hop-by-hop headers removed, `X-Forwarded-*`, prefix stripping, methods,
//! the app's own answers passed untouched, `502`/`504`/`413`, a paced event stream passing as
//! it comes, an upgrade spliced only after the check, CSRF for cookie requests, the route's
//! rate limit and `gateway.request` in the audit chain.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both;
use crate::support::*;

both!(
    requests_reach_the_app_with_their_identity,
    the_apps_failures_and_limits,
    streams_and_upgrades_pass_after_the_check,
    cookie_requests_csrf_rate_limit_and_audit
);

fn routes(app: &GatewayApp) -> String {
    let up = format!("http://{}", app.addr);
    format!(
        r#"
[[gateway.routes]]
prefix = "/api"
upstream = "{up}"
scopes = ["tasks:read"]

[[gateway.routes]]
prefix = "/api/admin"
upstream = "{up}/base"
strip_prefix = true
methods = ["GET"]
roles = ["admin"]
audience = "admin-api"

[[gateway.routes]]
prefix = "/open"
upstream = "{up}"
auth = "none"
timeout = "1s"
max_body = "1KiB"

[[gateway.routes]]
prefix = "/dead"
upstream = "http://127.0.0.1:9"
auth = "none"

[[gateway.routes]]
prefix = "/app"
upstream = "{up}"
auth = "optional"
rate_limit = "3/1m"
audit = "all"
"#
    )
}

async fn stack(db: &TestDb) -> (Server, Client, String, GatewayApp) {
    let app = GatewayApp::start().await;
    let config = db.dir.path().join("gateway.toml");
    std::fs::write(&config, routes(&app)).expect("config");
    let config = config.display().to_string();
    let (server, admin, _) = with_admin(db, &[("GATEHOUSE_CONFIG", &config)]).await;
    let org = first_org(&admin).await;
    (server, admin, org, app)
}

fn header(hit: &Value, name: &str) -> Vec<String> {
    echoed(hit, name)
}

fn one(hit: &Value, name: &str) -> String {
    let values = header(hit, name);
    assert_eq!(values.len(), 1, "{name}: {values:?}");
    values[0].clone()
}

async fn requests_reach_the_app_with_their_identity(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, org, app) = stack(&db).await;
    let (key_id, key) = admin.create_key(&org, &["tasks:read"]).await;
    let host = server.base.trim_start_matches("http://").to_owned();

    // An API key: the app sees gatehouse's identity only, none of the client's.
    let r = Client::send(
        server
            .client()
            .with_key(&key)
            .request(reqwest::Method::POST, "/api/items?page=2")
            .header("x-gatehouse-user", "forged")
            .header("X-Gatehouse-Other", "forged")
            .header("connection", "x-secret-hop")
            .header("x-secret-hop", "hop value")
            .header("x-forwarded-for", "6.6.6.6")
            .header("cookie", "app_pref=dark")
            .body("hello"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}\n{}", r.text, server.logs());
    assert_eq!(r.header("x-app").as_deref(), Some("echo"));
    assert!(
        r.header("x-app-hop").is_none(),
        "the app's hop-by-hop header is dropped"
    );
    assert!(r.header("x-request-id").is_some());
    let hit = app.take_one();
    assert_eq!(hit["method"], "POST");
    assert_eq!(hit["target"], "/api/items?page=2");
    assert_eq!(hit["body"], "hello");
    assert_eq!(one(&hit, "host"), app.addr.to_string());
    assert_eq!(one(&hit, "x-forwarded-host"), host);
    assert_eq!(one(&hit, "x-forwarded-proto"), "http");
    // The peer is not a trusted proxy: its X-Forwarded-For is not kept.
    assert_eq!(one(&hit, "x-forwarded-for"), "127.0.0.1");
    assert_eq!(one(&hit, "x-gatehouse-user"), "");
    assert_eq!(one(&hit, "x-gatehouse-org"), org);
    assert_eq!(one(&hit, "x-gatehouse-scopes"), "tasks:read");
    assert_eq!(one(&hit, "x-gatehouse-credential"), "api_key");
    assert!(header(&hit, "x-gatehouse-other").is_empty());
    assert!(
        header(&hit, "x-secret-hop").is_empty(),
        "a Connection-named header is dropped"
    );
    assert!(
        header(&hit, "authorization").is_empty(),
        "the key stays with gatehouse"
    );
    assert_eq!(one(&hit, "cookie"), "app_pref=dark");
    let assertion = one(&hit, "x-gatehouse-assertion");
    assert_eq!(jwt_part(&assertion, 0)["typ"], "gatehouse-assertion+jwt");
    let claims = jwt_part(&assertion, 1);
    assert_eq!(claims["aud"], format!("http://{}", app.addr));
    assert_eq!(claims["sub"], key_id);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], format!("http://{host}/api/items"));
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    // The assertion is no access token.
    let r = server
        .client()
        .with_key(&assertion)
        .get("/v1/auth/me")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);

    // No credential: 401 naming the sign-in page; a browser navigation is sent there.
    let r = server.client().get("/api/items").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "unauthenticated");
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"gatehouse\"")
    );
    let r = Client::send(
        server
            .client()
            .request(reqwest::Method::GET, "/api/items")
            .header("accept", "text/html"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FOUND);
    let location = r.header("location").expect("location");
    assert!(
        location.starts_with(&format!(
            "{}/console/login?return_to=http%3A%2F%2F",
            server.public_url()
        )),
        "{location}"
    );
    // A key without the route's scope.
    let (_, unscoped) = admin.create_key(&org, &["secrets:read"]).await;
    let r = server.client().with_key(&unscoped).get("/api/items").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );
    assert!(app.seen().is_empty());

    // strip_prefix onto the upstream's base path; methods; roles (an owner session passes,
    // a member's does not; a key has no role to check but lacks nothing here).
    let r = admin.get("/api/admin/report?full=1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let hit = app.take_one();
    assert_eq!(hit["target"], "/base/report?full=1");
    assert_eq!(one(&hit, "x-gatehouse-credential"), "session");
    assert_eq!(
        jwt_part(&one(&hit, "x-gatehouse-assertion"), 1)["aud"],
        "admin-api"
    );
    let r = admin.delete("/api/admin/report").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
    let (member, _) = server.member(&admin, &org, "m@example.com", "member").await;
    let r = member.get("/api/admin/report").await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    assert!(app.seen().is_empty());

    // The app's own error answers pass as they are; gatehouse's paths stay gatehouse's.
    let r = server.client().get("/open/missing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.text, "<p>the app's own 404</p>");
    assert_eq!(server.client().get("/healthz").await.status, StatusCode::OK);
    let r = server.client().get("/v1/nothing-here").await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    let r = server.client().get("/elsewhere").await;
    assert_eq!((r.status, r.code()), (StatusCode::NOT_FOUND, "not_found"));
    // An ambiguous path never reaches the app.
    // (Raw: an HTTP client library would normalise the path before sending it.)
    for path in [
        "/open/a/%2e%2e/b",
        "/open/a/../b",
        "/open//b",
        "/open/a%2fb",
    ] {
        let mut tcp = tokio::net::TcpStream::connect(&host)
            .await
            .expect("connect");
        let raw = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        tcp.write_all(raw.as_bytes()).await.expect("write");
        let mut reply = String::new();
        tcp.read_to_string(&mut reply).await.expect("read");
        assert!(reply.starts_with("HTTP/1.1 400"), "{path}: {reply}");
        assert!(
            reply.contains(r#""uri":"ambiguous_path""#),
            "{path}: {reply}"
        );
    }
    assert!(app.seen().is_empty());
}

async fn the_apps_failures_and_limits(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, _admin, _org, app) = stack(&db).await;
    let c = server.client();
    let r = Client::send(
        c.request(reqwest::Method::GET, "/dead/x")
            .header("x-request-id", "dead-upstream-1"),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_GATEWAY, "bad_gateway"),
        "{}",
        r.text
    );
    // The warning is written inside the request's span, so it names the request.
    let warning = server.log_line("upstream failed").await;
    let warning: serde_json::Value = serde_json::from_str(&warning).expect("a JSON line");
    assert_eq!(
        warning["span"]["request_id"], "dead-upstream-1",
        "{warning}"
    );
    // The app answers after 5 s; the route waits 1 s (a real wait: the deadline is the point).
    let r = c.get("/open/slow").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::GATEWAY_TIMEOUT, "gateway_timeout")
    );
    // Over max_body (1 KiB): by Content-Length, and streamed without one.
    let r = Client::send(
        c.request(reqwest::Method::POST, "/open/x")
            .body(vec![b'a'; 2048]),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let mut chunked =
        format!("POST /open/x HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\n\r\n")
            .into_bytes();
    for _ in 0..4 {
        chunked.extend_from_slice(b"200\r\n");
        chunked.extend_from_slice(&[b'b'; 512]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    tcp.write_all(&chunked).await.expect("write");
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    // At the limit: through, whole.
    let r = Client::send(
        c.request(reqwest::Method::POST, "/open/x")
            .body(vec![b'c'; 1024]),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let hits: Vec<Value> = app
        .seen()
        .into_iter()
        .filter(|h| h["body_len"] == 1024)
        .collect();
    assert_eq!(hits.len(), 1);
}

async fn streams_and_upgrades_pass_after_the_check(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, org, app) = stack(&db).await;
    // The first event arrives while the app still holds the second: nothing is buffered.
    let mut resp = server
        .client()
        .http
        .get(format!("{}/open/sse", server.base))
        .send()
        .await
        .expect("sse");
    assert_eq!(resp.status(), StatusCode::OK);
    // A buffering proxy would hold the first event until the stream ends, which waits on it.
    let first = tokio::time::timeout(std::time::Duration::from_secs(5), resp.chunk())
        .await
        .expect("the first event arrives while the stream is still open")
        .expect("chunk")
        .expect("first event");
    assert_eq!(&first[..], b"data: one\n\n");
    app.release();
    let second = resp.chunk().await.expect("chunk").expect("second event");
    assert_eq!(&second[..], b"data: two\n\n");

    // An upgrade with a working key: 101, then bytes both ways.
    let (_, key) = admin.create_key(&org, &["tasks:read"]).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let hello = format!(
        "GET /api/upgrade HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\n\
         Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    );
    tcp.write_all(hello.as_bytes()).await.expect("write");
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: websocket"),
        "{head}"
    );
    tcp.write_all(b"ping through").await.expect("write");
    let mut echoed = [0u8; 12];
    tcp.read_exact(&mut echoed).await.expect("echo");
    assert_eq!(&echoed, b"ping through");

    // Without a credential the app is never asked to upgrade.
    let mut tcp = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connect");
    let hello = format!(
        "GET /api/upgrade HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    );
    tcp.write_all(hello.as_bytes()).await.expect("write");
    let head = read_head(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
}

async fn read_head(tcp: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = tcp.read(&mut byte).await.expect("read");
        assert!(n == 1, "closed after {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

async fn cookie_requests_csrf_rate_limit_and_audit(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, org, app) = stack(&db).await;
    // A cookie POST without the CSRF token, and one from another site: refused before the app.
    let mut no_token = admin.clone();
    no_token.csrf = None;
    let r = no_token.post("/app/x", json!({})).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "csrf_failed"));
    let r = Client::send(
        admin
            .request(reqwest::Method::POST, "/app/x")
            .header("origin", "https://evil.example")
            .body("{}"),
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "csrf_failed"));
    assert!(app.seen().is_empty());
    // With the token: through, counted by the route's limit (3/1m per credential).
    let r = admin.post("/app/x", json!({ "n": 1 })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("3"));
    assert_eq!(admin.get("/app/y").await.status, StatusCode::OK);
    assert_eq!(admin.get("/app/z").await.status, StatusCode::OK);
    let r = admin.get("/app/z").await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    assert!(r.header("retry-after").is_some());
    // Another caller has a budget of its own; optional auth lets an anonymous one through.
    let r = server.client().get("/app/anon").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        one(app.seen().last().unwrap(), "x-gatehouse-credential"),
        "none"
    );

    // audit = "all": each passed request is in the org's chain, without its query.
    let r = admin.get(&format!("/v1/orgs/{org}/audit?limit=1000")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let events: Vec<&Value> = r.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["action"] == "gateway.request")
        .collect();
    assert_eq!(events.len(), 3, "{events:#?}");
    let first = events[0];
    assert_eq!(first["details"]["method"], "POST");
    assert_eq!(first["details"]["path"], "/app/x");
    assert_eq!(first["details"]["status"], 200);
    assert_eq!(first["details"]["route"], "/app");
    assert_eq!(first["actor"]["type"], "user");
}
