//! Orgs, members and invitations: the tenant API of SPEC §6, behind [`OrgAccess`].

use crate::token_policy::TokenScopePolicy;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::audit::Actor;
use crate::clock::Clock;
use crate::email::Email;
use crate::error::{AuthFailure, ForbiddenReason};
use crate::ids::{InvitationId, OrgId, UserId};
use crate::role::{self, Role};
use crate::service::ClientInfo;
use crate::service::access::{Manager, OrgAccess, Principal, insufficient_scope};
use crate::service::auth::{AuthService, new_org};
use crate::service::events;
use crate::service::key_cache::KeyCache;
use crate::store::{Invitation, Invitee, Member, Membership, Org, Store, User};
use crate::token;
use crate::{Error, Result};

/// A freshly created invitation; `token` is shown once and never stored.
#[derive(Debug)]
pub struct IssuedInvitation {
    pub invitation: Invitation,
    pub token: String,
}

/// The outcome of accepting an invitation.
#[derive(Debug)]
pub struct Joined {
    pub user: User,
    pub org: Org,
    pub role: Role,
    pub created_user: bool,
}

pub struct OrgService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    auth: Arc<AuthService>,
    /// Cached keys carry their org: renaming or deleting an org drops them here at once (other
    /// instances hear it from the store's change feed).
    key_cache: Arc<KeyCache>,
    invitation_ttl: Duration,
}

