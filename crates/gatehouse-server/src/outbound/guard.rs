//! Where reqwest meets the core SSRF rules: the DNS resolver that vets every answer and hands
//! reqwest only vetted addresses (so nothing is looked up twice), the redirect policy that
//! re-checks every hop, and the `ssrf_blocked` log line.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use gatehouse_core::outbound::{
    Host, MAX_REDIRECTS, OutboundPolicy, Refused, Resolve, Target, check_url, parse_host, vet,
};
use reqwest::dns::{Addrs, Name, Resolving};
use reqwest::redirect::Attempt;

/// A refusal carried through reqwest's error chain (found again by downcasting).
#[derive(Debug)]
pub(super) struct GuardRefusal(pub Refused);

impl fmt::Display for GuardRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ssrf_blocked: {}", self.0)
    }
}

impl std::error::Error for GuardRefusal {}

/// More than [`MAX_REDIRECTS`] hops.
#[derive(Debug)]
pub(super) struct TooManyHops;

impl fmt::Display for TooManyHops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "more than {MAX_REDIRECTS} redirects")
    }
}

impl std::error::Error for TooManyHops {}

/// Logs a refusal: `ssrf_blocked` with the address (or the host, when there is no address yet)
/// and the reason. Never the URL: its path or query may carry a secret.
pub(super) fn log_refusal(refused: &Refused, host: &str) {
    match refused {
        Refused::Blocked(b) => {
            tracing::warn!(target: "gatehouse::outbound", addr = %b.addr, reason = b.reason, host, "ssrf_blocked");
        }
        Refused::Unresolved { name, why } => {
            tracing::info!(target: "gatehouse::outbound", host = %name, why = %why, "outbound name did not resolve");
        }
        other => {
            let reason = match other {
                Refused::Scheme(_) => "scheme",
                Refused::Userinfo => "userinfo",
                Refused::BadHost(_) => "bad_host",
                _ => "malformed",
            };
            tracing::warn!(target: "gatehouse::outbound", addr = host, reason, "ssrf_blocked");
        }
    }
}

/// The system resolver (`getaddrinfo` through tokio).
#[derive(Debug, Clone, Copy)]
pub(super) struct SystemLookup;

#[async_trait]
impl Resolve for SystemLookup {
    async fn resolve(&self, name: &str, port: u16) -> io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((name, port))
            .await?
            .map(|a| a.ip())
            .collect())
    }
}

/// reqwest's resolver: looks the name up once, vets every answer, returns only vetted ones.
pub(super) struct GuardedResolver {
    pub policy: Arc<OutboundPolicy>,
    pub lookup: Arc<dyn Resolve>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let lookup = self.lookup.clone();
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let host = parse_host(&name).map_err(|why| {
                let refused = Refused::BadHost(why);
                log_refusal(&refused, &name);
                Box::new(GuardRefusal(refused))
            })?;
            // The connector puts the URL's port on every address.
            let target = Target {
                https: false,
                host,
                port: 0,
            };
            match vet(&policy, lookup.as_ref(), &target).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as Addrs),
                Err(refused) => {
                    log_refusal(&refused, &name);
                    Err(Box::new(GuardRefusal(refused)) as _)
                }
            }
        })
    }
}

/// Checks a URL before anything is sent: http/https, no user info, and a literal address
/// allowed by the policy (names are vetted by [`GuardedResolver`] when connecting).
pub(super) fn check_before_sending(policy: &OutboundPolicy, url: &str) -> Result<(), Refused> {
    let target = check_url(url)?;
    if let Host::Ip(ip) = target.host {
        policy.check(ip).map_err(Refused::Blocked)?;
    }
    Ok(())
}

/// Host of a URL for the log (`-` when there is none to name safely).
pub(super) fn host_for_log(url: &reqwest::Url) -> String {
    url.host_str().unwrap_or("-").to_owned()
}

/// The redirect policy: at most [`MAX_REDIRECTS`] hops, each one checked like a first request.
pub(super) fn redirect_policy(policy: Arc<OutboundPolicy>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt: Attempt<'_>| {
        // `previous` holds the first URL too: five redirects followed make six entries.
        if attempt.previous().len() > MAX_REDIRECTS {
            tracing::warn!(target: "gatehouse::outbound", "outbound request stopped after {MAX_REDIRECTS} redirects");
            return attempt.error(TooManyHops);
        }
        let next = attempt.url();
        match check_before_sending(&policy, next.as_str()) {
            Ok(()) => attempt.follow(),
            Err(refused) => {
                log_refusal(&refused, &host_for_log(next));
                attempt.error(GuardRefusal(refused))
            }
        }
    })
}
