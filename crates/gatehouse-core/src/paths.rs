//! File names built from input (per-org export files): the checks that need no file system.
//! A name is one plain path component: no separators, no `..`, no encoded variants, no NUL.

use crate::{Error, Result};

/// `name` if it is safe as a single file name inside a base directory.
pub fn safe_file_name(name: &str) -> Result<&str> {
    let bad = name.is_empty()
        || name.len() > 200
        || name == "."
        || name == ".."
        || name.contains(['/', '\\', '\0', '%'])
        || name.starts_with('.')
        || name.chars().any(char::is_control);
    if bad {
        return Err(Error::InvalidRequest(format!("unsafe file name {name:?}")));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_pass() {
        for ok in [
            "system.jsonl",
            "01900000-0000-7000-8000-000000000000.jsonl",
            "a",
        ] {
            assert!(safe_file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/etc/passwd",
            "a\\b",
            "%2e%2e",
            "%2fetc",
            "a\0b",
            ".hidden",
            "x\n",
        ] {
            assert!(safe_file_name(bad).is_err(), "{bad:?}");
        }
    }
}
