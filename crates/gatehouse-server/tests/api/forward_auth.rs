//! `/v1/forward-auth` asked directly, on both databases (SPEC §11): which headers describe the
//! request (a client-sent `X-Original-URL` never picks the route), every answer a proxy relies
//! on, tokens and their revocation, roles, CSRF on the forwarded origin, the route's own budget
//! apart from the `/v1` one, and routes refused at start with one line naming them.

use reqwest::StatusCode;
use serde_json::Value;

use crate::both;
use crate::support::*;
use crate::token_rules::token_for;

both!(
    the_described_request_and_its_answers,
    credentials_roles_and_csrf,
    bad_routes_refuse_to_start,
    a_cookie_domain_reaches_sibling_hosts
);

const ROUTES: &str = r#"
[[gateway.routes]]
prefix = "/app"
host = "app.example.com"

[[gateway.routes]]
prefix = "/admin"
roles = ["admin"]

[[gateway.routes]]
prefix = "/public"
auth = "none"

[[gateway.routes]]
prefix = "/write"
methods = ["POST"]
scopes = ["tasks:write"]
"#;

async fn start(db: &TestDb, extra: &[(&str, &str)]) -> (Server, Client, String) {
    let config = db.dir.path().join("routes.toml");
    std::fs::write(&config, ROUTES).expect("config");
    let config = config.display().to_string();
    let mut env = vec![("GATEHOUSE_CONFIG", config.as_str())];
    env.extend_from_slice(extra);
    let (server, admin, email) = with_admin(db, &env).await;
    (server, admin, email)
}

/// Asks forward-auth about `method host uri` with `extra` headers, as `c`.
async fn ask(c: &Client, method: &str, host: &str, uri: &str, extra: &[(&str, &str)]) -> Reply {
    let mut rb = c
        .request(reqwest::Method::GET, "/v1/forward-auth")
        .header("x-forwarded-method", method)
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", host)
        .header("x-forwarded-uri", uri);
    for (k, v) in extra {
        rb = rb.header(*k, *v);
    }
    Client::send(rb).await
}

async fn the_described_request_and_its_answers(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    // A /v1 budget of 2 per minute: forward-auth draws on none of it.
    let (server, admin, _) = start(&db, &[("GATEHOUSE_RATE_LIMIT_API", "2/1m")]).await;
    let org = first_org(&admin).await;
    let (_, key) = admin.create_key(&org, &["tasks:read"]).await;
    let c = server.client().with_key(&key);
    for _ in 0..5 {
        let r = ask(&c, "GET", "app.example.com", "/app/x?y=1", &[]).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.text, "");
        assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
        assert_eq!(
            r.header("x-gatehouse-credential").as_deref(),
            Some("api_key")
        );
        assert_eq!(r.header("x-gatehouse-org").as_deref(), Some(org.as_str()));
        assert_eq!(r.header("x-gatehouse-user").as_deref(), Some(""));
        let claims = jwt_part(&r.header("x-gatehouse-assertion").unwrap(), 1);
        assert_eq!(claims["htu"], "https://app.example.com/app/x");
        assert_eq!(claims["htm"], "GET");
    }
    // HEAD is answered the same way.
    let r = Client::send(
        c.request(reqwest::Method::HEAD, "/v1/forward-auth")
            .header("x-forwarded-method", "GET")
            .header("x-forwarded-host", "app.example.com")
            .header("x-forwarded-uri", "/app"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // The route's host matters; a host-less route takes any host.
    let r = ask(&c, "GET", "other.example.com", "/app/x", &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = ask(&c, "GET", "other.example.com", "/public/x", &[]).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("x-gatehouse-credential").as_deref(), Some("none"));

    // X-Forwarded-* wins; X-Original-* only where it is absent.
    let r = ask(
        &server.client(),
        "GET",
        "app.example.com",
        "/app/secret",
        &[
            ("x-original-url", "https://app.example.com/public/x"),
            ("x-original-uri", "/public/x"),
        ],
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the forwarded URI is judged: {}",
        r.text
    );
    let r = Client::send(
        server
            .client()
            .request(reqwest::Method::GET, "/v1/forward-auth")
            .header("x-original-method", "GET")
            .header("x-original-url", "https://any.example.com/public/page?q=1"),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "nginx's headers alone: {}",
        r.text
    );
    let htu = jwt_part(&r.header("x-gatehouse-assertion").unwrap(), 1)["htu"].clone();
    assert_eq!(htu, "https://any.example.com/public/page");

    // Descriptions that are missing, malformed or ambiguous.
    let r = Client::send(
        server
            .client()
            .request(reqwest::Method::GET, "/v1/forward-auth"),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    assert_eq!(r.body["error"]["fields"]["method"], "required");
    let r = ask(&c, "get", "app.example.com", "/app", &[]).await;
    assert_eq!(r.body["error"]["fields"]["method"], "invalid");
    for uri in [
        "/app/../admin",
        "/app/%2e%2e/admin",
        "/app//x",
        "/app/a%2fb",
        "/app/a\\b",
        "/app/%zz",
    ] {
        let r = ask(&c, "GET", "app.example.com", uri, &[]).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{uri}: {}", r.text);
        assert_eq!(r.body["error"]["fields"]["uri"], "ambiguous_path", "{uri}");
    }
    // No route, or a method the route does not take: 403, never 404 or 405.
    let r = ask(&c, "GET", "app.example.com", "/elsewhere", &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = ask(&c, "GET", "x", "/write", &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));
    let r = ask(&c, "POST", "x", "/write", &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::FORBIDDEN, "insufficient_scope")
    );

    // 401 names the sign-in page with the described URL; ?redirect=browser sends browsers.
    let anon = server.client();
    let r = ask(&anon, "GET", "app.example.com", "/app/p?x=1", &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    assert_eq!(
        r.header("www-authenticate").as_deref(),
        Some("Bearer realm=\"gatehouse\"")
    );
    let expected = format!(
        "{}/console/login?return_to=https%3A%2F%2Fapp.example.com%2Fapp%2Fp%3Fx%3D1",
        server.public_url()
    );
    assert_eq!(r.header("location").as_deref(), Some(expected.as_str()));
    let browser = [("accept", "text/html"), ("sec-fetch-mode", "navigate")];
    let r = ask(&anon, "GET", "app.example.com", "/app/p?x=1", &browser).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "no redirect unless asked"
    );
    let mut rb = anon
        .request(reqwest::Method::GET, "/v1/forward-auth?redirect=browser")
        .header("x-forwarded-method", "GET")
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "app.example.com")
        .header("x-forwarded-uri", "/app/p?x=1");
    for (k, v) in browser {
        rb = rb.header(k, v);
    }
    let r = Client::send(rb).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert_eq!(r.header("location").as_deref(), Some(expected.as_str()));
}

