//! The rate-limit layer (SPEC §8): the credential-checking routes (password change included), a
//! sub-router of their own, share one budget per client IP; every other `/v1` route counts per
//! credential (session, API key or token family), or per IP when there is none that works; an
//! IPv6 client counts by its /64 (or the configured prefix). `/healthz`, `/readyz`,
//! `/.well-known/*` and everything outside `/v1` are never limited. Limited responses carry
//! `X-RateLimit-*` and the IETF `RateLimit-Policy` / `RateLimit` fields; over the limit,
//! `429 rate_limited` with `Retry-After`. A backend that cannot answer fails closed (`503`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::rate_limit::{Decision, Limit};
use gatehouse_core::service::Principal;

use crate::error::ApiError;
use crate::extract::resolve;
use crate::middleware::envelope::RequestContext;
use crate::net::client_bucket;
use crate::state::AppState;

/// Which budget a group of routes draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Budget {
    /// The credential-checking routes (`routes::credential_routes`): their `POST`s share one
    /// budget per client IP.
    Credential,
    /// Every other `/v1` route: per credential, or per IP without one that works.
    PerCredential,
}

fn limit_of(rate: crate::config::Rate) -> Limit {
    Limit {
        count: rate.count,
        period: rate.per,
    }
}

pub async fn rate_limit(
    State((state, budget)): State<(AppState, Budget)>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    // The console's credential-checking forms share the sign-in budget; its pages do not count.
    let console_credential = budget == Budget::Credential
        && req.method() == Method::POST
        && path.starts_with("/console/");
    if !path.starts_with("/v1/") && !console_credential {
        return next.run(req).await;
    }
    let ip = req
        .extensions()
        .get::<RequestContext>()
        .map(|c| client_bucket(c.client_ip, state.config.rate_limit_ipv6_prefix))
        .unwrap_or_default();
    let (req, key, limit, policy) = if budget == Budget::Credential && req.method() == Method::POST
    {
        (
            req,
            format!("auth:{ip}"),
            limit_of(state.config.rate_limit_auth),
            "auth",
        )
    } else {
        let (mut parts, body) = req.into_parts();
        let key = match resolve(&mut parts, &state).await.0 {
            Ok(Some(Principal::Session(s))) => format!("api:session:{}", s.session.id),
            Ok(Some(Principal::ApiKey(k))) => format!("api:key:{}", k.id()),
            Ok(Some(Principal::Token(t))) => format!("api:token:{}", t.claims.sid),
            Ok(None) | Err(_) => format!("api:ip:{ip}"),
        };
        (
            Request::from_parts(parts, body),
            key,
            limit_of(state.config.rate_limit_api),
            "api",
        )
    };
    let decision = match state.limiter.check(&key, limit).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "rate limiter unavailable; failing closed");
            return ApiError(Error::Unavailable("rate limiter unavailable".into())).into_response();
        }
    };
    let mut response = if decision.allowed {
        next.run(req).await
    } else {
        ApiError(Error::RateLimited {
            retry_after_secs: decision.retry_after_secs,
        })
        .into_response()
    };
    headers(
        response.headers_mut(),
        &decision,
        limit,
        policy,
        state.limiter.now_us(),
    );
    response
}

pub(crate) fn headers(h: &mut HeaderMap, d: &Decision, limit: Limit, policy: &str, now_us: i64) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    };
    let reset_at = now_us / 1_000_000 + d.reset_after_secs as i64;
    set("x-ratelimit-limit", d.limit.to_string());
    set("x-ratelimit-remaining", d.remaining.to_string());
    set("x-ratelimit-reset", reset_at.to_string());
    set(
        "ratelimit-policy",
        format!(
            "\"{policy}\";q={};w={}",
            limit.count,
            limit.period.as_secs()
        ),
    );
    set(
        "ratelimit",
        format!("\"{policy}\";r={};t={}", d.remaining, d.reset_after_secs),
    );
}
