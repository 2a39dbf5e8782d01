//! JSON shapes of users, sessions, orgs, members and API keys on the wire: `Serialize` structs
//! that the OpenAPI document describes with the same types.

use std::collections::BTreeMap;

use gatehouse_core::clock::rfc3339;
use gatehouse_core::ids::{ApiKeyId, InvitationId, OrgId, SessionId, UserId};
use gatehouse_core::role::Role;
use gatehouse_core::store::{ApiKey, Invitation, Member, Membership, Org, Session, User};
use gatehouse_core::token::API_KEY_PREFIX;
use serde::Serialize;
use utoipa::ToSchema;

/// A user account.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub platform_admin: bool,
    pub email_verified: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[must_use]
pub fn user(u: &User) -> UserView {
    UserView {
        id: u.id,
        email: u.email.clone(),
        name: u.name.clone(),
        platform_admin: u.is_platform_admin,
        email_verified: u.email_verified_at.is_some(),
        created_at: rfc3339(u.created_at),
    }
}

/// An org the signed-in user belongs to, with their role.
#[derive(Serialize, ToSchema)]
pub struct MembershipView {
    #[schema(value_type = String, format = Uuid)]
    pub id: OrgId,
    pub name: String,
    pub role: &'static str,
}

#[must_use]
pub fn membership(m: &Membership) -> MembershipView {
    MembershipView {
        id: m.org.id,
        name: m.org.name.clone(),
        role: m.role.as_str(),
    }
}

/// One of the caller's sessions; `current` marks the one making the request.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    #[schema(value_type = String, format = Uuid)]
    pub id: SessionId,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub current: bool,
}

#[must_use]
pub fn session(s: &Session, current: bool) -> SessionView {
    SessionView {
        id: s.id,
        created_at: rfc3339(s.created_at),
        last_seen_at: rfc3339(s.last_seen_at),
        expires_at: rfc3339(s.expires_at),
        ip: s.ip.clone(),
        user_agent: s.user_agent.clone(),
        current,
    }
}

/// An org with the caller's role in it (`null` for a credential that holds none).
#[derive(Serialize, ToSchema)]
pub struct OrgView {
    #[schema(value_type = String, format = Uuid)]
    pub id: OrgId,
    pub name: String,
    pub role: Option<&'static str>,
    pub created_at: String,
}

pub fn org_with_role(o: &Org, role: Option<Role>) -> OrgView {
    OrgView {
        id: o.id,
        name: o.name.clone(),
        role: role.map(Role::as_str),
        created_at: rfc3339(o.created_at),
    }
}

/// An org as its managers see it: with the token scopes of every role.
#[derive(Serialize, ToSchema)]
pub struct ManagedOrgView {
    #[serde(flatten)]
    pub org: OrgView,
    pub token_scopes: BTreeMap<&'static str, Vec<String>>,
}

/// A member of an org.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    #[schema(value_type = String, format = Uuid)]
    pub user_id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub role: &'static str,
    pub joined_at: String,
}

#[must_use]
pub fn member(m: &Member) -> MemberView {
    MemberView {
        user_id: m.user_id,
        email: m.email.clone(),
        name: m.name.clone(),
        role: m.role.as_str(),
        joined_at: rfc3339(m.joined_at),
    }
}

/// A pending invitation as listed: never its token.
#[derive(Serialize, ToSchema)]
pub struct InvitationView {
    #[schema(value_type = String, format = Uuid)]
    pub id: InvitationId,
    pub email: String,
    pub role: &'static str,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: UserId,
    pub created_at: String,
    pub expires_at: String,
}

#[must_use]
pub fn invitation(i: &Invitation) -> InvitationView {
    InvitationView {
        id: i.id,
        email: i.email.clone(),
        role: i.role.as_str(),
        created_by: i.created_by,
        created_at: rfc3339(i.created_at),
        expires_at: rfc3339(i.expires_at),
    }
}

/// An API key as listed: never the key itself.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyView {
    #[schema(value_type = String, format = Uuid)]
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub created_by: Option<UserId>,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

pub fn api_key(k: &ApiKey) -> ApiKeyView {
    ApiKeyView {
        id: k.id,
        name: k.name.clone(),
        prefix: format!("{API_KEY_PREFIX}{}", k.public_id),
        scopes: k.scopes.clone(),
        created_at: rfc3339(k.created_at),
        created_by: k.created_by,
        expires_at: k.expires_at.map(rfc3339),
        last_used_at: k.last_used_at.map(rfc3339),
        revoked_at: k.revoked_at.map(rfc3339),
    }
}
