//! The client libraries against a live gatehouse (SPEC §19): the `gatehouse-client` crate (its
//! verifier and its tower layer in front of a real app), and the documented PyJWT and jose
//! examples in `crates/gatehouse-client/examples-other/`, run as shipped. Each accepts a real
//! access token and a real forward-auth assertion, and refuses each as the other, a forged
//! `htu`, a wrong `htm` and an expired assertion. A missing python3/PyJWT or node/jose fails
//! the test (`.ci/run` installs them); it never skips.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use axum::Router;
use axum::routing::any;
use gatehouse_client::{
    AssertionGuard, Jwks, RequireAssertion, VerifiedAssertion, Verifier, VerifyError,
};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::*;
use crate::token_rules::token_for;

const ROUTES: &str = r#"
[[gateway.routes]]
prefix = "/app"
auth = "required"
audience = "tasks-api"
"#;
const AUDIENCE: &str = "tasks-api";
const APP_ORIGIN: &str = "https://app.example.com";
/// The request forward-auth describes, and the URL its assertion must name.
const TARGET: &str = "/app/items?page=2";
const HTU: &str = "https://app.example.com/app/items";

/// A gatehouse with one forward-auth route, a real access token, and the assertion
/// forward-auth issued for `GET https://app.example.com/app/items?page=2` with that token.
struct Live {
    server: Server,
    _db: TestDb,
    user_id: String,
    access_token: String,
    assertion: String,
    /// The assertion's `iat`.
    issued_at: i64,
}

async fn live() -> Live {
    let db = TestDb::new(Db::Sqlite).await.expect("sqlite");
    let config = db.dir.path().join("gatehouse.toml");
    std::fs::write(&config, ROUTES).expect("write config");
    let config = config.display().to_string();
    let (server, admin, email) = with_admin(&db, &[("GATEHOUSE_CONFIG", config.as_str())]).await;
    let user_id = admin.get("/v1/auth/me").await.body["user"]["id"]
        .as_str()
        .expect("user id")
        .to_owned();
    let r = token_for(&server.client(), &email, None, "").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let access_token = r.body["access_token"].as_str().unwrap().to_owned();
    let bearer = server.client().with_key(&access_token);
    let described = bearer
        .request(Method::GET, "/v1/forward-auth")
        .header("X-Forwarded-Method", "GET")
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "app.example.com")
        .header("X-Forwarded-Uri", TARGET);
    let r = Client::send(described).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let assertion = r.header("x-gatehouse-assertion").expect("assertion");
    let issued_at = jwt_part(&assertion, 1)["iat"].as_i64().expect("iat");
    Live {
        server,
        _db: db,
        user_id,
        access_token,
        assertion,
        issued_at,
    }
}

