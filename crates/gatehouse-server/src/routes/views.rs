//! JSON shapes of users, sessions, orgs, members and API keys on the wire.

use gatehouse_core::clock::rfc3339;
use gatehouse_core::role::Role;
use gatehouse_core::store::{ApiKey, Invitation, Member, Membership, Org, Session, User};
use gatehouse_core::token::API_KEY_PREFIX;
use serde_json::{Value, json};

pub fn user(u: &User) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "platform_admin": u.is_platform_admin,
        "email_verified": u.email_verified_at.is_some(),
        "created_at": rfc3339(u.created_at),
    })
}

pub fn membership(m: &Membership) -> Value {
    json!({ "id": m.org.id, "name": m.org.name, "role": m.role.as_str() })
}

pub fn session(s: &Session, current: bool) -> Value {
    json!({
        "id": s.id,
        "created_at": rfc3339(s.created_at),
        "last_seen_at": rfc3339(s.last_seen_at),
        "expires_at": rfc3339(s.expires_at),
        "ip": s.ip,
        "user_agent": s.user_agent,
        "current": current,
    })
}

pub fn org_with_role(o: &Org, role: Option<Role>) -> Value {
    json!({ "id": o.id, "name": o.name, "role": role.map(Role::as_str), "created_at": rfc3339(o.created_at) })
}

pub fn member(m: &Member) -> Value {
    json!({
        "user_id": m.user_id,
        "email": m.email,
        "name": m.name,
        "role": m.role.as_str(),
        "joined_at": rfc3339(m.joined_at),
    })
}

/// A pending invitation as listed: never its token.
pub fn invitation(i: &Invitation) -> Value {
    json!({
        "id": i.id,
        "email": i.email,
        "role": i.role.as_str(),
        "created_by": i.created_by,
        "created_at": rfc3339(i.created_at),
        "expires_at": rfc3339(i.expires_at),
    })
}

/// An API key as listed: never the key itself.
pub fn api_key(k: &ApiKey) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": format!("{API_KEY_PREFIX}{}", k.public_id),
        "scopes": k.scopes,
        "created_at": rfc3339(k.created_at),
        "created_by": k.created_by,
        "expires_at": k.expires_at.map(rfc3339),
        "last_used_at": k.last_used_at.map(rfc3339),
        "revoked_at": k.revoked_at.map(rfc3339),
    })
}
