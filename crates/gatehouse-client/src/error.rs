//! Why a token or an assertion was refused, or why it could not be checked at all.

/// A verification failure. Every variant but [`VerifyError::KeySetUnavailable`] means the
/// credential is not acceptable (an HTTP `401`); that one means gatehouse's keys could not be
/// fetched, so nothing can be said (a `503`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no credential was presented")]
    Missing,
    #[error("not a well-formed compact JWS")]
    Malformed,
    #[error("the algorithm is not EdDSA")]
    Algorithm,
    #[error("the JOSE typ is not the expected one")]
    WrongType,
    #[error("the header names a key to fetch or embeds one, or marks fields critical")]
    ForbiddenHeader,
    #[error("the kid is missing or not in gatehouse's key set")]
    UnknownKey,
    #[error("the signature does not verify")]
    Signature,
    #[error("the issuer is not the expected one")]
    Issuer,
    #[error("the audience is not the expected one")]
    Audience,
    #[error("expired")]
    Expired,
    #[error("not valid yet")]
    NotYetValid,
    #[error("made for another HTTP method")]
    Method,
    #[error("made for another URL")]
    Url,
    #[error("gatehouse's key set could not be fetched: {0}")]
    KeySetUnavailable(String),
}

impl VerifyError {
    /// Whether the failure is gatehouse's key set being out of reach rather than the
    /// credential itself.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, VerifyError::KeySetUnavailable(_))
    }
}

/// A setting the client cannot work with (a JWKS URL, an origin), named in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);
