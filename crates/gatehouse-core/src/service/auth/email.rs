//! Mailed flows (SPEC §16): a sign-in code with its link, a password reset, an address
//! verification. Every request answers the same whatever the address (an unknown one gets no
//! mail, and a made-up flow id); sends are limited per address, unknown ones counted too; each
//! flow is single use, lapses at 10 minutes, and a new one for the address voids the old.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::credentials::lockout_key;
use super::mfa::{SignInMethod, user_event};
use super::{AuthService, ClientInfo, LoginOutcome, SessionPrincipal};
use crate::audit::{Actor, Category, Chain, NewEvent, Outcome};
use crate::email::Email;
use crate::error::AuthFailure;
use crate::ids::{EmailFlowId, SessionId, UserId};
use crate::mail::{Mail, Mailer};
use crate::password;
use crate::secret::DerivedKey;
use crate::service::events;
use crate::store::{EmailFlow, EmailFlowKind, NewUser, SendDecision, SendLimits, User};
use crate::token;
use crate::{Error, Result};

/// The key prefix of a flow stored for an address that gets no mail (no address has it: a
/// space and a control character cannot be in one).
const DECOY: &str = "decoy \u{1}";

/// A mailed flow lasts this long.
pub const EMAIL_FLOW_TTL: Duration = Duration::from_secs(10 * 60);
/// Wrong codes one flow takes before it is dead.
pub const EMAIL_CODE_ATTEMPTS: i64 = 5;
/// Mails per address, all kinds together.
pub const SEND_LIMITS: SendLimits = SendLimits {
    per_minute: 1,
    per_hour: 5,
};

/// What mailed flows need: the sender, the public URL the links point at, and the key codes
/// are stored under.
#[derive(Clone)]
pub struct EmailSettings {
    pub mailer: Arc<dyn Mailer>,
    pub public_url: String,
    pub code_key: DerivedKey,
}

/// The answer to every request for a code: a flow id (made up for an address that gets no
/// mail) and when it lapses.
#[derive(Debug, Clone)]
pub struct FlowStarted {
    pub flow_id: EmailFlowId,
    pub expires_at: OffsetDateTime,
}

fn invalid() -> Error {
    Error::Unauthenticated(AuthFailure::InvalidCredentials)
}

/// Whether the user's address is still the one a flow was mailed to.
fn address_is(user: &User, email_key: &str) -> bool {
    Email::parse(&user.email).is_ok_and(|e| e.key() == email_key)
}

fn anonymous_event(
    action: &str,
    user: Option<UserId>,
    client: &ClientInfo,
    at: OffsetDateTime,
) -> NewEvent {
    NewEvent::new(
        Chain::System,
        Category::Security,
        action,
        Actor::Anonymous,
        client,
        at,
    )
    .subject(user)
}

impl AuthService {
    /// With mailed flows (SPEC §16); without, their routes answer `404`.
    #[must_use]
    pub fn with_email(mut self, settings: EmailSettings) -> Self {
        self.email = Some(settings);
        self
    }

    /// Whether mailed flows are on (the routes answer `404` otherwise).
    #[must_use]
    pub fn email_enabled(&self) -> bool {
        self.email.is_some()
    }

    fn email_settings(&self) -> Result<&EmailSettings> {
        self.email.as_ref().ok_or(Error::NotFound)
    }

    /// A random flow id (not time-ordered: one flow's id says nothing of another's).
    fn flow_id(&self) -> Result<EmailFlowId> {
        Ok(EmailFlowId::from(
            uuid::Builder::from_random_bytes(self.ambient.bytes()?).into_uuid(),
        ))
    }

    /// A uniformly drawn 6-digit code.
    fn six_digits(&self) -> Result<String> {
        loop {
            let n = u32::from_be_bytes(self.ambient.bytes()?);
            // The largest multiple of 1,000,000 below 2^32: no digit is likelier than another.
            if n < 4_294_000_000 {
                return Ok(format!("{:06}", n % 1_000_000));
            }
        }
    }

    fn code_digest(key: &DerivedKey, flow: EmailFlowId, code: &str) -> Vec<u8> {
        key.mac(format!("email-code/v1\0{flow}\0{code}").as_bytes())
            .to_vec()
    }

