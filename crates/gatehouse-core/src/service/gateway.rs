//! The gateway's judgement (SPEC §11): whether a route lets a caller through, who they are for
//! the upstream (the five identity headers), and the signed assertion that proves it. Both the
//! reverse proxy and forward-auth use it, so their answers never differ.

use std::sync::Arc;

use crate::error::{AuthFailure, ForbiddenReason};
use crate::gateway::{AssertionClaims, AuthMode, CapabilityRule, Route};
use crate::ids::{OrgId, UserId};
use crate::permission::Subject;
use crate::scope::Scopes;
use crate::service::user_cache::UserCache;
use crate::service::{GrantService, Principal, TokenService};
use crate::store::{Membership, Store};
use crate::{Error, Result};

/// Who the upstream is told made the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: Option<UserId>,
    pub org: Option<OrgId>,
    /// Held scopes (API keys and tokens); empty for sessions and anonymous requests.
    pub scopes: Vec<String>,
    /// `session`, `jwt`, `api_key` or `none`.
    pub credential: &'static str,
    /// The assertion's `sub`: the user, the API key, or empty.
    pub subject: String,
    /// The session or token family.
    pub sid: Option<String>,
}

impl Identity {
    #[must_use]
    pub fn anonymous() -> Self {
        Self {
            user: None,
            org: None,
            scopes: Vec::new(),
            credential: "none",
            subject: String::new(),
            sid: None,
        }
    }

    /// The five header values in order: user, org, scopes, credential (the assertion apart).
    #[must_use]
    pub fn user_header(&self) -> String {
        self.user.map(|u| u.to_string()).unwrap_or_default()
    }

    #[must_use]
    pub fn org_header(&self) -> String {
        self.org.map(|o| o.to_string()).unwrap_or_default()
    }

    #[must_use]
    pub fn scopes_header(&self) -> String {
        self.scopes.join(" ")
    }
}

pub struct GatewayService {
    store: Arc<dyn Store>,
    tokens: Arc<TokenService>,
    grants: Arc<GrantService>,
    cache: Option<Arc<UserCache>>,
}

impl GatewayService {
    pub fn new(
        store: Arc<dyn Store>,
        tokens: Arc<TokenService>,
        grants: Arc<GrantService>,
    ) -> Self {
        Self {
            store,
            tokens,
            grants,
            cache: None,
        }
    }

