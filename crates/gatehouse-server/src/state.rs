//! What every handler can reach: configuration, services, metrics. Not the store: what a
//! handler needs of it goes through a service (readiness included).

use std::sync::Arc;

use gatehouse_core::service::{
    ApiKeyService, AuditService, AuthService, OrgService, Readiness, SecretService, TokenService,
};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Config;

#[derive(Clone)]
pub struct AppState {
    pub inner: Arc<Inner>,
}

pub struct Inner {
    pub config: Config,
    pub auth: Arc<AuthService>,
    pub orgs: OrgService,
    pub keys: ApiKeyService,
    pub audit: AuditService,
    pub tokens: Arc<TokenService>,
    pub limiter: Arc<gatehouse_core::service::limiter::RateLimiter>,
    pub secrets: SecretService,
    /// Per-resource grants and checks (SPEC §7); the gateway shares it.
    pub grants: Arc<gatehouse_core::service::GrantService>,
    pub readiness: Readiness,
    pub metrics: PrometheusHandle,
    /// `https://host` or `http://host:port`, lowercase: the origin CSRF checks accept.
    pub public_origin: String,
    /// `http://127.0.0.1:<port>` while the public URL is defaulted to `localhost`: accepted as
    /// an origin too.
    pub loopback_origin: Option<String>,
    /// The public URL as configured (or `http://<bound address>`), no trailing `/`.
    pub public_url: String,
    /// The gateway's judgement, shared by the reverse proxy and forward-auth.
    pub gateway: Arc<gatehouse_core::service::GatewayService>,
    /// Sign-in with external providers (SPEC §17), when configured.
    pub oidc: Option<Arc<gatehouse_core::service::oidc::OidcService>>,
    /// The pooled upstream client, when a gateway route has an upstream.
    pub upstreams: Option<crate::gateway::proxy::Upstreams>,
    pub https: bool,
    /// `__Host-gatehouse_session` under https (`__Secure-` with a cookie domain), else
    /// `gatehouse_session`.
    pub cookie_name: &'static str,
    /// The clock and random source every service shares (request ids come from it too).
    pub ambient: gatehouse_core::ambient::Ambient,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.inner
    }
}
