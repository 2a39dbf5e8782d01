//! `[[gateway.routes]]` in the config file (SPEC §11): each table read strictly (an unknown
//! key, a bad rate or size, an upstream that is not http(s) refuse to start), then the whole
//! table checked by the core's [`RouteTable`]. Every error names its route in one line.

use std::time::Duration;

use gatehouse_core::gateway::{
    AuditPolicy, AuthMode, CapabilityRule, ResourceTemplate, Route, RouteTable,
};
use gatehouse_core::permission::Capability;
use gatehouse_core::rate_limit::Limit;
use gatehouse_core::role::Role;
use serde::Deserialize;

use super::ConfigError;
use super::syntax::{parse_duration, parse_rate};

/// Upstream answer deadline when a route gives none.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body when a route gives none.
const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;

/// The `gateway` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayFile {
    #[serde(default)]
    routes: Vec<toml::Table>,
}

/// One `[[gateway.routes]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RouteFile {
    prefix: String,
    host: Option<String>,
    upstream: Option<String>,
    methods: Option<Vec<String>>,
    auth: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    rate_limit: Option<String>,
    audit: Option<String>,
    #[serde(default)]
    strip_prefix: bool,
    timeout: Option<String>,
    max_body: Option<String>,
    audience: Option<String>,
    capability: Option<String>,
    resource: Option<String>,
}

/// The route table of the config file's `gateway` value (absent: no routes).
pub(super) fn parse(shown: &str, value: Option<toml::Value>) -> Result<RouteTable, ConfigError> {
    let Some(value) = value else {
        return Ok(RouteTable::default());
    };
    let file: GatewayFile = value.try_into().map_err(|e: toml::de::Error| {
        ConfigError(format!("config file {shown}: gateway: {}", e.message()))
    })?;
    let mut routes = Vec::with_capacity(file.routes.len());
    for (index, table) in file.routes.into_iter().enumerate() {
        let label = table
            .get("prefix")
            .and_then(|p| p.as_str())
            .map(|p| match table.get("host").and_then(|h| h.as_str()) {
                Some(h) => format!("{h}{p}"),
                None => p.to_owned(),
            })
            .unwrap_or_else(|| format!("#{}", index + 1));
        let fail =
            |why: String| ConfigError(format!("config file {shown}: gateway route {label}: {why}"));
        let written: RouteFile = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| fail(e.message().to_owned()))?;
        routes.push(route(written).map_err(fail)?);
    }
    RouteTable::new(routes).map_err(|e| ConfigError(format!("config file {shown}: {e}")))
}

