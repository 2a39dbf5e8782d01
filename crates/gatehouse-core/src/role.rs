//! Org roles, their order, and the rules for changing who holds them.

use serde::{Deserialize, Serialize};

use crate::error::{ConflictReason, ForbiddenReason};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Member => "member",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "member" => Some(Self::Member),
            "admin" => Some(Self::Admin),
            "owner" => Some(Self::Owner),
            _ => None,
        }
    }

    /// Owners and admins manage the org; members manage nothing.
    #[must_use]
    pub fn manages(self) -> bool {
        self >= Self::Admin
    }
}

/// The facts a membership change is judged on, read inside the transaction that applies it.
#[derive(Debug, Clone, Copy)]
pub struct MemberChange {
    /// The acting user's role in the org.
    pub actor: Role,
    /// Whether the actor is changing their own membership.
    pub is_self: bool,
    /// The target's current role.
    pub target: Role,
    /// How many owners the org has now.
    pub owners: usize,
}

fn forbidden() -> Error {
    Error::Forbidden(ForbiddenReason::Forbidden)
}

fn last_owner(change: &MemberChange) -> bool {
    change.target == Role::Owner && change.owners <= 1
}

/// Changing the target's role to `new`: owners may do anything; admins may move members and
/// admins between `member` and `admin` but never touch an owner or make one; members nothing.
/// The last owner can never stop being one.
pub fn check_role_change(change: &MemberChange, new: Role) -> Result<()> {
    match change.actor {
        Role::Owner => {}
        Role::Admin if change.target != Role::Owner && new != Role::Owner => {}
        _ => return Err(forbidden()),
    }
    if new != Role::Owner && last_owner(change) {
        return Err(Error::Conflict(ConflictReason::LastOwner));
    }
    Ok(())
}

/// Removing the target: owners may remove anyone, admins anyone but owners, and every member
/// may leave; the last owner can never be removed.
pub fn check_removal(change: &MemberChange) -> Result<()> {
    let allowed = change.is_self
        || change.actor == Role::Owner
        || (change.actor == Role::Admin && change.target != Role::Owner);
    if !allowed {
        return Err(forbidden());
    }
    if last_owner(change) {
        return Err(Error::Conflict(ConflictReason::LastOwner));
    }
    Ok(())
}

/// Inviting someone with `role`: owners any role, admins `member` or `admin`.
pub fn check_invite(actor: Role, role: Role) -> Result<()> {
    match actor {
        Role::Owner => Ok(()),
        Role::Admin if role != Role::Owner => Ok(()),
        _ => Err(forbidden()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    fn change(actor: Role, target: Role, owners: usize) -> MemberChange {
        MemberChange {
            actor,
            is_self: false,
            target,
            owners,
        }
    }

    #[test]
    fn role_changes() {
        assert!(check_role_change(&change(Owner, Member, 1), Owner).is_ok());
        assert!(check_role_change(&change(Owner, Owner, 2), Member).is_ok());
        assert!(matches!(
            check_role_change(&change(Owner, Owner, 1), Admin),
            Err(Error::Conflict(ConflictReason::LastOwner))
        ));
        assert!(check_role_change(&change(Admin, Member, 1), Admin).is_ok());
        assert!(check_role_change(&change(Admin, Admin, 1), Member).is_ok());
        assert!(
            check_role_change(&change(Admin, Member, 1), Owner).is_err(),
            "admins make no owners"
        );
        assert!(
            check_role_change(&change(Admin, Owner, 2), Member).is_err(),
            "admins demote no owners"
        );
        assert!(check_role_change(&change(Member, Member, 1), Admin).is_err());
        let mut me = change(Admin, Admin, 1);
        me.is_self = true;
        assert!(
            check_role_change(&me, Owner).is_err(),
            "no self-promotion to owner"
        );
    }

    #[test]
    fn removals() {
        assert!(check_removal(&change(Owner, Owner, 2)).is_ok());
        assert!(matches!(
            check_removal(&change(Owner, Owner, 1)),
            Err(Error::Conflict(ConflictReason::LastOwner))
        ));
        assert!(check_removal(&change(Admin, Member, 1)).is_ok());
        assert!(check_removal(&change(Admin, Owner, 2)).is_err());
        assert!(check_removal(&change(Member, Member, 1)).is_err());
        let leave = MemberChange {
            actor: Member,
            is_self: true,
            target: Member,
            owners: 1,
        };
        assert!(check_removal(&leave).is_ok(), "anyone may leave");
        let last = MemberChange {
            actor: Owner,
            is_self: true,
            target: Owner,
            owners: 1,
        };
        assert!(check_removal(&last).is_err(), "but not the last owner");
    }

    #[test]
    fn invites() {
        assert!(check_invite(Owner, Owner).is_ok());
        assert!(check_invite(Admin, Admin).is_ok());
        assert!(check_invite(Admin, Owner).is_err());
        assert!(check_invite(Member, Member).is_err());
    }
}
