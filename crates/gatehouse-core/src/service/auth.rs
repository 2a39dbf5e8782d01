//! Sign-in, sign-up, first-run setup and browser sessions.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::ambient::Ambient;
use crate::audit::Actor;
use crate::email::Email;
use crate::error::{AuthFailure, ForbiddenReason};
use crate::identity_chars;
use crate::ids::{SessionId, UserId};
use crate::password::{self, PasswordHasherPool};
use crate::rate_limit::Limit;
use crate::secret::{DerivedKey, SecretString};
use crate::service::audit_writer::AuditWriter;
use crate::service::events;
use crate::store::{FirstAdmin, NewSession, NewUser, Org, Session, Store, User};
use crate::token;
use crate::{Error, Result};

mod credentials;
mod email;
mod external;
mod mfa;
mod passkeys;

pub use email::{EMAIL_CODE_ATTEMPTS, EMAIL_FLOW_TTL, EmailSettings, FlowStarted, SEND_LIMITS};
pub use mfa::{
    ENROLLMENT_TTL, Enrollment, MFA_TOKEN_ATTEMPTS, MFA_TOKEN_TTL, MfaKeys, MfaStatus,
    SignInMethod, seed_aad,
};

/// How often a session's `last_seen_at` is written at most (bounds writes on hot sessions);
/// a quarter of the idle lifetime when that is shorter.
pub const TOUCH_INTERVAL: Duration = Duration::from_secs(60);

pub use crate::identity_chars::MAX_NAME_CHARS;

/// The rules the service applies, from configuration.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub session_ttl: Duration,
    pub session_idle_ttl: Duration,
    pub password_min_chars: usize,
    pub signup_open: bool,
    /// Failed sign-ins per email within a window that lock it for the window (`None`: off).
    pub lockout: Option<Limit>,
}

pub use crate::client::ClientInfo;

/// A successful sign-in. `token` goes into the cookie and nowhere else (wiped on drop).
pub struct LoginOutcome {
    pub user: User,
    pub session: Session,
    pub token: SecretString,
    pub csrf_token: String,
}

/// A request authenticated by a session cookie.
#[derive(Debug, Clone)]
pub struct SessionPrincipal {
    pub session: Session,
    pub user: User,
}

