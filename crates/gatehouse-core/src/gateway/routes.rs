//! The route table (SPEC §11): which policy governs a request, by host and segment-aware
//! longest prefix. Routes are validated when the table is built, so a table that exists is one
//! the server may run with.

use std::time::Duration;

use crate::gateway::resource::CapabilityRule;
use crate::rate_limit::Limit;
use crate::role::Role;

/// Paths gatehouse serves itself; a gateway route can never take them over.
pub const OWN_PREFIXES: &[&str] = &[
    "/v1",
    "/console",
    "/.well-known",
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
];

/// Whether a request must carry a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// No working credential: `401`.
    Required,
    /// Identity when there is a credential, anonymous otherwise.
    Optional,
    /// No credential is looked at; the request passes anonymous.
    None,
}

/// Which requests of a route are recorded as `gateway.request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditPolicy {
    /// Unsafe methods only (POST, PUT, PATCH, DELETE, and any other but GET/HEAD/OPTIONS).
    Mutations,
    All,
    None,
}

impl AuditPolicy {
    #[must_use]
    pub fn records(self, method: &str) -> bool {
        match self {
            Self::All => true,
            Self::None => false,
            Self::Mutations => !matches!(method, "GET" | "HEAD" | "OPTIONS"),
        }
    }
}

/// One route, as configured and checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// Starts with `/`; no trailing `/` (except the root route `/`).
    pub prefix: String,
    /// Lowercase host (with a port only when the configuration wrote one).
    pub host: Option<String>,
    /// `http(s)://authority[/base]` without a trailing `/`; `None` for forward-auth only.
    pub upstream: Option<String>,
    /// Upper-case methods; `None`: every method.
    pub methods: Option<Vec<String>>,
    pub auth: AuthMode,
    /// Every one must be held (API keys and scoped tokens).
    pub scopes: Vec<String>,
    /// The least org role a user credential must hold.
    pub min_role: Option<Role>,
    pub rate_limit: Option<Limit>,
    pub audit: AuditPolicy,
    pub strip_prefix: bool,
    pub timeout: Duration,
    pub max_body: u64,
    /// The `aud` of the route's assertions.
    pub audience: String,
    /// A capability the caller must hold on the resource the path names (SPEC §7).
    pub capability: Option<CapabilityRule>,
}

impl Route {
    /// A stable name for logs, errors and rate-limit keys: `host/prefix` or `prefix`.
    #[must_use]
    pub fn name(&self) -> String {
        match &self.host {
            Some(h) => format!("{h}{}", self.prefix),
            None => self.prefix.clone(),
        }
    }

    /// Whether `method` (upper case) is served by this route.
    #[must_use]
    pub fn allows_method(&self, method: &str) -> bool {
        self.methods
            .as_ref()
            .is_none_or(|m| m.iter().any(|x| x == method))
    }

    /// Whether `path` is the prefix itself or below it, segment by segment.
    #[must_use]
    pub fn covers(&self, path: &str) -> bool {
        segment_prefix(&self.prefix, path)
    }

    /// What follows the prefix in `path` (`/42/comments` of `/api/tasks/42/comments`).
    #[must_use]
    pub fn rest_of<'a>(&self, path: &'a str) -> &'a str {
        if self.prefix == "/" {
            return path;
        }
        path.strip_prefix(self.prefix.as_str()).unwrap_or("")
    }

    /// The path sent upstream: the prefix removed when `strip_prefix` (never empty).
    #[must_use]
    pub fn upstream_path<'a>(&self, path: &'a str) -> std::borrow::Cow<'a, str> {
        if !self.strip_prefix || self.prefix == "/" {
            return path.into();
        }
        match path.strip_prefix(self.prefix.as_str()) {
            Some("") | None => "/".into(),
            Some(rest) => rest.into(),
        }
    }
}

/// `/api/tasks` covers `/api/tasks` and `/api/tasks/…`, never `/api/tasksX`.
#[must_use]
pub fn segment_prefix(prefix: &str, path: &str) -> bool {
    if prefix == "/" {
        return path.starts_with('/');
    }
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// Whether `path` is one of gatehouse's own.
#[must_use]
pub fn is_own_path(path: &str) -> bool {
    OWN_PREFIXES.iter().any(|p| segment_prefix(p, path))
}

/// Why a table could not be built: the route's name and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    pub route: String,
    pub reason: String,
}

impl std::fmt::Display for RouteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "gateway route {}: {}", self.route, self.reason)
    }
}

/// The checked routes.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// Refuses duplicates (same host and prefix) and gateway routes under gatehouse's own paths
    /// (they could never be reached).
    pub fn new(routes: Vec<Route>) -> Result<Self, RouteError> {
        for (i, r) in routes.iter().enumerate() {
            let fail = |reason: &str| RouteError {
                route: r.name(),
                reason: reason.to_owned(),
            };
            if !r.prefix.starts_with('/') || (r.prefix.len() > 1 && r.prefix.ends_with('/')) {
                return Err(fail("prefix must start with / and not end with /"));
            }
            if r.upstream.is_some() && r.host.is_none() && is_own_path(&r.prefix) {
                return Err(fail(
                    "prefix is one of gatehouse's own paths (/v1, /console, /.well-known, ...)",
                ));
            }
            if routes[..i]
                .iter()
                .any(|o| o.prefix == r.prefix && o.host == r.host)
            {
                return Err(fail("another route has the same host and prefix"));
            }
        }
        Ok(Self { routes })
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }

    #[must_use]
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Whether any route proxies to an upstream (the gateway is on).
    #[must_use]
    pub fn has_upstreams(&self) -> bool {
        self.routes.iter().any(|r| r.upstream.is_some())
    }

    /// The route for `host` (as the request names it, port included or not) and `path`: the
    /// longest covering prefix; at equal length, a route naming the host beats one that does
    /// not.
    pub fn find(&self, host: Option<&str>, path: &str) -> Option<&Route> {
        let host = host.map(str::to_ascii_lowercase);
        self.routes
            .iter()
            .filter(|r| r.covers(path))
            .filter(|r| match (&r.host, &host) {
                (None, _) => true,
                (Some(want), Some(got)) => host_matches(want, got),
                (Some(_), None) => false,
            })
            .max_by_key(|r| (r.prefix.len(), r.host.is_some()))
    }
}

