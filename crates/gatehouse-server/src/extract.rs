//! Authentication of requests: the session cookie, and the CSRF rules for unsafe methods.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use gatehouse_core::Error;
use gatehouse_core::error::{AuthFailure, ForbiddenReason};
use gatehouse_core::service::{ClientInfo, SessionPrincipal};

use crate::error::ApiError;
use crate::http::RequestContext;
use crate::state::AppState;

pub const CSRF_HEADER: &str = "x-csrf-token";

/// A request authenticated by its session cookie (and, for unsafe methods, CSRF-checked).
pub struct SessionAuth(pub SessionPrincipal);

pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The value of cookie `name`, if the request carries it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// `Sec-Fetch-Site: cross-site`, or an `Origin` that is neither the public URL's nor allowed.
pub fn cross_site(headers: &HeaderMap, state: &AppState) -> bool {
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
    {
        return true;
    }
    match headers.get(header::ORIGIN) {
        None => false,
        Some(origin) => {
            let origin = origin.to_str().unwrap_or("null").to_ascii_lowercase();
            origin != state.public_origin
                && !state
                    .config
                    .allowed_origins
                    .iter()
                    .any(|o| *o == origin && o != "*")
        }
    }
}

pub fn client_info(parts: &Parts) -> ClientInfo {
    ClientInfo {
        ip: parts
            .extensions
            .get::<RequestContext>()
            .map(|c| c.client_ip.to_string()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

impl FromRequestParts<AppState> for SessionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let unauthenticated = ApiError(Error::Unauthenticated(AuthFailure::Unauthenticated));
        // Exactly one credential: an Authorization header is never combined with the cookie.
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return Err(unauthenticated);
        }
        let Some(token) = cookie(&parts.headers, state.cookie_name) else {
            return Err(unauthenticated);
        };
        let principal = state.auth.authenticate_session(token).await?;
        if let Some(ctx) = parts.extensions.get::<RequestContext>() {
            let _ = ctx.user.set(principal.user.id);
        }
        if is_unsafe(&parts.method) {
            let presented = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if cross_site(&parts.headers, state)
                || !state.auth.csrf_matches(principal.session.id, presented)
            {
                return Err(ApiError(Error::Forbidden(ForbiddenReason::CsrfFailed)));
            }
        }
        Ok(SessionAuth(principal))
    }
}

/// Request facts for handlers that do not authenticate (sign-in, sign-up, setup).
pub struct Anonymous {
    pub client: ClientInfo,
    pub session_token: Option<String>,
}

impl FromRequestParts<AppState> for Anonymous {
    type Rejection = ApiError;

    /// Unsafe requests from another site are refused here too (login CSRF).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if is_unsafe(&parts.method) && cross_site(&parts.headers, state) {
            return Err(ApiError(Error::Forbidden(ForbiddenReason::CsrfFailed)));
        }
        Ok(Anonymous {
            client: client_info(parts),
            session_token: cookie(&parts.headers, state.cookie_name).map(str::to_owned),
        })
    }
}
