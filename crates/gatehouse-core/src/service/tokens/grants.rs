//! The grants: a password for a token pair, a refresh token rotated for a new pair (its reuse
//! revoking the family), and revocation (RFC 7009).

use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{Actor, Category, Chain, NewEvent, Outcome, Target};
use crate::error::AuthFailure;
use crate::ids::OrgId;
use crate::jwt::{self};
use crate::scope::Scopes;
use crate::service::ClientInfo;
use crate::store::{RefreshToken, Rotation, TokenFamily};
use crate::token_policy::{Refusal, role_may_hold};
use crate::{Error, Result, token};

use super::{Issued, REFRESH_PREFIX, TokenService, revoked, token_event};

impl TokenService {
    /// `grant_type=password`: the user's credentials, an optional org they belong to, and the
    /// scopes asked for (at most what their role there allows).
    pub async fn password_grant(
        &self,
        email: &str,
        password: &str,
        org: Option<&str>,
        scope: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Issued> {
        self.password_grant_with(email, password, None, org, scope, client)
            .await
    }

    /// [`Self::password_grant`] with the second step's `otp` (SPEC §15): an account with a
    /// second factor answers `mfa_required` without one.
    pub async fn password_grant_with(
        &self,
        email: &str,
        password: &str,
        otp: Option<&str>,
        org: Option<&str>,
        scope: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Issued> {
        // What can be judged without the account first, so a malformed request spends no
        // one-time code.
        let requested: Vec<String> = scope
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let asked = match org {
            None if requested.is_empty() => None,
            None => return Err(Error::field("scope", "needs_org")),
            Some(o) => {
                let org_id: OrgId = o
                    .parse()
                    .map_err(|_| Error::field("org_id", "not_a_member"))?;
                let scopes = Scopes::parse_for_token(&requested)?.as_slice().to_vec();
                Some((org_id, scopes))
            }
        };
        let (user, _) = self
            .auth
            .check_sign_in(email, password, otp, client)
            .await?;
        let (org_id, scopes) = match asked {
            None => (None, Vec::new()),
            Some((org_id, scopes)) => {
                let role = self
                    .store
                    .org_for_member(org_id, user.id)
                    .await?
                    .map(|m| m.role)
                    .ok_or_else(|| Error::field("org_id", "not_a_member"))?;
                let policy = self.store.token_scope_policy(org_id).await?;
                if !scopes.iter().all(|s| role_may_hold(role, s, &policy)) {
                    return Err(Error::field("scope", "not_allowed"));
                }
                (Some(org_id), scopes)
            }
        };
        let now = self.ambient.now();
        let family = TokenFamily {
            id: self.ambient.id()?,
            user_id: user.id,
            org_id,
            scope: scopes.join(" "),
            created_at: now,
            expires_at: now + self.settings.refresh_ttl,
            revoked_at: None,
            credential_epoch: user.credential_epoch,
        };
        let (refresh, secret) = self.new_refresh(&family, now)?;
        let event = token_event("token.issued", &family, Actor::User(user.id), client, now)
            .details(json!({ "grant": "password", "org_id": org_id, "scope": family.scope }));
        self.store
            .create_family(&family, &refresh, &token::digest(&secret), &[event])
            .await?;
        self.issue(&family, secret, now)
    }

    /// `grant_type=refresh_token`: spends the token and returns a new pair. A token presented
    /// twice revokes its whole family and records `token.refresh_reuse`.
    pub async fn refresh_grant(&self, presented: &str, client: &ClientInfo) -> Result<Issued> {
        let invalid = Error::Unauthenticated(AuthFailure::InvalidCredentials);
        if !presented
            .strip_prefix(REFRESH_PREFIX)
            .is_some_and(token::looks_like_token)
        {
            return Err(invalid);
        }
        let (old, family) = self
            .store
            .refresh_by_digest(&token::digest(presented))
            .await?
            .ok_or(invalid)?;
        let now = self.ambient.now();
        if family.revoked_at.is_some() {
            return Err(revoked());
        }
        if old.used_at.is_some() {
            self.reuse_detected(&family, client, now).await?;
            return Err(revoked());
        }
        if old.expires_at <= now {
            return Err(Error::Unauthenticated(AuthFailure::Expired));
        }
        let (next, secret) = self.new_refresh(&family, now)?;
        let event = token_event(
            "token.refreshed",
            &family,
            Actor::User(family.user_id),
            client,
            now,
        );
        let rotation = self
            .store
            .rotate_refresh(
                &family,
                old.id,
                &next,
                &token::digest(&secret),
                now,
                &[event],
            )
            .await?;
        match rotation {
            Rotation::Rotated => self.issue(&family, secret, now),
            Rotation::Spent => {
                // Spent in the meantime (a concurrent refresh with the same token): reuse.
                self.reuse_detected(&family, client, now).await?;
                Err(revoked())
            }
            // Revoked meanwhile (a logout-all, a demotion): no reuse, just over.
            Rotation::Revoked => Err(revoked()),
            // Its lifetime is over: nothing to revoke, sign in again.
            Rotation::Refused(Refusal::Expired) => {
                Err(Error::Unauthenticated(AuthFailure::Expired))
            }
            Rotation::Refused(refusal) => {
                self.refused(&family, refusal, client, now).await?;
                Err(revoked())
            }
        }
    }

    /// The re-check refused the family: it is revoked for good, with the reason recorded.
    async fn refused(
        &self,
        family: &TokenFamily,
        refusal: Refusal,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let reason = match refusal {
            Refusal::Expired => "family_expired",
            Refusal::Revoked(reason) => reason,
        };
        let event = token_event("token.revoked", family, Actor::System, client, now)
            .outcome(Outcome::Denied)
            .details(json!({ "kind": "refresh_family", "reason": reason }));
        self.store
            .revoke_family(family, now, &[event])
            .await
            .map(|_| ())
    }

    async fn reuse_detected(
        &self,
        family: &TokenFamily,
        client: &ClientInfo,
        now: OffsetDateTime,
    ) -> Result<()> {
        let event = NewEvent::new(
            Chain::System,
            Category::Security,
            "token.refresh_reuse",
            Actor::System,
            client,
            now,
        )
        .outcome(Outcome::Denied)
        .target(Target::new("token_family", family.id))
        .subject(Some(family.user_id));
        self.store
            .revoke_family(family, now, &[event])
            .await
            .map(|_| ())
    }

    /// `POST /v1/auth/revoke` (RFC 7009): a refresh token revokes its family; an access token its
    /// `jti` (until it expires). Anything else is ignored: the answer is the same. No credential
    /// authenticates the request (holding the token is enough), so the events' actor is
    /// `anonymous`; the token's owner is their subject.
    pub async fn revoke(&self, presented: &str, client: &ClientInfo) -> Result<()> {
        let now = self.ambient.now();
        if presented.starts_with(REFRESH_PREFIX) {
            if let Some((_, family)) = self
                .store
                .refresh_by_digest(&token::digest(presented))
                .await?
            {
                let event = token_event("token.revoked", &family, Actor::Anonymous, client, now)
                    .details(json!({ "kind": "refresh_token" }));
                self.store.revoke_family(&family, now, &[event]).await?;
            }
            return Ok(());
        }
        // An expired access token needs no revoking: it no longer works anyway.
        if let Ok(claims) = self.verify_offline(presented) {
            let expires =
                OffsetDateTime::from_unix_timestamp(claims.exp + jwt::LEEWAY_SECS).unwrap_or(now);
            let subject = claims.sub.parse().ok();
            let event = NewEvent::new(
                Chain::System,
                Category::Security,
                "token.revoked",
                Actor::Anonymous,
                client,
                now,
            )
            .target(Target::new("access_token", &claims.jti))
            .details(json!({ "kind": "access_token", "sid": claims.sid }))
            .subject(subject);
            self.store
                .revoke_jti(&claims.jti, expires, now, &[event])
                .await?;
        }
        Ok(())
    }

    /// A new refresh token of `family`: it expires with the family at the latest.
    fn new_refresh(
        &self,
        family: &TokenFamily,
        now: OffsetDateTime,
    ) -> Result<(RefreshToken, String)> {
        let secret = format!("{REFRESH_PREFIX}{}", self.ambient.token()?);
        let t = RefreshToken {
            id: self.ambient.id()?,
            family_id: family.id,
            created_at: now,
            expires_at: (now + self.settings.refresh_ttl).min(family.expires_at),
            used_at: None,
        };
        Ok((t, secret))
    }
}
