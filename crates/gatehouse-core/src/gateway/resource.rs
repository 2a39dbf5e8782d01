//! A route's resource template (SPEC §11 `resource = "task:{1}"`): the resource a request is
//! about, named from its path. `{N}` is the Nth segment after the route's prefix (from 1), as
//! the client sent it; a request whose segment is missing, empty, or holds a character a
//! resource may not (a `%` escape among them) names no resource and is refused.

use crate::permission::{Capability, valid_resource};

/// What a route requires beyond its credential: `capability` on the resource its path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityRule {
    pub capability: Capability,
    pub resource: ResourceTemplate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// A segment number, from 1.
    Segment(usize),
}

/// A parsed `resource` template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceTemplate {
    parts: Vec<Part>,
}

impl ResourceTemplate {
    /// `type:` written out, then text and `{N}` placeholders (at least one).
    pub fn parse(s: &str) -> Result<Self, String> {
        let Some((kind, _)) = s.split_once(':') else {
            return Err(format!("resource: expected type:{{N}}, got {s:?}"));
        };
        if kind.contains(['{', '}']) || !valid_resource(&format!("{kind}:x")) {
            return Err(format!(
                "resource: the type before ':' must be written out (a-z, 0-9, _.-), got {s:?}"
            ));
        }
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .map(|c| open + c)
                .ok_or_else(|| format!("resource: unclosed {{ in {s:?}"))?;
            let n: usize = rest[open + 1..close]
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("resource: {{N}} needs a segment number from 1 in {s:?}"))?;
            parts.push(Part::Segment(n));
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        if rest.contains('}') || !parts.iter().any(|p| matches!(p, Part::Segment(_))) {
            return Err(format!(
                "resource: expected at least one {{N}} placeholder, got {s:?}"
            ));
        }
        let template = Self { parts };
        if template.fill(|_| Some("x")).is_none() {
            return Err(format!(
                "resource: holds characters a resource may not (A-Z a-z 0-9 _.:/@-), got {s:?}"
            ));
        }
        Ok(template)
    }

    fn fill<'a>(&self, segment: impl Fn(usize) -> Option<&'a str>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Segment(n) => out.push_str(segment(*n).filter(|s| !s.is_empty())?),
            }
        }
        valid_resource(&out).then_some(out)
    }

    /// The resource named by `rest`, the path after the route's prefix (`/42/comments`);
    /// `None` when it names none.
    #[must_use]
    pub fn render(&self, rest: &str) -> Option<String> {
        let segments: Vec<&str> = rest.strip_prefix('/').unwrap_or(rest).split('/').collect();
        self.fill(|n| segments.get(n - 1).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_name_the_resource() {
        let t = ResourceTemplate::parse("task:{1}").unwrap();
        assert_eq!(t.render("/42").as_deref(), Some("task:42"));
        assert_eq!(t.render("/42/comments").as_deref(), Some("task:42"));
        assert_eq!(t.render(""), None);
        assert_eq!(t.render("/"), None);
        assert_eq!(t.render("/%2e%2e"), None, "escapes name no resource");
        assert_eq!(t.render("/a b"), None);
        let two = ResourceTemplate::parse("doc:{2}/v{1}").unwrap();
        assert_eq!(two.render("/3/abc").as_deref(), Some("doc:abc/v3"));
        assert_eq!(two.render("/3"), None);
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "task",
            "{1}:x",
            "task:",
            "task:{0}",
            "task:{x}",
            "task:{1",
            "task:1}",
            "Task:{1}",
            "task:{1} x",
        ] {
            assert!(ResourceTemplate::parse(bad).is_err(), "{bad}");
        }
    }
}
