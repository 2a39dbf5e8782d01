//! Checking an email and password: lockout first (no hashing while an email is locked or
//! busy), then the same work and the same answer for every kind of failure, each recorded.

use time::OffsetDateTime;

use super::mfa::SignInMethod;
use super::{AuthService, ClientInfo};
use crate::email::Email;
use crate::error::AuthFailure;
use crate::ids::UserId;
use crate::password::{MAX_PASSWORD_BYTES, Verified};
use crate::service::events;
use crate::store::{Attempt, User};
use crate::{Error, Result};

impl AuthService {
    /// Email and password to the user: the same `401 invalid_credentials`, after the same work,
    /// for an unknown email, a wrong password and a disabled account (each recorded as
    /// `auth.login_failed` with its reason). Re-hashes to the current parameters on success.
    /// Lockout comes first: while the normalized email is locked, or when as many checks as the
    /// lockout allows are already under way, the answer is `429` with no password work at all;
    /// the failure that reaches the limit locks the email for the window (`auth.locked`). Used
    /// by sign-in and by the token endpoint's password grant.
    pub async fn check_password(
        &self,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> Result<User> {
        self.check_sign_in(email, password, None, client)
            .await
            .map(|(user, _)| user)
    }

    /// [`Self::check_password`], then the second step (SPEC §15) for an account with a second
    /// factor: the `otp` given (a wrong one counts toward the lockout like a wrong password),
    /// or without one `mfa_required` with a new `mfa_token`.
    pub async fn check_sign_in(
        &self,
        email: &str,
        password: &str,
        otp: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(User, SignInMethod)> {
        let key = lockout_key(email);
        let check = async {
            let (checked, id) = self.verify_credentials(&key, email, password, client).await;
            let outcome = match checked {
                Ok(user) => match self.second_step(&user, otp, client).await {
                    Ok(method) => Ok((user, method)),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            (outcome, id)
        };
        self.with_lockout(&key, client, check).await
    }

    /// Whether `password` is `user`'s (hashing under the lockout key `key`).
    pub(super) async fn password_matches(
        &self,
        key: &str,
        user: &User,
        password: &str,
    ) -> Result<bool> {
        match &user.password_hash {
            Some(hash) if password.len() <= MAX_PASSWORD_BYTES => {
                Ok(self.hasher.verify(key, password, hash).await? != Verified::No)
            }
            _ => Ok(false),
        }
    }

    /// Runs the password check `check` for the account whose lockout key is `key`, under the
    /// lockout (SPEC §8): nothing runs while the key is locked or busy; a wrong password counts
    /// toward the lock, the one that reaches the limit locks it (`auth.locked`), a right one
    /// clears the count. Sign-in, the token grant and password change all come through here.
    pub(super) async fn with_lockout<T>(
        &self,
        key: &str,
        client: &ClientInfo,
        check: impl Future<Output = (Result<T>, Option<UserId>)>,
    ) -> Result<T> {
        // The hasher is full for this account: refuse before the lockout's database work.
        if self.hasher.is_full(key) {
            return Err(Error::RateLimited {
                retry_after_secs: 1,
            });
        }
        let Some(lockout) = self.settings.lockout else {
            return check.await.0;
        };
        let now_ms = unix_ms(self.ambient.now());
        let window_ms = lockout.period.as_millis() as i64;
        match self
            .store
            .reserve_attempt(key, now_ms, lockout.count, window_ms)
            .await?
        {
            Attempt::Allowed => {}
            Attempt::Locked { until_ms } => {
                let retry_after_secs = ((until_ms - now_ms).max(0) as u64).div_ceil(1000).max(1);
                return Err(Error::RateLimited { retry_after_secs });
            }
            // As many checks as allowed are running: one of them ends in well under a second.
            Attempt::Busy => {
                return Err(Error::RateLimited {
                    retry_after_secs: 1,
                });
            }
        }
        let (outcome, user) = check.await;
        match &outcome {
            Ok(_) => {
                self.store.unlock(key).await?;
            }
            Err(Error::Unauthenticated(AuthFailure::InvalidCredentials)) => {
                let now = self.ambient.now();
                let event = events::locked(user, now + lockout.period, client, now);
                self.store
                    .record_failure(key, unix_ms(now), lockout.count, window_ms, &[event])
                    .await?;
            }
            // No verdict on the password (the hasher was full, the database failed): the check
            // gives its reservation back, so it neither counts as a guess nor holds a place.
            Err(_) => {
                self.store.release_attempt(key).await?;
            }
        }
        outcome
    }

    /// The credential check itself; also says which user it was about, if any.
    async fn verify_credentials(
        &self,
        key: &str,
        email: &str,
        password: &str,
        client: &ClientInfo,
    ) -> (Result<User>, Option<UserId>) {
        let invalid = Error::Unauthenticated(AuthFailure::InvalidCredentials);
        if password.len() > MAX_PASSWORD_BYTES {
            return (Err(invalid), None);
        }
        let user = match Email::parse(email) {
            Ok(email) => match self.store.user_by_email_key(email.key()).await {
                Ok(u) => u,
                Err(e) => return (Err(e), None),
            },
            Err(_) => None,
        };
        let Some(user) = user else {
            let done = async {
                self.hasher.verify_dummy(key, password).await?;
                self.login_failed(None, "unknown_email", client).await
            };
            return (done.await.and(Err(invalid)), None);
        };
        let id = user.id;
        let checked = async {
            let verified = if let Some(hash) = &user.password_hash {
                self.hasher.verify(key, password, hash).await?
            } else {
                self.hasher.verify_dummy(key, password).await?;
                Verified::No
            };
            if verified == Verified::No || user.disabled {
                let reason = if user.disabled {
                    "disabled"
                } else {
                    "wrong_password"
                };
                self.login_failed(Some(user.id), reason, client).await?;
                return Err(invalid);
            }
            if let (Verified::YesRehash, Some(hash)) = (verified, &user.password_hash) {
                // Only over the hash just verified: a password changed meanwhile stays.
                let fresh = self
                    .hasher
                    .hash(key, password, self.ambient.bytes()?)
                    .await?;
                self.store
                    .upgrade_password_hash(user.id, hash, &fresh)
                    .await?;
            }
            Ok(user)
        };
        (checked.await, Some(id))
    }

    /// `auth.login_failed`, durable before the `401` goes out.
    async fn login_failed(
        &self,
        user: Option<UserId>,
        reason: &str,
        client: &ClientInfo,
    ) -> Result<()> {
        let event = events::login_failed(user, reason, client, self.ambient.now());
        self.audit.append(vec![event]).await.map(|_| ())
    }
}

/// The lockout key of what was typed as an email: its normalized form, or (not an email at
/// all) the trimmed, lowercased text, bounded.
pub(super) fn lockout_key(email: &str) -> String {
    match Email::parse(email) {
        Ok(e) => e.key().to_owned(),
        Err(_) => email.trim().to_lowercase().chars().take(320).collect(),
    }
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}
