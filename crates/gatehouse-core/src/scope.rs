//! API key scopes: `name:action` strings, validated, deduplicated, and gatehouse's own names.

use crate::{Error, Result};

/// At most this many scopes on one credential.
pub const MAX_SCOPES: usize = 32;
/// At most this many bytes in one scope.
pub const MAX_SCOPE_LEN: usize = 100;

pub const AUDIT_READ: &str = "audit:read";
pub const AUDIT_WRITE: &str = "audit:write";
pub const SECRETS_READ: &str = "secrets:read";
pub const SECRETS_WRITE: &str = "secrets:write";
pub const GRANTS_READ: &str = "grants:read";
pub const GRANTS_WRITE: &str = "grants:write";
pub const CHECK: &str = "check";
pub const INTROSPECT: &str = "introspect";
pub const MEMBERS_READ: &str = "members:read";
pub const METRICS_READ: &str = "metrics:read";

/// gatehouse's own scopes. Bare `check` and `introspect` are allowed besides `name:action`.
pub const OWN_SCOPES: &[&str] = &[
    AUDIT_READ,
    AUDIT_WRITE,
    SECRETS_READ,
    SECRETS_WRITE,
    GRANTS_READ,
    GRANTS_WRITE,
    CHECK,
    INTROSPECT,
    MEMBERS_READ,
    METRICS_READ,
];

/// The scope that opens the management routes to a user's access token (owners and admins
/// only; never on an API key).
pub const ORG_ADMIN: &str = "org:admin";

/// Namespaces gatehouse owns: a scope in one of them must be one of [`OWN_SCOPES`], so a typo
/// such as `audit:reed` is refused instead of silently granting nothing.
const OWN_NAMESPACES: &[&str] = &["audit", "secrets", "grants", "members", "metrics", "org"];

/// `^[a-z][a-z0-9_.-]*:[a-z][a-z0-9_.*-]*$`
fn matches_pattern(s: &str) -> bool {
    let Some((name, action)) = s.split_once(':') else {
        return false;
    };
    let part_ok = |p: &str, extra: &[u8]| {
        let mut bytes = p.bytes();
        matches!(bytes.next(), Some(b'a'..=b'z'))
            && bytes.all(|b| {
                b.is_ascii_lowercase()
                    || b.is_ascii_digit()
                    || b"_.-".contains(&b)
                    || extra.contains(&b)
            })
    };
    part_ok(name, b"") && part_ok(action, b"*")
}

/// Whether one scope string is acceptable on a credential.
#[must_use]
pub fn is_valid(scope: &str) -> bool {
    if scope.len() > MAX_SCOPE_LEN {
        return false;
    }
    if OWN_SCOPES.contains(&scope) {
        return true;
    }
    if !matches_pattern(scope) {
        return false;
    }
    let namespace = scope.split(':').next().unwrap_or_default();
    !OWN_NAMESPACES.contains(&namespace)
}

/// A validated, sorted, deduplicated, non-empty set of scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// `422` with field `scopes`: `required`, `too_many` or `invalid`.
    pub fn parse(list: &[String]) -> Result<Self> {
        if list.is_empty() {
            return Err(Error::field("scopes", "required"));
        }
        if list.len() > MAX_SCOPES {
            return Err(Error::field("scopes", "too_many"));
        }
        if !list.iter().all(|s| is_valid(s)) {
            return Err(Error::field("scopes", "invalid"));
        }
        let mut scopes = list.to_vec();
        scopes.sort();
        scopes.dedup();
        Ok(Self(scopes))
    }

    /// The scopes of a user's access token: as [`Scopes::parse`] (field `scope`), plus
    /// [`ORG_ADMIN`]; an empty list is allowed.
    pub fn parse_for_token(list: &[String]) -> Result<Self> {
        if list.len() > MAX_SCOPES {
            return Err(Error::field("scope", "too_many"));
        }
        if !list.iter().all(|s| s == ORG_ADMIN || is_valid(s)) {
            return Err(Error::field("scope", "invalid"));
        }
        let mut scopes = list.to_vec();
        scopes.sort();
        scopes.dedup();
        Ok(Self(scopes))
    }

    /// Scopes read back from storage (already validated when written).
    #[must_use]
    pub fn from_stored(list: Vec<String>) -> Self {
        Self(list)
    }

    /// Exact match only: a `*` inside a scope is an ordinary character, not a wildcard.
    #[must_use]
    pub fn allows(&self, wanted: &str) -> bool {
        self.0.iter().any(|held| held == wanted)
    }

    #[must_use]
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Space separated, as OAuth writes scopes.
    #[must_use]
    pub fn joined(&self) -> String {
        self.0.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn validation() {
        for ok in [
            "tasks:read",
            "a:b",
            "my-app.v2:write_all",
            "tasks:read*",
            "check",
            "introspect",
            "audit:read",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "tasks",
            "Tasks:read",
            "tasks:Read",
            "1tasks:read",
            "tasks:",
            ":read",
            "tasks:read:x",
            "tasks read",
            "tasks:*",
            "audit:reed",
            "audit:*",
            "secrets:delete",
            "*:*",
            "tasks:1",
            "org:admin",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
        assert!(!is_valid(&format!("a:{}", "b".repeat(MAX_SCOPE_LEN))));
    }

    #[test]
    fn parse_sorts_dedups_and_reports() {
        let s = Scopes::parse(&v(&["tasks:write", "check", "tasks:write"])).unwrap();
        assert_eq!(s.as_slice(), &v(&["check", "tasks:write"])[..]);
        assert_eq!(s.joined(), "check tasks:write");
        let code = |list: &[&str]| match Scopes::parse(&v(list)) {
            Err(Error::Validation(f)) => f["scopes"].clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(code(&[]), "required");
        assert_eq!(code(&["Nope"]), "invalid");
        let many: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i}:read")).collect();
        assert!(matches!(Scopes::parse(&many), Err(Error::Validation(_))));
    }

    #[test]
    fn allows_is_exact() {
        let s = Scopes::parse(&v(&["tasks:read*", "introspect"])).unwrap();
        assert!(s.allows("tasks:read*") && s.allows("introspect"));
        assert!(!s.allows("tasks:reader") && !s.allows("tasks:read") && !s.allows("audit:read"));
    }
}
