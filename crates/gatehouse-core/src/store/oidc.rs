//! The OpenID Connect port (SPEC §17): sign-ins begun at a provider (single use, lapsing), and
//! accounts' links to a provider's subject.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::NewEvent;
use crate::ids::{OidcFlowId, OidcIdentityId, UserId};

/// A sign-in begun at a provider.
#[derive(Clone, PartialEq, Eq)]
pub struct OidcFlow {
    pub id: OidcFlowId,
    pub provider: String,
    /// SHA-256 of the `state` sent to the provider (and kept in the flow's cookie).
    pub state_digest: Vec<u8>,
    pub nonce: String,
    /// The PKCE verifier, sealed under the master secret (associated data: the flow id).
    pub verifier: Vec<u8>,
    pub sealed_by: String,
    pub return_to: Option<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for OidcFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcFlow")
            .field("id", &self.id)
            .field("provider", &self.provider)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// An account's link to a provider's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcIdentity {
    pub id: OidcIdentityId,
    pub user_id: UserId,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: OffsetDateTime,
}

#[async_trait]
pub trait OidcStore: Send + Sync {
    /// Stores a flow (and drops the lapsed ones).
    async fn create_oidc_flow(&self, flow: &OidcFlow) -> Result<()>;
    /// Takes the live flow of `provider` whose state has this digest: once, whoever asks first.
    async fn take_oidc_flow(
        &self,
        provider: &str,
        state_digest: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<OidcFlow>>;
    /// The link of (issuer, subject), whoever's it is.
    async fn oidc_identity(&self, issuer: &str, subject: &str) -> Result<Option<OidcIdentity>>;
    /// The user's links, oldest first.
    async fn oidc_identities(&self, user: UserId) -> Result<Vec<OidcIdentity>>;
    /// Links; `Conflict` when (issuer, subject) is linked already.
    async fn link_oidc_identity(&self, identity: &OidcIdentity, audit: &[NewEvent]) -> Result<()>;
    /// Unlinks one of the user's links; `false` when the user has none with this id;
    /// `Conflict(LastSignInMethod)` (nothing changed) when no link, passkey or password would
    /// be left, judged under a lock on the user so two unlinks at once cannot both pass.
    async fn unlink_oidc_identity(
        &self,
        user: UserId,
        id: OidcIdentityId,
        audit: &[NewEvent],
    ) -> Result<bool>;
}
