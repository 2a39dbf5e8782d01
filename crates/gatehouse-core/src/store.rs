//! The storage ports: small async traits, one per area, implemented on SQLite and PostgreSQL by
//! `gatehouse-store`. Times cross the port as `OffsetDateTime`; digests as raw bytes.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::{Category, Chain, NewEvent, StoredEvent};
use crate::ids::{ApiKeyId, InvitationId, OrgId, SessionId, UserId};
use crate::role::Role;
use crate::token_policy::TokenScopePolicy;

mod email;
mod export_cursors;
mod grants;
mod mfa;
mod oidc;
mod passkeys;
mod personal_tokens;
mod secrets;
mod tokens;
pub use email::*;
pub use export_cursors::*;
pub use grants::*;
pub use mfa::*;
pub use oidc::*;
pub use passkeys::*;
pub use personal_tokens::*;
pub use secrets::*;
pub use tokens::*;

/// A user as stored.
#[derive(Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub is_platform_admin: bool,
    pub disabled: bool,
    pub created_at: OffsetDateTime,
    /// Credentials issued before this instant are void (logout-all, password change).
    pub credentials_valid_after: OffsetDateTime,
    /// Counts credential changes (password change, logout-all): a session or token family is
    /// created only while the epoch its password check saw is still current.
    pub credential_epoch: i64,
    /// When the address was proven to belong to the user (SPEC §16); `None` until then.
    pub email_verified_at: Option<OffsetDateTime>,
}

/// A user to insert. `email_key` is the case-folded address used for uniqueness.
#[derive(Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: String,
    pub email_key: String,
    pub name: Option<String>,
    /// `None` for an account made by a sign-in code (no password yet).
    pub password_hash: Option<String>,
    pub is_platform_admin: bool,
    pub created_at: OffsetDateTime,
}

/// A browser session as stored (the token itself is never stored, only its SHA-256).
#[derive(Debug, Clone)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A session to insert.
#[derive(Clone)]
pub struct NewSession {
    pub session: Session,
    pub token_digest: Vec<u8>,
    /// The user's credential epoch when the password check began.
    pub credential_epoch: i64,
}

#[derive(Debug, Clone)]
pub struct Org {
    pub id: OrgId,
    pub name: String,
    pub created_at: OffsetDateTime,
}

