//! The path guard (SPEC §12) for files whose paths are built from input (per-org export files,
//! backups): a name is one plain path component (no separators, no `..`, no encoded variants,
//! no NUL); a relative path is plain components only; and once joined to its base directory,
//! what exists of it must resolve inside that directory (no symlink leads out).

use std::path::{Component, Path, PathBuf};

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

/// `base/relative`, refused unless `relative` is made of safe names (see [`safe_file_name`])
/// and what exists of the joined path, symlinks followed, stays inside `base` (which must
/// exist). Returns the joined path under the canonical base.
pub fn resolve_under(base: &Path, relative: &str) -> Result<PathBuf> {
    let refuse = |why: &str| Error::InvalidRequest(format!("unsafe path {relative:?}: {why}"));
    if relative.is_empty() || relative.contains(['\\', '\0', '%']) {
        return Err(refuse("empty, encoded, NUL or backslash"));
    }
    let rel = Path::new(relative);
    if rel.is_absolute() {
        return Err(refuse("absolute"));
    }
    for c in rel.components() {
        match c {
            Component::Normal(part) => {
                safe_file_name(part.to_str().ok_or_else(|| refuse("not UTF-8"))?)?;
            }
            _ => return Err(refuse("`..`, `.` or a root")),
        }
    }
    let base = base
        .canonicalize()
        .map_err(|e| Error::InvalidRequest(format!("{}: {e}", base.display())))?;
    let joined = base.join(rel);
    // The deepest part that exists decides: a symlink anywhere in it is followed here.
    let mut existing = joined.as_path();
    while std::fs::symlink_metadata(existing).is_err() {
        existing = existing
            .parent()
            .ok_or_else(|| refuse("no existing ancestor"))?;
    }
    let real = existing
        .canonicalize()
        .map_err(|_| refuse("a dangling symlink"))?;
    if !real.starts_with(&base) {
        return Err(refuse("leads outside its directory"));
    }
    Ok(joined)
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

    #[test]
    fn relative_paths_stay_under_their_base() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("exports");
        std::fs::create_dir(&base).unwrap();
        let real_base = base.canonicalize().unwrap();
        assert_eq!(
            resolve_under(&base, "org-1/2026-12-01.jsonl").unwrap(),
            real_base.join("org-1/2026-12-01.jsonl"),
            "a new file in a new directory"
        );
        for bad in [
            "",
            "..",
            "../x",
            "a/../../x",
            "./a",
            "/etc/passwd",
            "%2e%2e/x",
            "a%2fb",
            "%252e%252e",
            "a\0b",
            "a\\b",
            "a//.hidden",
        ] {
            assert!(resolve_under(&base, bad).is_err(), "{bad:?}");
        }
        // A symlink out of the base, as a file or as a directory on the way, is refused; one
        // that stays inside is followed.
        let outside = dir.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, base.join("escape")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", base.join("passwd.jsonl")).unwrap();
        std::fs::create_dir(base.join("inner")).unwrap();
        std::os::unix::fs::symlink(base.join("inner"), base.join("alias")).unwrap();
        assert!(resolve_under(&base, "escape/x.jsonl").is_err());
        assert!(resolve_under(&base, "escape").is_err());
        assert!(resolve_under(&base, "passwd.jsonl").is_err());
        assert!(resolve_under(&base, "alias/x.jsonl").is_ok());
        std::os::unix::fs::symlink(dir.path().join("gone"), base.join("dangling")).unwrap();
        assert!(resolve_under(&base, "dangling").is_err());
        assert!(
            resolve_under(&dir.path().join("missing"), "x").is_err(),
            "no base"
        );
    }
}
