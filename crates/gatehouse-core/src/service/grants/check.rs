//! The answer to "may this subject do this on that resource?" (SPEC §7): owners and admins
//! always; anyone else by a live grant holding the capability, read fresh from the database
//! (one indexed read, no cache). An expiry is exact to the instant of the injected clock.

use time::OffsetDateTime;

use crate::permission::{Capabilities, Capability};
use crate::role::Role;
use crate::store::{Holder, Standing};

/// Why a check answered as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Owner,
    Admin,
    Grant,
    /// No grant holds the capability (or the key no longer works).
    None,
    /// The subject's grant held the capability but has expired.
    Expired,
}

impl Reason {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Grant => "grant",
            Self::None => "none",
            Self::Expired => "expired",
        }
    }
}

/// A check's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub reason: Reason,
}

impl Verdict {
    fn allow(reason: Reason) -> Self {
        Self {
            allowed: true,
            reason,
        }
    }

    fn deny(reason: Reason) -> Self {
        Self {
            allowed: false,
            reason,
        }
    }
}

/// The verdict on `standing` for `capability` at `now`.
#[must_use]
pub fn judge(standing: &Standing, capability: Capability, now: OffsetDateTime) -> Verdict {
    match standing.holder {
        Holder::Member(Role::Owner) => return Verdict::allow(Reason::Owner),
        Holder::Member(Role::Admin) => return Verdict::allow(Reason::Admin),
        Holder::Member(Role::Member) => {}
        Holder::Key {
            revoked,
            expires_at,
        } => {
            // A key that no longer signs in holds nothing, whatever its grants say.
            if revoked || expires_at.is_some_and(|at| at <= now) {
                return Verdict::deny(Reason::None);
            }
        }
    }
    let Some(held) = &standing.held else {
        return Verdict::deny(Reason::None);
    };
    if !Capabilities::from_stored(&held.capabilities).contains(capability) {
        return Verdict::deny(Reason::None);
    }
    if held.expires_at.is_some_and(|at| at <= now) {
        return Verdict::deny(Reason::Expired);
    }
    Verdict::allow(Reason::Grant)
}

/// The live capabilities `standing` holds on its resource at `now` through its grant (roles
/// apart), with the grant's expiry.
#[must_use]
pub fn live_grant(
    standing: &Standing,
    now: OffsetDateTime,
) -> Option<(Capabilities, Option<OffsetDateTime>)> {
    let held = standing.held.as_ref()?;
    if held.expires_at.is_some_and(|at| at <= now) {
        return None;
    }
    Some((
        Capabilities::from_stored(&held.capabilities),
        held.expires_at,
    ))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::store::Held;

    fn member_with(caps: &[&str], expires_at: Option<OffsetDateTime>) -> Standing {
        Standing {
            holder: Holder::Member(Role::Member),
            held: Some(Held {
                capabilities: caps.iter().map(|c| (*c).to_owned()).collect(),
                expires_at,
            }),
        }
    }

    #[test]
    fn roles_come_before_grants() {
        let now = datetime!(2026-12-01 12:00 UTC);
        for (role, reason) in [(Role::Owner, Reason::Owner), (Role::Admin, Reason::Admin)] {
            let s = Standing {
                holder: Holder::Member(role),
                held: None,
            };
            assert_eq!(judge(&s, Capability::Delete, now), Verdict::allow(reason));
        }
    }

    #[test]
    fn a_grant_counts_until_its_instant() {
        let at = datetime!(2026-12-01 12:00 UTC);
        let s = member_with(&["view"], Some(at));
        let before = at - time::Duration::nanoseconds(1);
        assert_eq!(
            judge(&s, Capability::View, before),
            Verdict::allow(Reason::Grant)
        );
        assert_eq!(
            judge(&s, Capability::View, at),
            Verdict::deny(Reason::Expired)
        );
        assert_eq!(
            judge(&s, Capability::Edit, before),
            Verdict::deny(Reason::None)
        );
        assert_eq!(judge(&s, Capability::Edit, at), Verdict::deny(Reason::None));
        assert!(live_grant(&s, before).is_some());
        assert!(live_grant(&s, at).is_none());
    }

    #[test]
    fn a_dead_key_holds_nothing() {
        let now = datetime!(2026-12-01 12:00 UTC);
        let held = Some(Held {
            capabilities: vec!["view".into()],
            expires_at: None,
        });
        let key = |revoked, expires_at| Standing {
            holder: Holder::Key {
                revoked,
                expires_at,
            },
            held: held.clone(),
        };
        assert!(judge(&key(false, None), Capability::View, now).allowed);
        assert!(!judge(&key(true, None), Capability::View, now).allowed);
        assert!(!judge(&key(false, Some(now)), Capability::View, now).allowed);
    }
}
