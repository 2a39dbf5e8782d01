//! Who is calling, and what they may do in an org. An [`OrgAccess`] exists only after the caller
//! was shown to belong to the org, a [`Manager`] only after the role check passed, an [`Owner`]
//! only for the org's owners and a [`PlatformAdmin`] only for a platform admin's session, so a
//! service that takes one cannot be reached without the check (permission carried in the type).
//! Objects inside an org are proven the same way where they are looked up
//! ([`OrgApiKey`](crate::service::api_keys::OrgApiKey),
//! [`OrgMember`](crate::service::orgs::OrgMember)).

use std::sync::Arc;

use crate::error::{AuthFailure, ForbiddenReason};
use crate::ids::{ApiKeyId, OrgId, UserId};
use crate::role::Role;
use crate::scope::{ORG_ADMIN, Scopes};
use crate::service::SessionPrincipal;
use crate::service::tokens::TokenPrincipal;
use crate::store::{ApiKey, Org, Store, User};
use crate::{Error, Result};

/// A request authenticated by an API key.
#[derive(Debug, Clone)]
pub struct KeyPrincipal {
    pub key: Arc<ApiKey>,
    /// The key's org as of the lookup (the cache drops it when the org is renamed or deleted).
    pub org: Arc<Org>,
    pub scopes: Scopes,
}

impl KeyPrincipal {
    #[must_use]
    pub fn id(&self) -> ApiKeyId {
        self.key.id
    }

    #[must_use]
    pub fn org_id(&self) -> OrgId {
        self.key.org_id
    }
}

/// Any authenticated caller.
#[derive(Debug, Clone)]
pub enum Principal {
    Session(Box<SessionPrincipal>),
    ApiKey(KeyPrincipal),
    /// An access token: acts as its user, inside its org when it is bound to one.
    Token(Box<TokenPrincipal>),
}

impl Principal {
    /// `session`, `jwt` or `api_key` (the `auth.method` of `/v1/auth/me`).
    #[must_use]
    pub fn method(&self) -> &'static str {
        match self {
            Self::Session(_) => "session",
            Self::ApiKey(_) => "api_key",
            Self::Token(_) => "jwt",
        }
    }

    /// The signed-in user acting on their own account (creating orgs, accepting invitations):
    /// a session only. API keys can never act as a user, and an access token may only read
    /// (`/v1/auth/me`, `/v1/orgs`): both answer `403 insufficient_scope`.
    pub fn user(&self) -> Result<&User> {
        match self {
            Self::Session(s) => Ok(&s.user),
            Self::Token(_) | Self::ApiKey(_) => Err(insufficient_scope()),
        }
    }
}

#[must_use]
pub fn insufficient_scope() -> Error {
    Error::Forbidden(ForbiddenReason::InsufficientScope)
}

fn forbidden() -> Error {
    Error::Forbidden(ForbiddenReason::Forbidden)
}

/// Who acts inside an org.
#[derive(Debug, Clone)]
pub enum OrgActor {
    /// A user with their live role; `token` holds the scopes when the user acts through an
    /// access token, which narrows them (SPEC §5: a token is no stronger than its scope).
    User {
        id: UserId,
        role: Role,
        token: Option<Scopes>,
    },
    Key {
        id: ApiKeyId,
        scopes: Scopes,
    },
}

impl OrgActor {
    /// Who the audit log names for this actor.
    #[must_use]
    pub fn audit_actor(&self) -> crate::audit::Actor {
        match self {
            Self::User { id, .. } => crate::audit::Actor::User(*id),
            Self::Key { id, .. } => crate::audit::Actor::ApiKey(*id),
        }
    }
}

/// Proof that the caller belongs to `org` (a member, or one of its keys).
#[derive(Debug, Clone)]
pub struct OrgAccess {
    org: Org,
    actor: OrgActor,
}

/// Proof that a user holds at least `admin` in the org (and, acting through an access token,
/// `org:admin`): only [`OrgAccess::manager`] and [`OrgAccess::owner`] make one.
#[derive(Debug)]
pub struct Manager<'a> {
    org: &'a Org,
    user: UserId,
    role: Role,
}

impl Manager<'_> {
    #[must_use]
    pub fn org(&self) -> &Org {
        self.org
    }

    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }

    #[must_use]
    pub fn role(&self) -> Role {
        self.role
    }
}

/// Proof that a user owns the org: only [`OrgAccess::owner`] makes one.
#[derive(Debug)]
pub struct Owner<'a>(Manager<'a>);

impl<'a> Owner<'a> {
    #[must_use]
    pub fn manager(&self) -> &Manager<'a> {
        &self.0
    }
}

