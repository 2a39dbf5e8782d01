//! The audit events gatehouse itself records, one constructor each, so every service names
//! actions, chains, targets and details the same way. Nothing secret goes in: ids, names,
//! roles, scopes and reason codes only.

use crate::token_policy::TokenScopePolicy;
use serde_json::json;
use time::OffsetDateTime;

use crate::audit::{Actor, Category, Chain, NewEvent, Outcome, Target};
use crate::ids::{ApiKeyId, InvitationId, OrgId, SessionId, UserId};
use crate::role::Role;
use crate::service::ClientInfo;
use crate::store::{ApiKey, Invitation, NewUser, Org};

type At = OffsetDateTime;

fn audit(chain: Chain, action: &str, actor: Actor, client: &ClientInfo, at: At) -> NewEvent {
    NewEvent::new(chain, Category::Audit, action, actor, client, at)
}

fn security(action: &str, actor: Actor, client: &ClientInfo, at: At) -> NewEvent {
    NewEvent::new(Chain::System, Category::Security, action, actor, client, at)
}

#[must_use]
pub fn user_created(user: &NewUser, actor: Actor, client: &ClientInfo, at: At) -> NewEvent {
    audit(Chain::System, "user.created", actor, client, at)
        .target(Target::new("user", user.id))
        .details(json!({ "email": user.email, "platform_admin": user.is_platform_admin }))
        .subject(Some(user.id))
}

/// `user.disabled` / `user.enabled`, by the operator (CLI).
#[must_use]
pub fn user_disabled(user: UserId, disabled: bool, at: At) -> NewEvent {
    let action = if disabled {
        "user.disabled"
    } else {
        "user.enabled"
    };
    audit(
        Chain::System,
        action,
        Actor::System,
        &ClientInfo::default(),
        at,
    )
    .target(Target::new("user", user))
    .subject(Some(user))
}

#[must_use]
pub fn users_imported(count: usize, at: At) -> NewEvent {
    audit(
        Chain::System,
        "users.imported",
        Actor::System,
        &ClientInfo::default(),
        at,
    )
    .details(json!({ "count": count }))
}

#[must_use]
pub fn setup_completed(org: &Org, actor: Actor, client: &ClientInfo, at: At) -> NewEvent {
    audit(Chain::System, "setup.completed", actor, client, at).target(Target::new("org", org.id))
}

#[must_use]
pub fn org_created(org: &Org, actor: Actor, client: &ClientInfo, at: At) -> NewEvent {
    audit(Chain::Org(org.id), "org.created", actor, client, at)
        .target(Target::new("org", org.id))
        .details(json!({ "name": org.name }))
}

#[must_use]
pub fn org_renamed(org: OrgId, name: &str, actor: UserId, client: &ClientInfo, at: At) -> NewEvent {
    audit(
        Chain::Org(org),
        "org.renamed",
        Actor::User(actor),
        client,
        at,
    )
    .target(Target::new("org", org))
    .details(json!({ "name": name }))
}

#[must_use]
pub fn org_token_scopes_changed(
    org: OrgId,
    policy: &TokenScopePolicy,
    actor: UserId,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    audit(
        Chain::Org(org),
        "org.token_scopes_changed",
        Actor::User(actor),
        client,
        at,
    )
    .target(Target::new("org", org))
    .details(json!({ "token_scopes": policy.effective() }))
}

/// In the org's own chain (which outlives the org) and in the system chain.
#[must_use]
pub fn org_deleted(org: OrgId, actor: UserId, client: &ClientInfo, at: At) -> [NewEvent; 2] {
    let in_chain = |chain| {
        audit(chain, "org.deleted", Actor::User(actor), client, at).target(Target::new("org", org))
    };
    [in_chain(Chain::Org(org)), in_chain(Chain::System)]
}

#[must_use]
pub fn member_role_changed(
    org: OrgId,
    target: UserId,
    role: Role,
    actor: UserId,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    audit(
        Chain::Org(org),
        "member.role_changed",
        Actor::User(actor),
        client,
        at,
    )
    .target(Target::new("user", target))
    .details(json!({ "role": role.as_str() }))
}

#[must_use]
pub fn member_removed(
    org: OrgId,
    target: UserId,
    actor: UserId,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    let action = if target == actor {
        "member.left"
    } else {
        "member.removed"
    };
    audit(Chain::Org(org), action, Actor::User(actor), client, at)
        .target(Target::new("user", target))
}

#[must_use]
pub fn invitation_created(i: &Invitation, client: &ClientInfo) -> NewEvent {
    audit(
        Chain::Org(i.org_id),
        "invitation.created",
        Actor::User(i.created_by),
        client,
        i.created_at,
    )
    .target(Target::new("invitation", i.id))
    .details(json!({ "email": i.email, "role": i.role.as_str() }))
}

#[must_use]
pub fn invitation_accepted(
    org: OrgId,
    id: InvitationId,
    user: UserId,
    role: Role,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    audit(
        Chain::Org(org),
        "invitation.accepted",
        Actor::User(user),
        client,
        at,
    )
    .target(Target::new("invitation", id))
    .details(json!({ "role": role.as_str() }))
}

