//! Which characters an identity may contain (SPEC §4): emails, user, org and key names refuse
//! control (Cc), format (Cf: zero-width spaces, soft hyphens, bidi overrides), line and paragraph
//! separators (Zl, Zp), private-use (Co) and unassigned (Cn) code points, so no two identities
//! look alike and no name rewrites a terminal. One function, used by every name and email parse.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::{Error, Result};

/// The field code for a refused character.
pub const INVALID_CHARACTERS: &str = "invalid_characters";

/// Longest user, org or key name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// Whether `c` may appear in an identity.
#[must_use]
pub fn allowed(c: char) -> bool {
    !matches!(
        c.general_category(),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
            | GeneralCategory::PrivateUse
            | GeneralCategory::Surrogate
            | GeneralCategory::Unassigned
    )
}

/// `Ok` when every character of `s` may appear in an identity.
pub fn check(field: &str, s: &str) -> Result<()> {
    if s.chars().all(allowed) {
        Ok(())
    } else {
        Err(Error::field(field, INVALID_CHARACTERS))
    }
}

/// A required name (user, org, key): trimmed, 1 to [`MAX_NAME_CHARS`] characters, only allowed
/// characters. Field codes `required`, `too_long`, `invalid_characters`.
pub fn name(field: &str, raw: &str) -> Result<String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(Error::field(field, "required"));
    }
    check(field, name)?;
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(Error::field(field, "too_long"));
    }
    Ok(name.to_owned())
}

/// An optional name: blank is `None`, anything else as [`name`].
pub fn optional_name(field: &str, raw: Option<&str>) -> Result<Option<String>> {
    match raw.map(str::trim).filter(|n| !n.is_empty()) {
        None => Ok(None),
        Some(n) => name(field, n).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_invisible_and_control_characters() {
        for bad in [
            "a\u{200B}b", // zero-width space (Cf)
            "a\u{00AD}b", // soft hyphen (Cf)
            "a\u{202E}b", // right-to-left override (Cf)
            "a\u{2066}b", // left-to-right isolate (Cf)
            "a\u{FEFF}b", // byte-order mark (Cf)
            "a\u{0007}b", // bell (Cc)
            "a\u{001B}[2Jb",
            "a\u{0085}b",   // next line (Cc)
            "a\u{2028}b",   // line separator (Zl)
            "a\u{E000}b",   // private use (Co)
            "a\u{0378}b",   // unassigned (Cn)
            "a\u{10FFFF}b", // noncharacter, unassigned
        ] {
            assert!(
                matches!(check("name", bad), Err(Error::Validation(f)) if f["name"] == INVALID_CHARACTERS),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn accepts_ordinary_names() {
        for good in [
            "Acme Team",
            "Zoë Ångström",
            "山田 太郎",
            "O'Brien-Smith",
            "Ops 🚀",
            "ﬁ",
        ] {
            assert!(check("name", good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn names_are_trimmed_bounded_and_checked() {
        assert_eq!(name("name", "  Acme  ").unwrap(), "Acme");
        assert!(
            matches!(name("name", "   "), Err(Error::Validation(f)) if f["name"] == "required")
        );
        let long = "x".repeat(MAX_NAME_CHARS + 1);
        assert!(
            matches!(name("name", &long), Err(Error::Validation(f)) if f["name"] == "too_long")
        );
        assert!(
            matches!(name("org_name", "Ac\u{200B}me"), Err(Error::Validation(f)) if f["org_name"] == INVALID_CHARACTERS)
        );
        assert_eq!(optional_name("name", Some("  ")).unwrap(), None);
        assert_eq!(optional_name("name", None).unwrap(), None);
        assert!(optional_name("name", Some("a\u{202E}b")).is_err());
    }
}