/// Proof that the caller is a platform admin signed in with a session (the `system` audit
/// chain): only [`PlatformAdmin::check`] makes one.
#[derive(Debug)]
pub struct PlatformAdmin {
    user: UserId,
}

impl PlatformAdmin {
    /// A session of a platform admin; anyone else is `403 forbidden`. Services make it
    /// ([`AuditService::platform_admin`](crate::service::AuditService::platform_admin)).
    pub(crate) fn check(session: &SessionPrincipal) -> Result<Self> {
        if session.user.is_platform_admin {
            Ok(Self {
                user: session.user.id,
            })
        } else {
            Err(forbidden())
        }
    }

    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }
}

impl OrgAccess {
    /// Resolves `org` for the caller: `404` when it does not exist or the caller is not in it.
    pub async fn resolve(
        store: &Arc<dyn Store>,
        principal: &Principal,
        org: OrgId,
    ) -> Result<Self> {
        let as_user = |user: UserId, token: Option<Scopes>| async move {
            let m = store
                .org_for_member(org, user)
                .await?
                .ok_or(Error::NotFound)?;
            Ok(Self {
                org: m.org,
                actor: OrgActor::User {
                    id: user,
                    role: m.role,
                    token,
                },
            })
        };
        match principal {
            Principal::Session(s) => as_user(s.user.id, None).await,
            // A token bound to another org sees nothing of this one.
            Principal::Token(t) if t.org_id.is_some_and(|bound| bound != org) => {
                Err(Error::NotFound)
            }
            Principal::Token(t) => {
                let scopes = Scopes::from_stored(t.scopes.clone());
                as_user(t.user.id, Some(scopes)).await
            }
            Principal::ApiKey(k) if k.org_id() == org => Ok(Self {
                org: (*k.org).clone(),
                actor: OrgActor::Key {
                    id: k.id(),
                    scopes: k.scopes.clone(),
                },
            }),
            Principal::ApiKey(_) => Err(Error::NotFound),
        }
    }

    #[must_use]
    pub fn org(&self) -> &Org {
        &self.org
    }

    #[must_use]
    pub fn actor(&self) -> &OrgActor {
        &self.actor
    }

    /// The acting user, for a change to the org's membership or settings: keys, and tokens
    /// without `org:admin`, get `insufficient_scope`.
    pub fn user(&self) -> Result<(UserId, Role)> {
        match &self.actor {
            OrgActor::User { token: Some(t), .. } if !t.allows(ORG_ADMIN) => {
                Err(insufficient_scope())
            }
            OrgActor::User { id, role, .. } => Ok((*id, *role)),
            OrgActor::Key { .. } => Err(insufficient_scope()),
        }
    }

    /// Owners and admins, for the management routes (members: `forbidden`; keys and tokens
    /// without `org:admin`: `insufficient_scope`).
    pub fn manager(&self) -> Result<Manager<'_>> {
        let (user, role) = self.user()?;
        if !role.manages() {
            return Err(forbidden());
        }
        Ok(Manager {
            org: &self.org,
            user,
            role,
        })
    }

    /// Owners only.
    pub fn owner(&self) -> Result<Owner<'_>> {
        let m = self.manager()?;
        if m.role != Role::Owner {
            return Err(forbidden());
        }
        Ok(Owner(m))
    }

    /// Any member (a token only with `scope`), or a key holding `scope`.
    pub fn member_or_scope(&self, scope: &str) -> Result<()> {
        match &self.actor {
            OrgActor::User { token: None, .. } => Ok(()),
            OrgActor::User { token: Some(s), .. } | OrgActor::Key { scopes: s, .. }
                if s.allows(scope) =>
            {
                Ok(())
            }
            _ => Err(insufficient_scope()),
        }
    }

    /// Owners and admins (a token only with `scope`, and the live role still decides), or a
    /// key holding `scope`.
    pub fn manager_or_scope(&self, scope: &str) -> Result<()> {
        match &self.actor {
            OrgActor::User {
                token: None, role, ..
            } if role.manages() => Ok(()),
            OrgActor::User {
                token: Some(t),
                role,
                ..
            } if t.allows(scope) && role.manages() => Ok(()),
            OrgActor::User { token: Some(t), .. } if !t.allows(scope) => Err(insufficient_scope()),
            OrgActor::User { .. } => Err(forbidden()),
            OrgActor::Key { scopes, .. } if scopes.allows(scope) => Ok(()),
            OrgActor::Key { .. } => Err(insufficient_scope()),
        }
    }
}

/// `401 unauthenticated`.
#[must_use]
pub fn unauthenticated() -> Error {
    Error::Unauthenticated(AuthFailure::Unauthenticated)
}
