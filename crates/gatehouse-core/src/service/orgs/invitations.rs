//! Invitations (SPEC §6): issued by owners and admins (at most so many per inviter and window),
//! listed and revoked by them, accepted by the invited address. An anonymous accept answers the
//! same whether or not the address has an account: the password is checked against the policy
//! and hashed either way, and the answer is "sign in to continue" either way.

use crate::secret::SecretString;
use std::collections::BTreeMap;
use std::sync::Arc;

use super::OrgService;
use crate::audit::Actor;
use crate::email::Email;
use crate::error::{AuthFailure, ConflictReason, ForbiddenReason};
use crate::ids::{InvitationId, UserId};
use crate::rate_limit::Limit;
use crate::role::{self, Role};
use crate::service::ClientInfo;
use crate::service::access::{Manager, OrgAccess, Principal, insufficient_scope};
use crate::service::events;
use crate::service::limiter::RateLimiter;
use crate::store::{Invitation, Invitee, Org, User};
use crate::token;
use crate::{Error, Result};

/// A freshly created invitation; `token` is shown once and never stored.
pub struct IssuedInvitation {
    pub invitation: Invitation,
    pub token: SecretString,
}

/// A signed-in user who is a member through an invitation.
#[derive(Debug)]
pub struct Joined {
    pub user: User,
    pub org: Org,
    pub role: Role,
}

/// How an accept ended.
#[derive(Debug)]
pub enum Accepted {
    /// The signed-in user with the invited address is a member (joined now, or already through
    /// this invitation).
    Joined(Joined),
    /// Anonymous: the invited address signs in next (and accepts again, signed in). The same
    /// whether an account was created and joined now or the address already had one.
    SignIn { org: Org, email: String, role: Role },
}

/// Invitations per inviter (across orgs) and window: GCRA on the server's rate limiter, so the
/// `database` backend shares the budget between instances.
pub struct InvitationLimit {
    limiter: Arc<RateLimiter>,
    limit: Limit,
}

impl InvitationLimit {
    #[must_use]
    pub fn new(limiter: Arc<RateLimiter>, limit: Limit) -> Self {
        Self { limiter, limit }
    }

    /// Counts one invitation of `inviter`; `RateLimited` (with the wait) over the limit.
    pub async fn admit(&self, inviter: UserId) -> Result<()> {
        let decision = self
            .limiter
            .check(&format!("invitations:{inviter}"), self.limit)
            .await?;
        if decision.allowed {
            Ok(())
        } else {
            Err(Error::RateLimited {
                retry_after_secs: decision.retry_after_secs,
            })
        }
    }
}

impl OrgService {
    /// `POST /v1/orgs/{org}/invitations`: a single-use token bound to `email`.
    pub async fn invite(
        &self,
        manager: &Manager<'_>,
        email: &str,
        role: &str,
        client: &ClientInfo,
    ) -> Result<IssuedInvitation> {
        let email = Email::parse(email);
        let role_parsed = Role::parse(role);
        let mut fields = BTreeMap::new();
        if let Err(Error::Validation(f)) = &email {
            fields.extend(f.clone());
        }
        if role_parsed.is_none() {
            fields.insert("role".to_owned(), "invalid".to_owned());
        }
        let (Ok(email), Some(role), true) = (email, role_parsed, fields.is_empty()) else {
            return Err(Error::Validation(fields));
        };
        role::check_invite(manager.role(), role)?;
        self.invitation_limit.admit(manager.user()).await?;
        let now = self.ambient.now();
        let invitation = Invitation {
            id: self.ambient.id()?,
            org_id: manager.org().id,
            email: email.as_str().to_owned(),
            email_key: email.key().to_owned(),
            role,
            created_by: manager.user(),
            created_at: now,
            expires_at: now + self.invitation_ttl,
            accepted_at: None,
        };
        let token = self.ambient.token()?;
        let event = events::invitation_created(&invitation, client);
        self.store
            .create_invitation(&invitation, &token::digest(&token), &[event])
            .await?;
        Ok(IssuedInvitation {
            invitation,
            token: token.into(),
        })
    }

    /// `GET /v1/orgs/{org}/invitations`: pending invitations (never their tokens).
    pub async fn invitations(&self, manager: &Manager<'_>) -> Result<Vec<Invitation>> {
        self.store
            .pending_invitations(manager.org().id, self.ambient.now())
            .await
    }

