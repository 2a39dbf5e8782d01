//! The passkey port: a user's registered credentials (the relying party's stored form as JSON,
//! opaque here, with the signature counter beside it) and the WebAuthn ceremonies begun and not
//! yet finished, kept in the database so any instance can finish one, once.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::NewEvent;
use crate::ids::{CeremonyId, PasskeyId, UserId};

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPasskey {
    pub id: PasskeyId,
    pub user_id: UserId,
    pub name: String,
    /// The credential id the authenticator chose (unique across all users).
    pub credential_id: Vec<u8>,
    /// The relying party's stored credential (public key, flags, counter) as JSON.
    pub credential: String,
    pub sign_count: i64,
    pub backup_eligible: bool,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    Register,
    Login,
}

impl CeremonyKind {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
        }
    }
}

/// A registration or sign-in begun: the relying party's state for finishing it (JSON, holding
/// the challenge), the user it is for (none for a discoverable sign-in), until `expires_at`.
#[derive(Clone, PartialEq, Eq)]
pub struct Ceremony {
    pub id: CeremonyId,
    pub kind: CeremonyKind,
    pub user_id: Option<UserId>,
    pub state: String,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ceremony")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("state", &"[challenge]")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Stores a ceremony (and drops the lapsed ones).
    async fn create_ceremony(&self, ceremony: &Ceremony) -> Result<()>;
    /// Takes the ceremony `id` of `kind` if it is still live at `now`: single use, whichever
    /// instance asks first.
    async fn take_ceremony(
        &self,
        id: CeremonyId,
        kind: CeremonyKind,
        now: OffsetDateTime,
    ) -> Result<Option<Ceremony>>;
    /// Adds a passkey; `Conflict` when its credential id is registered already.
    async fn add_passkey(&self, passkey: &StoredPasskey, audit: &[NewEvent]) -> Result<()>;
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>>;
    /// The passkey with this credential id, whoever's it is.
    async fn passkey_by_credential(&self, credential_id: &[u8]) -> Result<Option<StoredPasskey>>;
    /// Records a sign-in with the passkey: the new stored credential and counter, only when the
    /// counter went up (or the authenticator keeps none: both zero). `false`: it did not (a
    /// cloned authenticator, or a parallel sign-in that counted first).
    async fn record_passkey_use(
        &self,
        id: PasskeyId,
        credential: &str,
        sign_count: i64,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Removes one of the user's passkeys; `false` when the user has none with this id.
    async fn delete_passkey(&self, user: UserId, id: PasskeyId, audit: &[NewEvent])
    -> Result<bool>;
}
