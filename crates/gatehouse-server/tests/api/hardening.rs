//! Client addresses and production refusals: an IPv6 /64 is one client for the per-IP limits
//! (SPEC §8); weak secrets and plain-http origins are refused, proxies trusted for every address
//! warned about, and `/metrics` trusts the TCP peer, never a forwarded address (SPEC §1).

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::support::*;

both!(
    an_ipv6_slash64_is_one_client,
    weak_secrets_and_plain_http_origins_are_refused,
    metrics_trust_the_tcp_peer_only
);

const GOOD_SECRET: &str = "0123456789abcdef0123456789abcdef0123456789";

async fn login_from(c: &Client, xff: &str) -> StatusCode {
    Client::send(
        c.request(Method::POST, "/v1/auth/login")
            .header("x-forwarded-for", xff)
            .json(&json!({ "email": "nobody@example.com", "password": "whatever it is" })),
    )
    .await
    .status
}

async fn an_ipv6_slash64_is_one_client(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let env = [
        ("GATEHOUSE_RATE_LIMIT_AUTH", "3/1m"),
        ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32"),
    ];
    let server = Server::start(&db, &env);
    let c = server.client();
    let mut answers = Vec::new();
    for addr in [
        "2001:db8:1:2::1",
        "2001:db8:1:2::2",
        "2001:db8:1:2::abcd:1",
        "2001:db8:1:2:ffff:ffff:ffff:ffff",
        "2001:db8:1:2:1234::5",
    ] {
        answers.push(login_from(&c, addr).await);
    }
    assert_eq!(
        answers,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::TOO_MANY_REQUESTS
        ],
        "every address of 2001:db8:1:2::/64 draws on one budget"
    );
    assert_eq!(
        login_from(&c, "2001:db8:1:3::1").await,
        StatusCode::UNAUTHORIZED,
        "another /64 has its own budget"
    );
    assert_eq!(
        login_from(&c, "203.0.113.7").await,
        StatusCode::UNAUTHORIZED,
        "IPv4 clients count by address"
    );
    drop(server);

    // A wider prefix: 2001:db8:1:4::/64 and 2001:db8:1:5::/64 are one /48.
    let server = Server::start(
        &db,
        &[
            ("GATEHOUSE_RATE_LIMIT_AUTH", "2/1m"),
            ("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("GATEHOUSE_RATE_LIMIT_IPV6_PREFIX", "48"),
        ],
    );
    let c = server.client();
    let first = login_from(&c, "2001:db8:1:4::1").await;
    let second = login_from(&c, "2001:db8:1:5::1").await;
    let third = login_from(&c, "2001:db8:1:6::1").await;
    assert_eq!(
        (first, second, third),
        (
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        )
    );
    assert_eq!(
        login_from(&c, "2001:db8:2:4::1").await,
        StatusCode::UNAUTHORIZED
    );
}

/// Runs `serve`, which must exit within 30 s: (exit code, stderr).
fn serve_briefly(db: &TestDb, env: &[(&str, &str)]) -> (i32, String) {
    use std::io::Read;
    let mut child = command(&db.url, env)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(db.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code().unwrap_or(-1);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve started instead of refusing: {env:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (code, err)
}

fn serve_refused(db: &TestDb, env: &[(&str, &str)], setting: &str) -> String {
    let (code, err) = serve_briefly(db, env);
    assert_eq!(code, 2, "exit code 2 for {setting}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line: {err}");
    assert!(
        lines[0].contains(setting),
        "the line names {setting}: {err}"
    );
    err
}

async fn weak_secrets_and_plain_http_origins_are_refused(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let prod = ("GATEHOUSE_ENV", "production");
    let https = ("GATEHOUSE_PUBLIC_URL", "https://auth.example.com");
    let flat = "a".repeat(32);
    let err = serve_refused(
        &db,
        &[prod, https, ("GATEHOUSE_SECRET", &flat)],
        "GATEHOUSE_SECRET",
    );
    assert!(err.contains("distinct"), "{err}");
    let _ = serve_refused(
        &db,
        &[
            prod,
            https,
            ("GATEHOUSE_SECRET", GOOD_SECRET),
            (
                "GATEHOUSE_ALLOWED_ORIGINS",
                "https://app.example.com,http://app.example.com",
            ),
        ],
        "GATEHOUSE_ALLOWED_ORIGINS",
    );

    // doctor says the same, and warns about a /0.
    assert_eq!(run_cli(&db, &[], &["migrate"], None).0, 0);
    let weak = [
        prod,
        https,
        ("GATEHOUSE_SECRET", flat.as_str()),
        ("GATEHOUSE_ALLOWED_ORIGINS", "http://app.example.com"),
        ("GATEHOUSE_TRUSTED_PROXIES", "10.0.0.0/8,0.0.0.0/0"),
    ];
    let (code, out, _) = run_cli(&db, &weak, &["doctor"], None);
    assert_eq!(code, 1, "{out}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.split_whitespace().nth(1) == Some(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("secret").starts_with("FAIL") && line("secret").contains("distinct"),
        "{out}"
    );
    assert!(
        line("allowed_origins").starts_with("FAIL")
            && line("allowed_origins").contains("http://app.example.com"),
        "{out}"
    );
    assert!(line("trusted_proxies").starts_with("warn"), "{out}");
    assert!(line("connections").contains("at most"), "{out}");

    // Trusted proxies of /0 start, with a warning naming the setting (on PostgreSQL with a
    // login role that only holds the application role, as production demands).
    let url = db.production_url().await;
    let mut server = Server::start_url(
        &url,
        db.dir.path(),
        &[
            prod,
            https,
            ("GATEHOUSE_SECRET", GOOD_SECRET),
            ("GATEHOUSE_TRUSTED_PROXIES", "0.0.0.0/0"),
        ],
    );
    assert_eq!(server.client().get("/healthz").await.status, StatusCode::OK);
    let logs = server.logs();
    assert!(
        logs.lines()
            .any(|l| l.contains("\"WARN\"") && l.contains("GATEHOUSE_TRUSTED_PROXIES")),
        "{logs}"
    );
    server.kill9();
}

async fn metrics_from(c: &Client, xff: Option<&str>) -> StatusCode {
    let mut rb = c.request(Method::GET, "/metrics");
    if let Some(x) = xff {
        rb = rb.header("x-forwarded-for", x);
    }
    Client::send(rb).await.status
}

async fn metrics_trust_the_tcp_peer_only(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    // Behind a same-host proxy (trusted): whatever it forwards, or if it forwards nothing, the
    // request came through the proxy and is not local.
    let server = Server::start(&db, &[("GATEHOUSE_TRUSTED_PROXIES", "127.0.0.1/32")]);
    let c = server.client();
    for xff in [None, Some("127.0.0.1"), Some("203.0.113.9"), Some("::1")] {
        assert_eq!(
            metrics_from(&c, xff).await,
            StatusCode::FORBIDDEN,
            "through a trusted proxy on loopback, X-Forwarded-For {xff:?}"
        );
    }
    drop(server);
    // A same-host proxy not configured as trusted still announces itself by forwarding.
    let server = Server::start(&db, &[]);
    let c = server.client();
    assert_eq!(
        metrics_from(&c, Some("203.0.113.9")).await,
        StatusCode::FORBIDDEN
    );
    let r = Client::send(
        c.request(Method::GET, "/metrics")
            .header("forwarded", "for=203.0.113.9"),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        metrics_from(&c, None).await,
        StatusCode::OK,
        "a loopback peer that is no proxy needs nothing"
    );
}
