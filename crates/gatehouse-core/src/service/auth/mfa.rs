//! Second factors (SPEC §15): TOTP enrollment, confirmation with recovery codes, disabling and
//! regenerating; the second step of a sign-in, by an `otp` in the request or by an `mfa_token`
//! finished at `POST /v1/auth/login/mfa`. A wrong code counts toward the account's lockout like
//! a wrong password.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::{AuthService, ClientInfo, SessionPrincipal, credentials::lockout_key};
use crate::audit::{Actor, Category, Chain, NewEvent, Outcome, Target};
use crate::error::{AuthFailure, ConflictReason, MfaChallenge};
use crate::ids::UserId;
use crate::secret::{SecretString, hmac_sha256};
use crate::store::{MfaTokenAttempt, TotpRecord, User};
use crate::token;
use crate::totp;
use crate::vault::Keyring;
use crate::{Error, Result};

/// A pending enrollment lasts this long.
pub const ENROLLMENT_TTL: Duration = Duration::from_secs(15 * 60);
/// An `mfa_token` lasts this long.
pub const MFA_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);
/// Codes tried on one `mfa_token` before it is void.
pub const MFA_TOKEN_ATTEMPTS: i64 = 5;

/// What second factors need from the deployment: the master secrets that seal seeds, and the
/// issuer authenticator apps show.
#[derive(Clone)]
pub struct MfaKeys {
    pub keyring: Arc<Keyring>,
    pub issuer: String,
}

/// How a sign-in's second step was made (`auth.login_succeeded`'s `method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInMethod {
    Password,
    Totp,
    RecoveryCode,
    Passkey,
    EmailCode,
    EmailLink,
    Oidc,
}

impl SignInMethod {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Password => "password",
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
            Self::Passkey => "passkey",
            Self::EmailCode => "email_code",
            Self::EmailLink => "email_link",
            Self::Oidc => "oidc",
        }
    }
}

/// `GET /v1/auth/mfa`, without passkeys.
#[derive(Debug, Clone)]
pub struct MfaStatus {
    pub totp_enabled: bool,
    pub totp_created_at: Option<OffsetDateTime>,
    pub totp_last_used_at: Option<OffsetDateTime>,
    pub recovery_codes_left: i64,
}

/// A pending enrollment: the seed as the app takes it, shown once.
pub struct Enrollment {
    pub secret: SecretString,
    pub otpauth_uri: SecretString,
    pub expires_at: OffsetDateTime,
}

/// The digest a recovery code is stored as: HMAC-SHA256 under a key derived from the user's
/// seed, which is sealed under the master secret (so a database dump alone cannot test guesses)
/// and re-sealed, unchanged, by `secrets reencrypt` (so the codes outlive a rotation).
fn recovery_digest(seed: &[u8], canonical: &str) -> Vec<u8> {
    let key = hmac_sha256(seed, &[b"gatehouse/recovery-codes/v1"]);
    hmac_sha256(&key, &[canonical.as_bytes()]).to_vec()
}

/// The associated data a seed is sealed with: it opens for this user only.
#[must_use]
pub fn seed_aad(user: UserId) -> Vec<u8> {
    format!("gatehouse/totp/v1\0{user}").into_bytes()
}

fn invalid() -> Error {
    Error::Unauthenticated(AuthFailure::InvalidCredentials)
}

pub(super) fn user_event(
    action: &str,
    user: UserId,
    client: &ClientInfo,
    at: OffsetDateTime,
) -> NewEvent {
    NewEvent::new(
        Chain::System,
        Category::Security,
        action,
        Actor::User(user),
        client,
        at,
    )
    .target(Target::new("user", user))
    .subject(Some(user))
}

impl AuthService {
    fn mfa(&self) -> Result<&MfaKeys> {
        self.mfa
            .as_ref()
            .ok_or_else(|| Error::internal("second factors are not configured"))
    }

    /// The user's confirmed seed, opened; `None` when TOTP is off (or only pending).
    async fn confirmed_seed(
        &self,
        user: UserId,
    ) -> Result<Option<(TotpRecord, Zeroizing<Vec<u8>>)>> {
        let Some(record) = self.store.totp(user).await? else {
            return Ok(None);
        };
        if record.confirmed_at.is_none() {
            return Ok(None);
        }
        let opened =
            self.mfa()?
                .keyring
                .open(Some(&record.sealed_by), &seed_aad(user), &record.sealed)?;
        Ok(Some((record, opened.plaintext)))
    }

    pub async fn mfa_status(&self, user: UserId) -> Result<MfaStatus> {
        let record = self.store.totp(user).await?;
        let confirmed = record.filter(|r| r.confirmed_at.is_some());
        Ok(MfaStatus {
            totp_enabled: confirmed.is_some(),
            totp_created_at: confirmed.as_ref().and_then(|r| r.confirmed_at),
            totp_last_used_at: confirmed.as_ref().and_then(|r| r.last_used_at),
            recovery_codes_left: self.store.recovery_codes_left(user).await?,
        })
    }

