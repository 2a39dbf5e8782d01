//! The one error type of the domain; the server maps each variant to a status and a stable code.

use std::collections::BTreeMap;

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credential, or one that is malformed or unknown.
    Unauthenticated,
    /// Email/password (or another secret) did not match.
    InvalidCredentials,
    /// The credential was valid once and has expired.
    Expired,
    /// The credential was revoked.
    Revoked,
}

/// Why an authenticated request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenReason {
    Forbidden,
    InsufficientScope,
    CsrfFailed,
    SignupDisabled,
}

/// Why a change conflicts with the state it met; [`ConflictReason::code`] is the stable string
/// logs and messages have always shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictReason {
    /// An account with this email exists.
    EmailTaken,
    /// The change would leave an org without an owner.
    LastOwner,
    /// The user already belongs to the org.
    AlreadyMember,
    /// A new API key's public id is already in use.
    KeyCollision,
    /// A signing key id is already in use.
    KidTaken,
    /// Another writer took this secret version first.
    SecretVersionTaken,
    /// The user already has TOTP on.
    TotpEnabled,
    /// A passkey with this credential id is registered already.
    PasskeyRegistered,
    /// This provider account is linked (to this or another account) already.
    IdentityLinked,
    /// Removing it would leave no way to sign in.
    LastSignInMethod,
}

impl ConflictReason {
    /// The reason as the stable snake_case string.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::EmailTaken => "email_taken",
            Self::LastOwner => "last_owner",
            Self::AlreadyMember => "already_member",
            Self::KeyCollision => "key_collision",
            Self::KidTaken => "kid_taken",
            Self::SecretVersionTaken => "secret_version_taken",
            Self::TotpEnabled => "totp_enabled",
            Self::PasskeyRegistered => "passkey_registered",
            Self::IdentityLinked => "identity_linked",
            Self::LastSignInMethod => "last_sign_in_method",
        }
    }
}

impl std::fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// A right password for an account with a second factor: the client finishes the sign-in with
/// `token` at `POST /v1/auth/login/mfa` (SPEC §15).
#[derive(Clone)]
pub struct MfaChallenge {
    /// Shown to the client once; only its SHA-256 is stored.
    pub token: String,
    pub methods: Vec<&'static str>,
    pub expires_at: time::OffsetDateTime,
    /// For a user with passkeys: a ceremony for finishing with one of them.
    pub passkey: Option<PasskeyChallenge>,
}

/// A begun passkey sign-in: its ceremony and the WebAuthn request options for the client.
#[derive(Debug, Clone)]
pub struct PasskeyChallenge {
    pub ceremony_id: crate::ids::CeremonyId,
    pub options: serde_json::Value,
}

impl std::fmt::Debug for MfaChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaChallenge")
            .field("token", &"[redacted]")
            .field("methods", &self.methods)
            .field("expires_at", &self.expires_at)
            .field("passkey", &self.passkey.as_ref().map(|p| p.ceremony_id))
            .finish()
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(ConflictReason),
    #[error("unauthenticated: {0:?}")]
    Unauthenticated(AuthFailure),
    /// The password was right; a second factor is needed (`401 mfa_required`).
    #[error("second factor required")]
    MfaRequired(Box<MfaChallenge>),
    #[error("forbidden: {0:?}")]
    Forbidden(ForbiddenReason),
    #[error("validation failed: {0:?}")]
    Validation(BTreeMap<String, String>),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("rate limited, retry after {retry_after_secs}s")]
    RateLimited { retry_after_secs: u64 },
    #[error("unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
    /// A sealed value that does not open with any configured master secret, or was moved to
    /// another place than it was sealed for (answered as an internal error).
    #[error("sealed value does not open with the configured master secrets")]
    Unsealable,
}

impl Error {
    /// A validation error on a single field.
    #[must_use]
    pub fn field(field: &str, code: &str) -> Self {
        let mut fields = BTreeMap::new();
        fields.insert(field.to_owned(), code.to_owned());
        Self::Validation(fields)
    }

    pub fn internal(context: impl std::fmt::Display) -> Self {
        Self::Internal(context.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