    /// Reads memberships through `cache`.
    #[must_use]
    pub fn with_user_cache(mut self, cache: Arc<UserCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    /// `user`'s memberships, from the cache when it holds them.
    async fn memberships(&self, user: UserId) -> Result<Arc<Vec<Membership>>> {
        UserCache::memberships_of(self.cache.as_deref(), self.store.as_ref(), user).await
    }

    /// The route's verdict on `principal` for a request to `path` (`None`: no credential was
    /// presented, or the route does not look at one). `401` when one is required (a route
    /// asking for a capability requires one), `403 insufficient_scope` for a missing scope,
    /// `403 forbidden` for a user below the route's least role or without the capability.
    pub async fn judge(
        &self,
        route: &Route,
        principal: Option<&Principal>,
        path: &str,
    ) -> Result<Identity> {
        let principal = match (route.auth, principal) {
            (AuthMode::Optional, None) if route.capability.is_some() => {
                return Err(Error::Unauthenticated(AuthFailure::Unauthenticated));
            }
            (AuthMode::None, _) | (AuthMode::Optional, None) => return Ok(Identity::anonymous()),
            (AuthMode::Required, None) => {
                return Err(Error::Unauthenticated(AuthFailure::Unauthenticated));
            }
            (_, Some(p)) => p,
        };
        let identity = match principal {
            Principal::ApiKey(k) => {
                require_scopes(route, &k.scopes)?;
                Identity {
                    user: None,
                    org: Some(k.org_id()),
                    scopes: k.scopes.as_slice().to_vec(),
                    credential: "api_key",
                    subject: k.id().to_string(),
                    sid: None,
                }
            }
            Principal::Token(t) => {
                require_scopes(route, &Scopes::from_stored(t.scopes.clone()))?;
                let org = match t.org_id {
                    Some(org) => Some(org),
                    None => self.only_org(t.user.id).await?,
                };
                Identity {
                    user: Some(t.user.id),
                    org,
                    scopes: t.scopes.clone(),
                    credential: "jwt",
                    subject: t.user.id.to_string(),
                    sid: Some(t.claims.sid.clone()),
                }
            }
            Principal::Session(s) => Identity {
                user: Some(s.user.id),
                org: self.only_org(s.user.id).await?,
                scopes: Vec::new(),
                credential: "session",
                subject: s.user.id.to_string(),
                sid: Some(s.session.id.to_string()),
            },
        };
        if let (Some(least), Some(user)) = (route.min_role, identity.user) {
            let org = identity
                .org
                .ok_or(Error::Forbidden(ForbiddenReason::Forbidden))?;
            let role = self
                .memberships(user)
                .await?
                .iter()
                .find(|m| m.org.id == org)
                .map(|m| m.role)
                .ok_or(Error::Forbidden(ForbiddenReason::Forbidden))?;
            if role < least {
                return Err(Error::Forbidden(ForbiddenReason::Forbidden));
            }
        }
        if let Some(rule) = &route.capability {
            self.require_capability(rule, route.rest_of(path), principal, &identity)
                .await?;
        }
        Ok(identity)
    }

    /// `403 forbidden` unless the caller holds `rule`'s capability on the resource `rest` (the
    /// path after the prefix) names, checked fresh like `/check`.
    async fn require_capability(
        &self,
        rule: &CapabilityRule,
        rest: &str,
        principal: &Principal,
        identity: &Identity,
    ) -> Result<()> {
        let forbidden = || Error::Forbidden(ForbiddenReason::Forbidden);
        let subject = match principal {
            Principal::ApiKey(k) => Subject::ApiKey(k.id()),
            Principal::Session(s) => Subject::User(s.user.id),
            Principal::Token(t) => Subject::User(t.user.id),
        };
        let org = identity.org.ok_or_else(forbidden)?;
        let resource = rule.resource.render(rest).ok_or_else(forbidden)?;
        let verdict = self
            .grants
            .verdict(org, subject, &resource, rule.capability)
            .await?;
        if verdict.is_some_and(|v| v.allowed) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// The assertion for `identity` on `route`, made for `method` on `htu`
    /// (`scheme://host/path`, no query).
    pub fn assertion(
        &self,
        route: &Route,
        identity: &Identity,
        method: &str,
        htu: &str,
    ) -> Result<String> {
        self.tokens.sign_assertion(AssertionClaims {
            iss: String::new(),
            aud: route.audience.clone(),
            sub: identity.subject.clone(),
            org_id: identity.org.map(|o| o.to_string()),
            scope: identity.scopes_header(),
            cred: identity.credential.to_owned(),
            sid: identity.sid.clone(),
            jti: String::new(),
            iat: 0,
            nbf: 0,
            exp: 0,
            htm: method.to_owned(),
            htu: htu.to_owned(),
        })
    }

    /// The user's org when they belong to exactly one (a session and an unbound token name
    /// no org of their own).
    async fn only_org(&self, user: UserId) -> Result<Option<OrgId>> {
        let memberships = self.memberships(user).await?;
        Ok(match memberships.as_slice() {
            [only] => Some(only.org.id),
            _ => None,
        })
    }
}

fn require_scopes(route: &Route, held: &Scopes) -> Result<()> {
    if route.scopes.iter().all(|s| held.allows(s)) {
        Ok(())
    } else {
        Err(Error::Forbidden(ForbiddenReason::InsufficientScope))
    }
}
