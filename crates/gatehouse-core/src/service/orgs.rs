//! Orgs, members and invitations: the tenant API of SPEC §6, behind [`OrgAccess`]. The
//! invitation use cases live in [`invitations`].

mod invitations;

pub use invitations::{Accepted, InvitationLimit, IssuedInvitation, Joined};

use crate::token_policy::TokenScopePolicy;
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use crate::ambient::Ambient;
use crate::audit::Actor;
use crate::ids::{OrgId, UserId};
use crate::role::Role;
use crate::service::ClientInfo;
use crate::service::access::{Manager, OrgAccess, Owner, Principal};
use crate::service::auth::{AuthService, new_org};
use crate::service::events;
use crate::service::key_cache::KeyCache;
use crate::service::user_cache::UserCache;
use crate::store::{Member, Membership, Org, Store};
use crate::{Error, Result};

/// Proof that a user is a member of the caller's org and that the caller acts in it as a user
/// (not a key, nor a token without `org:admin`): only [`OrgService::target_member`] makes one,
/// and changing a member's role or removing them takes it. Changing a role further needs a
/// manager, judged on the [`OrgAccess`] the proof carries.
#[derive(Debug)]
pub struct OrgMember<'a> {
    access: &'a OrgAccess,
    actor: UserId,
    user: UserId,
}

impl OrgMember<'_> {
    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }
}

pub struct OrgService {
    store: Arc<dyn Store>,
    ambient: Ambient,
    auth: Arc<AuthService>,
    /// Cached keys carry their org: renaming or deleting an org drops them here at once (other
    /// instances hear it from the store's change feed).
    key_cache: Arc<KeyCache>,
    invitation_ttl: Duration,
    invitation_limit: InvitationLimit,
    /// Memberships already read (dropped on every committed change of the user).
    user_cache: Option<Arc<UserCache>>,
}

impl OrgService {
    pub fn new(
        store: Arc<dyn Store>,
        ambient: Ambient,
        auth: Arc<AuthService>,
        key_cache: Arc<KeyCache>,
        invitation_ttl: Duration,
        invitation_limit: InvitationLimit,
    ) -> Self {
        Self {
            store,
            ambient,
            auth,
            key_cache,
            invitation_ttl,
            invitation_limit,
            user_cache: None,
        }
    }

    /// Reads memberships through `cache`.
    #[must_use]
    pub fn with_user_cache(mut self, cache: Arc<UserCache>) -> Self {
        self.user_cache = Some(cache);
        self
    }

    async fn cached_memberships(&self, user: UserId) -> Result<Arc<Vec<Membership>>> {
        UserCache::memberships_of(self.user_cache.as_deref(), self.store.as_ref(), user).await
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
        let org = new_org("name", name, &self.ambient)?;
        let event = events::org_created(&org, Actor::User(user.id), client, org.created_at);
        self.store.create_org(&org, user.id, &[event]).await?;
        Ok(org)
    }

    /// `GET /v1/orgs`: a user's orgs with roles; a key's own org (no role).
    pub async fn list(&self, principal: &Principal) -> Result<Vec<(Org, Option<Role>)>> {
        match principal {
            Principal::Session(s) => Ok(self
                .cached_memberships(s.user.id)
                .await?
                .iter()
                .map(|m| (m.org.clone(), Some(m.role)))
                .collect()),
            Principal::ApiKey(k) => Ok(vec![((*k.org).clone(), None)]),
            Principal::Token(t) => Ok(self
                .cached_memberships(t.user.id)
                .await?
                .iter()
                .filter(|m| t.org_id.is_none_or(|bound| bound == m.org.id))
                .map(|m| (m.org.clone(), Some(m.role)))
                .collect()),
        }
    }

    pub async fn memberships(&self, user: UserId) -> Result<Vec<Membership>> {
        Ok(self.cached_memberships(user).await?.as_ref().clone())
    }

