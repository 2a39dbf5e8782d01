//! The tower layer and the axum extractors over a real router: what passes, and the `401` a
//! refused request gets in gatehouse's shape.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::routing::any;
use axum::{Extension, Router};
use serde_json::Value;
use tower::ServiceExt;

use super::*;
use crate::{
    AccessTokenGuard, AssertionGuard, RequireAccessToken, RequireAssertion, VerifiedAccessToken,
    VerifiedAssertion,
};

const ORIGIN: &str = "https://app.example.com";

async fn whoami(VerifiedAssertion(claims): VerifiedAssertion) -> String {
    format!("{} {}", claims.sub, claims.cred)
}

async fn token_owner(VerifiedAccessToken(claims): VerifiedAccessToken) -> String {
    claims.sub
}

fn guarded_app(f: &Fixture) -> Router {
    let guard = AssertionGuard::new(f.verifier.clone(), ORIGIN).unwrap();
    Router::new()
        .route("/api/tasks", any(whoami))
        .layer(RequireAssertion::new(guard))
}

struct Answer {
    status: StatusCode,
    www_authenticate: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn send(app: Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let www_authenticate = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
        .await
        .unwrap();
    Answer {
        status,
        www_authenticate,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn get(path: &str) -> axum::http::request::Builder {
    Request::builder().method("GET").uri(path)
}

fn assert_unauthenticated(answer: &Answer, code: &str) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.body);
    assert_eq!(
        answer.www_authenticate.as_deref(),
        Some("Bearer realm=\"gatehouse\"")
    );
    assert_eq!(answer.json()["error"]["code"], code, "{}", answer.body);
}

#[tokio::test]
async fn the_layer_lets_a_valid_assertion_through() {
    let f = Fixture::new();
    let request = get("/api/tasks?page=2")
        .header("x-gatehouse-assertion", f.assertion())
        .body(Body::empty())
        .unwrap();
    let answer = send(guarded_app(&f), request).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, "user-1 session");
}

#[tokio::test]
async fn the_layer_answers_gatehouses_401() {
    let f = Fixture::new();
    let missing = get("/api/tasks")
        .header("x-request-id", "req-123")
        .body(Body::empty())
        .unwrap();
    let answer = send(guarded_app(&f), missing).await;
    assert_unauthenticated(&answer, "unauthenticated");
    let expected = serde_json::json!({ "error": {
        "code": "unauthenticated", "message": "Authentication required.", "request_id": "req-123" } });
    assert_eq!(answer.json(), expected);

    let wrong_method = Request::builder()
        .method("POST")
        .uri("/api/tasks")
        .header("x-gatehouse-assertion", f.assertion())
        .body(Body::empty())
        .unwrap();
    assert_unauthenticated(
        &send(guarded_app(&f), wrong_method).await,
        "unauthenticated",
    );

    let twice = get("/api/tasks")
        .header("x-gatehouse-assertion", f.assertion())
        .header("x-gatehouse-assertion", f.assertion())
        .body(Body::empty())
        .unwrap();
    assert_unauthenticated(&send(guarded_app(&f), twice).await, "unauthenticated");

    let access_token = get("/api/tasks")
        .header("x-gatehouse-assertion", f.access_token())
        .body(Body::empty())
        .unwrap();
    assert_unauthenticated(
        &send(guarded_app(&f), access_token).await,
        "unauthenticated",
    );

    let token = f.assertion();
    f.clock.advance(90);
    let expired = get("/api/tasks")
        .header("x-gatehouse-assertion", token)
        .header("x-request-id", "bad id with spaces")
        .body(Body::empty())
        .unwrap();
    let answer = send(guarded_app(&f), expired).await;
    assert_unauthenticated(&answer, "token_expired");
    assert_eq!(answer.json()["error"]["request_id"], "");
}

#[tokio::test]
async fn the_public_url_comes_from_configuration_not_the_request() {
    let f = Fixture::new();
    let mut claims = f.assertion_claims();
    claims.htu = "https://evil.example/api/tasks".into();
    let for_evil = f.key.sign("gatehouse-assertion+jwt", &claims);
    let request = get("/api/tasks")
        .header("host", "evil.example")
        .header("x-forwarded-host", "evil.example")
        .header("x-forwarded-proto", "https")
        .header("x-gatehouse-assertion", for_evil)
        .body(Body::empty())
        .unwrap();
    assert_unauthenticated(&send(guarded_app(&f), request).await, "unauthenticated");
}

#[tokio::test]
async fn an_unreachable_key_set_answers_503() {
    let f = Fixture::new();
    f.served.fail(true);
    let request = get("/api/tasks")
        .header("x-gatehouse-assertion", f.assertion())
        .body(Body::empty())
        .unwrap();
    let answer = send(guarded_app(&f), request).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.body
    );
    assert_eq!(answer.json()["error"]["code"], "unavailable");
}

#[tokio::test]
async fn the_extractor_verifies_by_itself_with_a_guard_extension() {
    let f = Fixture::new();
    let guard = AssertionGuard::new(f.verifier.clone(), ORIGIN).unwrap();
    let app = Router::new()
        .route("/api/tasks", any(whoami))
        .route("/api/tasks/other", any(whoami))
        .layer(Extension(guard));
    let ok = get("/api/tasks")
        .header("x-gatehouse-assertion", f.assertion())
        .body(Body::empty())
        .unwrap();
    let answer = send(app.clone(), ok).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let forged = get("/api/tasks/other")
        .header("x-gatehouse-assertion", f.assertion())
        .body(Body::empty())
        .unwrap();
    assert_unauthenticated(&send(app, forged).await, "unauthenticated");
}

#[tokio::test]
async fn an_extractor_without_a_guard_refuses() {
    let f = Fixture::new();
    let app = Router::new().route("/api/tasks", any(whoami));
    let request = get("/api/tasks")
        .header("x-gatehouse-assertion", f.assertion())
        .body(Body::empty())
        .unwrap();
    let answer = send(app, request).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn access_tokens_through_layer_and_extractor() {
    let f = Fixture::new();
    let guard = AccessTokenGuard::new(f.verifier.clone());
    let app = Router::new()
        .route("/me", any(token_owner))
        .layer(RequireAccessToken::new(guard));
    let ok = get("/me")
        .header("authorization", format!("Bearer {}", f.access_token()))
        .body(Body::empty())
        .unwrap();
    let answer = send(app.clone(), ok).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body, "user-1");
    for authorization in [
        format!("Bearer {}", f.assertion()),
        format!("Basic {}", f.access_token()),
        String::new(),
    ] {
        let refused = get("/me")
            .header("authorization", authorization)
            .body(Body::empty())
            .unwrap();
        assert_unauthenticated(&send(app.clone(), refused).await, "unauthenticated");
    }
}
