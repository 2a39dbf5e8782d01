//! Where a sign-in may send the browser back to (SPEC §11 "Return-to safety"): a relative path
//! with exactly one leading `/` and no dot segments, or an absolute URL on a host gatehouse
//! serves (the public URL's, a route's `host`, or one under the cookie domain). Anything else
//! is dropped, never "fixed".

use super::path::{is_ambiguous, path_of};

/// The hosts a return-to may name.
#[derive(Debug, Clone, Default)]
pub struct ReturnToPolicy {
    /// The public URL's host (lowercase, with its port when it has one).
    pub public_host: String,
    /// Every route's `host`.
    pub route_hosts: Vec<String>,
    /// `GATEHOUSE_COOKIE_DOMAIN`: the domain itself and every host under it.
    pub cookie_domain: Option<String>,
    /// Production: absolute URLs must be https.
    pub https_only: bool,
}

impl ReturnToPolicy {
    /// `Some(candidate)` when it may be followed.
    #[must_use]
    pub fn accept<'a>(&self, candidate: &'a str) -> Option<&'a str> {
        if candidate.is_empty()
            || candidate.len() > 2048
            || candidate.bytes().any(|b| b < 0x21 || b == 0x7f)
        {
            return None;
        }
        if candidate.starts_with('/') {
            return Self::relative(candidate).then_some(candidate);
        }
        self.absolute(candidate).then_some(candidate)
    }

    fn relative(candidate: &str) -> bool {
        !candidate.starts_with("//")
            && !candidate.starts_with("/\\")
            && !is_ambiguous(path_of(candidate))
    }

    fn absolute(&self, candidate: &str) -> bool {
        let lower = candidate.to_ascii_lowercase();
        let rest = if let Some(r) = lower.strip_prefix("https://") {
            r
        } else if let Some(r) = lower.strip_prefix("http://") {
            if self.https_only {
                return false;
            }
            r
        } else {
            return false;
        };
        let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') || tail.starts_with('\\') {
            return false;
        }
        if !tail.is_empty() && tail.starts_with('/') && is_ambiguous(path_of(tail)) {
            return false;
        }
        self.host_allowed(authority)
    }

    fn host_allowed(&self, authority: &str) -> bool {
        let name = authority
            .rsplit_once(':')
            .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
            .map_or(authority, |(name, _)| name);
        let same = |h: &str| h == authority || h == name;
        if same(&self.public_host) || self.route_hosts.iter().any(|h| same(h)) {
            return true;
        }
        match &self.cookie_domain {
            Some(domain) => {
                name == domain
                    || name
                        .strip_suffix(domain.as_str())
                        .is_some_and(|head| head.ends_with('.'))
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ReturnToPolicy {
        ReturnToPolicy {
            public_host: "auth.example.com".into(),
            route_hosts: vec!["app.example.org".into()],
            cookie_domain: Some("example.net".into()),
            https_only: true,
        }
    }

    #[test]
    fn relative_paths_with_one_slash_are_followed() {
        let p = policy();
        for ok in ["/", "/console", "/app/tasks?id=1", "/a/b#frag"] {
            assert_eq!(p.accept(ok), Some(ok), "{ok}");
        }
    }

    #[test]
    fn protocol_relative_backslash_and_dot_paths_are_dropped() {
        let p = policy();
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "/../x",
            "/a/./b",
            "/a/%2e%2e/b",
            "",
            "evil.com",
            "javascript:alert(1)",
            "/a b",
            "/a\nb",
        ] {
            assert_eq!(p.accept(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn absolute_urls_only_on_known_hosts() {
        let p = policy();
        for ok in [
            "https://auth.example.com/console",
            "https://app.example.org/x?y=1",
            "https://example.net/",
            "https://a.b.example.net/page",
            "https://AUTH.example.com",
            "https://auth.example.com:443/x",
        ] {
            assert_eq!(p.accept(ok), Some(ok), "{ok}");
        }
        for bad in [
            "https://evil.com/",
            "https://auth.example.com.evil.com/",
            "https://evilexample.net/",
            "https://auth.example.com@evil.com/",
            "https://evil.com\\@auth.example.com/",
            "http://auth.example.com/",
            "ftp://auth.example.com/",
            "https:///x",
            "https://app.example.org/../x",
        ] {
            assert_eq!(p.accept(bad), None, "{bad}");
        }
    }

    #[test]
    fn http_is_allowed_outside_production() {
        let mut p = policy();
        p.https_only = false;
        p.public_host = "localhost:8080".into();
        assert!(p.accept("http://localhost:8080/console").is_some());
        assert!(p.accept("http://localhost:9999/console").is_none());
    }
}
