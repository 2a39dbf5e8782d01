//! axum extractors for the verified identity. Each takes the claims a [`crate::RequireLayer`]
//! already verified; without that layer it verifies itself with a guard found in the request's
//! extensions (`.layer(Extension(guard))`). With neither, the request is refused with a `500`:
//! a handler that asks for an identity never runs without one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::Response;

use crate::claims::{AccessClaims, AssertionClaims};
use crate::guard::{AccessTokenGuard, AssertionGuard, RequestCheck};
use crate::reject::{misconfigured, refusal, request_id};

/// The verified assertion of this request.
#[derive(Debug, Clone)]
pub struct VerifiedAssertion(pub AssertionClaims);

/// The verified access token of this request.
#[derive(Debug, Clone)]
pub struct VerifiedAccessToken(pub AccessClaims);

async fn claims_of<G: RequestCheck>(parts: &Parts) -> Result<G::Claims, Response> {
    if let Some(claims) = parts.extensions.get::<G::Claims>() {
        return Ok(claims.clone());
    }
    let id = request_id(&parts.headers);
    let guard = parts
        .extensions
        .get::<G>()
        .cloned()
        .ok_or_else(|| misconfigured(&id))?;
    guard.check(parts).await.map_err(|e| refusal(&e, &id))
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedAssertion {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        claims_of::<AssertionGuard>(parts)
            .await
            .map(VerifiedAssertion)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for VerifiedAccessToken {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        claims_of::<AccessTokenGuard>(parts)
            .await
            .map(VerifiedAccessToken)
    }
}