/// An org and the caller's role in it.
#[derive(Debug, Clone)]
pub struct Membership {
    pub org: Org,
    pub role: Role,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// Inserts a user; `Conflict(EmailTaken)` when the email key exists.
    async fn create_user(&self, user: &NewUser, audit: &[NewEvent]) -> Result<()>;
    /// Inserts every user in one transaction, or none; conflicts name the 0-based index.
    async fn import_users(&self, users: &[NewUser], audit: &[NewEvent]) -> Result<(), ImportError>;
    async fn user_by_email_key(&self, email_key: &str) -> Result<Option<User>>;
    async fn user_by_id(&self, id: UserId) -> Result<Option<User>>;
    /// Disables the user (and, in the same transaction, revokes every session and token family
    /// and moves the credential epoch on) or enables them again; `false` when nothing changed.
    async fn set_user_disabled(
        &self,
        id: UserId,
        disabled: bool,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool>;
    /// Replaces the hash only if it is still `verified` (compare-and-swap: an upgrade at
    /// sign-in never overwrites a password changed meanwhile); `true` when replaced.
    async fn upgrade_password_hash(&self, id: UserId, verified: &str, fresh: &str) -> Result<bool>;
}

/// Why a batch import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("email already exists (entry {0})")]
    EmailTaken(usize),
    #[error(transparent)]
    Store(#[from] crate::Error),
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Inserts the session unless the user's credentials changed since the check that led to
    /// it (`new.credential_epoch` is stale) or the user was disabled:
    /// `Unauthenticated(InvalidCredentials)` then, and nothing is written.
    async fn create_session(&self, new: &NewSession, audit: &[NewEvent]) -> Result<()>;
    /// The session whose token has this digest, with its user.
    async fn session_by_digest(&self, digest: &[u8]) -> Result<Option<(Session, User)>>;
    async fn touch_session(&self, id: SessionId, at: OffsetDateTime) -> Result<()>;
    /// Sessions of a user that are neither revoked nor past their absolute expiry.
    async fn list_sessions(&self, user: UserId, now: OffsetDateTime) -> Result<Vec<Session>>;
    /// Revokes one session of `user`; false when no such live session belongs to `user`.
    async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool>;
    /// Revokes every session of `user` but `keep` and every token family, voids credentials
    /// issued before `at`, and moves the credential epoch on.
    async fn revoke_all_sessions(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()>;
    /// Sets a new password hash, revokes every other session and every token family, and moves
    /// the credential epoch on, atomically.
    /// (`keep`: the session that made the change; `None`, as for a reset: every session ends.)
    async fn change_password(
        &self,
        user: UserId,
        hash: &str,
        keep: Option<SessionId>,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()>;
}

/// A member of an org as listed.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub joined_at: OffsetDateTime,
}

/// Orgs and their members. Every method that names an org reads and writes that org only;
/// under PostgreSQL row-level security enforces it as well.
#[async_trait]
pub trait OrgStore: Send + Sync {
    /// Every org `user` belongs to, with the role held.
    async fn memberships(&self, user: UserId) -> Result<Vec<Membership>>;
    /// Inserts `org` with `owner` as its first owner.
    async fn create_org(&self, org: &Org, owner: UserId, audit: &[NewEvent]) -> Result<()>;
    /// The org, with `user`'s role in it; `None` when the org does not exist or `user` is not a
    /// member (the caller cannot tell which).
    async fn org_for_member(&self, org: OrgId, user: UserId) -> Result<Option<Membership>>;
    async fn org(&self, org: OrgId) -> Result<Option<Org>>;
    /// Renames the org and tells every instance (cached keys carry their org's name).
    async fn rename_org(&self, org: OrgId, name: &str, audit: &[NewEvent]) -> Result<Option<Org>>;
    /// Deletes the org and everything it owns, if `actor` is still an owner (`Forbidden` else).
    async fn delete_org(&self, org: OrgId, actor: UserId, audit: &[NewEvent]) -> Result<bool>;
    /// Members, owners first, then admins, then members, each by email.
    async fn members(&self, org: OrgId) -> Result<Vec<Member>>;
    /// Judges the change with [`check_role_change`](crate::role::check_role_change) on the
    /// roles as they stand inside the transaction, then applies it and revokes the target's
    /// token families of this org that the new role may no longer hold
    /// ([`role_may_hold`](crate::token_policy::role_may_hold)); `None` when `target` (or
    /// `actor`) is not a member.
    async fn set_member_role(
        &self,
        org: OrgId,
        actor: UserId,
        target: UserId,
        role: Role,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<Option<Member>>;
    /// Judges the removal with [`check_removal`](crate::role::check_removal) inside the
    /// transaction, then applies it and revokes the target's token families of this org;
    /// `false` when `target` (or `actor`) is not a member.
    async fn remove_member(
        &self,
        org: OrgId,
        actor: UserId,
        target: UserId,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<bool>;
    /// The org's policy of application scopes per role for access tokens.
    async fn token_scope_policy(&self, org: OrgId) -> Result<TokenScopePolicy>;
    /// Replaces the org's token policy; `false` when the org is gone.
    async fn set_token_scope_policy(
        &self,
        org: OrgId,
        policy: &TokenScopePolicy,
        audit: &[NewEvent],
    ) -> Result<bool>;
}

/// An invitation as stored (its token only as SHA-256).
#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: InvitationId,
    pub org_id: OrgId,
    pub email: String,
    pub email_key: String,
    pub role: Role,
    pub created_by: UserId,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub accepted_at: Option<OffsetDateTime>,
}

/// Who accepts an invitation: a user who exists (signed in), or one created by accepting.
#[derive(Debug, Clone)]
pub enum Invitee {
    Existing(UserId),
    New(NewUser),
}

/// Invitations. One lives only while its inviter holds a role that may issue its role
/// ([`check_invite`](crate::role::check_invite)): `set_member_role` and `remove_member` delete
/// the pending invitations the member can no longer issue, and creating and accepting judge the
/// inviter's role inside their transaction.
#[async_trait]
pub trait InvitationStore: Send + Sync {
    /// Inserts a pending invitation; `NotFound` when the inviter is no longer a member,
    /// `Forbidden` when their role cannot issue its role.
    async fn create_invitation(
        &self,
        invitation: &Invitation,
        token_digest: &[u8],
        audit: &[NewEvent],
    ) -> Result<()>;
    /// The invitation whose token has this digest, with its org (any state: the caller judges).
    async fn invitation_by_digest(&self, digest: &[u8]) -> Result<Option<(Invitation, Org)>>;
    /// Whether some org has an invitation for `email_key` neither accepted nor expired at `now`
    /// (a provider sign-in may then make the account under invite-only signup).
    async fn has_pending_invitation(&self, email_key: &str, now: OffsetDateTime) -> Result<bool>;
    /// The org's invitations neither accepted nor expired at `now`, oldest first.
    async fn pending_invitations(&self, org: OrgId, now: OffsetDateTime)
    -> Result<Vec<Invitation>>;
    /// One invitation of the org, in any state; `None` when the org has no such invitation.
    async fn invitation(&self, org: OrgId, id: InvitationId) -> Result<Option<Invitation>>;
    /// Deletes a pending invitation of the org (its token then answers like an unknown one) and
    /// appends `audit`; `false` when the org has no pending invitation with that id.
    async fn revoke_invitation(
        &self,
        org: OrgId,
        id: InvitationId,
        audit: &[NewEvent],
    ) -> Result<bool>;
    /// Spends the invitation (still pending and unexpired at `at`, and its inviter still holding
    /// a role that may issue it; else `NotFound`), creates the user when new
    /// (`Conflict(EmailTaken)` when the address has an account), and adds the membership;
    /// all or nothing. `Conflict(AlreadyMember)`.
    async fn accept_invitation(
        &self,
        invitation: &Invitation,
        invitee: &Invitee,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<()>;
}

/// An API key as stored: the key itself never, only SHA-256 of it.
#[derive(Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub org_id: OrgId,
    pub name: String,
    pub public_id: String,
    pub digest: Vec<u8>,
    pub scopes: Vec<String>,
    pub created_by: Option<UserId>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

#[async_trait]
pub trait ApiKeyStore: Send + Sync {
    async fn create_api_key(&self, key: &ApiKey, audit: &[NewEvent]) -> Result<()>;
    async fn api_keys(&self, org: OrgId) -> Result<Vec<ApiKey>>;
    async fn api_key(&self, org: OrgId, id: ApiKeyId) -> Result<Option<ApiKey>>;
    /// The one cross-org read: the key whose public id was presented, with its org.
    async fn api_key_by_public_id(&self, public_id: &str) -> Result<Option<(ApiKey, Org)>>;
    /// Marks the key revoked (first time kept) and tells every instance; `None` if absent.
    async fn revoke_api_key(
        &self,
        org: OrgId,
        id: ApiKeyId,
        at: OffsetDateTime,
        audit: &[NewEvent],
    ) -> Result<Option<ApiKey>>;
    /// Removes the key and tells every instance; the removed key, or `None` if absent.
    async fn delete_api_key(
        &self,
        org: OrgId,
        id: ApiKeyId,
        audit: &[NewEvent],
    ) -> Result<Option<ApiKey>>;
    /// Records use, never moving `last_used_at` backwards.
    async fn touch_api_key(&self, org: OrgId, id: ApiKeyId, at: OffsetDateTime) -> Result<()>;
}

/// The audit log. Mutating methods of the other ports take the events describing the change
/// and append them in the same transaction (no acknowledged change without its event); this
/// port appends events that accompany no change, and reads chains.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends `events` in one transaction (one durable commit for the batch), each chain's
    /// appends serialized; returns them sealed, in order.
    async fn append_events(&self, events: &[NewEvent]) -> Result<Vec<StoredEvent>>;
    /// Events of `chain` with `seq > after`, in `seq` order, at most `limit`.
    async fn chain_events(
        &self,
        chain: Chain,
        after: i64,
        limit: u32,
        category: Option<Category>,
    ) -> Result<Vec<StoredEvent>>;
    /// The head the chain's last append recorded: (seq, hash); `None` for an empty chain.
    async fn chain_head(&self, chain: Chain) -> Result<Option<(i64, String)>>;
    /// Security events concerning `user`, newest first.
    async fn user_events(&self, user: UserId, limit: u32) -> Result<Vec<StoredEvent>>;
    /// Every chain that has events.
    async fn chains(&self) -> Result<Vec<Chain>>;
    /// The last head a scheduled verification found valid: (seq, hash); `None` before any.
    async fn verified_head(&self, chain: Chain) -> Result<Option<(i64, String)>>;
    /// Remembers a verified head; it only ever moves forward (an older one is ignored).
    async fn record_verified(&self, chain: Chain, seq: i64, hash: &str) -> Result<()>;
}

/// The database backend of the rate limiter (shared by every instance).
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// GCRA in one atomic statement: when `max(tat, now) + interval - now <= period`, moves the
    /// key's arrival time and admits (all in microseconds). Returns (the stored arrival time, admitted).
    async fn rate_limit(
        &self,
        key: &str,
        now_us: i64,
        interval_us: i64,
        period_us: i64,
    ) -> Result<(i64, bool)>;
    /// Forgets keys whose arrival time has passed (they hold a full burst anyway).
    async fn sweep_rate_limits(&self, now_us: i64) -> Result<u64>;
}

/// The answer to "may this sign-in check a password?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    Allowed,
    /// Locked until then (the failures reached the limit).
    Locked {
        until_ms: i64,
    },
    /// Not locked, but as many checks as the limit allows are under way right now.
    Busy,
}

/// Sign-in attempts per normalized email (whether or not an account exists).
#[async_trait]
pub trait LockoutStore: Send + Sync {
    /// Reserves one password check: refused while locked, or when `limit` checks were already
    /// reserved in the current window (so parallel guesses cannot exceed it).
    async fn reserve_attempt(
        &self,
        email_key: &str,
        now_ms: i64,
        limit: u32,
        window_ms: i64,
    ) -> Result<Attempt>;
    /// A reserved check failed. When the reservations in the window have reached `limit`, locks
    /// the email until `now + window` and appends `audit` (the lock's event); returns the lock's
    /// end if this call locked it.
    async fn record_failure(
        &self,
        email_key: &str,
        now_ms: i64,
        limit: u32,
        window_ms: i64,
        audit: &[NewEvent],
    ) -> Result<Option<i64>>;
    /// Forgets the email's attempts and any lock (a successful sign-in, `gatehouse users
    /// unlock`); `true` when there was something to forget.
    async fn unlock(&self, email_key: &str) -> Result<bool>;
    /// A reserved check ended without a verdict on the password (the hasher was full, a
    /// database error): gives the reservation back, unless the email is locked.
    async fn release_attempt(&self, email_key: &str) -> Result<()>;
    /// Forgets attempts whose window and lock have both passed.
    async fn sweep_attempts(&self, now_ms: i64, window_ms: i64) -> Result<u64>;
}

/// First-run state: setup tokens and the platform's first admin.
#[derive(Debug, Clone)]
pub struct FirstAdmin {
    pub user: NewUser,
    pub org: Org,
}

#[async_trait]
pub trait SystemStore: Send + Sync {
    /// Tells `sink` of every user change this process commits (the user state cache's local
    /// half; other processes hear through the change feed).
    fn subscribe_local(&self, _sink: std::sync::Arc<dyn crate::changes::ChangeSink>) {}
    /// Cheap round trip, for readiness.
    async fn ping(&self) -> Result<()>;
    /// True until setup has completed (or an admin was created from the CLI).
    async fn setup_pending(&self) -> Result<bool>;
    /// Remembers the digest of a freshly printed setup token.
    async fn add_setup_token(&self, digest: &[u8], at: OffsetDateTime) -> Result<()>;
    /// Creates a platform admin owning a new org. With `token_digest`, consumes that setup token
    /// first (`NotFound` when setup is over, `Unauthenticated(InvalidCredentials)` for an unknown
    /// token); either way setup is over afterwards.
    async fn create_admin(
        &self,
        admin: &FirstAdmin,
        token_digest: Option<&[u8]>,
        audit: &[NewEvent],
    ) -> Result<()>;
    /// What the database role may do (PostgreSQL; SQLite answers `None`).
    async fn role_report(&self) -> Result<Option<RoleReport>>;
}

/// The PostgreSQL role the server's queries run as, and row-level security on org tables.
#[derive(Debug, Clone)]
pub struct RoleReport {
    pub session_user: String,
    pub current_user: String,
    pub superuser: bool,
    pub bypass_rls: bool,
    /// Every table with an `org_id` column: (name, RLS enabled, RLS forced).
    pub org_tables: Vec<(String, bool, bool)>,
}

/// Every port together: what the server holds.
pub trait Store:
    UserStore
    + SessionStore
    + OrgStore
    + InvitationStore
    + ApiKeyStore
    + AuditStore
    + ExportCursorStore
    + TokenStore
    + SecretStore
    + GrantStore
    + MfaStore
    + PasskeyStore
    + EmailStore
    + OidcStore
    + PersonalTokenStore
    + RateLimitStore
    + LockoutStore
    + SystemStore
{
}
impl<T> Store for T where
    T: UserStore
        + SessionStore
        + OrgStore
        + InvitationStore
        + ApiKeyStore
        + AuditStore
        + ExportCursorStore
        + TokenStore
        + SecretStore
        + GrantStore
        + MfaStore
        + PasskeyStore
        + EmailStore
        + OidcStore
        + PersonalTokenStore
        + RateLimitStore
        + LockoutStore
        + SystemStore
{
}
