//! Passkeys (SPEC §15): registering one (after the current password or a second factor),
//! listing and removing them, and signing in with one, by email, without (discoverable), or as
//! the second step of a password sign-in. Every ceremony lives in the database for five minutes
//! and is finished once, by whichever instance gets it.

use serde_json::json;

use super::mfa::{SignInMethod, user_event};
use super::{AuthService, ClientInfo, LoginOutcome, SessionPrincipal, credentials::lockout_key};
use crate::audit::{NewEvent, Outcome, Target};
use crate::email::Email;
use crate::error::{AuthFailure, PasskeyChallenge};
use crate::identity_chars;
use crate::ids::{CeremonyId, PasskeyId, SessionId, UserId};
use crate::passkey::{
    self, CEREMONY_TTL, CeremonyState, MAX_PASSKEY_NAME_CHARS, RelyingParty, SignInRefusal,
};
use crate::service::events;
use crate::store::{Ceremony, CeremonyKind, StoredPasskey, User};
use crate::{Error, Result};

/// Which sign-in a passkey answer is for (what a failure is recorded as).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    SignIn,
    SecondStep,
}

fn invalid() -> Error {
    Error::Unauthenticated(AuthFailure::InvalidCredentials)
}

fn passkey_event(
    action: &str,
    user: UserId,
    passkey: PasskeyId,
    client: &ClientInfo,
    at: time::OffsetDateTime,
) -> NewEvent {
    user_event(action, user, client, at).target(Target::new("passkey", passkey))
}

/// A passkey name: as any name, and at most [`MAX_PASSKEY_NAME_CHARS`] characters.
fn passkey_name(raw: &str) -> Result<String> {
    let name = identity_chars::name("name", raw)?;
    if name.chars().count() > MAX_PASSKEY_NAME_CHARS {
        return Err(Error::field("name", "too_long"));
    }
    Ok(name)
}

impl AuthService {
    /// With passkeys (SPEC §15); without, their routes answer `503`.
    #[must_use]
    pub fn with_passkeys(mut self, relying_party: RelyingParty) -> Self {
        self.passkeys = Some(std::sync::Arc::new(relying_party));
        self
    }

    fn relying_party(&self) -> Result<&RelyingParty> {
        self.passkeys.as_deref().ok_or_else(|| {
            Error::Unavailable(
                "passkeys need a domain name, not an IP address, in GATEHOUSE_PUBLIC_URL".into(),
            )
        })
    }

    /// The user's passkeys, oldest first.
    pub async fn passkeys(&self, user: UserId) -> Result<Vec<StoredPasskey>> {
        self.store.passkeys(user).await
    }

    async fn begin_ceremony(
        &self,
        kind: CeremonyKind,
        user: Option<UserId>,
        state: &CeremonyState,
        options: serde_json::Value,
    ) -> Result<PasskeyChallenge> {
        let now = self.ambient.now();
        // Random, not time-ordered: one ceremony's id says nothing of the next one's.
        let id = uuid::Builder::from_random_bytes(self.ambient.bytes()?).into_uuid();
        let ceremony = Ceremony {
            id: CeremonyId::from(id),
            kind,
            user_id: user,
            state: state.to_json()?,
            created_at: now,
            expires_at: now + CEREMONY_TTL,
        };
        self.store.create_ceremony(&ceremony).await?;
        Ok(PasskeyChallenge {
            ceremony_id: ceremony.id,
            options,
        })
    }

    async fn take_ceremony(&self, id: &str, kind: CeremonyKind) -> Result<Option<Ceremony>> {
        let Ok(id) = id.parse::<CeremonyId>() else {
            return Ok(None);
        };
        self.store.take_ceremony(id, kind, self.ambient.now()).await
    }

