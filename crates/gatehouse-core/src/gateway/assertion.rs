//! The gateway assertion (SPEC §11): a 60-second EdDSA JWT of type `gatehouse-assertion+jwt`,
//! signed with the access-token keys and published in the same JWKS, naming who made one
//! request (`htm` + `htu`) for one audience. Its type keeps it apart from access tokens in both
//! directions.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::jwt::{JwtError, check_registered, verify_signed};

/// The JOSE `typ` of an assertion.
pub const ASSERTION_TYP: &str = "gatehouse-assertion+jwt";
/// `exp` − `iat`.
pub const ASSERTION_TTL_SECS: i64 = 60;

/// The claims of an assertion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    pub aud: String,
    /// The user's id; an API key's id for `cred = "api_key"`; empty when anonymous.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Space separated; empty for sessions and anonymous requests.
    pub scope: String,
    /// `session`, `jwt`, `api_key`, `personal_token` or `none`.
    pub cred: String,
    /// The session id or the token family, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// The request's method.
    pub htm: String,
    /// `scheme://host/path` of the request, without query or fragment.
    pub htu: String,
}

/// Why an assertion was refused beyond the JWT checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionError {
    Jwt(JwtError),
    Method,
    Url,
}

/// The full check an upstream makes: signature and header (`typ` exactly the assertion's),
/// `iss`, `aud`, time, then `htm` and `htu` against the request it received.
pub fn verify_assertion(
    token: &str,
    key_for: impl Fn(&str) -> Option<VerifyingKey>,
    issuer: &str,
    audience: &str,
    method: &str,
    url: &str,
    now: i64,
) -> Result<AssertionClaims, AssertionError> {
    let claims: AssertionClaims =
        verify_signed(token, &[ASSERTION_TYP], key_for).map_err(AssertionError::Jwt)?;
    check_registered(
        &claims.iss,
        &claims.aud,
        claims.exp,
        claims.nbf,
        issuer,
        audience,
        now,
    )
    .map_err(AssertionError::Jwt)?;
    if claims.htm != method {
        return Err(AssertionError::Method);
    }
    let url = url.split(['?', '#']).next().unwrap_or_default();
    if claims.htu != url {
        return Err(AssertionError::Url);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::{AccessClaims, Signer25519, TYP, verify};

    fn signer() -> Signer25519 {
        Signer25519::from_seed("k1".into(), &[7u8; 32])
    }

    fn claims(now: i64) -> AssertionClaims {
        AssertionClaims {
            iss: "https://auth.example.com".into(),
            aud: "tasks-api".into(),
            sub: "user-1".into(),
            org_id: Some("org-1".into()),
            scope: "".into(),
            cred: "session".into(),
            sid: Some("s1".into()),
            jti: "j1".into(),
            iat: now,
            nbf: now,
            exp: now + ASSERTION_TTL_SECS,
            htm: "GET".into(),
            htu: "https://app.example.com/api/tasks".into(),
        }
    }

    fn check(
        token: &str,
        method: &str,
        url: &str,
        now: i64,
    ) -> Result<AssertionClaims, AssertionError> {
        let s = signer();
        let key = s.verifying_key();
        verify_assertion(
            token,
            |k| (k == "k1").then_some(key),
            "https://auth.example.com",
            "tasks-api",
            method,
            url,
            now,
        )
    }

    #[test]
    fn an_assertion_verifies_for_its_request_only() {
        let now = 1_800_000_000;
        let token = signer().sign_typed(ASSERTION_TYP, &claims(now));
        let url = "https://app.example.com/api/tasks";
        assert!(check(&token, "GET", url, now).is_ok());
        assert!(check(&token, "GET", "https://app.example.com/api/tasks?x=1", now).is_ok());
        assert_eq!(check(&token, "POST", url, now), Err(AssertionError::Method));
        assert_eq!(
            check(&token, "GET", "https://app.example.com/api/other", now),
            Err(AssertionError::Url)
        );
        assert_eq!(
            check(&token, "GET", url, now + ASSERTION_TTL_SECS + 30),
            Err(AssertionError::Jwt(JwtError::Expired))
        );
    }

    #[test]
    fn assertions_and_access_tokens_never_stand_in_for_each_other() {
        let now = 1_800_000_000;
        let s = signer();
        let key = s.verifying_key();
        let assertion = s.sign_typed(ASSERTION_TYP, &claims(now));
        let as_access = verify(
            &assertion,
            |_| Some(key),
            "https://auth.example.com",
            "tasks-api",
            now,
        );
        assert_eq!(as_access.err(), Some(JwtError::Malformed));
        let access = AccessClaims {
            iss: "https://auth.example.com".into(),
            aud: "tasks-api".into(),
            sub: "user-1".into(),
            org_id: None,
            scope: "".into(),
            sid: "f".into(),
            jti: "j".into(),
            iat: now,
            nbf: now,
            exp: now + 60,
        };
        let token = s.sign_typed(TYP, &access);
        assert_eq!(
            check(&token, "GET", "https://app.example.com/api/tasks", now),
            Err(AssertionError::Jwt(JwtError::Malformed))
        );
    }
}
