//! Who may manage and read grants (SPEC §7): owners and admins, and keys with `grants:write` /
//! `grants:read`, reach every resource of the org; a member reaches only what their own grants
//! allow. A user acting through an access token also needs the scope (a token is no stronger
//! than its scope).

use crate::error::ForbiddenReason;
use crate::ids::UserId;
use crate::scope::Scopes;
use crate::service::OrgActor;
use crate::service::access::insufficient_scope;
use crate::{Error, Result};

/// How far the caller reaches among the org's grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reach {
    /// Owners, admins, and keys holding the scope: every resource.
    Org,
    /// A member: what their own grants allow.
    Member(UserId),
}

/// The caller's reach for an operation needing `scope` from keys and tokens.
pub(crate) fn reach(actor: &OrgActor, scope: &str) -> Result<Reach> {
    let scoped = |held: &Scopes| {
        if held.allows(scope) {
            Ok(())
        } else {
            Err(insufficient_scope())
        }
    };
    match actor {
        OrgActor::Key { scopes, .. } => scoped(scopes).map(|()| Reach::Org),
        OrgActor::User { id, role, token } => {
            if let Some(t) = token {
                scoped(t)?;
            }
            Ok(if role.manages() {
                Reach::Org
            } else {
                Reach::Member(*id)
            })
        }
    }
}

/// `403 forbidden`: a member beyond what their grants allow.
pub(crate) fn forbidden() -> Error {
    Error::Forbidden(ForbiddenReason::Forbidden)
}
