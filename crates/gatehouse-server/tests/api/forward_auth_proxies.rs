//! Forward-auth through real proxies (SPEC §11): nginx `auth_request`, Traefik `forwardAuth`
//! and Caddy `forward_auth`, each started from its file in `deploy/`, in front of an echo app.
//! Each proves that gatehouse's identity reaches the app and a client's forged `X-Gatehouse-*`
//! never does, that refusals keep their meaning (401, the sign-in redirect, 403, 429, fail
//! closed), that the method and body pass, that ambiguous paths never reach the app, and that a
//! revoked key stops within a second. The tools are installed by `.ci/run`; a missing one fails.

use reqwest::StatusCode;
use serde_json::Value;
use std::time::{Duration, Instant};

use crate::support::*;

macro_rules! per_proxy {
    ($($name:ident),* $(,)?) => { $(
        mod $name {
            use crate::support::{Db, ProxyKind};
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn nginx() { super::$name(ProxyKind::Nginx, Db::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn traefik() { super::$name(ProxyKind::Traefik, Db::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn caddy() { super::$name(ProxyKind::Caddy, Db::Sqlite).await }
        }
    )* };
}

per_proxy!(
    identity_reaches_the_app,
    forged_identity_never_reaches_the_app,
    refusals_keep_their_meaning,
    rate_limit_method_and_body,
    ambiguous_paths_never_reach_the_app,
    revoked_key_stops_within_a_second,
    gatehouse_down_fails_closed,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_identity_on_postgres() {
    identity_reaches_the_app(ProxyKind::Nginx, Db::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_headers_more_strips_every_forged_header() {
    forged_identity_never_reaches_the_app(ProxyKind::NginxHeadersMore, Db::Sqlite).await;
}

/// The one request the app saw since the last `forget`.
fn only_hit(s: &Stack) -> Value {
    let seen = s.upstream.seen();
    assert_eq!(seen.len(), 1, "{seen:#?}\n{}", s.logs());
    s.upstream.forget();
    seen.into_iter().next().unwrap()
}

/// The identity header `name` as the app received it: one value, or none when gatehouse's value
/// is empty (nginx and Caddy send no header for an empty value; Traefik sends it empty).
fn identity(hit: &Value, name: &str) -> String {
    let values = echoed(hit, name);
    assert!(values.len() <= 1, "{name} more than once: {values:?}");
    values.into_iter().next().unwrap_or_default()
}

/// The assertion the app got is gatehouse's, made for this very request.
fn assert_assertion(hit: &Value, method: &str, path: &str) {
    let token = identity(hit, "x-gatehouse-assertion");
    let header = jwt_part(&token, 0);
    assert_eq!(header["typ"], "gatehouse-assertion+jwt", "{header}");
    let claims = jwt_part(&token, 1);
    assert_eq!(claims["htm"], method, "{claims}");
    assert_eq!(
        claims["htu"],
        format!("http://{APP_HOST}{path}"),
        "{claims}"
    );
}

async fn identity_reaches_the_app(kind: ProxyKind, db: Db) {
    let Some(s) = Stack::start(kind, db).await else {
        return;
    };
    // A signed-in session cookie.
    let r = s
        .send(Raw::get("/app/whoami").header("Cookie", &s.cookie()))
        .await;
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.logs());
    let hit = only_hit(&s);
    assert_eq!(hit["target"], "/app/whoami");
    assert_eq!(identity(&hit, "x-gatehouse-user"), s.user_id);
    assert_eq!(identity(&hit, "x-gatehouse-credential"), "session");
    assert_assertion(&hit, "GET", "/app/whoami");

    // An API key: no user, its org and scopes.
    let (_, key) = s.key(&["tasks:read", "tasks:write"]).await;
    let r = s.send(Raw::get("/app/items?page=2").bearer(&key)).await;
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.logs());
    let hit = only_hit(&s);
    assert_eq!(hit["target"], "/app/items?page=2");
    assert_eq!(identity(&hit, "x-gatehouse-credential"), "api_key");
    assert_eq!(identity(&hit, "x-gatehouse-org"), s.org);
    assert_eq!(identity(&hit, "x-gatehouse-user"), "");
    let scopes = identity(&hit, "x-gatehouse-scopes");
    let mut scopes: Vec<&str> = scopes.split(' ').collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["tasks:read", "tasks:write"]);
    assert_assertion(&hit, "GET", "/app/items");
}

async fn forged_identity_never_reaches_the_app(kind: ProxyKind, db: Db) {
    let Some(s) = Stack::start(kind, db).await else {
        return;
    };
    let (_, key) = s.key(&["tasks:read"]).await;
    let forged = |raw: Raw| {
        raw.header("X-Gatehouse-User", "admin")
            .header("x-gatehouse-org", "00000000-0000-7000-8000-000000000000")
            .header("X-Gatehouse-Scopes", "org:admin")
            .header("X-Gatehouse-Credential", "session")
            .header("X-Gatehouse-Assertion", "forged.assertion.value")
            .header("X-Gatehouse-Extra", "forged-extra")
            // A client naming another request to judge is not listened to either.
            .header("X-Forwarded-Uri", "/public/x")
            .header("X-Original-URL", "http://app.example.com/public/x")
            .header("X-Original-URI", "/public/x")
            .header("X-Forwarded-Method", "GET")
    };
    // With a real API key: only gatehouse's values, once each.
    let r = s.send(forged(Raw::get("/app/x").bearer(&key))).await;
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.logs());
    let hit = only_hit(&s);
    assert_eq!(identity(&hit, "x-gatehouse-user"), "");
    assert_eq!(identity(&hit, "x-gatehouse-org"), s.org);
    assert_eq!(identity(&hit, "x-gatehouse-scopes"), "tasks:read");
    assert_eq!(identity(&hit, "x-gatehouse-credential"), "api_key");
    assert_assertion(&hit, "GET", "/app/x");
    let extra = echoed(&hit, "x-gatehouse-extra");
    if kind == ProxyKind::Nginx {
        // Stock nginx cannot remove headers by wildcard: a name gatehouse does not set passes
        // (deploy/README.md says so; the headers-more line closes it, next test).
        assert_eq!(extra, ["forged-extra"]);
    } else {
        assert!(extra.is_empty(), "{extra:?}");
    }

    // Without a credential the forged headers change nothing: /app needs one.
    let r = s.send(forged(Raw::get("/app/x"))).await;
    assert_eq!(r.status, 401, "{}\n{}", r.text(), s.logs());
    assert!(s.upstream.seen().is_empty(), "{:#?}", s.upstream.seen());
}

async fn refusals_keep_their_meaning(kind: ProxyKind, db: Db) {
    let Some(s) = Stack::start(kind, db).await else {
        return;
    };
    // An API client without a credential: 401 JSON with the challenge.
    let r = s
        .send(Raw::get("/app/page").header("Accept", "application/json"))
        .await;
    assert_eq!(r.status, 401, "{}\n{}", r.text(), s.logs());
    assert_eq!(r.code(), "unauthenticated", "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("application/json")
    );
    let challenge = r.header("www-authenticate").unwrap_or("");
    assert!(challenge.contains(r#"Bearer realm="gatehouse""#), "{r:?}");

    // A browser navigation: the sign-in page, naming the request it came for.
    let r = s
        .send(
            Raw::get("/app/page?x=1")
                .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
                .header("Sec-Fetch-Mode", "navigate"),
        )
        .await;
    assert_eq!(r.status, 302, "{}\n{}", r.text(), s.logs());
    let location = r.header("location").expect("Location").to_owned();
    let public = s.server.public_url();
    let (login, return_to) = location.split_once("?return_to=").expect("return_to");
    assert_eq!(login, format!("{public}/console/login"), "{location}");
    assert_eq!(
        percent_decode(return_to),
        format!("http://{APP_HOST}/app/page?x=1"),
        "{location}"
    );
    // A fetch() asking for HTML is not a navigation: the 401.
    let r = s
        .send(
            Raw::get("/app/page")
                .header("Accept", "text/html")
                .header("Sec-Fetch-Mode", "cors"),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text());

    // No route: 403; a key without the route's scope: 403.
    let (_, key) = s.key(&["tasks:read"]).await;
    let r = s.send(Raw::get("/nowhere").bearer(&key)).await;
    assert_eq!(r.status, 403, "{}\n{}", r.text(), s.logs());
    let r = s.send(Raw::get("/scoped/x").bearer(&key)).await;
    assert_eq!(r.status, 403, "{}", r.text());
    if kind != ProxyKind::Nginx {
        // Traefik and Caddy pass gatehouse's body; nginx's error page has its own.
        assert_eq!(r.code(), "insufficient_scope", "{}", r.text());
    }

    // A cookie-authenticated POST from another site: csrf_failed.
    let r = s
        .send(
            Raw::new("POST", "/app/transfer")
                .header("Cookie", &s.cookie())
                .header("Origin", "https://evil.example")
                .header("Sec-Fetch-Site", "cross-site")
                .body("application/x-www-form-urlencoded", "amount=100"),
        )
        .await;
    assert_eq!(r.status, 403, "{}\n{}", r.text(), s.logs());
    if kind != ProxyKind::Nginx {
        assert_eq!(r.code(), "csrf_failed", "{}", r.text());
    }
    assert!(s.upstream.seen().is_empty(), "{:#?}", s.upstream.seen());
}

async fn rate_limit_method_and_body(kind: ProxyKind, db: Db) {
    let Some(s) = Stack::start(kind, db).await else {
        return;
    };
    let (_, key) = s.key(&["tasks:write"]).await;
    // POST stays POST, with its body.
    let body = r#"{"title":"write the proxy tests","n":1}"#;
    let r = s
        .send(
            Raw::new("POST", "/app/tasks")
                .bearer(&key)
                .body("application/json", body),
        )
        .await;
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.logs());
    let hit = only_hit(&s);
    assert_eq!(hit["method"], "POST");
    assert_eq!(hit["body"], body);
    assert_eq!(echoed(&hit, "content-type"), ["application/json"]);
    assert_assertion(&hit, "POST", "/app/tasks");

    // rate_limit = "2/1m": the third request is 429 with Retry-After, and never reaches the app.
    for i in 0..2 {
        let r = s.send(Raw::get("/limited/x").bearer(&key)).await;
        assert_eq!(r.status, 200, "request {i}: {}\n{}", r.text(), s.logs());
    }
    let r = s.send(Raw::get("/limited/x").bearer(&key)).await;
    assert_eq!(r.status, 429, "{}\n{}", r.text(), s.logs());
    assert_eq!(r.code(), "rate_limited", "{}", r.text());
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {r:?}"));
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(s.upstream.seen().len(), 2);
}

/// What each proxy makes of an ambiguous target: `(target, status)`. nginx and Caddy hand the
/// raw target to gatehouse, which refuses it (400; nginx's recipe restores the 400 from its
/// 500). Traefik cleans dot segments and `//` itself before routing and asking (the judged
/// request and the routed one are the same cleaned path: `/x` has no route, `/app/x` is let
/// through) and hands encoded slashes and backslashes on raw, which gatehouse refuses.
fn ambiguous_expectations(kind: ProxyKind) -> Vec<(&'static str, u16)> {
    let targets = [
        "/app/%2e%2e/x",
        "/app/%2E%2e/x",
        "/app/../x",
        "/app/./x",
        "/app/%2e/x",
        "/app/a%2fb",
        "/app/a%2Fb",
        "/app/a%5cb",
        "/app//x",
        "/app/a%zzb",
        "/app/a\\b",
    ];
    match kind {
        ProxyKind::Traefik => vec![
            (targets[0], 403),
            (targets[1], 403),
            (targets[2], 403),
            (targets[3], 200),
            (targets[4], 200),
            (targets[5], 400),
            (targets[6], 400),
            (targets[7], 400),
            (targets[8], 200),
            (targets[9], 400),
            (targets[10], 400),
        ],
        _ => targets.iter().map(|t| (*t, 400)).collect(),
    }
}

/// Whether a path, as an app might read it, hides a segment boundary or a dot segment.
fn looks_ambiguous(target: &str) -> bool {
    let path = target
        .split('?')
        .next()
        .unwrap_or(target)
        .to_ascii_lowercase();
    path.contains("//")
        || path.contains("%2e")
        || path.contains("%2f")
        || path.contains("%5c")
        || path.contains('\\')
        || path.split('/').any(|seg| seg == "." || seg == "..")
        || path.contains("%zz")
}

async fn ambiguous_paths_never_reach_the_app(kind: ProxyKind, db: Db) {
    let Some(s) = Stack::start(kind, db).await else {
        return;
    };
    let (_, key) = s.key(&["tasks:read"]).await;
    let mut got = Vec::new();
    for (target, _) in ambiguous_expectations(kind) {
        let r = s.send(Raw::get(target).bearer(&key)).await;
        got.push((target, r.status));
        for hit in s.upstream.seen() {
            let seen = hit["target"].as_str().unwrap_or_default();
            assert!(!looks_ambiguous(seen), "{target} reached the app as {seen}");
            // What the app got is what gatehouse judged.
            let token = identity(&hit, "x-gatehouse-assertion");
            let htu = jwt_part(&token, 1)["htu"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            assert_eq!(htu, format!("http://{APP_HOST}{seen}"), "{target}");
        }
        s.upstream.forget();
    }
    assert_eq!(got, ambiguous_expectations(kind), "{}", s.logs());
}

async fn revoked_key_stops_within_a_second(kind: ProxyKind, db: Db) {
    let Some(s) = Stack::start(kind, db).await else {
        return;
    };
    let (id, key) = s.key(&["tasks:read"]).await;
    let r = s.send(Raw::get("/app/x").bearer(&key)).await;
    assert_eq!(r.status, 200, "{}\n{}", r.text(), s.logs());
    let r = s
        .admin
        .post_empty(&format!("/v1/orgs/{}/api-keys/{id}/revoke", s.org))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let revoked = Instant::now();
    let last = loop {
        let r = s.send(Raw::get("/app/x").bearer(&key)).await;
        if r.status != 200 || revoked.elapsed() > Duration::from_secs(1) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        last.status,
        401,
        "after {:?}: {}",
        revoked.elapsed(),
        last.text()
    );
    assert!(
        revoked.elapsed() <= Duration::from_secs(1),
        "{:?}",
        revoked.elapsed()
    );
    if kind != ProxyKind::Nginx {
        assert_eq!(last.code(), "token_revoked", "{}", last.text());
    }
}

/// gatehouse gone: nothing reaches the app. nginx's recipe answers 503; Traefik answers 500
/// when its auth server cannot be reached and Caddy 502.
async fn gatehouse_down_fails_closed(kind: ProxyKind, db: Db) {
    let Some(mut s) = Stack::start(kind, db).await else {
        return;
    };
    let (_, key) = s.key(&["tasks:read"]).await;
    s.server.kill9();
    let r = s.send(Raw::get("/app/x").bearer(&key)).await;
    let expected = match kind {
        ProxyKind::Nginx | ProxyKind::NginxHeadersMore => 503,
        ProxyKind::Traefik => 500,
        ProxyKind::Caddy => 502,
    };
    assert_eq!(r.status, expected, "{}\n{}", r.text(), s.logs());
    let r = s.send(Raw::get("/public/x")).await;
    assert_eq!(r.status, expected, "{}", r.text());
    assert!(s.upstream.seen().is_empty(), "{:#?}", s.upstream.seen());
}
