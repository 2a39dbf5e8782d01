//! The rules of the SSRF guard (SPEC §12), without any network: which URLs may be requested,
//! which addresses may be reached, and the vetting of every address a name resolves to.

mod address;
mod host;

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use async_trait::async_trait;
use ipnet::IpNet;

pub use address::{blocked_reason, embedded_v4};
pub use host::{Host, parse_host, parse_ipv4};

/// Redirects followed at most (SPEC §12).
pub const MAX_REDIRECTS: usize = 5;

/// An address the guard refuses, and why (`loopback`, `private`, `metadata`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub addr: IpAddr,
    pub reason: &'static str,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.addr, self.reason)
    }
}

/// Which addresses outbound requests may reach: every public address, plus the operator's
/// explicitly allowed networks (`GATEHOUSE_OUTBOUND_ALLOW`), which win over every range.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboundPolicy {
    pub allow: Vec<IpNet>,
}

impl OutboundPolicy {
    #[must_use]
    pub fn new(allow: Vec<IpNet>) -> Self {
        Self { allow }
    }

    /// `Ok` for a public or explicitly allowed address.
    pub fn check(&self, ip: IpAddr) -> Result<(), Blocked> {
        let Some(reason) = blocked_reason(ip) else {
            return Ok(());
        };
        if self.allows(ip) {
            Ok(())
        } else {
            Err(Blocked { addr: ip, reason })
        }
    }

    /// An allowed network holds `ip`, or the IPv4 address it carries.
    fn allows(&self, ip: IpAddr) -> bool {
        let carried = match ip {
            IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
            IpAddr::V4(_) => None,
        };
        self.allow
            .iter()
            .any(|net| net.contains(&ip) || carried.is_some_and(|v4| net.contains(&v4)))
    }
}

/// Where a checked URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: Host,
    pub port: u16,
}

/// Why an outbound request is refused before it reaches the network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("scheme {0:?} is not http or https")]
    Scheme(String),
    #[error("URLs with user info are not requested")]
    Userinfo,
    #[error("malformed URL: {0}")]
    Malformed(&'static str),
    #[error("bad host: {0}")]
    BadHost(&'static str),
    #[error("{0}")]
    Blocked(Blocked),
    #[error("{name} resolves to no address: {why}")]
    Unresolved { name: String, why: String },
}

/// Reads `url` on its own terms (no URL library): `http` or `https`, no user info, a host in
/// any spelling [`parse_host`] reads, an optional port.
pub fn check_url(url: &str) -> Result<Target, Refused> {
    if url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(Refused::Malformed("control character or space"));
    }
    let (scheme, rest) = url.split_once(':').ok_or(Refused::Malformed("no scheme"))?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "http" => false,
        "https" => true,
        other => return Err(Refused::Scheme(other.chars().take(32).collect())),
    };
    let rest = rest
        .strip_prefix("//")
        .ok_or(Refused::Malformed("expected //"))?;
    // Browsers end the authority at `\` too for http(s).
    let end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let authority = &rest[..end];
    if authority.contains('@') {
        return Err(Refused::Userinfo);
    }
    let (host, port) = split_port(authority)?;
    let port = match port {
        None | Some("") => {
            if https {
                443
            } else {
                80
            }
        }
        Some(p) if p.bytes().all(|b| b.is_ascii_digit()) => p
            .parse()
            .map_err(|_| Refused::Malformed("port out of range"))?,
        Some(_) => return Err(Refused::Malformed("port is not a number")),
    };
    let host = parse_host(host).map_err(Refused::BadHost)?;
    Ok(Target { https, host, port })
}

fn split_port(authority: &str) -> Result<(&str, Option<&str>), Refused> {
    if authority.starts_with('[') {
        let close = authority.find(']').ok_or(Refused::BadHost("unclosed ["))?;
        let (host, after) = authority.split_at(close + 1);
        return match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or(Refused::Malformed("junk after ]")),
        };
    }
    Ok(match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    })
}

/// Name resolution, injected so the rules are tested with a fake resolver.
#[async_trait]
pub trait Resolve: Send + Sync {
    async fn resolve(&self, name: &str, port: u16) -> std::io::Result<Vec<IpAddr>>;
}

/// Every address `addrs` holds must pass the policy; the first that fails refuses them all.
pub fn check_all(policy: &OutboundPolicy, addrs: &[IpAddr]) -> Result<(), Blocked> {
    addrs.iter().try_for_each(|ip| policy.check(*ip))
}

/// The addresses to connect to for `target`: a literal address if allowed; else every address
/// the name resolves to, refused as a whole when ANY is blocked (one private answer among
/// public ones refuses the name) or when none resolves. Connect only to what this returns.
pub async fn vet<R: Resolve + ?Sized>(
    policy: &OutboundPolicy,
    resolver: &R,
    target: &Target,
) -> Result<Vec<SocketAddr>, Refused> {
    let name = match &target.host {
        Host::Ip(ip) => {
            policy.check(*ip).map_err(Refused::Blocked)?;
            return Ok(vec![SocketAddr::new(*ip, target.port)]);
        }
        Host::Name(name) => name,
    };
    let unresolved = |why: String| Refused::Unresolved {
        name: name.clone(),
        why,
    };
    let mut addrs = resolver
        .resolve(name, target.port)
        .await
        .map_err(|e| unresolved(e.to_string()))?;
    let mut seen = std::collections::HashSet::new();
    addrs.retain(|ip| seen.insert(*ip));
    if addrs.is_empty() {
        return Err(unresolved("no A or AAAA records".into()));
    }
    check_all(policy, &addrs).map_err(Refused::Blocked)?;
    Ok(addrs
        .into_iter()
        .map(|ip| SocketAddr::new(ip, target.port))
        .collect())
}

#[cfg(test)]
mod tests;