fn verifier(live: &Live, keys: &Jwks, audience: &str) -> Verifier {
    Verifier::new(keys.clone(), live.server.public_url(), audience)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_crate_verifies_live_tokens() {
    let live = live().await;
    let keys = Jwks::from_issuer(&live.server.public_url()).unwrap();
    let tokens = verifier(&live, &keys, "gatehouse");
    let assertions = verifier(&live, &keys, AUDIENCE);
    let url = format!("{APP_ORIGIN}{TARGET}");

    let access = tokens
        .verify_access_token(&live.access_token)
        .await
        .unwrap();
    assert_eq!(access.sub, live.user_id);
    let asserted = assertions
        .verify_assertion(&live.assertion, "GET", &url)
        .await
        .unwrap();
    assert_eq!(asserted.sub, live.user_id);
    assert_eq!(
        (asserted.cred.as_str(), asserted.htu.as_str()),
        ("jwt", HTU)
    );

    // Each refused as the other, with the audience right so that the type is the reason.
    let as_access = assertions.verify_access_token(&live.assertion).await;
    assert_eq!(as_access.err(), Some(VerifyError::WrongType));
    let as_assertion = tokens
        .verify_assertion(&live.access_token, "GET", &url)
        .await;
    assert_eq!(as_assertion.err(), Some(VerifyError::WrongType));

    for forged in [
        "https://evil.example.com/app/items",
        "http://app.example.com/app/items",
        "https://app.example.com/app/other",
    ] {
        let refused = assertions
            .verify_assertion(&live.assertion, "GET", forged)
            .await;
        assert_eq!(refused.err(), Some(VerifyError::Url), "{forged}");
    }
    let refused = assertions
        .verify_assertion(&live.assertion, "POST", &url)
        .await;
    assert_eq!(refused.err(), Some(VerifyError::Method));

    // exp = iat + 60; the 30 s leeway still accepts it 61 s later, not 91 s later, and with
    // no leeway 61 s later is too late.
    let at = |offset: i64| {
        let t = live.issued_at + offset;
        assertions.clone().with_clock(move || t)
    };
    assert!(
        at(61)
            .verify_assertion(&live.assertion, "GET", &url)
            .await
            .is_ok()
    );
    let late = at(91).verify_assertion(&live.assertion, "GET", &url).await;
    assert_eq!(late.err(), Some(VerifyError::Expired));
    let strict = at(61).with_leeway(Duration::ZERO);
    let late = strict.verify_assertion(&live.assertion, "GET", &url).await;
    assert_eq!(late.err(), Some(VerifyError::Expired));
}

async fn whoami(VerifiedAssertion(claims): VerifiedAssertion) -> String {
    claims.sub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_layer_guards_an_app_behind_forward_auth() {
    let live = live().await;
    let keys = Jwks::from_issuer(&live.server.public_url()).unwrap();
    let guard = AssertionGuard::new(verifier(&live, &keys, AUDIENCE), APP_ORIGIN).unwrap();
    let app = Router::new()
        .route("/app/items", any(whoami))
        .layer(RequireAssertion::new(guard));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let http = reqwest::Client::new();
    let url = format!("http://{addr}{TARGET}");

    let r = http
        .get(&url)
        .header("X-Gatehouse-Assertion", &live.assertion)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.text().await.unwrap(), live.user_id);

    for refused in [
        http.post(&url)
            .header("X-Gatehouse-Assertion", &live.assertion),
        http.get(&url)
            .header("X-Gatehouse-Assertion", &live.access_token),
        http.get(&url),
    ] {
        let r = refused
            .header("X-Request-Id", "client-test-1")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        let challenge = r
            .headers()
            .get("www-authenticate")
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(challenge, "Bearer realm=\"gatehouse\"");
        let body: Value = r.json().await.unwrap();
        let expected = serde_json::json!({ "error": { "code": "unauthenticated",
            "message": "Authentication required.", "request_id": "client-test-1" } });
        assert_eq!(body, expected);
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn examples() -> PathBuf {
    repo_root().join("crates/gatehouse-client/examples-other")
}

/// Runs `program args`: (exit code, stdout, stderr).
fn run(program: &str, args: &[String]) -> (i32, String, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} could not run: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One run of an example: its arguments after the script, and the word its refusal names,
/// ignoring case (`None`: it must accept).
struct Case {
    args: Vec<String>,
    refusal: Option<&'static str>,
}

/// The same checks the Rust test makes, as command lines of the examples.
fn cases(live: &Live) -> Vec<Case> {
    let base = &live.server.public_url();
    let url = format!("{APP_ORIGIN}{TARGET}");
    let access = |audience: &str, token: &str, refusal| Case {
        args: ["access", base, audience, token]
            .map(str::to_owned)
            .to_vec(),
        refusal,
    };
    let assertion = |audience: &str, token: &str, method: &str, url: &str, now: Option<i64>| {
        let mut args: Vec<String> = ["assertion", base, audience, token, method, url]
            .map(str::to_owned)
            .to_vec();
        if let Some(t) = now {
            args.extend(["--now".to_owned(), t.to_string()]);
        }
        args
    };
    let (a, t) = (live.assertion.as_str(), live.access_token.as_str());
    let late = |s: i64| Some(live.issued_at + s);
    let check = |args, refusal| Case { args, refusal };
    vec![
        access("gatehouse", t, None),
        check(assertion(AUDIENCE, a, "GET", &url, None), None),
        access(AUDIENCE, a, Some("typ")),
        check(assertion("gatehouse", t, "GET", &url, None), Some("typ")),
        check(
            assertion(
                AUDIENCE,
                a,
                "GET",
                "https://evil.example.com/app/items",
                None,
            ),
            Some("htu"),
        ),
        check(assertion(AUDIENCE, a, "POST", &url, None), Some("htm")),
        check(assertion(AUDIENCE, a, "GET", &url, late(61)), None),
        check(
            assertion(AUDIENCE, a, "GET", &url, late(91)),
            Some("expired"),
        ),
    ]
}

fn check_example(live: &Live, program: &str, script: &str) {
    for case in cases(live) {
        let mut args = vec![script.to_owned()];
        args.extend(case.args.iter().cloned());
        let (code, stdout, stderr) = run(program, &args);
        let shown = &case.args[..case.args.len().min(3)];
        match case.refusal {
            None => {
                assert_eq!(code, 0, "{program} refused {shown:?}: {stderr}");
                let claims: Value = serde_json::from_str(stdout.trim()).unwrap();
                assert_eq!(claims["sub"], live.user_id.as_str(), "{stdout}");
            }
            Some(why) => {
                assert_eq!(
                    code, 1,
                    "{program} did not refuse {shown:?} ({why}): {stderr}"
                );
                let said = stderr.to_ascii_lowercase();
                assert!(said.contains(why), "{program}: {why} not in {stderr:?}");
                eprintln!("{program} {why}: {}", stderr.trim());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pyjwt_example_verifies_live_tokens() {
    let (code, _, stderr) = run("python3", &["-c".into(), "import jwt, cryptography".into()]);
    assert_eq!(
        code, 0,
        "python3 with PyJWT is required: pip install 'pyjwt[crypto]' (bash .ci/run does it): {stderr}"
    );
    let live = live().await;
    let script = examples().join("verify.py").display().to_string();
    check_example(&live, "python3", &script);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jose_example_verifies_live_tokens() {
    let tools = repo_root().join("target/tools");
    let jose = tools.join("node_modules/jose/package.json");
    assert!(
        jose.is_file(),
        "{} is missing: npm install --prefix target/tools jose (bash .ci/run does it)",
        jose.display()
    );
    let (code, _, stderr) = run("node", &["--version".into()]);
    assert_eq!(code, 0, "node is required: {stderr}");
    // Node resolves `import "jose"` from the script's folder upwards: run the shipped file,
    // unchanged, from a folder under target/tools.
    let dir = tools.join("client-examples");
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("verify.mjs");
    std::fs::copy(examples().join("verify.mjs"), &script).unwrap();
    let live = live().await;
    check_example(&live, "node", &script.display().to_string());
}
