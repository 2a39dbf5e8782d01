//! Why a token or an assertion was refused, or why it could not be checked at all.

/// A verification failure. Every variant but [`VerifyError::KeySetUnavailable`] means the
/// credential is not acceptable (an HTTP `401`); that one means gatehouse's keys could not be
/// fetched, so nothing can be said (a `503`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The request carried no assertion or bearer token, or an empty one.
    #[error("no credential was presented")]
    Missing,
    /// The credential's header is repeated, or the token is not a JWS with the expected claims.
    #[error("not a well-formed compact JWS")]
    Malformed,
    /// The header's `alg` is not `EdDSA`.
    #[error("the algorithm is not EdDSA")]
    Algorithm,
    /// The header's `typ` is missing or names the other kind of token (or neither).
    #[error("the JOSE typ is not the expected one")]
    WrongType,
    /// The header carries `jku`, `jwk`, `x5u`, `x5c` or `crit`.
    #[error("the header names a key to fetch or embeds one, or marks fields critical")]
    ForbiddenHeader,
    /// The header has no `kid`, or gatehouse's key set has no key by that id.
    #[error("the kid is missing or not in gatehouse's key set")]
    UnknownKey,
    /// The signature is not valid for the named key.
    #[error("the signature does not verify")]
    Signature,
    /// The `iss` claim is not the verifier's issuer.
    #[error("the issuer is not the expected one")]
    Issuer,
    /// The `aud` claim is not the verifier's audience.
    #[error("the audience is not the expected one")]
    Audience,
    /// `exp` has passed, leeway included.
    #[error("expired")]
    Expired,
    /// `nbf` is still ahead, leeway included.
    #[error("not valid yet")]
    NotYetValid,
    /// The assertion's `htm` is not the request's method.
    #[error("made for another HTTP method")]
    Method,
    /// The assertion's `htu` is not the request's public URL.
    #[error("made for another URL")]
    Url,
    /// The `kid` is not cached and gatehouse's key set could not be fetched; holds why.
    #[error("gatehouse's key set could not be fetched: {0}")]
    KeySetUnavailable(String),
}

impl VerifyError {
    /// Whether the failure is gatehouse's key set being out of reach rather than the
    /// credential itself.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::KeySetUnavailable(_))
    }
}

/// A setting the client cannot work with (a JWKS URL, an origin), named in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);