fn route(w: RouteFile) -> Result<Route, String> {
    let capability = match (w.capability.as_deref(), w.resource.as_deref()) {
        (None, None) => None,
        (Some(c), Some(r)) => Some(CapabilityRule {
            capability: Capability::parse(c).ok_or_else(|| {
                format!("capability: expected view, edit, share or delete, got {c:?}")
            })?,
            resource: ResourceTemplate::parse(r)?,
        }),
        // Fail closed: half a rule must never run as no rule.
        (Some(_), None) => return Err("capability needs resource (e.g. \"task:{1}\")".into()),
        (None, Some(_)) => return Err("resource needs capability".into()),
    };
    let upstream = w.upstream.as_deref().map(upstream).transpose()?;
    let methods = w
        .methods
        .map(|ms| {
            ms.into_iter()
                .map(|m| {
                    let up = m.trim().to_ascii_uppercase();
                    if up.is_empty() || up.len() > 16 || !up.bytes().all(|b| b.is_ascii_uppercase())
                    {
                        Err(format!("methods: not a method: {m:?}"))
                    } else {
                        Ok(up)
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    if methods.as_ref().is_some_and(|m| m.is_empty()) {
        return Err("methods: empty list (omit it to allow every method)".into());
    }
    let auth = match w.auth.as_deref().unwrap_or("required") {
        "required" => AuthMode::Required,
        "optional" => AuthMode::Optional,
        "none" => AuthMode::None,
        other => {
            return Err(format!(
                "auth: expected required, optional or none, got {other:?}"
            ));
        }
    };
    let min_role = w
        .roles
        .iter()
        .map(|r| {
            Role::parse(r)
                .ok_or_else(|| format!("roles: expected member, admin or owner, got {r:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .min();
    if auth == AuthMode::None
        && (!w.scopes.is_empty() || min_role.is_some() || capability.is_some())
    {
        return Err("scopes, roles and capability need auth = \"required\" or \"optional\"".into());
    }
    for s in &w.scopes {
        if s.is_empty() || s.contains(char::is_whitespace) {
            return Err(format!("scopes: not a scope: {s:?}"));
        }
    }
    let rate_limit = w
        .rate_limit
        .as_deref()
        .map(|r| {
            parse_rate(r)
                .map(|r| Limit {
                    count: r.count,
                    period: r.per,
                })
                .map_err(|why| format!("rate_limit: {why}"))
        })
        .transpose()?;
    let audit = match w.audit.as_deref().unwrap_or("mutations") {
        "mutations" => AuditPolicy::Mutations,
        "all" => AuditPolicy::All,
        "none" => AuditPolicy::None,
        other => {
            return Err(format!(
                "audit: expected mutations, all or none, got {other:?}"
            ));
        }
    };
    let timeout = match w.timeout.as_deref() {
        Some(t) => parse_duration(t).map_err(|why| format!("timeout: {why}"))?,
        None => DEFAULT_TIMEOUT,
    };
    let max_body = match w.max_body.as_deref() {
        Some(s) => parse_size(s).map_err(|why| format!("max_body: {why}"))?,
        None => DEFAULT_MAX_BODY,
    };
    let audience = match (w.audience, &upstream) {
        (Some(a), _) if !a.trim().is_empty() => a.trim().to_owned(),
        (Some(_), _) => return Err("audience: empty".into()),
        (None, Some(up)) => origin_of(up).to_owned(),
        (None, None) => String::new(),
    };
    Ok(Route {
        prefix: w.prefix,
        host: w.host.map(|h| h.trim().to_ascii_lowercase()),
        upstream,
        methods,
        auth,
        scopes: w.scopes,
        min_role,
        rate_limit,
        audit,
        strip_prefix: w.strip_prefix,
        timeout,
        max_body,
        audience,
        capability,
    })
}

/// `http(s)://authority[/base]`, kept without a trailing `/`.
fn upstream(s: &str) -> Result<String, String> {
    let s = s.trim().trim_end_matches('/');
    let rest = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
        .ok_or_else(|| format!("upstream: expected an http:// or https:// URL, got {s:?}"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || rest.contains(['?', '#', ' ']) {
        return Err(format!(
            "upstream: expected http(s)://host[:port][/path], got {s:?}"
        ));
    }
    Ok(s.to_owned())
}

/// `scheme://authority` of an upstream URL.
fn origin_of(upstream: &str) -> &str {
    let after_scheme = upstream.find("://").map_or(0, |i| i + 3);
    match upstream[after_scheme..].find('/') {
        Some(i) => &upstream[..after_scheme + i],
        None => upstream,
    }
}

/// `512`, `64KiB`, `10MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1000).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: u64 = s[..digits]
        .parse()
        .map_err(|_| format!("expected a size like 10MiB, got {s:?}"))?;
    let unit = match s[digits..].trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(format!("expected a size like 10MiB, got {s:?}")),
    };
    n.checked_mul(unit)
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a positive size, got {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<RouteTable, String> {
        let value: toml::Table = toml::from_str(text).unwrap();
        parse("f.toml", value.get("gateway").cloned()).map_err(|e| e.0)
    }

    #[test]
    fn a_full_route_reads() {
        let t = table(
            r#"
            [[gateway.routes]]
            prefix = "/api/tasks"
            host = "App.Example.com"
            upstream = "http://127.0.0.1:3000/base/"
            methods = ["get", "POST"]
            auth = "optional"
            scopes = ["tasks:read"]
            roles = ["admin", "member"]
            rate_limit = "100/1m"
            audit = "all"
            strip_prefix = true
            timeout = "5s"
            max_body = "1MiB"
            "#,
        )
        .unwrap();
        let r = &t.routes()[0];
        assert_eq!(r.host.as_deref(), Some("app.example.com"));
        assert_eq!(r.upstream.as_deref(), Some("http://127.0.0.1:3000/base"));
        assert_eq!(r.audience, "http://127.0.0.1:3000");
        assert_eq!(
            r.methods.as_deref(),
            Some(&["GET".to_owned(), "POST".to_owned()][..])
        );
        assert_eq!(r.min_role, Some(Role::Member));
        assert_eq!(
            r.rate_limit,
            Some(Limit {
                count: 100,
                period: Duration::from_secs(60)
            })
        );
        assert_eq!((r.timeout, r.max_body), (Duration::from_secs(5), 1 << 20));
        assert_eq!(
            (r.auth, r.audit, r.strip_prefix),
            (AuthMode::Optional, AuditPolicy::All, true)
        );
    }

    #[test]
    fn defaults() {
        let t = table("[[gateway.routes]]\nprefix = \"/app\"\n").unwrap();
        let r = &t.routes()[0];
        assert_eq!(
            (r.auth, r.audit),
            (AuthMode::Required, AuditPolicy::Mutations)
        );
        assert_eq!((r.timeout, r.max_body), (DEFAULT_TIMEOUT, DEFAULT_MAX_BODY));
        assert!(r.upstream.is_none() && r.min_role.is_none() && r.rate_limit.is_none());
        assert!(r.capability.is_none());
    }

    #[test]
    fn a_capability_rule_is_read_whole() {
        let t = table(
            "[[gateway.routes]]\nprefix = \"/p\"\ncapability = \"edit\"\nresource = \"page:{1}\"\n",
        )
        .unwrap();
        let rule = t.routes()[0].capability.as_ref().expect("a rule");
        assert_eq!(rule.capability, Capability::Edit);
        assert_eq!(rule.resource.render("/42/x").as_deref(), Some("page:42"));
    }

    #[test]
    fn every_refusal_names_the_route() {
        for (body, why) in [
            ("prefix = \"/a\"\ncolour = \"red\"", "unknown field"),
            ("prefix = \"/a\"\nrate_limit = \"fast\"", "rate_limit"),
            ("prefix = \"/a\"\nupstream = \"ftp://x\"", "upstream"),
            ("prefix = \"/a\"\nupstream = \"http://u@x\"", "upstream"),
            ("prefix = \"/a\"\nauth = \"maybe\"", "auth"),
            ("prefix = \"/a\"\nroles = [\"king\"]", "roles"),
            ("prefix = \"/a\"\nmax_body = \"10 parsecs\"", "max_body"),
            ("prefix = \"/a\"\ntimeout = \"soon\"", "timeout"),
            ("prefix = \"/a\"\nmethods = [\"GET /\"]", "methods"),
            ("prefix = \"/a\"\ncapability = \"view\"", "needs resource"),
            (
                "prefix = \"/a\"\nresource = \"page:{1}\"",
                "needs capability",
            ),
            (
                "prefix = \"/a\"\ncapability = \"view\"\nresource = \"page:{x}\"",
                "segment number",
            ),
            (
                "prefix = \"/a\"\nauth = \"none\"\nscopes = [\"x\"]",
                "scopes",
            ),
            (
                "prefix = \"/v1/x\"\nupstream = \"http://127.0.0.1:1\"",
                "gatehouse's own paths",
            ),
        ] {
            let err = table(&format!("[[gateway.routes]]\n{body}\n")).unwrap_err();
            assert!(err.contains("gateway route /"), "{body}: {err}");
            assert!(err.contains(why), "{body}: {err}");
            assert!(!err.contains('\n'), "{body}: one line: {err}");
        }
        let twice = "[[gateway.routes]]\nprefix = \"/a\"\n[[gateway.routes]]\nprefix = \"/a\"\n";
        assert!(table(twice).unwrap_err().contains("gateway route /a"));
        let nameless = table("[[gateway.routes]]\nhost = \"x\"\n").unwrap_err();
        assert!(
            nameless.contains("gateway route #1") && nameless.contains("prefix"),
            "{nameless}"
        );
        assert!(
            table("[gateway]\nroute = []\n")
                .unwrap_err()
                .contains("unknown field")
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("10MiB"), Ok(10 << 20));
        assert_eq!(parse_size("2MB"), Ok(2_000_000));
        assert!(
            parse_size("0").is_err() && parse_size("MiB").is_err() && parse_size("1TiB").is_err()
        );
    }
}