async fn credentials_roles_and_csrf(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let (server, admin, email) = start(&db, &[]).await;
    let org = first_org(&admin).await;
    let me = admin.get("/v1/auth/me").await.body["user"]["id"].clone();

    // A JWT: the user, the org it is bound to, its scopes, and an assertion the JWKS verifies
    // that is no access token.
    let t = token_for(&server.client(), &email, Some(&org), "tasks:read").await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.text);
    let access = t.body["access_token"].as_str().unwrap().to_owned();
    let jwt = server.client().with_key(&access);
    let r = ask(&jwt, "GET", "app.example.com", "/app/x", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.header("x-gatehouse-credential").as_deref(), Some("jwt"));
    assert_eq!(Value::from(r.header("x-gatehouse-user").unwrap()), me);
    assert_eq!(r.header("x-gatehouse-org").as_deref(), Some(org.as_str()));
    assert_eq!(
        r.header("x-gatehouse-scopes").as_deref(),
        Some("tasks:read")
    );
    let assertion = r.header("x-gatehouse-assertion").unwrap();
    let header = jwt_part(&assertion, 0);
    let jwks = server.client().get("/.well-known/jwks.json").await.body;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"]),
        "the assertion's kid is in the JWKS: {header} {jwks}"
    );
    let r = server
        .client()
        .with_key(&assertion)
        .get("/v1/auth/me")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The access token is no assertion: it is never accepted in place of one by gatehouse's
    // own verifier (the client crate's tests check an upstream's view).
    assert_ne!(jwt_part(&access, 0)["typ"], header["typ"]);

    // Roles: the owner passes /admin; a member does not; a key has no role to check.
    let r = ask(&admin, "GET", "x", "/admin/panel", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.header("x-gatehouse-credential").as_deref(),
        Some("session")
    );
    assert_eq!(r.header("x-gatehouse-scopes").as_deref(), Some(""));
    let (member, _) = server.member(&admin, &org, "m@example.com", "member").await;
    let r = ask(&member, "GET", "x", "/admin/panel", &[]).await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "forbidden"));

    // CSRF on the forwarded origin for a cookie and an unsafe described method.
    let r = ask(
        &admin,
        "POST",
        "app.example.com",
        "/app/x",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "csrf_failed"));
    let r = ask(
        &admin,
        "POST",
        "app.example.com",
        "/app/x",
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!((r.status, r.code()), (StatusCode::FORBIDDEN, "csrf_failed"));
    let r = ask(
        &admin,
        "POST",
        "app.example.com",
        "/app/x",
        &[("origin", "https://app.example.com")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "the app's own origin: {}", r.text);
    // A bearer credential is not a browser's: no CSRF rule.
    let r = ask(
        &jwt,
        "POST",
        "app.example.com",
        "/app/x",
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // A revoked token: 401 token_revoked.
    assert_eq!(
        admin.post_empty("/v1/auth/logout-all").await.status,
        StatusCode::NO_CONTENT
    );
    let r = ask(&jwt, "GET", "app.example.com", "/app/x", &[]).await;
    assert_eq!(
        (r.status, r.code()),
        (StatusCode::UNAUTHORIZED, "token_revoked"),
        "{}",
        r.text
    );
}

async fn bad_routes_refuse_to_start(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    for (route, named, why) in [
        ("prefix = \"/a\"\nrate_limit = \"lots\"", "/a", "rate_limit"),
        (
            "prefix = \"/b\"\nupstream = \"file:///etc\"",
            "/b",
            "upstream",
        ),
        ("prefix = \"/c\"\nflavour = \"x\"", "/c", "flavour"),
        (
            "prefix = \"/v1/admin\"\nupstream = \"http://127.0.0.1:1\"",
            "/v1/admin",
            "own",
        ),
        (
            "prefix = \"/d\"\ncapability = \"view\"",
            "/d",
            "needs resource",
        ),
        (
            "prefix = \"/f\"\ncapability = \"own\"\nresource = \"page:{1}\"",
            "/f",
            "capability",
        ),
        (
            "prefix = \"/g\"\ncapability = \"view\"\nresource = \"page:{0}\"",
            "/g",
            "segment number",
        ),
        (
            "prefix = \"/h\"\nauth = \"none\"\ncapability = \"view\"\nresource = \"page:{1}\"",
            "/h",
            "capability need auth",
        ),
    ] {
        let config = db.dir.path().join("bad.toml");
        std::fs::write(&config, format!("[[gateway.routes]]\n{route}\n")).expect("config");
        let config = config.display().to_string();
        let (code, _, err) = run_cli(
            &db,
            &[("GATEHOUSE_CONFIG", &config)],
            &["serve", "--listen", "127.0.0.1:0"],
            None,
        );
        assert_eq!(code, 2, "{route}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {err}");
        assert!(
            lines[0].contains(&format!("gateway route {named}")),
            "{err}"
        );
        assert!(lines[0].contains(why), "{err}");
    }
    let twice = "[[gateway.routes]]\nprefix = \"/e\"\n[[gateway.routes]]\nprefix = \"/e\"\n";
    let config = db.dir.path().join("twice.toml");
    std::fs::write(&config, twice).expect("config");
    let config = config.display().to_string();
    let (code, _, err) = run_cli(&db, &[("GATEHOUSE_CONFIG", &config)], &["serve"], None);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("gateway route /e") && err.contains("same host and prefix"),
        "{err}"
    );
}

/// `GATEHOUSE_COOKIE_DOMAIN`: the session cookie is `__Secure-`, names the domain and is `Lax`,
/// so a browser signed in at auth.example.test is recognised for app.example.test; `doctor`
/// warns about what that trusts.
async fn a_cookie_domain_reaches_sibling_hosts(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let domain = [
        ("GATEHOUSE_COOKIE_DOMAIN", ".Example.test"),
        ("GATEHOUSE_PUBLIC_URL", "https://auth.example.test"),
    ];
    let (server, _admin, email) = start(&db, &domain).await;
    let mut c = server.client();
    let r = c.login(&email, PASSWORD).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let set = r.header("set-cookie").unwrap();
    assert!(set.starts_with("__Secure-gatehouse_session="), "{set}");
    for part in [
        "Domain=example.test",
        "SameSite=Lax",
        "Secure",
        "HttpOnly",
        "Path=/",
    ] {
        assert!(set.contains(part), "{part} in {set}");
    }
    let r = ask(&c, "GET", "app.example.test", "/app", &[]).await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "app.example.com's route only: {}",
        r.text
    );
    let r = ask(&c, "GET", "app.example.test", "/admin/x", &[]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.header("x-gatehouse-credential").as_deref(),
        Some("session")
    );
    let (_, out, _) = run_cli(&db, &domain, &["doctor"], None);
    assert!(
        out.lines()
            .any(|l| l.contains("cookie_domain") && l.contains("example.test")),
        "{out}"
    );
    let (code, _, err) = run_cli(
        &db,
        &[("GATEHOUSE_COOKIE_DOMAIN", "127.0.0.1")],
        &["serve", "--listen", "127.0.0.1:0"],
        None,
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("GATEHOUSE_COOKIE_DOMAIN"), "{err}");
}
