//! The email port (SPEC §16): flows begun by a mail (a sign-in code with its link, a password
//! reset, an address verification), each single use and lapsing, one live flow per address and
//! kind; and the per-address send counts that limit how often mail goes out.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::NewEvent;
use crate::ids::{EmailFlowId, UserId};

/// What a mailed flow is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailFlowKind {
    SignIn,
    PasswordReset,
    Verify,
}

impl EmailFlowKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::PasswordReset => "password_reset",
            Self::Verify => "verify",
        }
    }

    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sign_in" => Some(Self::SignIn),
            "password_reset" => Some(Self::PasswordReset),
            "verify" => Some(Self::Verify),
            _ => None,
        }
    }
}

/// A flow as stored: digests only (the code's HMAC, the link token's SHA-256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailFlow {
    pub id: EmailFlowId,
    pub kind: EmailFlowKind,
    /// The case-folded address the mail went to.
    pub email_key: String,
    /// The address as the user typed it (for an account a sign-in code creates).
    pub email: String,
    /// The account; `None` for a sign-in code to an address without one (signup open).
    pub user_id: Option<UserId>,
    /// HMAC of the 6-digit code (sign-in flows only).
    pub code_digest: Option<Vec<u8>>,
    pub token_digest: Vec<u8>,
    pub return_to: Option<String>,
    pub attempts: i64,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

/// Whether a mail to an address may go out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendDecision {
    /// Counted; send it.
    Allowed,
    /// Over the limit: nothing counted, try again after this many seconds.
    Limited { retry_after_secs: u64 },
}

/// The per-address send limits: at most `per_minute` in any minute and `per_hour` in any hour.
#[derive(Debug, Clone, Copy)]
pub struct SendLimits {
    pub per_minute: i64,
    pub per_hour: i64,
}

#[async_trait]
pub trait EmailStore: Send + Sync {
    /// Counts a mail to `email_key` at `now` if the limits allow it (atomically per address).
    async fn reserve_send(
        &self,
        email_key: &str,
        now: OffsetDateTime,
        limits: SendLimits,
    ) -> Result<SendDecision>;
    /// Stores a flow, voiding (deleting) every earlier flow of its kind for its address, with
    /// `audit` in the same transaction.
    async fn create_email_flow(&self, flow: &EmailFlow, audit: &[NewEvent]) -> Result<()>;
    /// Counts one code attempt on a live sign-in flow with attempts left (fewer than `max`),
    /// returning the flow as it now stands; `None` for an unknown, lapsed, spent or exhausted one.
    async fn attempt_email_code(
        &self,
        id: EmailFlowId,
        now: OffsetDateTime,
        max: i64,
    ) -> Result<Option<EmailFlow>>;
    /// Takes the flow `id` (single use, whoever asks first); `false` when it is gone.
    async fn take_email_flow(&self, id: EmailFlowId) -> Result<bool>;
    /// The live flow of `kind` whose link token has this digest, left in place.
    async fn email_flow_by_token(
        &self,
        kind: EmailFlowKind,
        token_digest: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<EmailFlow>>;
    /// Takes the live flow of `kind` whose link token has this digest (not one with `max`
    /// code attempts spent: five wrong codes end the link too).
    async fn take_email_flow_by_token(
        &self,
        kind: EmailFlowKind,
        token_digest: &[u8],
        now: OffsetDateTime,
        max: i64,
    ) -> Result<Option<EmailFlow>>;
    /// Voids every flow mailed to `email_key` (after a password reset).
    async fn void_email_flows(&self, email_key: &str) -> Result<()>;
    /// The first proof of an address whose account has a password nobody proved was the
    /// mailbox owner's: marks it verified, removes that password and ends every session and
    /// token of the account, atomically (whoever registered the address first keeps nothing).
    async fn claim_unverified_account(
        &self,
        user: UserId,
        email_key: &str,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool>;
    /// Marks the user's address verified, only while it is still `email_key`; `false` otherwise.
    async fn set_email_verified(
        &self,
        user: UserId,
        email_key: &str,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool>;
}