    /// `POST /v1/auth/mfa/totp`: a new pending seed, after the current password.
    pub async fn start_totp(
        &self,
        principal: &SessionPrincipal,
        current_password: &str,
        client: &ClientInfo,
    ) -> Result<Enrollment> {
        self.confirm_current(principal, current_password, None, client)
            .await?;
        let keys = self.mfa()?;
        let user = &principal.user;
        let seed: [u8; totp::SEED_BYTES] = self.ambient.bytes()?;
        let seed = zeroize::Zeroizing::new(seed);
        let seed = seed.as_slice();
        let now = self.ambient.now();
        let record = TotpRecord {
            user_id: user.id,
            sealed: keys
                .keyring
                .seal(self.ambient.random(), &seed_aad(user.id), seed)?,
            sealed_by: keys.keyring.current_id().to_owned(),
            created_at: now,
            pending_until: now + ENROLLMENT_TTL,
            confirmed_at: None,
            last_used_step: -1,
            last_used_at: None,
        };
        if !self.store.put_pending_totp(&record).await? {
            return Err(Error::Conflict(ConflictReason::TotpEnabled));
        }
        Ok(Enrollment {
            secret: totp::seed_text(seed).into(),
            otpauth_uri: totp::otpauth_uri(&keys.issuer, &user.email, seed).into(),
            expires_at: record.pending_until,
        })
    }

