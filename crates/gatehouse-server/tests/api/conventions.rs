//! HTTP conventions: error envelope, request ids, limits, headers, CORS, methods.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both;
use crate::support::*;

both!(
    error_envelope_everywhere,
    request_ids,
    security_headers_and_cors
);

async fn error_envelope_everywhere(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(&db, &[("GATEHOUSE_SIGNUP", "open")]);
    let c = server.client();
    let cases: Vec<(Reply, StatusCode, &str)> = vec![
        (
            c.get("/no/such/route").await,
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            c.get("/v1/auth/login").await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Client::send(c.request(Method::TRACE, "/healthz")).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Client::send(c.request(Method::TRACE, "/nowhere")).await,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        ),
        (
            Client::send(
                c.request(Method::POST, "/v1/auth/login")
                    .header("content-type", "text/plain")
                    .body("{}"),
            )
            .await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            Client::send(
                c.request(Method::POST, "/v1/auth/login")
                    .header("content-type", "application/json")
                    .body("{\"email\":"),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            c.post("/v1/auth/login", json!({ "email": 5 })).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            oversized(&c).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            c.post(
                "/v1/auth/signup",
                json!({ "email": "x@y.z", "password": "1" }),
            )
            .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        ),
    ];
    for (r, status, code) in cases {
        assert_eq!(r.status, status, "{}", r.text);
        assert_eq!(r.code(), code, "{}", r.text);
        assert!(
            r.header("content-type")
                .unwrap()
                .starts_with("application/json")
        );
        let rid = r.header("x-request-id").unwrap();
        assert_eq!(
            r.body["error"]["request_id"],
            rid.as_str(),
            "the body carries the request id"
        );
        assert!(r.body["error"]["message"].is_string());
    }
    // A password echoed back in a type error would leak it: it is not.
    let r = c
        .post(
            "/v1/auth/login",
            json!({ "email": "a@b.co", "password": 12345678987654321u64 }),
        )
        .await;
    assert!(!r.text.contains("12345678987654321"), "{}", r.text);
}

async fn request_ids(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(&db, &[]);
    let c = server.client();
    let r = Client::send(
        c.request(Method::GET, "/healthz")
            .header("x-request-id", "trace-abc.123"),
    )
    .await;
    assert_eq!(r.header("x-request-id").as_deref(), Some("trace-abc.123"));
    let r = Client::send(
        c.request(Method::GET, "/healthz")
            .header("x-request-id", "bad id\twith spaces"),
    )
    .await;
    let fresh = r.header("x-request-id").unwrap();
    assert!(
        uuid::Uuid::parse_str(&fresh).is_ok(),
        "malformed ids are replaced: {fresh}"
    );
    let a = c.get("/healthz").await.header("x-request-id").unwrap();
    let b = c.get("/healthz").await.header("x-request-id").unwrap();
    assert_ne!(a, b);
    assert!(
        server.logs().contains("trace-abc.123"),
        "the access log carries the request id"
    );
}

async fn security_headers_and_cors(db: Db) {
    let Some(db) = TestDb::new(db).await else {
        return;
    };
    let server = Server::start(
        &db,
        &[("GATEHOUSE_ALLOWED_ORIGINS", "https://app.example.com")],
    );
    let c = server.client();
    for r in [
        c.get("/healthz").await,
        c.get("/nope").await,
        c.post("/v1/auth/login", json!({})).await,
    ] {
        for (name, value) in [
            ("x-content-type-options", "nosniff"),
            ("x-frame-options", "DENY"),
            (
                "content-security-policy",
                "default-src 'none'; frame-ancestors 'none'",
            ),
            ("referrer-policy", "strict-origin-when-cross-origin"),
            (
                "permissions-policy",
                "camera=(), microphone=(), geolocation=()",
            ),
            ("cross-origin-opener-policy", "same-origin"),
            ("cross-origin-resource-policy", "same-origin"),
        ] {
            assert_eq!(r.header(name).as_deref(), Some(value), "{name}");
        }
        assert!(r.header("server").is_none(), "no Server banner");
        assert!(
            r.header("strict-transport-security").is_none(),
            "no HSTS over plain http"
        );
    }
    assert_eq!(
        c.post("/v1/auth/login", json!({}))
            .await
            .header("cache-control")
            .as_deref(),
        Some("no-store")
    );

    let preflight = |origin: &'static str| {
        let c = c.clone();
        async move {
            Client::send(
                c.request(Method::OPTIONS, "/v1/auth/login")
                    .header("origin", origin)
                    .header("access-control-request-method", "POST")
                    .header(
                        "access-control-request-headers",
                        "content-type, x-csrf-token",
                    ),
            )
            .await
        }
    };
    let ok = preflight("https://app.example.com").await;
    assert!(ok.status.is_success(), "{}", ok.status);
    assert_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        ok.header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert!(
        ok.header("access-control-allow-headers")
            .unwrap()
            .contains("x-csrf-token")
    );
    let denied = preflight("https://evil.example").await;
    assert!(!denied.status.is_success());
    assert!(denied.header("access-control-allow-origin").is_none());
    assert!(denied.header("access-control-allow-credentials").is_none());

    let simple = Client::send(
        c.request(Method::GET, "/healthz")
            .header("origin", "https://app.example.com"),
    )
    .await;
    assert_eq!(
        simple.header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    let simple = Client::send(
        c.request(Method::GET, "/healthz")
            .header("origin", "https://evil.example"),
    )
    .await;
    assert!(simple.header("access-control-allow-origin").is_none());
}

/// POSTs a 70 KiB body: the server reads and discards it, then answers 413 (no reset).
async fn oversized(c: &Client) -> Reply {
    let body = format!(
        "{{\"email\":\"a@b.co\",\"password\":\"{}\"}}",
        "x".repeat(70 * 1024)
    );
    Client::send(
        c.request(Method::POST, "/v1/auth/signup")
            .header("content-type", "application/json")
            .body(body),
    )
    .await
}