    /// `DELETE /v1/orgs/{org}/invitations/{id}`: the id is resolved inside the org first (another
    /// org's id, or a spent invitation: `404`), then the caller must be a manager who could have
    /// issued it (admins do not revoke owner invitations).
    pub async fn revoke_invitation(
        &self,
        access: &OrgAccess,
        id: InvitationId,
        client: &ClientInfo,
    ) -> Result<()> {
        let invitation = self
            .store
            .invitation(access.org().id, id)
            .await?
            .filter(|i| i.accepted_at.is_none())
            .ok_or(Error::NotFound)?;
        let manager = access.manager()?;
        role::check_invite(manager.role(), invitation.role)?;
        let event =
            events::invitation_revoked(&invitation, manager.user(), client, self.ambient.now());
        if self
            .store
            .revoke_invitation(manager.org().id, id, &[event])
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// `POST /v1/invitations/accept`. Signed in: the user whose address was invited joins (and a
    /// second accept of the invitation they spent answers the same). Anonymous: the password is
    /// checked and hashed, then the account is created and joins when the address has none; the
    /// answer is [`Accepted::SignIn`] either way. Unknown, spent, revoked or dead invitations (the
    /// inviter no longer holds a role that could issue it): `404`; expired: `401 token_expired`.
    pub async fn accept(
        &self,
        principal: Option<&Principal>,
        token: &str,
        password: Option<&str>,
        name: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Accepted> {
        let user = match principal {
            Some(p) => Some(p.user().map_err(|_| insufficient_scope())?),
            None => None,
        };
        if !token::looks_like_token(token) {
            return Err(Error::NotFound);
        }
        let (invitation, org) = self
            .store
            .invitation_by_digest(&token::digest(token))
            .await?
            .ok_or(Error::NotFound)?;
        let invited = |u: &User| {
            Email::parse(&u.email).is_ok_and(|e| e.key() == invitation.email_key.as_str())
        };
        if invitation.accepted_at.is_some() {
            // Spent: only by this address. Still a member: the same answer as joining.
            return match user.filter(|u| invited(u)) {
                Some(u) => match self.store.org_for_member(org.id, u.id).await? {
                    Some(m) => Ok(Accepted::Joined(Joined {
                        user: u.clone(),
                        org: m.org,
                        role: m.role,
                    })),
                    None => Err(Error::NotFound),
                },
                None => Err(Error::NotFound),
            };
        }
        let now = self.ambient.now();
        if invitation.expires_at <= now {
            return Err(Error::Unauthenticated(AuthFailure::Expired));
        }
        let Some(user) = user else {
            return self
                .accept_anonymously(invitation, org, password, name, client)
                .await;
        };
        if !invited(user) {
            return Err(Error::Forbidden(ForbiddenReason::Forbidden));
        }
        let event = events::invitation_accepted(
            invitation.org_id,
            invitation.id,
            user.id,
            invitation.role,
            client,
            now,
        );
        self.store
            .accept_invitation(&invitation, &Invitee::Existing(user.id), now, &[event])
            .await?;
        Ok(Accepted::Joined(Joined {
            user: user.clone(),
            org,
            role: invitation.role,
        }))
    }

    /// The anonymous accept: every check that does not depend on an account existing comes
    /// first (password required and policy, name), the password is hashed, and the store is
    /// asked to create the account; an address that already has one makes that insert fail
    /// (nothing is spent) and the answer is the same.
    async fn accept_anonymously(
        &self,
        invitation: Invitation,
        org: Org,
        password: Option<&str>,
        name: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Accepted> {
        let password = password.ok_or_else(|| Error::field("password", "required"))?;
        let new = self
            .auth
            .new_user(&invitation.email, password, name, false)
            .await?;
        let now = self.ambient.now();
        let audit = [
            events::user_created(&new, Actor::User(new.id), client, now),
            events::invitation_accepted(
                invitation.org_id,
                invitation.id,
                new.id,
                invitation.role,
                client,
                now,
            ),
        ];
        match self
            .store
            .accept_invitation(&invitation, &Invitee::New(new), now, &audit)
            .await
        {
            Ok(()) | Err(Error::Conflict(ConflictReason::EmailTaken)) => Ok(Accepted::SignIn {
                org,
                email: invitation.email,
                role: invitation.role,
            }),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use time::OffsetDateTime;

    use super::*;
    use crate::clock::ManualClock;
    use crate::rate_limit::MemoryLimiter;
    use crate::service::limiter::Backend;

    #[allow(clippy::needless_pass_by_value)] // a predicate over the result it is handed
    fn retry_after(r: Result<()>) -> Option<u64> {
        match r {
            Err(Error::RateLimited { retry_after_secs }) => Some(retry_after_secs),
            _ => None,
        }
    }

    /// 30 an hour: a burst of 30, then one every two minutes; an hour later the whole burst is
    /// back; each inviter counts alone.
    #[tokio::test]
    async fn invitations_per_inviter_follow_the_window() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let clock = Arc::new(ManualClock::new(t0));
        let limiter = Arc::new(RateLimiter::new(
            Backend::Memory(MemoryLimiter::default()),
            clock.clone(),
        ));
        let limit = InvitationLimit::new(
            limiter,
            Limit {
                count: 30,
                period: Duration::from_secs(3600),
            },
        );
        let (alice, bob) = (UserId::new(), UserId::new());
        for i in 0..30 {
            assert!(limit.admit(alice).await.is_ok(), "invitation {i}");
        }
        assert_eq!(
            retry_after(limit.admit(alice).await),
            Some(120),
            "the 31st waits"
        );
        assert!(
            limit.admit(bob).await.is_ok(),
            "another inviter has a budget of their own"
        );
        clock.advance(Duration::from_secs(119));
        assert_eq!(retry_after(limit.admit(alice).await), Some(1));
        clock.advance(Duration::from_secs(1));
        assert!(
            limit.admit(alice).await.is_ok(),
            "one more every two minutes"
        );
        assert!(retry_after(limit.admit(alice).await).is_some());
        clock.advance(Duration::from_secs(3600));
        for i in 0..30 {
            assert!(limit.admit(alice).await.is_ok(), "an hour later, {i}");
        }
        assert!(retry_after(limit.admit(alice).await).is_some());
    }
}