    /// The address, parsed, and a send counted for it (`429` over the limits).
    async fn reserve_mail(&self, email: &str) -> Result<Email> {
        let email = Email::parse(email)?;
        // A bare address only: a display name or angle brackets would make another key for
        // the same mailbox (and another count against its limits).
        if email
            .as_str()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>\"()[],;:\\".contains(c))
        {
            return Err(Error::field("email", "invalid"));
        }
        match self
            .store
            .reserve_send(email.key(), self.ambient.now(), SEND_LIMITS)
            .await?
        {
            SendDecision::Allowed => Ok(email),
            SendDecision::Limited { retry_after_secs } => {
                Err(Error::RateLimited { retry_after_secs })
            }
        }
    }

    /// A flow finished by its link alone (reset, verification) for `user` at `email`, and the
    /// link's token.
    fn link_flow(
        &self,
        kind: EmailFlowKind,
        email: &Email,
        user: &User,
    ) -> Result<(EmailFlow, String)> {
        let now = self.ambient.now();
        let link_token = self.ambient.token()?;
        let flow = EmailFlow {
            id: self.flow_id()?,
            kind,
            email_key: email.key().to_owned(),
            email: user.email.clone(),
            user_id: Some(user.id),
            code_digest: None,
            token_digest: token::digest(&link_token),
            return_to: None,
            attempts: 0,
            created_at: now,
            expires_at: now + EMAIL_FLOW_TTL,
        };
        Ok((flow, link_token))
    }

    fn link(&self, path: &str, token: &str) -> Result<String> {
        let base = self.email_settings()?.public_url.trim_end_matches('/');
        Ok(format!("{base}{path}?token={token}"))
    }

    /// `POST /v1/auth/email-code`: a code and a link to the address when it has an account (or
    /// signup is open), the same `202` either way.
    pub async fn request_email_code(
        &self,
        email: &str,
        return_to: Option<String>,
        client: &ClientInfo,
    ) -> Result<FlowStarted> {
        let settings = self.email_settings()?;
        let email = self.reserve_mail(email).await?;
        let now = self.ambient.now();
        let started = FlowStarted {
            flow_id: self.flow_id()?,
            expires_at: now + EMAIL_FLOW_TTL,
        };
        let user = self.store.user_by_email_key(email.key()).await?;
        let may_sign_in = match &user {
            Some(u) => !u.disabled,
            None => self.settings.signup_open,
        };
        // The mail goes to the account's own address (not a spelling of it).
        let to = user
            .as_ref()
            .map_or_else(|| email.as_str().to_owned(), |u| u.email.clone());
        let code = self.six_digits()?;
        let link_token = self.ambient.token()?;
        let user_id = user.as_ref().map(|u| u.id);
        let flow = EmailFlow {
            id: started.flow_id,
            kind: EmailFlowKind::SignIn,
            email_key: email.key().to_owned(),
            email: email.as_str().to_owned(),
            user_id,
            code_digest: Some(Self::code_digest(
                &settings.code_key,
                started.flow_id,
                &code,
            )),
            token_digest: token::digest(&link_token),
            return_to,
            attempts: 0,
            created_at: now,
            expires_at: started.expires_at,
        };
        if !may_sign_in {
            // The same writes as a real flow, and nothing that can finish it: no account, and
            // a code and link nobody was sent.
            let decoy = EmailFlow {
                user_id: None,
                email_key: format!("{DECOY}{}", flow.email_key),
                ..flow
            };
            self.store.create_email_flow(&decoy, &[]).await?;
            return Ok(started);
        }
        let event = anonymous_event("auth.email_code_sent", user_id, client, now);
        self.store.create_email_flow(&flow, &[event]).await?;
        let link = self.link("/console/email-code/link", &link_token)?;
        settings.mailer.send(Mail {
            to,
            subject: "Your sign-in code".to_owned(),
            text: format!(
                "Your sign-in code is {code}\n\n\
                 Or sign in with this link:\n{link}\n\n\
                 The code and the link work once, for 10 minutes. If you did not ask to sign \
                 in, you can ignore this mail.\n"
            ),
        });
        Ok(started)
    }

    /// `POST /v1/auth/email-code/verify`: the code (at most five tries per flow) or the link's
    /// token ends the flow and signs in; an account with TOTP answers `mfa_required`. Every
    /// refusal is `401 invalid_credentials`. With the session, the flow's `return_to`.
    pub async fn verify_email_code(
        &self,
        flow_id: &str,
        code: Option<&str>,
        link_token: Option<&str>,
        client: ClientInfo,
        replaces: Option<SessionId>,
    ) -> Result<(LoginOutcome, Option<String>)> {
        let settings = self.email_settings()?;
        let now = self.ambient.now();
        let (flow, method) = match (link_token.filter(|t| !t.is_empty()), code) {
            (Some(link_token), _) => {
                if !token::looks_like_token(link_token) {
                    return Err(invalid());
                }
                let flow = self
                    .store
                    .take_email_flow_by_token(
                        EmailFlowKind::SignIn,
                        &token::digest(link_token),
                        now,
                        EMAIL_CODE_ATTEMPTS,
                    )
                    .await?
                    .ok_or_else(invalid)?;
                (flow, SignInMethod::EmailLink)
            }
            (None, Some(code)) => {
                let Ok(id) = flow_id.parse::<EmailFlowId>() else {
                    return Err(invalid());
                };
                let flow = self
                    .store
                    .attempt_email_code(id, now, EMAIL_CODE_ATTEMPTS)
                    .await?
                    .ok_or_else(invalid)?;
                let presented = Self::code_digest(&settings.code_key, id, code.trim());
                let matches = flow
                    .code_digest
                    .as_deref()
                    .is_some_and(|stored| bool::from(stored.ct_eq(presented.as_slice())));
                // A wrong code counts toward the address's lockout like a wrong password (a
                // flow id goes to whoever asks, so its five tries are not the only bound).
                let check = async {
                    if matches {
                        return (Ok(()), flow.user_id);
                    }
                    let event =
                        anonymous_event("auth.email_code_failed", flow.user_id, &client, now)
                            .outcome(Outcome::Failure)
                            .details(json!({ "attempts": flow.attempts }));
                    let recorded = self.audit.append(vec![event]).await;
                    (recorded.and(Err(invalid())), flow.user_id)
                };
                self.with_lockout(&lockout_key(&flow.email), &client, check)
                    .await?;
                if !self.store.take_email_flow(id).await? {
                    return Err(invalid());
                }
                (flow, SignInMethod::EmailCode)
            }
            (None, None) => return Err(invalid()),
        };
        let user = self.flow_user(&flow, &client).await?;
        self.second_step(&user, None, &client).await?;
        let outcome = self.start_session(user, method, client, replaces).await?;
        Ok((outcome, flow.return_to))
    }

    /// The account a finished sign-in flow is for: its user (verified now: the mail reached
    /// them), or a new account when the address had none and signup is still open.
    async fn flow_user(&self, flow: &EmailFlow, client: &ClientInfo) -> Result<User> {
        if flow.email_key.starts_with(DECOY) {
            return Err(invalid()); // a decoy: nobody was sent its code
        }
        let now = self.ambient.now();
        let user = match flow.user_id {
            Some(id) => self.store.user_by_id(id).await?,
            None => self.store.user_by_email_key(&flow.email_key).await?,
        };
        let user = match user {
            Some(user) => user,
            None if self.settings.signup_open => {
                let new = NewUser {
                    id: self.ambient.id()?,
                    email: flow.email.clone(),
                    email_key: flow.email_key.clone(),
                    name: None,
                    password_hash: None,
                    is_platform_admin: false,
                    created_at: now,
                };
                let event = events::user_created(&new, Actor::User(new.id), client, now);
                self.store.create_user(&new, &[event]).await?;
                self.store
                    .user_by_id(new.id)
                    .await?
                    .ok_or_else(|| Error::internal("the new account is gone"))?
            }
            None => return Err(invalid()),
        };
        if user.disabled || !address_is(&user, &flow.email_key) {
            return Err(invalid());
        }
        if user.email_verified_at.is_none() {
            let event = user_event("email.verified", user.id, client, now);
            if user.password_hash.is_some() && self.settings.signup_open {
                // With signup open anyone may have registered the address with a password of
                // their own: that password goes, with every session and token made with it.
                // (Without open signup accounts come from setup, import or an invitation,
                // none of which a stranger can use to claim someone else's address.)
                self.store
                    .claim_unverified_account(user.id, &flow.email_key, now, &[event])
                    .await?;
                return self.store.user_by_id(user.id).await?.ok_or_else(invalid);
            }
            self.store
                .set_email_verified(user.id, &flow.email_key, now, &[event])
                .await?;
        }
        Ok(user)
    }

    /// `POST /v1/auth/password/forgot`: a reset link to the address when it has an account; the
    /// same `202` either way.
    pub async fn forgot_password(&self, email: &str, client: &ClientInfo) -> Result<()> {
        let settings = self.email_settings()?;
        let email = self.reserve_mail(email).await?;
        let Some(user) = self
            .store
            .user_by_email_key(email.key())
            .await?
            .filter(|u| !u.disabled)
        else {
            // The same write as for an account, and nothing that can finish it.
            let now = self.ambient.now();
            let decoy = EmailFlow {
                id: self.flow_id()?,
                kind: EmailFlowKind::PasswordReset,
                email_key: format!("{DECOY}{}", email.key()),
                email: email.as_str().to_owned(),
                user_id: None,
                code_digest: None,
                token_digest: token::digest(&self.ambient.token()?),
                return_to: None,
                attempts: 0,
                created_at: now,
                expires_at: now + EMAIL_FLOW_TTL,
            };
            self.store.create_email_flow(&decoy, &[]).await?;
            return Ok(());
        };
        let now = self.ambient.now();
        let (flow, link_token) = self.link_flow(EmailFlowKind::PasswordReset, &email, &user)?;
        let event = anonymous_event("password.reset_requested", Some(user.id), client, now);
        self.store.create_email_flow(&flow, &[event]).await?;
        let link = self.link("/console/reset-password", &link_token)?;
        settings.mailer.send(Mail {
            to: user.email.clone(),
            subject: "Reset your password".to_owned(),
            text: format!(
                "To choose a new password, open this link:\n{link}\n\n\
                 It works once, for 10 minutes. Every session of yours ends when the password \
                 changes. If you did not ask for this, you can ignore this mail: your password \
                 stays as it is.\n"
            ),
        });
        Ok(())
    }

    /// `POST /v1/auth/password/reset`: the mailed token and a new password (the policy of
    /// SPEC §4, checked before the token is spent); every session, token family and
    /// outstanding access token of the user dies.
    pub async fn reset_password(
        &self,
        link_token: &str,
        new_password: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        self.email_settings()?;
        if !token::looks_like_token(link_token) {
            return Err(invalid());
        }
        let digest = token::digest(link_token);
        let now = self.ambient.now();
        let flow = self
            .store
            .email_flow_by_token(EmailFlowKind::PasswordReset, &digest, now)
            .await?
            .ok_or_else(invalid)?;
        let user = match flow.user_id {
            Some(id) => self.store.user_by_id(id).await?,
            None => None,
        }
        .filter(|u| !u.disabled && address_is(u, &flow.email_key))
        .ok_or_else(invalid)?;
        let email = Email::parse(&user.email)?;
        if let Err(code) =
            password::check_policy(new_password, self.settings.password_min_chars, Some(&email))
        {
            return Err(Error::field("new_password", code));
        }
        let hash = self
            .hasher
            .hash(email.key(), new_password, self.ambient.bytes()?)
            .await?;
        if !self.store.take_email_flow(flow.id).await? {
            return Err(invalid());
        }
        let event = user_event("password.reset", user.id, client, now);
        self.store
            .change_password(user.id, &hash, None, now, &[event])
            .await?;
        self.store.void_email_flows(&flow.email_key).await?;
        if user.email_verified_at.is_none() {
            let event = user_event("email.verified", user.id, client, now);
            self.store
                .set_email_verified(user.id, &flow.email_key, now, &[event])
                .await?;
        }
        Ok(())
    }

    /// `POST /v1/auth/email/verify/send`: a verification link to the signed-in user's address
    /// (nothing when it is verified already).
    pub async fn send_verification(&self, principal: &SessionPrincipal) -> Result<()> {
        let settings = self.email_settings()?;
        let user = &principal.user;
        if user.email_verified_at.is_some() {
            return Ok(());
        }
        let email = self.reserve_mail(&user.email).await?;
        let (flow, link_token) = self.link_flow(EmailFlowKind::Verify, &email, user)?;
        self.store.create_email_flow(&flow, &[]).await?;
        let link = self.link("/console/verify-email", &link_token)?;
        settings.mailer.send(Mail {
            to: user.email.clone(),
            subject: "Confirm your email address".to_owned(),
            text: format!(
                "To confirm that this address is yours, open this link:\n{link}\n\n\
                 It works once, for 10 minutes.\n"
            ),
        });
        Ok(())
    }

    /// `POST /v1/auth/email/verify`: the mailed token marks the address verified (while it is
    /// still the user's address).
    pub async fn verify_email(&self, link_token: &str, client: &ClientInfo) -> Result<()> {
        self.email_settings()?;
        if !token::looks_like_token(link_token) {
            return Err(invalid());
        }
        let now = self.ambient.now();
        let flow = self
            .store
            .take_email_flow_by_token(
                EmailFlowKind::Verify,
                &token::digest(link_token),
                now,
                EMAIL_CODE_ATTEMPTS,
            )
            .await?
            .ok_or_else(invalid)?;
        let user = flow.user_id.ok_or_else(invalid)?;
        let event = user_event("email.verified", user, client, now);
        if self
            .store
            .set_email_verified(user, &flow.email_key, now, &[event])
            .await?
        {
            Ok(())
        } else {
            Err(invalid())
        }
    }
}
