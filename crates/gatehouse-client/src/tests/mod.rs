//! Test fixtures: an Ed25519 key that signs tokens here, a key source whose document the test
//! controls and whose fetches it counts, and a clock it moves by hand.

mod http;
mod readme;
mod refresh;
mod verify;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer, SigningKey};
use serde::Serialize;
use serde_json::{Value, json};

use crate::{
    AccessClaims, AssertionClaims, Clock, FetchFuture, Jwks, KeySetSource, Verifier, VerifyError,
};

pub(crate) const ISSUER: &str = "https://auth.example.com";
pub(crate) const AUDIENCE: &str = "tasks-api";
pub(crate) const START: i64 = 1_800_000_000;
pub(crate) const URL: &str = "https://app.example.com/api/tasks";

/// A signing key with its `kid`.
pub(crate) struct TestKey {
    pub kid: String,
    key: SigningKey,
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    pub(crate) fn new(kid: &str, seed: u8) -> Self {
        Self {
            kid: kid.into(),
            key: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    pub(crate) fn jwk(&self) -> Value {
        json!({ "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                "kid": self.kid, "x": b64(self.key.verifying_key().to_bytes()) })
    }

    /// A token with exactly `header`, signed.
    pub(crate) fn sign_with_header(&self, header: &Value, claims: &impl Serialize) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string()),
            b64(serde_json::to_vec(claims).unwrap())
        );
        let signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(signature.to_bytes()))
    }

    pub(crate) fn sign(&self, typ: &str, claims: &impl Serialize) -> String {
        let header = json!({ "alg": "EdDSA", "typ": typ, "kid": self.kid });
        self.sign_with_header(&header, claims)
    }
}

/// A JWKS document served from memory.
#[derive(Clone, Default)]
pub(crate) struct ServedKeys {
    document: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl ServedKeys {
    pub(crate) fn serving(keys: &[&TestKey]) -> Self {
        let served = Self::default();
        served.serve(keys);
        served
    }

    pub(crate) fn serve(&self, keys: &[&TestKey]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk()).collect();
        *self.document.lock().unwrap() = json!({ "keys": keys });
    }

    pub(crate) fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub(crate) fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

impl KeySetSource for ServedKeys {
    fn fetch(&self) -> FetchFuture<'_> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        let answer = match self.failing.load(Ordering::SeqCst) {
            true => Err("connection refused".to_owned()),
            false => Ok(self.document.lock().unwrap().to_string().into_bytes()),
        };
        Box::pin(async move { answer })
    }
}

/// A clock that moves only when told.
#[derive(Clone)]
pub(crate) struct HandClock(Arc<AtomicI64>);

impl HandClock {
    pub(crate) fn at(t: i64) -> Self {
        Self(Arc::new(AtomicI64::new(t)))
    }
    pub(crate) fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub(crate) fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for HandClock {
    fn now_unix(&self) -> i64 {
        self.now()
    }
}

/// One key `k1` served, a clock at [`START`], and a verifier for [`AUDIENCE`].
pub(crate) struct Fixture {
    pub key: TestKey,
    pub served: ServedKeys,
    pub clock: HandClock,
    pub verifier: Verifier,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let key = TestKey::new("k1", 7);
        let served = ServedKeys::serving(&[&key]);
        let clock = HandClock::at(START);
        let verifier =
            Verifier::new(Jwks::new(served.clone()), ISSUER, AUDIENCE).with_clock(clock.clone());
        Self {
            key,
            served,
            clock,
            verifier,
        }
    }

    pub(crate) fn access_claims(&self) -> AccessClaims {
        let now = self.clock.now();
        AccessClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "user-1".into(),
            org_id: Some("org-1".into()),
            scope: "tasks:read tasks:write".into(),
            sid: "family-1".into(),
            jti: "jti-1".into(),
            iat: now,
            nbf: now,
            exp: now + 900,
        }
    }

    pub(crate) fn assertion_claims(&self) -> AssertionClaims {
        let now = self.clock.now();
        AssertionClaims {
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            sub: "user-1".into(),
            org_id: Some("org-1".into()),
            scope: String::new(),
            cred: "session".into(),
            sid: Some("session-1".into()),
            jti: "jti-2".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
            htm: "GET".into(),
            htu: URL.into(),
        }
    }

    pub(crate) fn access_token(&self) -> String {
        self.key.sign("at+jwt", &self.access_claims())
    }

    pub(crate) fn assertion(&self) -> String {
        self.key
            .sign("gatehouse-assertion+jwt", &self.assertion_claims())
    }

    /// The fixture's verifier on an access token.
    pub(crate) async fn check_access(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verifier.verify_access_token(token).await
    }

    /// Whether an access token signed now with the fixture's key verifies.
    pub(crate) async fn fresh_access_token_passes(&self) -> bool {
        self.check_access(&self.access_token()).await.is_ok()
    }

    /// The fixture's verifier on an assertion for `method` on `url`.
    pub(crate) async fn check_assertion(
        &self,
        token: &str,
        method: &str,
        url: &str,
    ) -> Result<AssertionClaims, VerifyError> {
        self.verifier.verify_assertion(token, method, url).await
    }
}