    /// `POST /v1/auth/mfa/totp/confirm`: the first code turns TOTP on (its step counts as used)
    /// and returns the ten recovery codes, shown once.
    pub async fn confirm_totp(
        &self,
        user: UserId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<SecretString>> {
        let now = self.ambient.now();
        let pending = self
            .store
            .totp(user)
            .await?
            .filter(|r| r.confirmed_at.is_none() && now < r.pending_until)
            .ok_or_else(|| Error::field("code", "no_enrollment"))?;
        let opened =
            self.mfa()?
                .keyring
                .open(Some(&pending.sealed_by), &seed_aad(user), &pending.sealed)?;
        let step = totp::matching_step(&opened.plaintext, code, now, -1)
            .ok_or_else(|| Error::field("code", "invalid"))?;
        let (codes, digests) = self.new_recovery_codes(&opened.plaintext)?;
        let event = user_event("mfa.totp_enabled", user, client, now);
        if !self
            .store
            .confirm_totp(user, &pending.sealed, step, now, &digests, &[event])
            .await?
        {
            return Err(Error::field("code", "no_enrollment"));
        }
        Ok(codes)
    }

    /// `DELETE /v1/auth/mfa/totp`: the current password and a code; the recovery codes go too.
    pub async fn disable_totp(
        &self,
        principal: &SessionPrincipal,
        current_password: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let user = principal.user.id;
        if self.confirmed_seed(user).await?.is_none() {
            return Err(Error::NotFound);
        }
        self.confirm_current(principal, current_password, Some(code), client)
            .await?;
        let event = user_event("mfa.totp_disabled", user, client, self.ambient.now());
        if self.store.delete_totp(user, &[event]).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// `POST /v1/auth/mfa/recovery-codes`: a new set; the old one is void.
    pub async fn regenerate_recovery_codes(
        &self,
        principal: &SessionPrincipal,
        current_password: &str,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<SecretString>> {
        let user = principal.user.id;
        let Some((_, seed)) = self.confirmed_seed(user).await? else {
            return Err(Error::NotFound);
        };
        self.confirm_current(principal, current_password, Some(code), client)
            .await?;
        let (codes, digests) = self.new_recovery_codes(&seed)?;
        let event = user_event(
            "mfa.recovery_codes_regenerated",
            user,
            client,
            self.ambient.now(),
        );
        self.store
            .replace_recovery_codes(user, &digests, &[event])
            .await?;
        Ok(codes)
    }

    /// Ten codes and their digests (under `seed`'s key).
    fn new_recovery_codes(&self, seed: &[u8]) -> Result<(Vec<SecretString>, Vec<Vec<u8>>)> {
        let mut codes = Vec::with_capacity(totp::RECOVERY_CODES);
        let mut digests = Vec::with_capacity(totp::RECOVERY_CODES);
        while codes.len() < totp::RECOVERY_CODES {
            let word: [u8; 8] = self.ambient.bytes()?;
            let code = totp::recovery_code(u64::from_be_bytes(word) >> 4);
            let canonical = totp::normalize_recovery_code(&code)
                .ok_or_else(|| Error::internal("recovery code does not read back"))?;
            let digest = recovery_digest(seed, &canonical);
            if digests.contains(&digest) {
                continue;
            }
            digests.push(digest);
            codes.push(code.into());
        }
        Ok((codes, digests))
    }

    /// The current password (and `code`, when given) of a signed-in user, under the account's
    /// lockout: a wrong one of either counts like a wrong sign-in.
    pub(super) async fn confirm_current(
        &self,
        principal: &SessionPrincipal,
        current_password: &str,
        code: Option<&str>,
        client: &ClientInfo,
    ) -> Result<()> {
        let user = &principal.user;
        let key = lockout_key(&user.email);
        let check = async {
            let outcome = match self.password_matches(&key, user, current_password).await {
                Ok(true) => match code {
                    Some(code) => self.second_factor(user, code, client).await.map(|_| ()),
                    None => Ok(()),
                },
                Ok(false) => Err(invalid()),
                Err(e) => Err(e),
            };
            (outcome, Some(user.id))
        };
        self.with_lockout(&key, client, check).await
    }

    /// The second step for `user`: a TOTP code for a later step than the last used, or an unused
    /// recovery code. A wrong one is `auth.mfa_failed` and `401 invalid_credentials`.
    pub(super) async fn second_factor(
        &self,
        user: &User,
        otp: &str,
        client: &ClientInfo,
    ) -> Result<SignInMethod> {
        let Some((record, seed)) = self.confirmed_seed(user.id).await? else {
            return Err(invalid());
        };
        let now = self.ambient.now();
        if let Some(step) = totp::matching_step(&seed, otp, now, record.last_used_step)
            && self.store.advance_totp_step(user.id, step, now).await?
        {
            return Ok(SignInMethod::Totp);
        }
        if let Some(canonical) = totp::normalize_recovery_code(otp) {
            let digest = recovery_digest(&seed, &canonical);
            if let Some(left) = self.store.use_recovery_code(user.id, &digest, now).await? {
                let event = user_event("mfa.recovery_code_used", user.id, client, now)
                    .details(json!({ "remaining": left }));
                self.audit.append(vec![event]).await?;
                return Ok(SignInMethod::RecoveryCode);
            }
        }
        let event = user_event("auth.mfa_failed", user.id, client, now).outcome(Outcome::Failure);
        self.audit.append(vec![event]).await?;
        Err(invalid())
    }

    /// After a right password: `Password` for an account without TOTP (passkeys alone do not
    /// ask for a second step, SPEC §15); with it, the `otp` given, or (none given)
    /// `mfa_required` with a new `mfa_token`.
    pub(super) async fn second_step(
        &self,
        user: &User,
        otp: Option<&str>,
        client: &ClientInfo,
    ) -> Result<SignInMethod> {
        let has_totp = self
            .store
            .totp(user.id)
            .await?
            .is_some_and(|r| r.confirmed_at.is_some());
        if !has_totp {
            return Ok(SignInMethod::Password);
        }
        match otp {
            Some(otp) => self.second_factor(user, otp, client).await,
            None => Err(self.challenge(user).await?),
        }
    }

    /// `mfa_required`: a new `mfa_token`, and for a user with passkeys a ceremony for finishing
    /// with one of them.
    async fn challenge(&self, user: &User) -> Result<Error> {
        let token = self.ambient.token()?;
        let now = self.ambient.now();
        let expires_at = now + MFA_TOKEN_TTL;
        self.store
            .create_mfa_token(
                &token::digest(&token),
                user.id,
                user.credential_epoch,
                now,
                expires_at,
            )
            .await?;
        let mut methods = vec!["totp", "recovery_code"];
        let passkeys = self.store.passkeys(user.id).await?;
        let passkey = self.begin_user_sign_in(user.id, &passkeys).await?;
        if passkey.is_some() {
            methods.push("passkey");
        }
        Ok(Error::MfaRequired(Box::new(MfaChallenge {
            token,
            methods,
            expires_at,
            passkey,
        })))
    }

    /// `POST /v1/auth/login/mfa`: the user an `mfa_token` was given to, once its code is right.
    /// Unknown, lapsed, spent or exhausted tokens, a credential change since, and wrong codes
    /// are all `401 invalid_credentials`.
    pub(super) async fn finish_second_step(
        &self,
        mfa_token: &str,
        otp: &str,
        client: &ClientInfo,
    ) -> Result<(User, SignInMethod)> {
        let (digest, user) = self.mfa_token_user(mfa_token).await?;
        let key = lockout_key(&user.email);
        let check = async {
            let outcome = self.second_factor(&user, otp, client).await;
            (outcome.map(|m| (user.clone(), m)), Some(user.id))
        };
        let (user, method) = self.with_lockout(&key, client, check).await?;
        if !self.store.spend_mfa_token(&digest).await? {
            return Err(invalid());
        }
        Ok((user, method))
    }

    /// The user a live `mfa_token` was given to, counting this attempt; its digest to spend it.
    pub(super) async fn mfa_token_user(&self, mfa_token: &str) -> Result<(Vec<u8>, User)> {
        if !token::looks_like_token(mfa_token) {
            return Err(invalid());
        }
        let digest = token::digest(mfa_token);
        let now = self.ambient.now();
        let MfaTokenAttempt::Counted {
            user_id,
            credential_epoch,
            ..
        } = self
            .store
            .attempt_mfa_token(&digest, now, MFA_TOKEN_ATTEMPTS)
            .await?
        else {
            return Err(invalid());
        };
        let Some(user) = self.store.user_by_id(user_id).await? else {
            return Err(invalid());
        };
        if user.disabled || user.credential_epoch != credential_epoch {
            return Err(invalid());
        }
        Ok((digest, user))
    }
}
