//! Offline verification, by gatehouse's own rules: the JWS header and signature
//! ([`crate::jws`]), then `iss` and `aud` exactly, then the validity window with a leeway
//! (30 s by default, gatehouse's), and for an assertion its `htm` and `htu` against the request
//! that arrived. An access token is never accepted as an assertion, nor the reverse: each has
//! its own `typ`.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::claims::{ACCESS_TOKEN_TYPES, ASSERTION_TYPES, AccessClaims, AssertionClaims};
use crate::clock::{Clock, SystemClock, whole_seconds};
use crate::error::VerifyError;
use crate::jwks::Jwks;
use crate::jws;

/// Clock skew tolerated on `exp` and `nbf`: the same as gatehouse's.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Settings {
    keys: Jwks,
    issuer: String,
    audience: String,
    leeway_secs: i64,
    clock: Arc<dyn Clock>,
}

/// Verifies tokens of one issuer for one audience. Cheap to clone; clones share the key cache.
///
/// Access tokens carry gatehouse's token audience (`gatehouse` unless configured) and
/// assertions their route's `audience`, so an app checking both uses two verifiers over one
/// [`Jwks`].
#[derive(Clone)]
pub struct Verifier {
    settings: Arc<Settings>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.settings.issuer)
            .field("audience", &self.settings.audience)
            .field("leeway_secs", &self.settings.leeway_secs)
            .finish_non_exhaustive()
    }
}

/// The registered claims every gatehouse JWT carries: `iss`, `aud`, `nbf`, `exp`.
trait Registered {
    fn registered(&self) -> (&str, &str, i64, i64);
}

impl Registered for AccessClaims {
    fn registered(&self) -> (&str, &str, i64, i64) {
        (&self.iss, &self.aud, self.nbf, self.exp)
    }
}

impl Registered for AssertionClaims {
    fn registered(&self) -> (&str, &str, i64, i64) {
        (&self.iss, &self.aud, self.nbf, self.exp)
    }
}

impl Verifier {
    /// `issuer` is gatehouse's public URL, exactly as in its tokens' `iss`.
    pub fn new(keys: Jwks, issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            settings: Arc::new(Settings {
                keys,
                issuer: issuer.into(),
                audience: audience.into(),
                leeway_secs: whole_seconds(DEFAULT_LEEWAY),
                clock: Arc::new(SystemClock),
            }),
        }
    }

    /// Tolerate this much clock skew on `exp` and `nbf` instead of [`DEFAULT_LEEWAY`].
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        Arc::make_mut(&mut self.settings).leeway_secs = whole_seconds(leeway);
        self
    }

    /// Judge time (and space key-set fetches) by `clock` instead of the system's.
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        Arc::make_mut(&mut self.settings).clock = Arc::new(clock);
        self
    }

    /// The `iss` tokens must carry: gatehouse's public URL.
    #[must_use]
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The `aud` tokens must carry.
    #[must_use]
    pub fn audience(&self) -> &str {
        &self.settings.audience
    }

    /// An access token's claims, when gatehouse would accept it (revocation aside: that needs
    /// gatehouse's introspection, not offline checks).
    pub async fn verify_access_token(&self, token: &str) -> Result<AccessClaims, VerifyError> {
        self.verify_typed(token, ACCESS_TOKEN_TYPES).await
    }

    /// An assertion's claims, when it is gatehouse's, for this audience, current, and made
    /// for `method` on `url` (`scheme://host/path`; a query or fragment is ignored).
    pub async fn verify_assertion(
        &self,
        token: &str,
        method: &str,
        url: &str,
    ) -> Result<AssertionClaims, VerifyError> {
        let claims: AssertionClaims = self.verify_typed(token, ASSERTION_TYPES).await?;
        if claims.htm != method {
            return Err(VerifyError::Method);
        }
        let without_query = url.split(['?', '#']).next().unwrap_or_default();
        if claims.htu != without_query {
            return Err(VerifyError::Url);
        }
        Ok(claims)
    }

    async fn verify_typed<T: DeserializeOwned + Registered>(
        &self,
        token: &str,
        types: &[&str],
    ) -> Result<T, VerifyError> {
        let s = &self.settings;
        let now = s.clock.now_unix();
        let unverified = jws::parse(token, types)?;
        let key = s.keys.key(&unverified.kid, now).await?;
        let claims: T = unverified.verify(&key)?;
        let (iss, aud, nbf, exp) = claims.registered();
        if iss != s.issuer {
            return Err(VerifyError::Issuer);
        }
        if aud != s.audience {
            return Err(VerifyError::Audience);
        }
        if now >= exp.saturating_add(s.leeway_secs) {
            return Err(VerifyError::Expired);
        }
        if now.saturating_add(s.leeway_secs) < nbf {
            return Err(VerifyError::NotYetValid);
        }
        Ok(claims)
    }
}
