//! gatehouse-client: verify gatehouse's access tokens and gateway assertions offline, with
//! gatehouse's own rules, from a cached JWKS; plus an axum extractor and a tower layer that
//! answer `401` in gatehouse's error shape. See the README for usage.
#![warn(missing_docs)]

mod claims;
mod clock;
mod error;
mod extract;
mod fetch;
mod guard;
mod jwks;
mod jws;
mod keyset;
mod layer;
mod reject;
mod verifier;

#[cfg(test)]
mod tests;

pub use claims::{ACCESS_TOKEN_TYPES, ASSERTION_TYPES, AccessClaims, AssertionClaims};
pub use clock::{Clock, SystemClock};
pub use error::{SetupError, VerifyError};
pub use extract::{VerifiedAccessToken, VerifiedAssertion};
pub use fetch::{HttpKeySet, install_crypto_provider};
pub use guard::{ASSERTION_HEADER, AccessTokenGuard, AssertionGuard, RequestCheck};
pub use jwks::{FetchFuture, Jwks, JwksSettings, KeySetSource};
pub use layer::{Require, RequireAccessToken, RequireAssertion, RequireLayer};
pub use reject::refusal;
pub use verifier::{DEFAULT_LEEWAY, Verifier};

/// The README's Rust examples, compiled as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
