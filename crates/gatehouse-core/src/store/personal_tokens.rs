//! The personal access token port (SPEC §18): tokens that act as their user within one org and
//! some scopes, stored by the SHA-256 of the token, with a mandatory expiry. The user lists and
//! deletes their own across orgs; the org's owners and admins list and revoke the org's.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::NewEvent;
use crate::ids::{OrgId, PersonalTokenId, UserId};

/// A personal access token as stored (the token itself never is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalToken {
    pub id: PersonalTokenId,
    pub user_id: UserId,
    pub org_id: OrgId,
    pub name: String,
    /// The 12 characters after `gpat_`: how a presented token is found.
    pub public_id: String,
    pub scopes: Vec<String>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait PersonalTokenStore: Send + Sync {
    /// Stores a token with the SHA-256 of its text.
    async fn create_personal_token(
        &self,
        token: &PersonalToken,
        digest: &[u8],
        audit: &[NewEvent],
    ) -> Result<()>;
    /// The token with this public id and its stored digest (any state: the caller judges).
    async fn personal_token_by_public_id(
        &self,
        public_id: &str,
    ) -> Result<Option<(PersonalToken, Vec<u8>)>>;
    /// The user's tokens in every org, newest first.
    async fn personal_tokens_of_user(&self, user: UserId) -> Result<Vec<PersonalToken>>;
    /// The org's tokens, newest first.
    async fn personal_tokens_of_org(&self, org: OrgId) -> Result<Vec<PersonalToken>>;
    /// Revokes one of the org's tokens (once; a later call keeps the first instant); `false`
    /// when the org has none with this id.
    async fn revoke_personal_token(
        &self,
        org: OrgId,
        id: PersonalTokenId,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool>;
    /// Deletes one of the user's own tokens; `false` when the user has none with this id.
    async fn delete_personal_token(
        &self,
        user: UserId,
        id: PersonalTokenId,
        audit: &[NewEvent],
    ) -> Result<bool>;
}
