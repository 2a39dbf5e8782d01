//! A small OpenID provider for the tests, on a loopback port in the test process: discovery,
//! an Ed25519 JWKS, an authorization endpoint that signs the user in at once (the test says
//! who) and redirects back with a code, and a token endpoint that checks the client, the code
//! (once), the redirect URI and the PKCE verifier, then signs an ID token whose claims a test
//! may bend (a wrong `nonce`, `aud`, `exp`…).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use ed25519_dalek::Signer;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub(crate) const CLIENT_ID: &str = "gatehouse-test";
pub(crate) const CLIENT_SECRET: &str = "test client secret";

struct Authz {
    redirect_uri: String,
    nonce: String,
    challenge: String,
    sub: String,
    email: String,
}

pub(crate) struct OpState {
    issuer: String,
    key: ed25519_dalek::SigningKey,
    codes: HashMap<String, Authz>,
    next: u64,
    /// Who signs in at the authorization endpoint: (subject, email).
    pub user: (String, String),
    /// Claims merged into the next ID tokens (`null` removes one).
    pub bend: Value,
}

#[derive(Clone)]
pub(crate) struct MockOp {
    pub issuer: String,
    pub state: Arc<Mutex<OpState>>,
}

impl MockOp {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let issuer = format!("http://{}", listener.local_addr().expect("addr"));
        let state = Arc::new(Mutex::new(OpState {
            issuer: issuer.clone(),
            key: ed25519_dalek::SigningKey::from_bytes(&[42; 32]),
            codes: HashMap::new(),
            next: 0,
            user: ("subject-1".into(), "ann@example.com".into()),
            bend: json!({}),
        }));
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(state.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { issuer, state }
    }

    /// Who the next authorization signs in.
    pub(crate) fn sign_in_as(&self, subject: &str, email: &str) {
        self.state.lock().expect("lock").user = (subject.into(), email.into());
    }

    /// Claims merged into the ID tokens from now on.
    pub(crate) fn bend(&self, claims: Value) {
        self.state.lock().expect("lock").bend = claims;
    }

    /// The `[[oidc.providers]]` entry for this provider.
    pub(crate) fn config(&self, extra: &str) -> String {
        format!(
            "[[oidc.providers]]\nid = \"test\"\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\n\
             client_secret_env = \"GATEHOUSE_OIDC_TEST_SECRET\"\n{extra}\n",
            self.issuer
        )
    }
}

type Shared = State<Arc<Mutex<OpState>>>;

async fn discovery(State(s): Shared) -> Response {
    let issuer = s.lock().expect("lock").issuer.clone();
    axum::Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "id_token_signing_alg_values_supported": ["EdDSA"],
        "authorization_response_iss_parameter_supported": true,
    }))
    .into_response()
}

async fn jwks(State(s): Shared) -> Response {
    let x = B64.encode(s.lock().expect("lock").key.verifying_key().as_bytes());
    axum::Json(json!({ "keys": [
        { "kty": "OKP", "crv": "Ed25519", "kid": "k1", "alg": "EdDSA", "use": "sig", "x": x }
    ] }))
    .into_response()
}

async fn authorize(State(s): Shared, Query(q): Query<HashMap<String, String>>) -> Response {
    let mut s = s.lock().expect("lock");
    let ok = q.get("response_type").map(String::as_str) == Some("code")
        && q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && q.get("code_challenge_method").map(String::as_str) == Some("S256");
    if !ok {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    s.next += 1;
    let code = format!("code-{}", s.next);
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    let state = q.get("state").cloned().unwrap_or_default();
    let (sub, email) = s.user.clone();
    s.codes.insert(
        code.clone(),
        Authz {
            redirect_uri: redirect_uri.clone(),
            nonce: q.get("nonce").cloned().unwrap_or_default(),
            challenge: q.get("code_challenge").cloned().unwrap_or_default(),
            sub,
            email,
        },
    );
    let mut back = url::Url::parse(&redirect_uri).expect("redirect_uri");
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", &state)
        .append_pair("iss", &s.issuer);
    (StatusCode::FOUND, [(header::LOCATION, back.to_string())]).into_response()
}

async fn token(
    State(s): Shared,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().expect("lock");
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{CLIENT_ID}:{}",
            url::form_urlencoded::byte_serialize(CLIENT_SECRET.as_bytes()).collect::<String>()
        ))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(basic.as_str())
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client"})),
        )
            .into_response();
    }
    let Some(authz) = f.get("code").and_then(|c| s.codes.remove(c)) else {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    if challenge != authz.challenge || f.get("redirect_uri") != Some(&authz.redirect_uri) {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({
        "iss": s.issuer, "aud": CLIENT_ID, "sub": authz.sub, "nonce": authz.nonce,
        "iat": now, "exp": now + 300, "email": authz.email, "email_verified": true,
    });
    if let Some(bend) = s.bend.as_object() {
        for (k, v) in bend {
            if v.is_null() {
                claims.as_object_mut().map(|c| c.remove(k));
            } else {
                claims[k] = v.clone();
            }
        }
    }
    let header = B64.encode(json!({ "alg": "EdDSA", "kid": "k1", "typ": "JWT" }).to_string());
    let payload = B64.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let signature = B64.encode(s.key.sign(input.as_bytes()).to_bytes());
    axum::Json(json!({
        "access_token": "opaque", "token_type": "Bearer", "expires_in": 300,
        "id_token": format!("{input}.{signature}"),
    }))
    .into_response()
}
