//! What a service checks on each request: the gateway assertion in `X-Gatehouse-Assertion`
//! against the request's method and its public URL, or an access token in
//! `Authorization: Bearer`. The layer and the extractors both run these.

use std::future::Future;
use std::sync::Arc;

use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName};

use crate::claims::{AccessClaims, AssertionClaims};
use crate::error::{SetupError, VerifyError};
use crate::verifier::Verifier;

/// The header gatehouse puts the assertion in.
pub const ASSERTION_HEADER: HeaderName = HeaderName::from_static("x-gatehouse-assertion");

/// One way to authenticate a request.
pub trait RequestCheck: Clone + Send + Sync + 'static {
    /// The verified claims a successful check yields.
    type Claims: Clone + Send + Sync + 'static;

    /// The request's verified claims, or why it is refused.
    fn check(
        &self,
        request: &Parts,
    ) -> impl Future<Output = Result<Self::Claims, VerifyError>> + Send;
}

/// The value of `name`, when the request carries it exactly once; `Missing` when absent or
/// empty, `Malformed` when repeated or not visible ASCII.
fn single_header<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Result<&'h str, VerifyError> {
    let mut values = headers.get_all(name).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return match headers.contains_key(name) {
            true => Err(VerifyError::Malformed),
            false => Err(VerifyError::Missing),
        };
    };
    let value = value.to_str().map_err(|_| VerifyError::Malformed)?.trim();
    if value.is_empty() {
        return Err(VerifyError::Missing);
    }
    Ok(value)
}

/// Checks gatehouse's assertion on requests that reach the app through gatehouse's gateway or
/// a proxy using its forward-auth.
///
/// The URL the assertion must name is `expected_origin` + the request's path: the origin is
/// configuration (the public `scheme://host[:port]` clients use), never read from the request's
/// own `Host` or `X-Forwarded-*` headers, which a client may set.
#[derive(Debug, Clone)]
pub struct AssertionGuard {
    verifier: Verifier,
    origin: Arc<str>,
}

/// `scheme://host[:port]`, lower-cased, with no path; `None` for anything else.
fn normalized_origin(origin: &str) -> Option<String> {
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let plain = |b: u8| b.is_ascii_alphanumeric() || b".-:[]_".contains(&b);
    let usable =
        matches!(scheme, "http" | "https") && !authority.is_empty() && authority.bytes().all(plain);
    usable.then_some(origin)
}

impl AssertionGuard {
    /// A guard checking assertions with `verifier` for URLs under `expected_origin`.
    pub fn new(verifier: Verifier, expected_origin: &str) -> Result<Self, SetupError> {
        let origin = normalized_origin(expected_origin).ok_or_else(|| {
            SetupError(format!(
                "expected_origin must be scheme://host[:port] with no path, got {expected_origin:?}"
            ))
        })?;
        Ok(Self {
            verifier,
            origin: origin.into(),
        })
    }

    /// The verifier assertions are checked with.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// The URL this request was made to, as the assertion must name it.
    pub fn public_url(&self, request: &Parts) -> String {
        format!("{}{}", self.origin, request.uri.path())
    }
}

impl RequestCheck for AssertionGuard {
    type Claims = AssertionClaims;

    async fn check(&self, request: &Parts) -> Result<AssertionClaims, VerifyError> {
        let token = single_header(&request.headers, &ASSERTION_HEADER)?;
        let url = self.public_url(request);
        self.verifier
            .verify_assertion(token, request.method.as_str(), &url)
            .await
    }
}

/// Checks an access token sent as `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct AccessTokenGuard {
    verifier: Verifier,
}

impl AccessTokenGuard {
    /// A guard checking bearer tokens with `verifier`.
    #[must_use]
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }

    /// The verifier access tokens are checked with.
    #[must_use]
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }
}

/// The token of a `Bearer` authorization (the scheme's case does not matter).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

impl RequestCheck for AccessTokenGuard {
    type Claims = AccessClaims;

    async fn check(&self, request: &Parts) -> Result<AccessClaims, VerifyError> {
        let value = single_header(&request.headers, &AUTHORIZATION)?;
        let token = bearer_token(value).ok_or(VerifyError::Missing)?;
        self.verifier.verify_access_token(token).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_authority_only() {
        let ok = |o: &str| normalized_origin(o);
        assert_eq!(
            ok("HTTPS://App.Example.com/").as_deref(),
            Some("https://app.example.com")
        );
        assert_eq!(
            ok("http://127.0.0.1:8080").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        for bad in [
            "app.example.com",
            "ftp://app.example.com",
            "https://",
            "https://app.example.com/base",
            "https://user@app.example.com",
            "https://app.example.com?x",
        ] {
            assert_eq!(ok(bad), None, "{bad}");
        }
    }

    #[test]
    fn bearer_tokens_are_read_from_the_scheme() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
