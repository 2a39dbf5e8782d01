//! Accounts and sessions for sign-ins another party vouched for (an OpenID Connect provider,
//! SPEC §17): a new account under the signup policy, and the session, after TOTP's second step
//! when it is on.

use super::mfa::{SignInMethod, user_event};
use super::{AuthService, ClientInfo, LoginOutcome};
use crate::audit::Actor;
use crate::email::Email;
use crate::error::ForbiddenReason;
use crate::ids::SessionId;
use crate::service::events;
use crate::store::{NewUser, User};
use crate::{Error, Result};

impl AuthService {
    /// A session for `user`, whom a provider signed in; `mfa_required` when TOTP is on.
    pub async fn external_sign_in(
        &self,
        user: User,
        client: ClientInfo,
        replaces: Option<SessionId>,
    ) -> Result<LoginOutcome> {
        if user.disabled {
            return Err(Error::Unauthenticated(
                crate::error::AuthFailure::InvalidCredentials,
            ));
        }
        self.second_step(&user, None, &client).await?;
        self.start_session(user, SignInMethod::Oidc, client, replaces)
            .await
    }

    /// A new account for `email` without a password (signup open, or a pending invitation for
    /// the address), its address verified when the provider said so.
    pub async fn external_sign_up(
        &self,
        email: &Email,
        name: Option<&str>,
        email_verified: bool,
        client: &ClientInfo,
    ) -> Result<User> {
        let now = self.ambient.now();
        // Invite-only signup: only an address some org invited (and the invitation still
        // waits) may get an account this way; the invitation is accepted as usual later.
        if !self.settings.signup_open
            && !self.store.has_pending_invitation(email.key(), now).await?
        {
            return Err(Error::Forbidden(ForbiddenReason::SignupDisabled));
        }
        let name = crate::identity_chars::optional_name("name", name).unwrap_or(None);
        let new = NewUser {
            id: self.ambient.id()?,
            email: email.as_str().to_owned(),
            email_key: email.key().to_owned(),
            name,
            password_hash: None,
            is_platform_admin: false,
            created_at: now,
        };
        let event = events::user_created(&new, Actor::User(new.id), client, now);
        self.store.create_user(&new, &[event]).await?;
        if email_verified {
            let event = user_event("email.verified", new.id, client, now);
            self.store
                .set_email_verified(new.id, email.key(), now, &[event])
                .await?;
        }
        self.store
            .user_by_id(new.id)
            .await?
            .ok_or_else(|| Error::internal("the new account is gone"))
    }
}
