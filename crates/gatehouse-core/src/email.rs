//! Email addresses: trimmed, NFKC-normalized, compared without case.

use unicode_normalization::UnicodeNormalization;

use crate::{Error, Result};

/// A syntactically plausible email address (parse, don't validate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    key: String,
}

pub const MAX_EMAIL_LEN: usize = 254;

impl Email {
    /// Trims, NFKC-normalizes and checks the address; `422` field codes on failure.
    pub fn parse(raw: &str) -> Result<Self> {
        let display: String = raw.trim().nfkc().collect();
        if display.is_empty() {
            return Err(Error::field("email", "required"));
        }
        crate::identity_chars::check("email", &display)?;
        if display.len() > MAX_EMAIL_LEN {
            return Err(Error::field("email", "too_long"));
        }
        let Some((local, domain)) = display.rsplit_once('@') else {
            return Err(Error::field("email", "invalid"));
        };
        let bad_char = |c: char| c.is_whitespace();
        if local.is_empty()
            || domain.is_empty()
            || local.contains('@')
            || !domain.contains('.')
            || domain.starts_with('.')
            || domain.ends_with('.')
            || display.chars().any(bad_char)
            || local.len() > 64
        {
            return Err(Error::field("email", "invalid"));
        }
        let key = display.to_lowercase();
        Ok(Self { display, key })
    }

    /// The address as the user wrote it (normalized).
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The case-folded form used for uniqueness and lookup.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The part before the `@`, lowercased (for the password similarity rule).
    #[must_use]
    pub fn local_part(&self) -> &str {
        self.key
            .rsplit_once('@')
            .map(|(l, _)| l)
            .unwrap_or(&self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_and_folds_case() {
        let e = Email::parse("  Alice@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Alice@Example.COM");
        assert_eq!(e.key(), "alice@example.com");
        assert_eq!(e.local_part(), "alice");
        // NFKC: fullwidth letters fold to ASCII.
        let w = Email::parse("ａｌｉｃｅ@example.com").unwrap();
        assert_eq!(w.key(), "alice@example.com");
    }

    #[test]
    fn rejects_bad_addresses() {
        for bad in ["", "no-at", "@x.com", "a@", "a@b", "a b@c.com", "a@@b.com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(
            matches!(Email::parse(&long), Err(Error::Validation(f)) if f["email"] == "too_long")
        );
        for hidden in [
            "ali\u{200B}ce@example.com",
            "alice@exa\u{00AD}mple.com",
            "a\u{202E}b@c.com",
            "a\tb@c.com",
        ] {
            assert!(
                matches!(Email::parse(hidden), Err(Error::Validation(f)) if f["email"] == "invalid_characters"),
                "{hidden:?}"
            );
        }
    }
}