    pub async fn rename(
        &self,
        manager: &Manager<'_>,
        name: &str,
        client: &ClientInfo,
    ) -> Result<Org> {
        let org = new_org("name", name, &self.ambient)?;
        let event = events::org_renamed(
            manager.org().id,
            &org.name,
            manager.user(),
            client,
            org.created_at,
        );
        let renamed = self
            .store
            .rename_org(manager.org().id, &org.name, &[event])
            .await?;
        self.key_cache.clear();
        renamed.ok_or(Error::NotFound)
    }

    /// The org's token policy (SPEC §5 `token_scopes`), for its managers.
    pub async fn token_scopes(&self, manager: &Manager<'_>) -> Result<TokenScopePolicy> {
        self.store.token_scope_policy(manager.org().id).await
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
            manager.org().id,
            &policy,
            manager.user(),
            client,
            self.ambient.now(),
        );
        if !self
            .store
            .set_token_scope_policy(manager.org().id, &policy, &[event])
            .await?
        {
            return Err(Error::NotFound);
        }
        Ok(policy)
    }

    pub async fn delete(&self, owner: &Owner<'_>, client: &ClientInfo) -> Result<()> {
        let owner = owner.manager();
        let audit = events::org_deleted(owner.org().id, owner.user(), client, self.ambient.now());
        let deleted = self
            .store
            .delete_org(owner.org().id, owner.user(), &audit)
            .await?;
        self.key_cache.clear();
        if deleted {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// Members with roles: any member (tokens with `members:read` or `org:admin`), or a key
    /// with `members:read`.
    pub async fn members(&self, access: &OrgAccess) -> Result<Vec<Member>> {
        // A manager's `org:admin` token lists the members it manages.
        access
            .member_or_scope(crate::scope::MEMBERS_READ)
            .or_else(|denied| access.manager().map(|_| ()).map_err(|_| denied))?;
        self.store.members(access.org().id).await
    }

    /// The member `target` of the caller's org, to change or remove: `404` unless they are a
    /// member (object ids are resolved inside the caller's org before any permission check, so
    /// another org's ids are never even "forbidden"), then the caller must act as a user.
    pub async fn target_member<'a>(
        &self,
        access: &'a OrgAccess,
        target: UserId,
    ) -> Result<OrgMember<'a>> {
        if self
            .store
            .org_for_member(access.org().id, target)
            .await?
            .is_none()
        {
            return Err(Error::NotFound);
        }
        let (actor, _) = access.user()?;
        Ok(OrgMember {
            access,
            actor,
            user: target,
        })
    }

    /// Whether `user` belongs to `org` (introspection answers only about the caller's org).
    pub async fn is_member(&self, org: OrgId, user: UserId) -> Result<bool> {
        Ok(self.store.org_for_member(org, user).await?.is_some())
    }

    /// `PATCH /v1/orgs/{org}/members/{user}`: managers only.
    pub async fn set_role(
        &self,
        member: &OrgMember<'_>,
        role: &str,
        client: &ClientInfo,
    ) -> Result<Member> {
        let manager = member.access.manager()?;
        let target = member.user;
        let role = Role::parse(role).ok_or_else(|| Error::field("role", "invalid"))?;
        let now = self.ambient.now();
        let event = events::member_role_changed(
            manager.org().id,
            target,
            role,
            manager.user(),
            client,
            now,
        );
        self.store
            .set_member_role(
                manager.org().id,
                manager.user(),
                target,
                role,
                now,
                &[event],
            )
            .await?
            .ok_or(Error::NotFound)
    }

    /// `DELETE /v1/orgs/{org}/members/{user}`: managers remove, and anyone may leave.
    pub async fn remove(&self, member: &OrgMember<'_>, client: &ClientInfo) -> Result<()> {
        let (access, actor, target) = (member.access, member.actor, member.user);
        let now = self.ambient.now();
        let event = events::member_removed(access.org().id, target, actor, client, now);
        if self
            .store
            .remove_member(access.org().id, actor, target, now, &[event])
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    #[must_use]
    pub fn now(&self) -> OffsetDateTime {
        self.ambient.now()
    }
}
