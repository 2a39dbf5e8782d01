//! What the reverse proxy and forward-auth share (SPEC §11): the check of a request against its
//! route (credential, CSRF, the route's rate limit), the `401` that leads a browser to the
//! sign-in page, and the five identity headers.

mod body;
pub mod described;
pub mod proxy;

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::error::ForbiddenReason;
use gatehouse_core::gateway::{AuthMode, Route};
use gatehouse_core::rate_limit::{Decision, Limit};
use gatehouse_core::service::{Identity, Principal};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::error::ApiError;
use crate::extract::{CSRF_HEADER, cross_site_besides, resolve};
use crate::middleware::envelope::RequestContext;
use crate::net::client_bucket;
use crate::state::AppState;

pub const USER: &str = "x-gatehouse-user";
pub const ORG: &str = "x-gatehouse-org";
pub const SCOPES: &str = "x-gatehouse-scopes";
pub const CREDENTIAL: &str = "x-gatehouse-credential";
pub const ASSERTION: &str = "x-gatehouse-assertion";

/// What the request being judged looks like from the outside.
pub struct Judged<'a> {
    pub method: &'a str,
    /// `scheme://host` of the request.
    pub origin: &'a str,
    /// The path and query as the client sent them.
    pub target: &'a str,
    /// Where the cookie CSRF rule looks: forward-auth checks the forwarded `Origin` and
    /// `Sec-Fetch-Site` only; the gateway applies §2 whole (the `X-CSRF-Token` too).
    pub full_csrf: bool,
    /// An unauthenticated browser navigation gets `302` to the sign-in page (else `401`).
    pub redirect_browsers: bool,
}

/// A request the route lets through.
pub struct Passed {
    pub identity: Identity,
    pub assertion: String,
    /// The route's own limit, when it has one, for the rate-limit headers.
    pub limit: Option<(Decision, Limit)>,
}

/// Judges `judged` under `route`: the answer to send instead when it may not pass.
pub async fn check(
    state: &AppState,
    parts: &mut Parts,
    route: &Route,
    judged: &Judged<'_>,
) -> Result<Passed, Response> {
    let principal = if route.auth == AuthMode::None {
        None
    } else {
        match resolve(parts, state).await.0 {
            Ok(p) => p,
            Err(e) => return Err(refusal(state, e, judged, &parts.headers)),
        }
    };
    if let Some(Principal::Session(s)) = &principal
        && unsafe_method(judged.method)
    {
        let cross = cross_site_besides(&parts.headers, Some(judged.origin), state);
        let token_ok = !judged.full_csrf || {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            state.auth.csrf_matches(s.session.id, presented)
        };
        if cross || !token_ok {
            let e = Error::Forbidden(ForbiddenReason::CsrfFailed);
            return Err(ApiError(e).into_response());
        }
    }
    let path = gatehouse_core::gateway::path::path_of(judged.target);
    let identity = match state.gateway.judge(route, principal.as_ref(), path).await {
        Ok(i) => i,
        Err(e) => return Err(refusal(state, e, judged, &parts.headers)),
    };
    let limit = match route.rate_limit {
        None => None,
        Some(limit) => {
            let key = format!(
                "gw:{}:{}",
                route.name(),
                bucket(parts, state, principal.as_ref())
            );
            let decision = match state.limiter.check(&key, limit).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "rate limiter unavailable; failing closed");
                    let e = Error::Unavailable("rate limiter unavailable".into());
                    return Err(ApiError(e).into_response());
                }
            };
            if !decision.allowed {
                let mut r = ApiError(Error::RateLimited {
                    retry_after_secs: decision.retry_after_secs,
                })
                .into_response();
                rate_headers(state, r.headers_mut(), &(decision, limit));
                return Err(r);
            }
            Some((decision, limit))
        }
    };
    let htu = format!("{}{path}", judged.origin);
    let assertion = state
        .gateway
        .assertion(route, &identity, judged.method, &htu)
        .map_err(|e| ApiError(e).into_response())?;
    Ok(Passed {
        identity,
        assertion,
        limit,
    })
}

/// The rate-limit headers of a route's limit.
pub fn rate_headers(state: &AppState, h: &mut HeaderMap, (decision, limit): &(Decision, Limit)) {
    crate::middleware::rate_limit::headers(h, decision, *limit, "gateway", state.limiter.now_us());
}

/// The five identity headers, replacing any of the same name.
pub fn set_identity(h: &mut HeaderMap, passed: &Passed) {
    let id = &passed.identity;
    for (name, value) in [
        (USER, id.user_header()),
        (ORG, id.org_header()),
        (SCOPES, id.scopes_header()),
        (CREDENTIAL, id.credential.to_owned()),
        (ASSERTION, passed.assertion.clone()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    }
}

/// Removes every `X-Gatehouse-*` header and every header `Connection` names.
pub fn strip_incoming(h: &mut HeaderMap) {
    for name in connection_named(h) {
        h.remove(name);
    }
    let ours: Vec<HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with("x-gatehouse-"))
        .cloned()
        .collect();
    for name in ours {
        h.remove(name);
    }
}

/// The headers a `Connection` header names (hop-by-hop by that naming).
pub fn connection_named(h: &HeaderMap) -> Vec<HeaderName> {
    h.get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect()
}

/// The error answer for `e`; a `401` also says where to sign in (`Location`), and a browser
/// navigation is sent there (`302`) when the caller asked for it.
fn refusal(state: &AppState, e: Error, judged: &Judged<'_>, headers: &HeaderMap) -> Response {
    if !matches!(e, Error::Unauthenticated(_)) {
        return ApiError(e).into_response();
    }
    let described = format!("{}{}", judged.origin, judged.target);
    let location = format!(
        "{}/console/login?return_to={}",
        state.public_url,
        utf8_percent_encode(&described, QUERY_VALUE)
    );
    let Ok(location) = HeaderValue::from_str(&location) else {
        return ApiError(e).into_response();
    };
    if judged.redirect_browsers && is_navigation(judged.method, headers) {
        return (StatusCode::FOUND, [(header::LOCATION, location)]).into_response();
    }
    let mut r = ApiError(e).into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"gatehouse\""),
    );
    r.headers_mut().insert(header::LOCATION, location);
    r
}

/// Everything but unreserved characters is encoded in a query value.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A top-level browser navigation: GET/HEAD, `Accept` with `text/html`, `Sec-Fetch-Mode`
/// absent or `navigate`.
fn is_navigation(method: &str, headers: &HeaderMap) -> bool {
    let accept_html = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/html"));
    let mode_ok = headers
        .get("sec-fetch-mode")
        .is_none_or(|v| v.as_bytes().eq_ignore_ascii_case(b"navigate"));
    matches!(method, "GET" | "HEAD") && accept_html && mode_ok
}

fn unsafe_method(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS")
}

/// Whose budget a request draws on: its credential, or its client's address.
fn bucket(parts: &Parts, state: &AppState, principal: Option<&Principal>) -> String {
    match principal {
        Some(Principal::Session(s)) => format!("session:{}", s.session.id),
        Some(Principal::ApiKey(k)) => format!("key:{}", k.id()),
        Some(Principal::Token(t)) => format!("token:{}", t.claims.sid),
        None => {
            let ip = parts
                .extensions
                .get::<RequestContext>()
                .map(|c| client_bucket(c.client_ip, state.config.rate_limit_ipv6_prefix))
                .unwrap_or_default();
            format!("ip:{ip}")
        }
    }
}
