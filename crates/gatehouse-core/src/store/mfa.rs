//! The second-factor port: a user's TOTP seed (sealed) with the last step it accepted, their
//! recovery codes (HMAC digests), and the `mfa_token`s of sign-ins waiting for their second
//! step (SHA-256 digests). Every "only once" here is one conditional write.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::NewEvent;
use crate::ids::UserId;

/// A user's TOTP seed: pending until confirmed (`confirmed_at`), sealed under the master secret
/// `sealed_by` names, with associated data binding the user.
#[derive(Clone)]
pub struct TotpRecord {
    pub user_id: UserId,
    pub sealed: Vec<u8>,
    pub sealed_by: String,
    pub created_at: OffsetDateTime,
    /// A pending enrollment lapses at this instant.
    pub pending_until: OffsetDateTime,
    pub confirmed_at: Option<OffsetDateTime>,
    /// The latest step a code was accepted for (`-1`: none); only a later one passes.
    pub last_used_step: i64,
    pub last_used_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TotpRecord")
            .field("user_id", &self.user_id)
            .field("sealed", &"[sealed]")
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .finish_non_exhaustive()
    }
}

/// A TOTP seed re-sealed under the current master secret, replacing `old_sealed` (what
/// `old_sealed_by` sealed) and nothing else.
#[derive(Clone)]
pub struct ResealedSeed {
    pub user_id: UserId,
    pub sealed: Vec<u8>,
    pub sealed_by: String,
    pub old_sealed: Vec<u8>,
    pub old_sealed_by: String,
}

/// What an `mfa_token` attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MfaTokenAttempt {
    /// The token is live and this attempt is counted (attempt number `n`, from 1).
    Counted {
        user_id: UserId,
        credential_epoch: i64,
        n: i64,
    },
    /// Unknown, expired or out of attempts.
    Refused,
}

#[async_trait]
pub trait MfaStore: Send + Sync {
    /// The user's TOTP record, pending or confirmed.
    async fn totp(&self, user: UserId) -> Result<Option<TotpRecord>>;
    /// Stores a pending enrollment, replacing an earlier pending one; `false` (nothing written)
    /// when TOTP is already confirmed.
    async fn put_pending_totp(&self, record: &TotpRecord) -> Result<bool>;
    /// Confirms the pending enrollment sealed as `sealed` (still pending at `now`), taking `step`
    /// as its last used step, and stores the recovery codes; `false` when it was not pending.
    async fn confirm_totp(
        &self,
        user: UserId,
        sealed: &[u8],
        step: i64,
        now: OffsetDateTime,
        recovery_digests: &[Vec<u8>],
        audit: &[NewEvent],
    ) -> Result<bool>;
    /// Takes `step` as used when it is later than the last used one (one conditional update:
    /// of two instances accepting the same code, one wins). `false`: used already.
    async fn advance_totp_step(&self, user: UserId, step: i64, now: OffsetDateTime)
    -> Result<bool>;
    /// Removes the seed and the recovery codes; `false` when there was no confirmed seed.
    async fn delete_totp(&self, user: UserId, audit: &[NewEvent]) -> Result<bool>;
    /// Replaces the user's recovery codes.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        digests: &[Vec<u8>],
        audit: &[NewEvent],
    ) -> Result<()>;
    /// Spends the unused code with this digest; the codes left after it, or `None` when no
    /// unused code matched (of two parallel uses, one wins).
    async fn use_recovery_code(
        &self,
        user: UserId,
        digest: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<i64>>;
    /// Unused recovery codes of the user.
    async fn recovery_codes_left(&self, user: UserId) -> Result<i64>;
    /// Stores an `mfa_token` digest for `user` (at `credential_epoch`) until `expires_at`.
    async fn create_mfa_token(
        &self,
        digest: &[u8],
        user: UserId,
        credential_epoch: i64,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
    ) -> Result<()>;
    /// Counts one attempt on the token if it is live at `now` and has attempts left of `max`.
    async fn attempt_mfa_token(
        &self,
        digest: &[u8],
        now: OffsetDateTime,
        max: i64,
    ) -> Result<MfaTokenAttempt>;
    /// Spends the token (single use); `false` when another request spent it first.
    async fn spend_mfa_token(&self, digest: &[u8]) -> Result<bool>;
    /// Up to `limit` seeds sealed by another secret than `current`, by user id after `after`.
    async fn seeds_to_reseal(
        &self,
        current: &str,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<TotpRecord>>;
    /// Replaces each seed's sealed form, only where the row still holds `old_sealed`.
    async fn reseal_seeds(&self, seeds: &[ResealedSeed]) -> Result<u64>;
    /// How many seeds another secret than `current` sealed.
    async fn count_seeds_to_reseal(&self, current: &str) -> Result<u64>;
}
