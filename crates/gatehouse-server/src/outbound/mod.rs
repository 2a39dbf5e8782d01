//! The one guarded outbound HTTP client (SPEC §12): every request gatehouse makes (audit
//! webhooks, OIDC discovery, JWKS, token calls) goes through [`OutboundClient`], which refuses
//! blocked addresses before any connection, connects only to the addresses it vetted,
//! re-checks redirects (at most 5), bounds connect and total time and cuts large answers.

pub mod dns;
mod guard;

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_core::outbound::{OutboundPolicy, Refused, Resolve};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::Config;
use guard::{GuardRefusal, GuardedResolver, SystemLookup, TooManyHops};

/// How the outbound client behaves (`GATEHOUSE_OUTBOUND_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSettings {
    /// Networks reachable even though a blocked range holds them (`GATEHOUSE_OUTBOUND_ALLOW`).
    pub allow: Vec<ipnet::IpNet>,
    /// Ask this DNS server instead of the system resolver (`GATEHOUSE_OUTBOUND_NAMESERVER`).
    pub nameserver: Option<SocketAddr>,
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_response_bytes: usize,
    /// Whether redirects are followed (each hop re-checked, at most 5). Off for the audit
    /// webhook: a redirected POST becomes a GET without its body, whose `2xx` must not count
    /// as the batch's acknowledgement, and a signed body must not follow to another host.
    pub follow_redirects: bool,
}

impl Default for OutboundSettings {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            nameserver: None,
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
            follow_redirects: true,
        }
    }
}

/// An answer: its status and body, cut at `max_response_bytes` (then `truncated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub body: Vec<u8>,
    pub truncated: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum OutboundError {
    /// Refused by the SSRF guard before reaching the network (the reason and address).
    #[error("ssrf_blocked: {0}")]
    Blocked(String),
    #[error("outbound request timed out")]
    Timeout,
    #[error("outbound request failed: {0}")]
    Network(String),
    #[error("outbound request followed more than 5 redirects")]
    TooManyRedirects,
}

/// Makes ring rustls's process-wide crypto provider (no aws-lc, no OpenSSL). Idempotent; the
/// client calls it itself, and so should anything else building a reqwest client.
pub fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race; then its provider stays, which is just as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// The guarded client for this configuration.
pub fn outbound_client(config: &Config) -> Result<OutboundClient, String> {
    OutboundClient::new(config.outbound.clone())
}

#[derive(Clone)]
pub struct OutboundClient {
    http: reqwest::Client,
    policy: Arc<OutboundPolicy>,
    total_timeout: Duration,
    max_response_bytes: usize,
}

impl std::fmt::Debug for OutboundClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundClient")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl OutboundClient {
    pub fn new(settings: OutboundSettings) -> Result<Self, String> {
        install_crypto_provider();
        let policy = Arc::new(OutboundPolicy::new(settings.allow));
        let lookup: Arc<dyn Resolve> = match settings.nameserver {
            Some(server) => Arc::new(dns::Nameserver {
                server,
                timeout: settings.connect_timeout,
            }),
            None => Arc::new(SystemLookup),
        };
        let http = reqwest::Client::builder()
            .no_proxy() // a proxy would make the checked address meaningless
            .dns_resolver(GuardedResolver {
                policy: policy.clone(),
                lookup,
            })
            .redirect(if settings.follow_redirects {
                guard::redirect_policy(policy.clone())
            } else {
                reqwest::redirect::Policy::none()
            })
            .referer(false) // the previous URL may carry a secret
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.total_timeout)
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("outbound client: {e}"))?;
        Ok(Self {
            http,
            policy,
            total_timeout: settings.total_timeout,
            max_response_bytes: settings.max_response_bytes,
        })
    }

    /// POSTs `body` with `headers`; the answer's status and (capped) body.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<OutboundResponse, OutboundError> {
        self.send(reqwest::Method::POST, url, headers, Some(body))
            .await
    }

    pub async fn get(
        &self,
        url: &str,
        headers: &[(&str, String)],
    ) -> Result<OutboundResponse, OutboundError> {
        self.send(reqwest::Method::GET, url, headers, None).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<OutboundResponse, OutboundError> {
        // The URL as written and as the URL library normalised it must both pass.
        let refuse = |refused: Refused, host: &str| {
            guard::log_refusal(&refused, host);
            Err(OutboundError::Blocked(refused.to_string()))
        };
        if let Err(refused) = guard::check_before_sending(&self.policy, url) {
            return refuse(refused, "-");
        }
        let parsed = match reqwest::Url::parse(url) {
            Ok(u) => u,
            Err(e) => return Err(OutboundError::Network(format!("bad URL: {e}"))),
        };
        if let Err(refused) = guard::check_before_sending(&self.policy, parsed.as_str()) {
            return refuse(refused, &guard::host_for_log(&parsed));
        }
        let mut request = self
            .http
            .request(method, parsed)
            .headers(header_map(headers)?);
        if let Some(body) = body {
            request = request.body(body);
        }
        let exchange = async {
            let response = request.send().await.map_err(map_error)?;
            let status = response.status().as_u16();
            let (body, truncated) = read_capped(response, self.max_response_bytes).await?;
            Ok(OutboundResponse {
                status,
                body,
                truncated,
            })
        };
        tokio::time::timeout(self.total_timeout, exchange)
            .await
            .unwrap_or(Err(OutboundError::Timeout))
    }
}

fn header_map(headers: &[(&str, String)]) -> Result<HeaderMap, OutboundError> {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        let bad = || OutboundError::Network(format!("header {name:?} is not valid"));
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad())?;
        let value = HeaderValue::from_str(value).map_err(|_| bad())?;
        map.append(name, value);
    }
    Ok(map)
}

/// The body, read chunk by chunk and cut at `cap` bytes (the rest is never read).
async fn read_capped(
    mut response: reqwest::Response,
    cap: usize,
) -> Result<(Vec<u8>, bool), OutboundError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(map_error)? {
        let room = cap - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((body, true));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, false))
}

/// A reqwest error as the caller needs it: a guard refusal found in its chain stays one.
fn map_error(error: reqwest::Error) -> OutboundError {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(e) = cause {
        if let Some(GuardRefusal(refused)) = e.downcast_ref::<GuardRefusal>() {
            return match refused {
                Refused::Unresolved { .. } => OutboundError::Network(refused.to_string()),
                _ => OutboundError::Blocked(refused.to_string()),
            };
        }
        if e.downcast_ref::<TooManyHops>().is_some() {
            return OutboundError::TooManyRedirects;
        }
        cause = e.source();
    }
    if error.is_timeout() {
        return OutboundError::Timeout;
    }
    // Without the URL: its query may carry a secret.
    let error = error.without_url();
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    OutboundError::Network(text)
}

#[cfg(test)]
mod tests;
