//! What an access token may carry and when a refresh-token family stops: the org's policy of
//! application scopes per role (SPEC §5 `token_scopes`), which role may hold which of
//! gatehouse's own scopes, and the re-check every refresh makes inside its transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::role::Role;
use crate::scope::{self, ORG_ADMIN, OWN_SCOPES};
use crate::store::{TokenFamily, User};
use crate::{Error, Result};

/// Stands for every application scope in a policy list.
pub const ANY_SCOPE: &str = "*";

/// gatehouse's own scopes every member may put on a token: they only read or ask about
/// themselves, and the live role still decides.
const MEMBER_OWN_SCOPES: &[&str] = &[scope::MEMBERS_READ, scope::CHECK, scope::GRANTS_READ];

/// Which application scopes each role may put on its tokens. A role the org did not name
/// keeps the default: owners and admins any, members none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenScopePolicy(BTreeMap<String, Vec<String>>);

impl TokenScopePolicy {
    /// Parses a policy sent by a client: keys are roles, values application scopes or `*`;
    /// `422` (`token_scopes: invalid`) otherwise.
    pub fn parse(raw: &serde_json::Value) -> Result<Self> {
        let invalid = || Error::field("token_scopes", "invalid");
        let object = raw.as_object().ok_or_else(invalid)?;
        let mut policy = BTreeMap::new();
        for (role, list) in object {
            Role::parse(role).ok_or_else(invalid)?;
            let list = list.as_array().ok_or_else(invalid)?;
            if list.len() > scope::MAX_SCOPES {
                return Err(invalid());
            }
            let mut scopes = Vec::with_capacity(list.len());
            for s in list {
                let s = s.as_str().ok_or_else(invalid)?;
                let application = scope::is_valid(s) && !OWN_SCOPES.contains(&s);
                if s != ANY_SCOPE && !application {
                    return Err(invalid());
                }
                scopes.push(s.to_owned());
            }
            scopes.sort();
            scopes.dedup();
            policy.insert(role.clone(), scopes);
        }
        Ok(Self(policy))
    }

    /// The stored JSON (`None`: the default policy).
    pub fn from_stored(text: Option<&str>) -> Result<Self> {
        match text {
            None => Ok(Self::default()),
            Some(t) => serde_json::from_str(t)
                .map_err(|e| Error::internal(format!("stored token policy unreadable: {e}"))),
        }
    }

    #[must_use]
    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }

    /// The policy with every role spelled out (what the API shows).
    #[must_use]
    pub fn effective(&self) -> BTreeMap<&'static str, Vec<String>> {
        [Role::Owner, Role::Admin, Role::Member]
            .into_iter()
            .map(|r| (r.as_str(), self.for_role(r)))
            .collect()
    }

    fn for_role(&self, role: Role) -> Vec<String> {
        match self.0.get(role.as_str()) {
            Some(list) => list.clone(),
            None if role.manages() => vec![ANY_SCOPE.to_owned()],
            None => Vec::new(),
        }
    }

    fn allows_application(&self, role: Role, wanted: &str) -> bool {
        self.for_role(role)
            .iter()
            .any(|s| s == ANY_SCOPE || s == wanted)
    }
}

/// Whether a user holding `role` may put `scope` on a token, under the org's `policy`.
#[must_use]
pub fn role_may_hold(role: Role, scope: &str, policy: &TokenScopePolicy) -> bool {
    match scope {
        ORG_ADMIN => role.manages(),
        s if MEMBER_OWN_SCOPES.contains(&s) => true,
        s if OWN_SCOPES.contains(&s) => role.manages(),
        s => policy.allows_application(role, s),
    }
}

/// What a refresh is judged on, read inside its transaction.
#[derive(Debug, Clone)]
pub struct FamilyFacts {
    /// The user as stored now (`None`: deleted).
    pub user: Option<User>,
    /// The user's role in the family's org now (`None`: not a member, or no org).
    pub role: Option<Role>,
    /// The family's org's token policy now.
    pub policy: TokenScopePolicy,
}

/// Why a family may no longer be refreshed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The family's absolute lifetime is over (`401 token_expired`).
    Expired,
    /// The user is gone or disabled, changed credentials or logged out everywhere, left the
    /// org, or no longer holds a role allowing every scope (`401 token_revoked`).
    Revoked(&'static str),
}