/// `want` without a port matches `got` with any port; with a port, exactly.
fn host_matches(want: &str, got: &str) -> bool {
    if want == got {
        return true;
    }
    if want.contains(':') && !want.starts_with('[') {
        return false;
    }
    match got.rsplit_once(':') {
        Some((name, port)) if !name.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) => {
            name == want
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn route(prefix: &str) -> Route {
        Route {
            prefix: prefix.into(),
            host: None,
            upstream: None,
            methods: None,
            auth: AuthMode::Required,
            scopes: vec![],
            min_role: None,
            rate_limit: None,
            audit: AuditPolicy::Mutations,
            strip_prefix: false,
            timeout: Duration::from_secs(30),
            max_body: 10 << 20,
            audience: "aud".into(),
            capability: None,
        }
    }

    fn table(routes: Vec<Route>) -> RouteTable {
        match RouteTable::new(routes) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn prefixes_match_whole_segments_and_the_longest_wins() {
        let t = table(vec![route("/api"), route("/api/tasks"), route("/")]);
        let found = |p: &str| t.find(None, p).map(|r| r.prefix.clone());
        assert_eq!(found("/api/tasks").as_deref(), Some("/api/tasks"));
        assert_eq!(found("/api/tasks/1").as_deref(), Some("/api/tasks"));
        assert_eq!(found("/api/tasksX").as_deref(), Some("/api"));
        assert_eq!(found("/api").as_deref(), Some("/api"));
        assert_eq!(found("/apix").as_deref(), Some("/"));
        assert_eq!(found("/other").as_deref(), Some("/"));
    }

    #[test]
    fn no_route_matches_without_a_covering_prefix() {
        let t = table(vec![route("/api/tasks")]);
        assert!(t.find(None, "/api").is_none());
        assert!(t.find(None, "/api/task").is_none());
        assert!(t.find(None, "/").is_none());
    }

    #[test]
    fn a_host_route_only_serves_its_host_and_beats_a_hostless_one() {
        let mut app = route("/api");
        app.host = Some("app.example.com".into());
        app.audience = "app".into();
        let t = table(vec![route("/api"), app]);
        let aud = |h: Option<&str>| t.find(h, "/api/x").map(|r| r.audience.clone());
        assert_eq!(aud(Some("app.example.com")).as_deref(), Some("app"));
        assert_eq!(aud(Some("APP.example.com:8443")).as_deref(), Some("app"));
        assert_eq!(aud(Some("other.example.com")).as_deref(), Some("aud"));
        assert_eq!(aud(None).as_deref(), Some("aud"));
        assert_eq!(aud(Some("app.example.com.evil")).as_deref(), Some("aud"));
    }

    #[test]
    fn a_host_with_a_port_must_match_exactly() {
        let mut app = route("/");
        app.host = Some("app.example.com:8443".into());
        let t = table(vec![app]);
        assert!(t.find(Some("app.example.com:8443"), "/").is_some());
        assert!(t.find(Some("app.example.com"), "/").is_none());
        assert!(t.find(Some("app.example.com:9443"), "/").is_none());
    }

    #[test]
    fn duplicates_and_own_paths_are_refused() {
        let e = RouteTable::new(vec![route("/a"), route("/a")]).err();
        assert_eq!(
            e.map(|e| e.to_string()).as_deref(),
            Some("gateway route /a: another route has the same host and prefix")
        );
        let mut own = route("/v1/things");
        own.upstream = Some("http://127.0.0.1:3000".into());
        assert!(RouteTable::new(vec![own]).is_err());
        let mut console = route("/console");
        console.upstream = Some("http://127.0.0.1:3000".into());
        assert!(RouteTable::new(vec![console]).is_err());
        // `/v1x` is not under `/v1`.
        let mut near = route("/v1x");
        near.upstream = Some("http://127.0.0.1:3000".into());
        assert!(RouteTable::new(vec![near]).is_ok());
        assert!(RouteTable::new(vec![route("/a/")]).is_err());
    }

    #[test]
    fn strip_prefix_keeps_a_leading_slash() {
        let mut r = route("/api/tasks");
        r.strip_prefix = true;
        assert_eq!(r.upstream_path("/api/tasks/1"), "/1");
        assert_eq!(r.upstream_path("/api/tasks"), "/");
        r.strip_prefix = false;
        assert_eq!(r.upstream_path("/api/tasks/1"), "/api/tasks/1");
    }

    #[test]
    fn audit_policy_by_method() {
        assert!(AuditPolicy::Mutations.records("POST"));
        assert!(!AuditPolicy::Mutations.records("GET"));
        assert!(AuditPolicy::All.records("GET"));
        assert!(!AuditPolicy::None.records("DELETE"));
    }
}
