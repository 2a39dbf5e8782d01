//! The claims gatehouse puts in its two kinds of JWT, and the JOSE `typ` that tells them apart.

use serde::{Deserialize, Serialize};

/// The `typ` of an access token (RFC 9068); the media-type spelling is accepted too.
pub const ACCESS_TOKEN_TYPES: &[&str] = &["at+jwt", "application/at+jwt"];
/// The `typ` of a gateway assertion.
pub const ASSERTION_TYPES: &[&str] = &["gatehouse-assertion+jwt"];

/// What an access token (`Authorization: Bearer …`) says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    /// The user's id.
    pub sub: String,
    /// The org the token is bound to, when it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Space-separated scopes.
    pub scope: String,
    /// The refresh-token family the token was issued from.
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

/// What a gateway assertion (`X-Gatehouse-Assertion`) says about one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    pub iss: String,
    /// The route's audience.
    pub aud: String,
    /// A user id, an API key's id (`cred = "api_key"`), or empty for anonymous requests.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Space-separated scopes; empty for sessions and anonymous requests.
    pub scope: String,
    /// How the caller authenticated: `session`, `jwt`, `api_key`, `personal_token` or `none`.
    pub cred: String,
    /// The session id or token family, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub jti: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    /// The method of the request the assertion was made for.
    pub htm: String,
    /// `scheme://host/path` of that request, without query or fragment.
    pub htu: String,
}

impl AccessClaims {
    /// Whether the space-separated `scope` holds `wanted`.
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split(' ').any(|s| s == wanted)
    }
}

impl AssertionClaims {
    /// Whether the space-separated `scope` holds `wanted`.
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split(' ').any(|s| s == wanted)
    }
}
