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

pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "tasks-api";
pub const START: i64 = 1_800_000_000;
pub const URL: &str = "https://app.example.com/api/tasks";

/// A signing key with its `kid`.
pub struct TestKey {
    pub kid: String,
    key: SigningKey,
}

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    pub fn new(kid: &str, seed: u8) -> TestKey {
        TestKey {
            kid: kid.into(),
            key: SigningKey::from_bytes(&[seed; 32]),
        }
    }

    pub fn jwk(&self) -> Value {
        json!({ "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                "kid": self.kid, "x": b64(self.key.verifying_key().to_bytes()) })
    }

    /// A token with exactly `header`, signed.
    pub fn sign_with_header(&self, header: &Value, claims: &impl Serialize) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string()),
            b64(serde_json::to_vec(claims).unwrap())
        );
        let signature = self.key.sign(input.as_bytes());
        format!("{input}.{}", b64(signature.to_bytes()))
    }

    pub fn sign(&self, typ: &str, claims: &impl Serialize) -> String {
        let header = json!({ "alg": "EdDSA", "typ": typ, "kid": self.kid });
        self.sign_with_header(&header, claims)
    }
}

/// A JWKS document served from memory.
#[derive(Clone, Default)]
pub struct ServedKeys {
    document: Arc<Mutex<Value>>,
    fetches: Arc<AtomicUsize>,
    failing: Arc<AtomicBool>,
}

impl ServedKeys {
    pub fn serving(keys: &[&TestKey]) -> ServedKeys {
        let served = ServedKeys::default();
        served.serve(keys);
        served
    }

    pub fn serve(&self, keys: &[&TestKey]) {
        let keys: Vec<Value> = keys.iter().map(|k| k.jwk()).collect();
        *self.document.lock().unwrap() = json!({ "keys": keys });
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    pub fn fetches(&self) -> usize {
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
pub struct HandClock(Arc<AtomicI64>);

impl HandClock {
    pub fn at(t: i64) -> HandClock {
        HandClock(Arc::new(AtomicI64::new(t)))
    }
    pub fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for HandClock {
    fn now_unix(&self) -> i64 {
        self.now()
    }
}

/// One key `k1` served, a clock at [`START`], and a verifier for [`AUDIENCE`].
pub struct Fixture {
    pub key: TestKey,
    pub served: ServedKeys,
    pub clock: HandClock,
    pub verifier: Verifier,
}

impl Fixture {
    pub fn new() -> Fixture {
        let key = TestKey::new("k1", 7);
        let served = ServedKeys::serving(&[&key]);
        let clock = HandClock::at(START);
        let verifier =
            Verifier::new(Jwks::new(served.clone()), ISSUER, AUDIENCE).with_clock(clock.clone());
        Fixture {
            key,
            served,
            clock,
            verifier,
        }
    }

    pub fn access_claims(&self) -> AccessClaims {
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

    pub fn assertion_claims(&self) -> AssertionClaims {
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

    pub fn access_token(&self) -> String {
        self.key.sign("at+jwt", &self.access_claims())
    }

    pub fn assertion(&self) -> String {
        self.key
            .sign("gatehouse-assertion+jwt", &self.assertion_claims())
    }

    /// The fixture's verifier on an access token.
    pub async fn check_access(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verifier.verify_access_token(token).await
    }

    /// Whether an access token signed now with the fixture's key verifies.
    pub async fn fresh_access_token_passes(&self) -> bool {
        self.check_access(&self.access_token()).await.is_ok()
    }

    /// The fixture's verifier on an assertion for `method` on `url`.
    pub async fn check_assertion(
        &self,
        token: &str,
        method: &str,
        url: &str,
    ) -> Result<AssertionClaims, VerifyError> {
        self.verifier.verify_assertion(token, method, url).await
    }
}