#[must_use]
pub fn invitation_revoked(i: &Invitation, actor: UserId, client: &ClientInfo, at: At) -> NewEvent {
    audit(
        Chain::Org(i.org_id),
        "invitation.revoked",
        Actor::User(actor),
        client,
        at,
    )
    .target(Target::new("invitation", i.id))
    .details(json!({ "email": i.email, "role": i.role.as_str() }))
}

pub fn api_key_created(k: &ApiKey, actor: UserId, client: &ClientInfo) -> NewEvent {
    audit(
        Chain::Org(k.org_id),
        "api_key.created",
        Actor::User(actor),
        client,
        k.created_at,
    )
    .target(Target::new("api_key", k.id))
    .details(json!({
        "name": k.name,
        "prefix": format!("{}{}", crate::token::API_KEY_PREFIX, k.public_id),
        "scopes": k.scopes,
        "expires_at": k.expires_at.map(crate::clock::rfc3339),
    }))
}

#[must_use]
pub fn api_key_changed(
    action: &str,
    org: OrgId,
    key: ApiKeyId,
    actor: UserId,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    audit(Chain::Org(org), action, Actor::User(actor), client, at)
        .target(Target::new("api_key", key))
}

#[must_use]
pub fn login_succeeded(
    user: UserId,
    session: SessionId,
    method: &str,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    security("auth.login_succeeded", Actor::User(user), client, at)
        .target(Target::new("session", session))
        .details(json!({ "method": method }))
}

/// `reason`: `unknown_email`, `wrong_password`, `disabled`.
#[must_use]
pub fn login_failed(user: Option<UserId>, reason: &str, client: &ClientInfo, at: At) -> NewEvent {
    let mut e = security("auth.login_failed", Actor::Anonymous, client, at)
        .outcome(Outcome::Failure)
        .details(json!({ "reason": reason }))
        .subject(user);
    if let Some(u) = user {
        e = e.target(Target::new("user", u));
    }
    e
}

/// `gatehouse users unlock` forgot an email's attempts and lock.
#[must_use]
pub fn unlocked(email_key: &str, at: At) -> NewEvent {
    security("auth.unlocked", Actor::System, &ClientInfo::default(), at)
        .details(json!({ "email": email_key }))
}

/// A sign-in lockout began (for an account, or for an email that has none).
#[must_use]
pub fn locked(user: Option<UserId>, until: At, client: &ClientInfo, at: At) -> NewEvent {
    let mut e = security("auth.locked", Actor::System, client, at)
        .outcome(Outcome::Denied)
        .details(json!({ "until": crate::audit::timestamp(until), "account": if user.is_some() { "known" } else { "unknown" } }))
        .subject(user);
    if let Some(u) = user {
        e = e.target(Target::new("user", u));
    }
    e
}

/// One session (`Some`) or all of the user's (`None`).
#[must_use]
pub fn logout(user: UserId, session: Option<SessionId>, client: &ClientInfo, at: At) -> NewEvent {
    let e = security("auth.logout", Actor::User(user), client, at)
        .details(json!({ "all": session.is_none() }));
    match session {
        Some(s) => e.target(Target::new("session", s)),
        None => e.target(Target::new("user", user)),
    }
}

#[must_use]
pub fn session_revoked(
    user: UserId,
    session: SessionId,
    reason: &str,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    security("session.revoked", Actor::User(user), client, at)
        .target(Target::new("session", session))
        .details(json!({ "reason": reason }))
}

#[must_use]
pub fn password_changed(user: UserId, client: &ClientInfo, at: At) -> NewEvent {
    security("password.changed", Actor::User(user), client, at).target(Target::new("user", user))
}

#[must_use]
pub fn password_change_failed(user: UserId, client: &ClientInfo, at: At) -> NewEvent {
    security("password.change_failed", Actor::User(user), client, at)
        .outcome(Outcome::Failure)
        .target(Target::new("user", user))
        .details(json!({ "reason": "wrong_password" }))
}

/// A refused request (`403 forbidden` or `insufficient_scope`), in the org's chain when the
/// caller was shown to belong to the org, else in the system chain.
#[must_use]
pub fn authz_denied(
    chain: Chain,
    actor: Actor,
    code: &str,
    method: &str,
    path: &str,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    NewEvent::new(chain, Category::Security, "authz.denied", actor, client, at)
        .outcome(Outcome::Denied)
        .details(json!({ "code": code, "method": short(method), "path": short(path) }))
}

/// One request the gateway passed to an upstream (SPEC §11), as the route's `audit` asks.
#[allow(clippy::too_many_arguments)]
#[must_use]
pub fn gateway_request(
    chain: Chain,
    actor: Actor,
    method: &str,
    path: &str,
    status: u16,
    route: &str,
    duration_ms: u64,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    NewEvent::new(chain, Category::Audit, "gateway.request", actor, client, at).details(json!({
        "method": short(method),
        "path": short(path),
        "status": status,
        "route": short(route),
        "duration_ms": duration_ms,
    }))
}

/// Request facts in events are kept short (as the user agent is), whatever a client sends.
fn short(text: &str) -> String {
    text.chars().take(512).collect()
}

#[must_use]
pub fn csrf_rejected(
    actor: Actor,
    method: &str,
    path: &str,
    client: &ClientInfo,
    at: At,
) -> NewEvent {
    security("csrf.rejected", actor, client, at)
        .outcome(Outcome::Denied)
        .details(json!({ "method": short(method), "path": short(path) }))
}