impl OrgService {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        auth: Arc<AuthService>,
        key_cache: Arc<KeyCache>,
        invitation_ttl: Duration,
    ) -> Self {
        OrgService {
            store,
            clock,
            auth,
            key_cache,
            invitation_ttl,
        }
    }

    /// Resolves an org for the caller (`404` unless they belong to it).
    pub async fn access(&self, principal: &Principal, org: OrgId) -> Result<OrgAccess> {
        OrgAccess::resolve(&self.store, principal, org).await
    }

    /// `POST /v1/orgs`: any signed-in user creates an org and owns it.
    pub async fn create(
        &self,
        principal: &Principal,
        name: &str,
        client: &ClientInfo,
    ) -> Result<Org> {
        let user = principal.user()?;
        let org = new_org("name", name, self.clock.now())?;
        let event = events::org_created(&org, Actor::User(user.id), client, org.created_at);
        self.store.create_org(&org, user.id, &[event]).await?;
        Ok(org)
    }

    /// `GET /v1/orgs`: a user's orgs with roles; a key's own org (no role).
    pub async fn list(&self, principal: &Principal) -> Result<Vec<(Org, Option<Role>)>> {
        match principal {
            Principal::Session(s) => Ok(self
                .store
                .memberships(s.user.id)
                .await?
                .into_iter()
                .map(|m| (m.org, Some(m.role)))
                .collect()),
            Principal::ApiKey(k) => Ok(vec![((*k.org).clone(), None)]),
            Principal::Token(t) => Ok(self
                .store
                .memberships(t.user.id)
                .await?
                .into_iter()
                .filter(|m| t.org_id.is_none_or(|bound| bound == m.org.id))
                .map(|m| (m.org, Some(m.role)))
                .collect()),
        }
    }

    pub async fn memberships(&self, user: UserId) -> Result<Vec<Membership>> {
        self.store.memberships(user).await
    }

    pub async fn rename(
        &self,
        manager: &Manager<'_>,
        name: &str,
        client: &ClientInfo,
    ) -> Result<Org> {
        let org = new_org("name", name, self.clock.now())?;
        let event = events::org_renamed(
            manager.org.id,
            &org.name,
            manager.user,
            client,
            org.created_at,
        );
        let renamed = self
            .store
            .rename_org(manager.org.id, &org.name, &[event])
            .await?;
        self.key_cache.clear();
        renamed.ok_or(Error::NotFound)
    }

    /// The org's token policy (SPEC §5 `token_scopes`), for its managers.
    pub async fn token_scopes(&self, manager: &Manager<'_>) -> Result<TokenScopePolicy> {
        self.store.token_scope_policy(manager.org.id).await
    }

    /// `PATCH /v1/orgs/{org} {token_scopes}`: which application scopes each role may put on
    /// its access tokens. Families already issued are judged against it at their next refresh.
    pub async fn set_token_scopes(
        &self,
        manager: &Manager<'_>,
        raw: &serde_json::Value,
        client: &ClientInfo,
    ) -> Result<TokenScopePolicy> {
        let policy = TokenScopePolicy::parse(raw)?;
        let event = events::org_token_scopes_changed(
            manager.org.id,
            &policy,
            manager.user,
            client,
            self.clock.now(),
        );
        if !self
            .store
            .set_token_scope_policy(manager.org.id, &policy, &[event])
            .await?
        {
            return Err(Error::NotFound);
        }
        Ok(policy)
    }

    pub async fn delete(&self, owner: &Manager<'_>, client: &ClientInfo) -> Result<()> {
        let audit = events::org_deleted(owner.org.id, owner.user, client, self.clock.now());
        let deleted = self
            .store
            .delete_org(owner.org.id, owner.user, &audit)
            .await?;
        self.key_cache.clear();
        if deleted {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Members with roles: any member, or a key with `members:read`.
    pub async fn members(&self, access: &OrgAccess) -> Result<Vec<Member>> {
        access.member_or_scope("members:read")?;
        self.store.members(access.org().id).await
    }

    /// `404` unless `target` is a member of the org: object ids are resolved inside the caller's
    /// org before any permission check, so another org's ids are never even "forbidden".
    pub async fn target_member(&self, access: &OrgAccess, target: UserId) -> Result<()> {
        match self.store.org_for_member(access.org().id, target).await? {
            Some(_) => Ok(()),
            None => Err(Error::NotFound),
        }
    }

    /// `PATCH /v1/orgs/{org}/members/{user}`.
    pub async fn set_role(
        &self,
        manager: &Manager<'_>,
        target: UserId,
        role: &str,
        client: &ClientInfo,
    ) -> Result<Member> {
        let role = Role::parse(role).ok_or_else(|| Error::field("role", "invalid"))?;
        let event = events::member_role_changed(
            manager.org.id,
            target,
            role,
            manager.user,
            client,
            self.clock.now(),
        );
        self.store
            .set_member_role(manager.org.id, manager.user, target, role, &[event])
            .await?
            .ok_or(Error::NotFound)
    }

    /// `DELETE /v1/orgs/{org}/members/{user}`: managers remove, and anyone may leave.
    pub async fn remove(
        &self,
        access: &OrgAccess,
        target: UserId,
        client: &ClientInfo,
    ) -> Result<()> {
        let (actor, _) = access.user()?;
        let event =
            events::member_removed(access.org().id, target, actor, client, self.clock.now());
        if self
            .store
            .remove_member(access.org().id, actor, target, &[event])
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

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
        let mut fields = std::collections::BTreeMap::new();
        if let Err(Error::Validation(f)) = &email {
            fields.extend(f.clone());
        }
        if role_parsed.is_none() {
            fields.insert("role".to_owned(), "invalid".to_owned());
        }
        let (Ok(email), Some(role), true) = (email, role_parsed, fields.is_empty()) else {
            return Err(Error::Validation(fields));
        };
        role::check_invite(manager.role, role)?;
        let now = self.clock.now();
        let invitation = Invitation {
            id: InvitationId::new(),
            org_id: manager.org.id,
            email: email.as_str().to_owned(),
            email_key: email.key().to_owned(),
            role,
            created_by: manager.user,
            created_at: now,
            expires_at: now + self.invitation_ttl,
            accepted_at: None,
        };
        let token = token::random_token();
        let event = events::invitation_created(&invitation, client);
        self.store
            .create_invitation(&invitation, &token::digest(&token), &[event])
            .await?;
        Ok(IssuedInvitation { invitation, token })
    }

    /// `POST /v1/invitations/accept`: a signed-in user whose email matches joins; otherwise a
    /// new account is created with `password`. An address that already has an account must sign
    /// in first (`401`). Unknown or spent tokens: `404`; expired: `401 token_expired`.
    pub async fn accept(
        &self,
        principal: Option<&Principal>,
        token: &str,
        password: Option<&str>,
        name: Option<&str>,
        client: &ClientInfo,
    ) -> Result<Joined> {
        if let Some(p) = principal {
            p.user().map_err(|_| insufficient_scope())?;
        }
        if !token::looks_like_token(token) {
            return Err(Error::NotFound);
        }
        let (invitation, org) = self
            .store
            .invitation_by_digest(&token::digest(token))
            .await?
            .filter(|(i, _)| i.accepted_at.is_none())
            .ok_or(Error::NotFound)?;
        let now = self.clock.now();
        if invitation.expires_at <= now {
            return Err(Error::Unauthenticated(AuthFailure::Expired));
        }
        let mut audit = Vec::new();
        let (invitee, user, created_user) = match principal {
            Some(p) => {
                let user = p.user()?.clone();
                let key = Email::parse(&user.email).map(|e| e.key().to_owned()).ok();
                if key.as_deref() != Some(invitation.email_key.as_str()) {
                    return Err(Error::Forbidden(ForbiddenReason::Forbidden));
                }
                (Invitee::Existing(user.id), user, false)
            }
            None => {
                if self
                    .store
                    .user_by_email_key(&invitation.email_key)
                    .await?
                    .is_some()
                {
                    return Err(Error::Unauthenticated(AuthFailure::Unauthenticated));
                }
                let password = password.ok_or_else(|| Error::field("password", "required"))?;
                let new = self
                    .auth
                    .new_user(&invitation.email, password, name, false)
                    .await?;
                let user = User {
                    id: new.id,
                    email: new.email.clone(),
                    name: new.name.clone(),
                    password_hash: None,
                    is_platform_admin: false,
                    disabled: false,
                    created_at: new.created_at,
                    credentials_valid_after: new.created_at,
                    credential_epoch: 0,
                };
                audit.push(events::user_created(&new, Actor::User(new.id), client, now));
                (Invitee::New(new), user, true)
            }
        };
        audit.push(events::invitation_accepted(
            invitation.org_id,
            invitation.id,
            user.id,
            invitation.role,
            client,
            now,
        ));
        self.store
            .accept_invitation(&invitation, &invitee, now, &audit)
            .await?;
        Ok(Joined {
            user,
            org,
            role: invitation.role,
            created_user,
        })
    }

    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}
