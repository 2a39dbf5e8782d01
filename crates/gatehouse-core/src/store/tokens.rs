//! The token port: signing keys, refresh-token families and their rotation.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::NewEvent;
use crate::ids::{FamilyId, OrgId, RefreshId, UserId};
use crate::token_policy::Refusal;

use super::User;

/// A signing key as stored: the private half only sealed (vault), bound to its `kid`.
#[derive(Clone)]
pub struct StoredSigningKey {
    pub kid: String,
    pub public_key: Vec<u8>,
    pub sealed_private: Vec<u8>,
    /// The fingerprint of the master secret that sealed it (unknown for keys made before
    /// fingerprints were stored).
    pub sealed_by: Option<String>,
    pub created_at: OffsetDateTime,
    /// When a newer key took over signing; the key stays published until its tokens expire.
    pub retired_at: Option<OffsetDateTime>,
}

/// A refresh-token family: one sign-in's chain of rotated refresh tokens, and the access
/// tokens issued from it (their `sid`).
#[derive(Debug, Clone)]
pub struct TokenFamily {
    pub id: FamilyId,
    pub user_id: UserId,
    pub org_id: Option<OrgId>,
    pub scope: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    /// The user's credential epoch when the family began (a change since revokes it).
    pub credential_epoch: i64,
}

/// One refresh token (only its SHA-256 is stored).
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub id: RefreshId,
    pub family_id: FamilyId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub used_at: Option<OffsetDateTime>,
}

/// The outcome of [`TokenStore::rotate_refresh`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    Rotated,
    /// `old` was already spent: reuse.
    Spent,
    /// The family was revoked (or is gone) by the time the rotation held its lock.
    Revoked,
    /// The re-check refused the family.
    Refused(Refusal),
}

/// What decides whether an access token with a valid signature still works.
#[derive(Debug, Clone)]
pub struct TokenState {
    pub family_revoked: bool,
    pub jti_revoked: bool,
    pub user: Option<User>,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>>;
    /// Adds a key that signs from now on; the previous signing key is retired at its
    /// `created_at`.
    async fn add_signing_key(&self, key: &StoredSigningKey, audit: &[NewEvent]) -> Result<()>;
    /// Replaces a key's sealed private half (re-encryption), unless it changed since it was
    /// read as `old_sealed`; whether it was replaced.
    async fn reseal_signing_key(
        &self,
        kid: &str,
        old_sealed: &[u8],
        sealed: &[u8],
        sealed_by: &str,
    ) -> Result<bool>;
    /// Inserts the family unless the user's credential epoch moved past
    /// `family.credential_epoch` or the user was disabled (`Unauthenticated(InvalidCredentials)`),
    /// or — judged with the org row locked, like a refresh — the user is no longer a member of
    /// the family's org (`422 org_id: not_a_member`) or may no longer hold its scopes
    /// (`422 scope: not_allowed`).
    async fn create_family(
        &self,
        family: &TokenFamily,
        first: &RefreshToken,
        digest: &[u8],
        audit: &[NewEvent],
    ) -> Result<()>;
    /// The refresh token with this digest, and its family (any state: the caller judges).
    async fn refresh_by_digest(&self, digest: &[u8])
    -> Result<Option<(RefreshToken, TokenFamily)>>;
    /// Locks the family, reads the [`FamilyFacts`](crate::token_policy::FamilyFacts) a refresh is judged on and asks
    /// [`refresh_refusal`](crate::token_policy::refresh_refusal); then spends `old` and adds
    /// `next`, atomically. Nothing changes unless the answer is `Rotated`.
    async fn rotate_refresh(
        &self,
        family: &TokenFamily,
        old: RefreshId,
        next: &RefreshToken,
        digest: &[u8],
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<Rotation>;
    /// Revokes the family (every refresh token and access token of it); `false` if it already
    /// was. Events are appended either way.
    async fn revoke_family(
        &self,
        family: &TokenFamily,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool>;
    /// Refuses one access token until it would have expired anyway.
    /// Forgets revoked ids that expired more than an hour before `now`.
    async fn revoke_jti(
        &self,
        jti: &str,
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()>;
    /// Revocation state for an access token of `family` with `jti`, and its user.
    async fn token_state(&self, family: FamilyId, jti: &str, user: UserId) -> Result<TokenState>;
}
