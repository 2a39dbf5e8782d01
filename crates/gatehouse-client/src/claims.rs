//! The claims gatehouse puts in its two kinds of JWT, and the JOSE `typ` that tells them apart.

use serde::{Deserialize, Serialize};

/// The `typ` of an access token (RFC 9068); the media-type spelling is accepted too.
pub const ACCESS_TOKEN_TYPES: &[&str] = &["at+jwt", "application/at+jwt"];
/// The `typ` of a gateway assertion.
pub const ASSERTION_TYPES: &[&str] = &["gatehouse-assertion+jwt"];

/// What an access token (`Authorization: Bearer …`) says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// gatehouse's public URL, which issued the token.
    pub iss: String,
    /// The audience: gatehouse's token audience (`gatehouse` unless configured).
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
    /// The token's unique id.
    pub jti: String,
    /// When the token was issued, in Unix seconds.
    pub iat: i64,
    /// When the token becomes valid, in Unix seconds.
    pub nbf: i64,
    /// When the token expires, in Unix seconds.
    pub exp: i64,
}

/// What a gateway assertion (`X-Gatehouse-Assertion`) says about one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// gatehouse's public URL, which issued the assertion.
    pub iss: String,
    /// The route's audience.
    pub aud: String,
    /// A user id, an API key's id (`cred = "api_key"`), or empty for anonymous requests.
    pub sub: String,
    /// The org the caller acts in (an API key's, the token's or the user's only org), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org_id: Option<String>,
    /// Space-separated scopes; empty for sessions and anonymous requests.
    pub scope: String,
    /// How the caller authenticated: `session`, `jwt`, `api_key`, `personal_token` or `none`.
    pub cred: String,
    /// The session id or token family, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The assertion's unique id.
    pub jti: String,
    /// When the assertion was issued, in Unix seconds.
    pub iat: i64,
    /// When the assertion becomes valid, in Unix seconds.
    pub nbf: i64,
    /// When the assertion expires, in Unix seconds (60 seconds after `iat`).
    pub exp: i64,
    /// The method of the request the assertion was made for.
    pub htm: String,
    /// `scheme://host/path` of that request, without query or fragment.
    pub htu: String,
}

impl AccessClaims {
    /// Whether the space-separated `scope` holds `wanted`.
    #[must_use]
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split(' ').any(|s| s == wanted)
    }
}

impl AssertionClaims {
    /// Whether the space-separated `scope` holds `wanted`.
    #[must_use]
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope.split(' ').any(|s| s == wanted)
    }
}