/// The re-check every refresh makes: `None` when the family may rotate at `now`.
#[must_use]
pub fn refresh_refusal(
    family: &TokenFamily,
    facts: &FamilyFacts,
    now: OffsetDateTime,
) -> Option<Refusal> {
    if now >= family.expires_at {
        return Some(Refusal::Expired);
    }
    let Some(user) = &facts.user else {
        return Some(Refusal::Revoked("user_gone"));
    };
    if user.disabled {
        return Some(Refusal::Revoked("user_disabled"));
    }
    if user.credential_epoch != family.credential_epoch {
        return Some(Refusal::Revoked("credentials_changed"));
    }
    // A family bound to no org carries no scope: nothing more to judge.
    family.org_id?;
    let Some(role) = facts.role else {
        return Some(Refusal::Revoked("left_org"));
    };
    let allowed = family
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .all(|s| role_may_hold(role, s, &facts.policy));
    if allowed {
        None
    } else {
        Some(Refusal::Revoked("role_changed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{FamilyId, OrgId, UserId};
    use serde_json::json;
    use std::time::Duration;

    fn user(epoch: i64) -> User {
        User {
            id: UserId::new(),
            email: "a@example.com".into(),
            name: None,
            password_hash: None,
            is_platform_admin: false,
            disabled: false,
            created_at: OffsetDateTime::UNIX_EPOCH,
            credentials_valid_after: OffsetDateTime::UNIX_EPOCH,
            email_verified_at: None,
            credential_epoch: epoch,
        }
    }

    fn family(scope: &str, org: bool) -> TokenFamily {
        let t0 = OffsetDateTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        TokenFamily {
            id: FamilyId::new(),
            user_id: UserId::new(),
            org_id: org.then(OrgId::new),
            scope: scope.into(),
            created_at: t0,
            expires_at: t0 + Duration::from_secs(3600),
            revoked_at: None,
            credential_epoch: 3,
        }
    }

    #[test]
    fn default_policy_gives_members_no_application_scope() {
        let p = TokenScopePolicy::default();
        assert!(role_may_hold(Role::Owner, "tasks:read", &p));
        assert!(role_may_hold(Role::Admin, "tasks:read", &p));
        assert!(!role_may_hold(Role::Member, "tasks:read", &p));
        assert!(role_may_hold(Role::Member, "members:read", &p));
        assert!(!role_may_hold(Role::Member, ORG_ADMIN, &p));
        assert!(!role_may_hold(Role::Member, "audit:read", &p));
        assert!(role_may_hold(Role::Admin, ORG_ADMIN, &p));
    }

    #[test]
    fn org_policy_decides_application_scopes() {
        let p = TokenScopePolicy::parse(&json!({"member": ["tasks:read"], "admin": []})).unwrap();
        assert!(role_may_hold(Role::Member, "tasks:read", &p));
        assert!(!role_may_hold(Role::Member, "tasks:write", &p));
        assert!(!role_may_hold(Role::Admin, "tasks:read", &p));
        assert!(
            role_may_hold(Role::Owner, "tasks:write", &p),
            "owner keeps the default"
        );
        assert!(
            role_may_hold(Role::Admin, ORG_ADMIN, &p),
            "own scopes are not the policy's"
        );
        let back = TokenScopePolicy::from_stored(Some(&p.to_stored())).unwrap();
        assert_eq!(back, p);
        for bad in [
            json!([]),
            json!({"boss": []}),
            json!({"member": "tasks:read"}),
            json!({"member": ["audit:read"]}),
            json!({"member": ["org:admin"]}),
            json!({"member": ["Nope"]}),
        ] {
            assert!(TokenScopePolicy::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn refresh_is_refused_for_every_change() {
        let now = family("", false).created_at + Duration::from_secs(60);
        let facts = |u: Option<User>, role: Option<Role>| FamilyFacts {
            user: u,
            role,
            policy: TokenScopePolicy::default(),
        };
        let f = family("tasks:read org:admin", true);
        assert_eq!(
            refresh_refusal(&f, &facts(Some(user(3)), Some(Role::Admin)), now),
            None
        );
        let late = f.expires_at;
        assert_eq!(
            refresh_refusal(&f, &facts(Some(user(3)), Some(Role::Admin)), late),
            Some(Refusal::Expired)
        );
        assert_eq!(
            refresh_refusal(&f, &facts(None, Some(Role::Admin)), now),
            Some(Refusal::Revoked("user_gone"))
        );
        let mut disabled = user(3);
        disabled.disabled = true;
        assert_eq!(
            refresh_refusal(&f, &facts(Some(disabled), Some(Role::Admin)), now),
            Some(Refusal::Revoked("user_disabled"))
        );
        assert_eq!(
            refresh_refusal(&f, &facts(Some(user(4)), Some(Role::Admin)), now),
            Some(Refusal::Revoked("credentials_changed"))
        );
        assert_eq!(
            refresh_refusal(&f, &facts(Some(user(3)), None), now),
            Some(Refusal::Revoked("left_org"))
        );
        assert_eq!(
            refresh_refusal(&f, &facts(Some(user(3)), Some(Role::Member)), now),
            Some(Refusal::Revoked("role_changed"))
        );
        let unbound = family("", false);
        assert_eq!(
            refresh_refusal(&unbound, &facts(Some(user(3)), None), now),
            None
        );
    }
}
