//! Paths a proxy and gatehouse could read differently (SPEC §11): dot segments, raw or
//! percent-encoded; encoded slashes and backslashes; empty segments; control bytes; bad
//! percent-encoding. Such a path is refused, never normalised: the request judged must be the
//! request the proxy routes.

/// Whether `path` (the path of a request, without its query) is ambiguous.
pub fn is_ambiguous(path: &str) -> bool {
    if !path.starts_with('/') || path.contains("//") {
        return true;
    }
    if path
        .bytes()
        .any(|b| b == b'\\' || b == 0 || b == b'\r' || b == b'\n')
    {
        return true;
    }
    path.split('/').skip(1).any(ambiguous_segment)
}

fn ambiguous_segment(segment: &str) -> bool {
    let Some(decoded) = percent_decode(segment) else {
        return true;
    };
    if decoded == b"." || decoded == b".." {
        return true;
    }
    decoded
        .iter()
        .any(|&b| b == b'/' || b == b'\\' || b == 0 || b == b'\r' || b == b'\n')
}

/// `None` when a `%` is not followed by two hex digits.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The path of a request target (`/a/b?x=1` → `/a/b`).
#[must_use]
pub fn path_of(target: &str) -> &str {
    let end = target.find(['?', '#']).unwrap_or(target.len());
    &target[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_pass() {
        for p in [
            "/",
            "/app",
            "/app/",
            "/app/tasks/1",
            "/app/a.b/..c/.d",
            "/app/%41bc",
            "/app/caf%C3%A9",
            "/app/%252e%252e",
        ] {
            assert!(!is_ambiguous(p), "{p}");
        }
    }

    #[test]
    fn every_ambiguous_spelling_is_refused() {
        for p in [
            "",
            "app",
            "/app/../admin",
            "/app/./x",
            "/..",
            "/app/..",
            "/app/%2e%2e/admin",
            "/app/%2E%2E/admin",
            "/app/.%2e/admin",
            "/app/%2e/x",
            "/app/a%2fb",
            "/app/a%2Fb",
            "/app/a%5cb",
            "/app/a\\b",
            "/app//x",
            "//app",
            "/app/a%00b",
            "/app/a\0b",
            "/app/a%0d%0ab",
            "/app/a\rb",
            "/app/a\nb",
            "/app/%zz",
            "/app/%2",
            "/app/%",
        ] {
            assert!(is_ambiguous(p), "{p:?}");
        }
    }

    #[test]
    fn the_query_is_not_part_of_the_path() {
        assert_eq!(path_of("/a/b?x=/../y"), "/a/b");
        assert_eq!(path_of("/a#f"), "/a");
        assert_eq!(path_of("/a"), "/a");
    }
}
