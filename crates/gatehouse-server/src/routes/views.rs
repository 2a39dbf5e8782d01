//! JSON shapes of users, sessions and orgs on the wire.

use gatehouse_core::clock::rfc3339;
use gatehouse_core::store::{Membership, Org, Session, User};
use serde_json::{Value, json};

pub fn user(u: &User) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "platform_admin": u.is_platform_admin,
        "created_at": rfc3339(u.created_at),
    })
}

pub fn org(o: &Org) -> Value {
    json!({ "id": o.id, "name": o.name, "created_at": rfc3339(o.created_at) })
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