    /// The current password, or a second factor, of a signed-in user (SPEC §15's sensitive
    /// changes), under the account's lockout.
    async fn confirm_password_or_code(
        &self,
        principal: &SessionPrincipal,
        current_password: Option<&str>,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<()> {
        fn nonempty(s: Option<&str>) -> Option<&str> {
            s.filter(|s| !s.is_empty())
        }
        match (nonempty(current_password), nonempty(code)) {
            (Some(password), _) => {
                self.confirm_current(principal, password, None, client)
                    .await
            }
            (None, Some(code)) => {
                let user = &principal.user;
                let check = async {
                    let outcome = self.second_factor(user, code, client).await.map(|_| ());
                    (outcome, Some(user.id))
                };
                self.with_lockout(&lockout_key(&user.email), client, check)
                    .await
            }
            (None, None) => Err(Error::field("current_password", "required")),
        }
    }

    /// `POST /v1/auth/passkeys/register/start`: creation options for a new passkey.
    pub async fn start_passkey_registration(
        &self,
        principal: &SessionPrincipal,
        name: &str,
        current_password: Option<&str>,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<PasskeyChallenge> {
        let rp = self.relying_party()?;
        let name = passkey_name(name)?;
        self.confirm_password_or_code(principal, current_password, code, client)
            .await?;
        let user = &principal.user;
        let existing = self
            .store
            .passkeys(user.id)
            .await?
            .into_iter()
            .map(|p| p.credential_id)
            .collect();
        let display = user.name.as_deref().unwrap_or(&user.email);
        let (options, state) = rp.start_registration(user.id.0, &user.email, display, existing)?;
        let state = CeremonyState::Register { name, state };
        self.begin_ceremony(CeremonyKind::Register, Some(user.id), &state, options)
            .await
    }

    /// `POST /v1/auth/passkeys/register/finish`: the authenticator's answer, verified, becomes
    /// a passkey. An unknown, lapsed or spent ceremony (or another user's) is `422 ceremony_id`;
    /// an answer that does not verify `422 credential`.
    pub async fn finish_passkey_registration(
        &self,
        principal: &SessionPrincipal,
        ceremony_id: &str,
        credential: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<StoredPasskey> {
        let rp = self.relying_party()?;
        let user = principal.user.id;
        let unknown = || Error::field("ceremony_id", "unknown");
        let ceremony = self
            .take_ceremony(ceremony_id, CeremonyKind::Register)
            .await?
            .filter(|c| c.user_id == Some(user))
            .ok_or_else(unknown)?;
        let CeremonyState::Register { name, state } = CeremonyState::from_json(&ceremony.state)?
        else {
            return Err(unknown());
        };
        let passkey = rp
            .finish_registration(credential, &state)
            .ok_or_else(|| Error::field("credential", "invalid"))?;
        let now = self.ambient.now();
        let stored = StoredPasskey {
            id: self.ambient.id()?,
            user_id: user,
            name,
            credential_id: passkey.cred_id().clone(),
            credential: passkey::passkey_to_json(&passkey)?,
            sign_count: passkey::stored_counter(&passkey),
            backup_eligible: passkey::backup_eligible(&passkey),
            created_at: now,
            last_used_at: None,
        };
        let event = passkey_event("passkey.registered", user, stored.id, client, now)
            .details(json!({ "name": stored.name }));
        self.store.add_passkey(&stored, &[event]).await?;
        Ok(stored)
    }

    /// `DELETE /v1/auth/passkeys/{id}`: after the current password or a second factor; another
    /// user's passkey (or none) is `404` before anything is asked.
    pub async fn delete_passkey(
        &self,
        principal: &SessionPrincipal,
        id: &str,
        current_password: Option<&str>,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<()> {
        let user = principal.user.id;
        let id: PasskeyId = id.parse()?;
        if !self.store.passkeys(user).await?.iter().any(|p| p.id == id) {
            return Err(Error::NotFound);
        }
        self.confirm_password_or_code(principal, current_password, code, client)
            .await?;
        let event = passkey_event("passkey.removed", user, id, client, self.ambient.now());
        if self.store.delete_passkey(user, id, &[event]).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// `POST /v1/auth/passkeys/login/start`: request options for the passkeys of `email`, or
    /// (no email) for any discoverable passkey. An unknown email, a disabled account and one
    /// without passkeys get the same kind of answer, with made-up credential ids.
    pub async fn start_passkey_login(&self, email: Option<&str>) -> Result<PasskeyChallenge> {
        let rp = self.relying_party()?;
        let Some(email) = email.map(str::trim).filter(|e| !e.is_empty()) else {
            let (options, state) = rp.start_discoverable_sign_in()?;
            let state = CeremonyState::Discoverable { state };
            return self
                .begin_ceremony(CeremonyKind::Login, None, &state, options)
                .await;
        };
        let key = lockout_key(email);
        let user = match Email::parse(email) {
            Ok(parsed) => self.store.user_by_email_key(parsed.key()).await?,
            Err(_) => None,
        };
        // The same reads for every email (a made-up id for an unknown one).
        let user = user.filter(|u| !u.disabled);
        let owner = user.as_ref().map_or(UserId(uuid::Uuid::nil()), |u| u.id);
        let passkeys = self.store.passkeys(owner).await?;
        if user.is_some()
            && let Some(challenge) = self.begin_user_sign_in(owner, &passkeys).await?
        {
            return Ok(challenge);
        }
        let options = rp.decoy_sign_in(&key)?;
        self.begin_ceremony(CeremonyKind::Login, None, &CeremonyState::Decoy, options)
            .await
    }

    /// A ceremony for signing in as `user` with one of `passkeys` (`None`: they have none, or
    /// passkeys are off here).
    pub(super) async fn begin_user_sign_in(
        &self,
        user: UserId,
        passkeys: &[StoredPasskey],
    ) -> Result<Option<PasskeyChallenge>> {
        let Some(rp) = self.passkeys.as_deref() else {
            return Ok(None);
        };
        let mut keys = Vec::with_capacity(passkeys.len());
        for stored in passkeys {
            keys.push(passkey::passkey_from_json(&stored.credential)?);
        }
        if keys.is_empty() {
            return Ok(None);
        }
        let (options, state) = rp.start_user_sign_in(&keys)?;
        let state = CeremonyState::User { state };
        self.begin_ceremony(CeremonyKind::Login, Some(user), &state, options)
            .await
            .map(Some)
    }

    /// `POST /v1/auth/passkeys/login/finish`: a session for the passkey's owner.
    pub async fn login_passkey(
        &self,
        ceremony_id: &str,
        credential: &serde_json::Value,
        client: ClientInfo,
        replaces: Option<SessionId>,
    ) -> Result<LoginOutcome> {
        let ceremony = self
            .take_ceremony(ceremony_id, CeremonyKind::Login)
            .await?
            .ok_or_else(invalid)?;
        let user = self
            .verify_sign_in(&ceremony, credential, Step::SignIn, &client)
            .await?;
        self.start_session(user, SignInMethod::Passkey, client, replaces)
            .await
    }

    /// `POST /v1/auth/login/mfa` with a passkey: the ceremony of the `mfa_required` answer,
    /// finished by the user the `mfa_token` was given to.
    pub async fn login_mfa_passkey(
        &self,
        mfa_token: &str,
        ceremony_id: &str,
        credential: &serde_json::Value,
        client: ClientInfo,
        replaces: Option<SessionId>,
    ) -> Result<LoginOutcome> {
        let (digest, user) = self.mfa_token_user(mfa_token).await?;
        let ceremony = self
            .take_ceremony(ceremony_id, CeremonyKind::Login)
            .await?
            .filter(|c| c.user_id == Some(user.id))
            .ok_or_else(invalid)?;
        let signed_in = self
            .verify_sign_in(&ceremony, credential, Step::SecondStep, &client)
            .await?;
        if signed_in.id != user.id || !self.store.spend_mfa_token(&digest).await? {
            return Err(invalid());
        }
        self.start_session(signed_in, SignInMethod::Passkey, client, replaces)
            .await
    }

    /// The user whose passkey made `credential` for `ceremony`, once the assertion verifies
    /// (user verification included) and its counter went up; `401 invalid_credentials` for
    /// every failure, a regressed counter recorded as `passkey.counter_regressed`.
    async fn verify_sign_in(
        &self,
        ceremony: &Ceremony,
        credential: &serde_json::Value,
        step: Step,
        client: &ClientInfo,
    ) -> Result<User> {
        let rp = self.relying_party()?;
        let now = self.ambient.now();
        let Some(assertion) = passkey::parse_assertion(credential) else {
            return Err(self.passkey_failed(step, ceremony.user_id, client).await);
        };
        let Some(stored) = self
            .store
            .passkey_by_credential(assertion.get_credential_id())
            .await?
        else {
            return Err(self.passkey_failed(step, ceremony.user_id, client).await);
        };
        let owner = stored.user_id;
        let handle_is_owners =
            assertion.get_user_unique_id() == Some(owner.0.as_bytes().as_slice());
        let (checked, claimed) = match CeremonyState::from_json(&ceremony.state)? {
            CeremonyState::User { state } if ceremony.user_id == Some(owner) => {
                (rp.finish_user_sign_in(&assertion, &state), Some(owner))
            }
            CeremonyState::Discoverable { state } if handle_is_owners => {
                let key = passkey::passkey_from_json(&stored.credential)?;
                (
                    rp.finish_discoverable_sign_in(&assertion, state, &key),
                    Some(owner),
                )
            }
            // Someone else's passkey for this ceremony: recorded against no one's account.
            _ => (Err(SignInRefusal::Invalid), ceremony.user_id),
        };
        let result = match checked {
            Ok(result) if result.user_verified() => result,
            Ok(_) | Err(SignInRefusal::Invalid) => {
                return Err(self.passkey_failed(step, claimed, client).await);
            }
            Err(SignInRefusal::CounterRegressed) => {
                return Err(self.counter_regressed(&stored, client).await);
            }
        };
        let counter = i64::from(result.counter());
        if (counter > 0 || stored.sign_count > 0) && counter <= stored.sign_count {
            return Err(self.counter_regressed(&stored, client).await);
        }
        let mut key = passkey::passkey_from_json(&stored.credential)?;
        key.update_credential(&result);
        if !self
            .store
            .record_passkey_use(stored.id, &passkey::passkey_to_json(&key)?, counter, now)
            .await?
        {
            return Err(self.counter_regressed(&stored, client).await);
        }
        match self.store.user_by_id(owner).await? {
            Some(user) if !user.disabled => Ok(user),
            _ => {
                let event = events::login_failed(Some(owner), "disabled", client, now);
                self.audit.append(vec![event]).await?;
                Err(invalid())
            }
        }
    }

    /// Records a passkey answer that did not verify (`auth.login_failed` with reason
    /// `passkey_invalid` for a sign-in, `auth.mfa_failed` for a second step), against `user`
    /// only when it was that user's own ceremony or passkey; returns the refusal.
    async fn passkey_failed(&self, step: Step, user: Option<UserId>, client: &ClientInfo) -> Error {
        let now = self.ambient.now();
        let event = match (step, user) {
            (Step::SecondStep, Some(user)) => {
                user_event("auth.mfa_failed", user, client, now).outcome(Outcome::Failure)
            }
            _ => events::login_failed(user, "passkey_invalid", client, now),
        };
        match self.audit.append(vec![event]).await {
            Ok(_) => invalid(),
            Err(e) => e,
        }
    }

    /// Records `passkey.counter_regressed` (a cloned authenticator, or a replayed answer) and
    /// returns the refusal.
    async fn counter_regressed(&self, stored: &StoredPasskey, client: &ClientInfo) -> Error {
        let now = self.ambient.now();
        let event = passkey_event(
            "passkey.counter_regressed",
            stored.user_id,
            stored.id,
            client,
            now,
        )
        .outcome(Outcome::Failure)
        .details(json!({ "stored_count": stored.sign_count }));
        match self.audit.append(vec![event]).await {
            Ok(_) => invalid(),
            Err(e) => e,
        }
    }
}