pub struct AuthService {
    store: Arc<dyn Store>,
    hasher: PasswordHasherPool,
    ambient: Ambient,
    settings: AuthSettings,
    csrf_key: DerivedKey,
    audit: AuditWriter,
    /// Second factors; without them an account with TOTP on cannot sign in (fails closed).
    mfa: Option<MfaKeys>,
    /// The WebAuthn relying party; without one (an IP address as public host) no passkeys.
    passkeys: Option<Arc<crate::passkey::RelyingParty>>,
    /// Mailed flows; without them their routes answer `404`.
    email: Option<EmailSettings>,
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: PasswordHasherPool,
        ambient: Ambient,
        settings: AuthSettings,
        csrf_key: DerivedKey,
        audit: AuditWriter,
    ) -> Self {
        Self {
            store,
            hasher,
            ambient,
            settings,
            csrf_key,
            audit,
            mfa: None,
            passkeys: None,
            email: None,
        }
    }

    /// With second factors (SPEC §15).
    #[must_use]
    pub fn with_mfa(mut self, keys: MfaKeys) -> Self {
        self.mfa = Some(keys);
        self
    }

    #[must_use]
    pub fn now(&self) -> OffsetDateTime {
        self.ambient.now()
    }

    /// Checks email, password and name of a new account; hashes the password.
    pub(crate) async fn new_user(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
        admin: bool,
    ) -> Result<NewUser> {
        let email = Email::parse(email);
        let mut fields = std::collections::BTreeMap::new();
        if let Err(Error::Validation(f)) = &email {
            fields.extend(f.clone());
        }
        if let Err(code) = password::check_policy(
            password,
            self.settings.password_min_chars,
            email.as_ref().ok(),
        ) {
            fields.insert("password".into(), code.into());
        }
        let name = match identity_chars::optional_name("name", name) {
            Ok(name) => name,
            Err(Error::Validation(f)) => {
                fields.extend(f);
                None
            }
            Err(e) => return Err(e),
        };
        if !fields.is_empty() {
            return Err(Error::Validation(fields));
        }
        let email = email?;
        let password_hash = self
            .hasher
            .hash(email.key(), password, self.ambient.bytes()?)
            .await?;
        Ok(NewUser {
            id: self.ambient.id()?,
            email: email.as_str().to_owned(),
            email_key: email.key().to_owned(),
            name,
            password_hash: Some(password_hash),
            is_platform_admin: admin,
            created_at: self.ambient.now(),
        })
    }

    fn new_org(&self, name: &str) -> Result<Org> {
        new_org("org_name", name, &self.ambient)
    }

    /// Whether the first-run setup is still open.
    pub async fn setup_pending(&self) -> Result<bool> {
        self.store.setup_pending().await
    }

    /// Issues a setup token (printed once by the caller) while setup is pending.
    pub async fn issue_setup_token(&self) -> Result<Option<SecretString>> {
        if !self.store.setup_pending().await? {
            return Ok(None);
        }
        let token = self.ambient.token()?;
        self.store
            .add_setup_token(&token::digest(&token), self.ambient.now())
            .await?;
        Ok(Some(token.into()))
    }

    /// `POST /v1/setup`: spends the setup token and creates the first admin and org.
    pub async fn setup(
        &self,
        token: &str,
        email: &str,
        password: &str,
        org_name: &str,
        client: &ClientInfo,
    ) -> Result<(User, Org)> {
        if !self.store.setup_pending().await? {
            return Err(Error::NotFound);
        }
        if !token::looks_like_token(token) {
            return Err(Error::Unauthenticated(AuthFailure::InvalidCredentials));
        }
        self.create_admin(email, password, org_name, Some(token), client)
            .await
    }

    /// A platform admin owning a new org (setup, or `gatehouse admin create`).
    pub async fn create_admin(
        &self,
        email: &str,
        password: &str,
        org_name: &str,
        setup_token: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(User, Org)> {
        let org = self.new_org(org_name);
        let user = self.new_user(email, password, None, true).await;
        let (user, org) = match (user, org) {
            (Ok(u), Ok(o)) => (u, o),
            (Err(Error::Validation(mut a)), Err(Error::Validation(b))) => {
                a.extend(b);
                return Err(Error::Validation(a));
            }
            (Err(e), _) | (_, Err(e)) => return Err(e),
        };
        let digest = setup_token.map(token::digest);
        let admin = FirstAdmin { user, org };
        let now = self.ambient.now();
        // Setup is done by the new admin; `admin create` by the operator (system).
        let actor = match setup_token {
            Some(_) => Actor::User(admin.user.id),
            None => Actor::System,
        };
        let mut audit = vec![
            events::user_created(&admin.user, actor, client, now),
            events::org_created(&admin.org, actor, client, now),
        ];
        if setup_token.is_some() {
            audit.push(events::setup_completed(&admin.org, actor, client, now));
        }
        self.store
            .create_admin(&admin, digest.as_deref(), &audit)
            .await?;
        Ok((stored_user(&admin.user), admin.org))
    }

    /// `POST /v1/auth/signup`.
    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        name: Option<&str>,
        client: &ClientInfo,
    ) -> Result<User> {
        if !self.settings.signup_open {
            return Err(Error::Forbidden(ForbiddenReason::SignupDisabled));
        }
        let user = self.new_user(email, password, name, false).await?;
        let event = events::user_created(&user, Actor::User(user.id), client, self.ambient.now());
        self.store.create_user(&user, &[event]).await?;
        Ok(stored_user(&user))
    }

    /// `POST /v1/auth/login`: the same answer, after the same work, for an unknown email, a wrong
    /// password and a disabled account. `replaces` is a session the browser still held.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: ClientInfo,
        replaces: Option<SessionId>,
    ) -> Result<LoginOutcome> {
        self.login_with(email, password, None, client, replaces)
            .await
    }

    /// [`Self::login`] with the second step's `otp` (SPEC §15).
    pub async fn login_with(
        &self,
        email: &str,
        password: &str,
        otp: Option<&str>,
        client: ClientInfo,
        replaces: Option<SessionId>,
    ) -> Result<LoginOutcome> {
        let (user, method) = self.check_sign_in(email, password, otp, &client).await?;
        self.start_session(user, method, client, replaces).await
    }

    /// `POST /v1/auth/login/mfa`: the second step of a sign-in that answered `mfa_required`.
    pub async fn login_mfa(
        &self,
        mfa_token: &str,
        otp: &str,
        client: ClientInfo,
        replaces: Option<SessionId>,
    ) -> Result<LoginOutcome> {
        let (user, method) = self.finish_second_step(mfa_token, otp, &client).await?;
        self.start_session(user, method, client, replaces).await
    }

    /// A new session for a user who just signed in (never the one the browser held).
    async fn start_session(
        &self,
        user: User,
        method: SignInMethod,
        client: ClientInfo,
        replaces: Option<SessionId>,
    ) -> Result<LoginOutcome> {
        if let Some(old) = replaces {
            let now = self.ambient.now();
            let event = events::session_revoked(user.id, old, "replaced_by_login", &client, now);
            self.store
                .revoke_session(user.id, old, now, &[event])
                .await?;
        }
        let now = self.ambient.now();
        let session = Session {
            id: self.ambient.id()?,
            user_id: user.id,
            created_at: now,
            last_seen_at: now,
            expires_at: now + self.settings.session_ttl,
            revoked_at: None,
            ip: client.ip.clone(),
            user_agent: client
                .user_agent
                .clone()
                .map(|ua| ua.chars().take(512).collect()),
        };
        let token = self.ambient.token()?;
        let event = events::login_succeeded(user.id, session.id, method.as_str(), &client, now);
        self.store
            .create_session(
                &NewSession {
                    session: session.clone(),
                    token_digest: token::digest(&token),
                    credential_epoch: user.credential_epoch,
                },
                &[event],
            )
            .await?;
        let csrf_token = self.csrf_token(session.id);
        Ok(LoginOutcome {
            user,
            session,
            token: token.into(),
            csrf_token,
        })
    }

    /// Cookie value to principal: unknown, revoked, expired and idle sessions are all `401`.
    pub async fn authenticate_session(&self, token: &str) -> Result<SessionPrincipal> {
        let denied = Error::Unauthenticated(AuthFailure::Unauthenticated);
        if !token::looks_like_token(token) {
            return Err(denied);
        }
        let Some((mut session, user)) = self.store.session_by_digest(&token::digest(token)).await?
        else {
            return Err(denied);
        };
        let now = self.ambient.now();
        if !session_is_live(&session, now, self.settings.session_idle_ttl) || user.disabled {
            return Err(denied);
        }
        if now - session.last_seen_at >= TOUCH_INTERVAL.min(self.settings.session_idle_ttl / 4) {
            self.store.touch_session(session.id, now).await?;
            session.last_seen_at = now;
        }
        Ok(SessionPrincipal { session, user })
    }

    #[must_use]
    pub fn csrf_token(&self, session: SessionId) -> String {
        token::csrf_token(&self.csrf_key, session)
    }

    #[must_use]
    pub fn csrf_matches(&self, session: SessionId, presented: &str) -> bool {
        token::csrf_matches(&self.csrf_key, session, presented)
    }

    pub async fn logout(&self, principal: &SessionPrincipal, client: &ClientInfo) -> Result<()> {
        let (user, session) = (principal.user.id, principal.session.id);
        let now = self.ambient.now();
        let event = events::logout(user, Some(session), client, now);
        self.store
            .revoke_session(user, session, now, &[event])
            .await?;
        Ok(())
    }

    /// Disables (or enables again) the account with this email, for the operator: a disabled
    /// user's sessions, refresh families and access tokens stop working at once, and sign-in
    /// answers as for a wrong password. `NotFound` for an unknown email; `false` when the
    /// account already was in that state.
    pub async fn set_disabled(&self, email: &str, disabled: bool) -> Result<bool> {
        let key = Email::parse(email)?;
        let user = self
            .store
            .user_by_email_key(key.key())
            .await?
            .ok_or(Error::NotFound)?;
        let now = self.ambient.now();
        let event = events::user_disabled(user.id, disabled, now);
        self.store
            .set_user_disabled(user.id, disabled, now, &[event])
            .await
    }

    /// Every session (and, later, token) of the user stops working.
    pub async fn logout_all(&self, user: UserId, client: &ClientInfo) -> Result<()> {
        let now = self.ambient.now();
        let event = events::logout(user, None, client, now);
        self.store
            .revoke_all_sessions(user, None, now, &[event])
            .await
    }

    pub async fn sessions(&self, user: UserId) -> Result<Vec<Session>> {
        let now = self.ambient.now();
        let idle = self.settings.session_idle_ttl;
        let all = self.store.list_sessions(user, now).await?;
        Ok(all
            .into_iter()
            .filter(|s| session_is_live(s, now, idle))
            .collect())
    }

    /// Revokes one of the caller's own sessions; another user's id is `NotFound`.
    pub async fn revoke_session(
        &self,
        user: UserId,
        id: SessionId,
        client: &ClientInfo,
    ) -> Result<()> {
        let now = self.ambient.now();
        let event = events::session_revoked(user, id, "revoked_by_user", client, now);
        if self.store.revoke_session(user, id, now, &[event]).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// `POST /v1/auth/password`: checks the current password under the sign-in lockout of the
    /// account's email (a wrong one counts like a wrong sign-in; while locked: `429`), applies
    /// the policy, revokes every other session.
    pub async fn change_password(
        &self,
        principal: &SessionPrincipal,
        current: &str,
        new: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let user = &principal.user;
        let key = credentials::lockout_key(&user.email);
        let check = async {
            let outcome = match self.password_matches(&key, user, current).await {
                Ok(false) => {
                    let event = events::password_change_failed(user.id, client, self.ambient.now());
                    match self.audit.append(vec![event]).await {
                        Ok(_) => Err(Error::Unauthenticated(AuthFailure::InvalidCredentials)),
                        Err(e) => Err(e),
                    }
                }
                Ok(true) => Ok(user.clone()),
                Err(e) => Err(e),
            };
            (outcome, Some(user.id))
        };
        self.with_lockout(&key, client, check).await?;
        let email = Email::parse(&user.email).ok();
        password::enforce_policy(
            "new_password",
            new,
            self.settings.password_min_chars,
            email.as_ref(),
        )?;
        let hash = self.hasher.hash(&key, new, self.ambient.bytes()?).await?;
        let now = self.ambient.now();
        let event = events::password_changed(user.id, client, now);
        self.store
            .change_password(user.id, &hash, Some(principal.session.id), now, &[event])
            .await
    }
}

/// A new org named `name` (as [`identity_chars::name`]; errors on `field`), its id and time
/// from `ambient`.
pub fn new_org(field: &str, name: &str, ambient: &Ambient) -> Result<Org> {
    let name = identity_chars::name(field, name)?;
    Ok(Org {
        id: ambient.id()?,
        name,
        created_at: ambient.now(),
    })
}

/// Not revoked, before its absolute expiry, and used within the idle window.
#[must_use]
pub fn session_is_live(session: &Session, now: OffsetDateTime, idle_ttl: Duration) -> bool {
    session.revoked_at.is_none()
        && now < session.expires_at
        && now < session.last_seen_at + idle_ttl
}

fn stored_user(new: &NewUser) -> User {
    User {
        id: new.id,
        email: new.email.clone(),
        name: new.name.clone(),
        password_hash: None,
        is_platform_admin: new.is_platform_admin,
        disabled: false,
        created_at: new.created_at,
        credentials_valid_after: new.created_at,
        credential_epoch: 0,
        email_verified_at: None,
    }
}

#[cfg(test)]
mod tests;
