//! The words of per-resource permissions (SPEC §7): capabilities (`view`, `edit`, `share`,
//! `delete`), subjects (`user:<id>`, `api_key:<id>`) and resource names, each parsed once at
//! the boundary so the rules only ever see well-formed values.

use std::fmt;

use crate::ids::{ApiKeyId, UserId};

/// Longest resource type (before the `:`).
const MAX_KIND_LEN: usize = 64;
/// Longest resource id (after the `:`).
const MAX_ID_LEN: usize = 200;

/// One thing a grant allows on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    View,
    Edit,
    Share,
    Delete,
}

impl Capability {
    /// Every capability, in the order grants list them.
    pub const ALL: [Self; 4] = [Self::View, Self::Edit, Self::Share, Self::Delete];

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Edit => "edit",
            Self::Share => "share",
            Self::Delete => "delete",
        }
    }

    fn bit(self) -> u8 {
        match self {
            Self::View => 1,
            Self::Edit => 2,
            Self::Share => 4,
            Self::Delete => 8,
        }
    }
}

/// A set of capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities(u8);

impl Capabilities {
    /// The set named by `names`; `None` when one is not a capability. Repeats count once.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<Self> {
        let mut set = Self::default();
        for name in names {
            set.0 |= Capability::parse(name)?.bit();
        }
        Some(set)
    }

    /// A stored list (written by [`Self::names`]); unknown words are ignored.
    #[must_use]
    pub fn from_stored(names: &[String]) -> Self {
        let mut set = Self::default();
        for c in names.iter().filter_map(|n| Capability::parse(n)) {
            set.0 |= c.bit();
        }
        set
    }

    #[must_use]
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    #[must_use]
    pub fn contains(self, c: Capability) -> bool {
        self.0 & c.bit() != 0
    }

    /// Whether every capability of `self` is in `other`.
    #[must_use]
    pub fn within(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// The names, in the order `view`, `edit`, `share`, `delete`.
    #[must_use]
    pub fn names(self) -> Vec<String> {
        Capability::ALL
            .into_iter()
            .filter(|c| self.contains(*c))
            .map(|c| c.as_str().to_owned())
            .collect()
    }
}

/// Who a grant is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    User(UserId),
    ApiKey(ApiKeyId),
}

impl Subject {
    /// `user:<uuid>` or `api_key:<uuid>`; anything else is `None`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        if let Some(id) = s.strip_prefix("user:") {
            return uuid_of(id).map(|u| Self::User(UserId(u)));
        }
        s.strip_prefix("api_key:")
            .and_then(uuid_of)
            .map(|u| Self::ApiKey(ApiKeyId(u)))
    }
}

/// Only the hyphenated spelling, so one subject has one string (the grants' key).
fn uuid_of(s: &str) -> Option<uuid::Uuid> {
    let u = uuid::Uuid::try_parse(s).ok()?;
    (u.as_hyphenated().to_string() == s).then_some(u)
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            Self::ApiKey(id) => write!(f, "api_key:{id}"),
        }
    }
}

/// `^[a-z][a-z0-9_.-]{0,63}:[A-Za-z0-9_.:/@-]{1,200}$`
#[must_use]
pub fn valid_resource(s: &str) -> bool {
    let Some((kind, id)) = s.split_once(':') else {
        return false;
    };
    let mut kind_bytes = kind.bytes();
    kind.len() <= MAX_KIND_LEN
        && kind_bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && kind_bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
        && !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:/@-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_follow_the_pattern() {
        for ok in [
            "page:1",
            "doc.v2:a/b@c:d",
            "x:-",
            &format!("{}:1", "a".repeat(64)),
        ] {
            assert!(valid_resource(ok), "{ok}");
        }
        let long_id = format!("page:{}", "1".repeat(201));
        let long_kind = format!("{}:1", "a".repeat(65));
        for bad in [
            "", "page", "page:", ":1", "Page:1", "1page:1", "page:a b", "page:%2f", "page:é",
            &long_id, &long_kind,
        ] {
            assert!(!valid_resource(bad), "{bad}");
        }
        assert!(valid_resource(&format!("page:{}", "1".repeat(200))));
    }

    #[test]
    fn capabilities_are_a_set_in_order() {
        let set = Capabilities::parse(["share", "view", "view"]).unwrap();
        assert_eq!(set.names(), ["view", "share"]);
        assert!(Capabilities::parse(["view", "own"]).is_none());
        assert!(Capabilities::parse([]).unwrap().is_empty());
        let view = Capabilities::parse(["view"]).unwrap();
        assert!(view.within(set));
        assert!(!set.within(view));
    }

    #[test]
    fn subjects_have_one_spelling() {
        let id = UserId::new();
        let s = Subject::parse(&format!("user:{id}")).unwrap();
        assert_eq!(s, Subject::User(id));
        assert_eq!(s.to_string(), format!("user:{id}"));
        let upper = format!("user:{}", id.to_string().to_uppercase());
        for bad in [
            "user:".to_owned(),
            "user:1".to_owned(),
            format!("member:{id}"),
            upper,
            format!("user:{}", id.0.simple()),
        ] {
            assert!(Subject::parse(&bad).is_none(), "{bad}");
        }
    }
}
