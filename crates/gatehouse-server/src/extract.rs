//! Authentication of requests: exactly one credential — the session cookie (with the CSRF rules
//! for unsafe methods) or `Authorization: Bearer` (an API key; access JWTs join with the tokens
//! capability). Credentials are never read from the query string.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum_extra::extract::cookie::CookieJar;
use gatehouse_core::Error;
use gatehouse_core::error::ForbiddenReason;
use gatehouse_core::service::access::{insufficient_scope, unauthenticated};
use gatehouse_core::service::{ClientInfo, Principal, SessionPrincipal};
use gatehouse_core::token::API_KEY_PREFIX;

use crate::error::ApiError;
use crate::middleware::envelope::RequestContext;
use crate::state::AppState;

pub const CSRF_HEADER: &str = "x-csrf-token";

#[must_use]
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The value of cookie `name`, if the request carries it.
#[must_use]
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|c| c.value().to_owned())
}

/// `Sec-Fetch-Site: cross-site`, or an `Origin` that is neither the public URL's nor allowed.
#[must_use]
pub fn cross_site(headers: &HeaderMap, state: &AppState) -> bool {
    cross_site_besides(headers, None, state)
}

/// [`cross_site`], with `also` (a proxied request's own origin) accepted as well.
pub fn cross_site_besides(headers: &HeaderMap, also: Option<&str>, state: &AppState) -> bool {
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
                && state.loopback_origin.as_deref() != Some(origin.as_str())
                && also.is_none_or(|a| !a.eq_ignore_ascii_case(&origin))
                && !state
                    .config
                    .allowed_origins
                    .iter()
                    .any(|o| *o == origin && o != "*")
        }
    }
}

pub fn client_info(parts: &Parts) -> ClientInfo {
    let ctx = parts.extensions.get::<RequestContext>();
    ClientInfo {
        ip: ctx.map(|c| c.client_ip.to_string()),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        request_id: ctx.map(|c| c.request_id.clone()),
    }
}

/// Where the request came from (IP, user agent, request id), for sessions and audit events.
pub struct Client(pub ClientInfo);

impl<S: Send + Sync> FromRequestParts<S> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(client_info(parts)))
    }
}

/// The one credential a request carries.
enum Credential<'a> {
    Bearer(&'a str),
    Cookie(String),
    None,
}

/// An `Authorization` header must be `Bearer <token>`; it wins over (and excludes) the cookie.
fn credential<'a>(parts: &'a Parts, state: &AppState) -> Result<Credential<'a>, ApiError> {
    if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
        let text = value.to_str().map_err(|_| ApiError(unauthenticated()))?;
        let (scheme, token) = text.split_once(' ').ok_or(ApiError(unauthenticated()))?;
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError(unauthenticated()));
        }
        return Ok(Credential::Bearer(token.trim()));
    }
    Ok(match cookie(&parts.headers, state.cookie_name) {
        Some(token) => Credential::Cookie(token),
        None => Credential::None,
    })
}

/// The CSRF rules for a request authenticated by its session cookie (unsafe methods only).
fn csrf_check(
    parts: &Parts,
    state: &AppState,
    principal: &SessionPrincipal,
) -> Result<(), ApiError> {
    if !is_unsafe(&parts.method) {
        return Ok(());
    }
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
    Ok(())
}

/// Who the request's credential names, worked out once per request (the rate limiter needs it
/// before the handler runs) and kept in the request's extensions. `Ok(None)`: no credential,
/// or a session cookie that no longer works; `Err`: a bad `Authorization` header, or the
/// database could not answer.
#[derive(Clone)]
pub struct AuthOutcome(pub Result<Option<Principal>, Error>);

pub async fn resolve(parts: &mut Parts, state: &AppState) -> AuthOutcome {
    if let Some(done) = parts.extensions.get::<AuthOutcome>() {
        return done.clone();
    }
    let credential = match credential(parts, state) {
        Ok(Credential::Bearer(t)) => Ok(Some((true, t.to_owned()))),
        Ok(Credential::Cookie(t)) => Ok(Some((false, t))),
        Ok(Credential::None) => Ok(None),
        Err(e) => Err(e.0),
    };
    let outcome = match credential {
        Err(e) => Err(e),
        Ok(None) => Ok(None),
        Ok(Some((true, token))) => bearer(parts, state, &token)
            .await
            .map(Some)
            .map_err(|e| e.0),
        Ok(Some((false, token))) => match state.auth.authenticate_session(&token).await {
            Ok(p) => {
                if let Some(ctx) = parts.extensions.get::<RequestContext>() {
                    let _ = ctx.user.set(p.user.id);
                }
                Ok(Some(Principal::Session(Box::new(p))))
            }
            Err(Error::Unauthenticated(_)) => Ok(None),
            Err(e) => Err(e),
        },
    };
    let outcome = AuthOutcome(outcome);
    parts.extensions.insert(outcome.clone());
    outcome
}

/// `Bearer gk_…` is an API key; anything else must be one of gatehouse's access tokens.
async fn bearer(parts: &Parts, state: &AppState, token: &str) -> Result<Principal, ApiError> {
    if !token.starts_with(API_KEY_PREFIX) {
        let t = state.tokens.authenticate(token).await?;
        if let Some(ctx) = parts.extensions.get::<RequestContext>() {
            let _ = ctx.user.set(t.user.id);
        }
        return Ok(Principal::Token(Box::new(t)));
    }
    let key = state.keys.authenticate(token).await?;
    if let Some(ctx) = parts.extensions.get::<RequestContext>() {
        let _ = ctx.api_key.set(key.id());
    }
    Ok(Principal::ApiKey(key))
}

/// Any authenticated caller: a session (CSRF-checked) or an API key, with the request's context.
pub struct Authenticated(pub Principal, pub Option<RequestContext>);

impl Authenticated {
    /// Notes the org the caller was shown to belong to (audit events of the request go there).
    pub fn entered_org(&self, org: gatehouse_core::ids::OrgId) {
        if let Some(ctx) = &self.1 {
            let _ = ctx.org.set(org);
        }
    }
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = resolve(parts, state)
            .await
            .0?
            .ok_or(ApiError(unauthenticated()))?;
        if let Principal::Session(s) = &principal {
            csrf_check(parts, state, s)?;
        }
        let ctx = parts.extensions.get::<RequestContext>().cloned();
        Ok(Self(principal, ctx))
    }
}

/// A signed-in user (session cookie): routes about the browser session itself (logout, CSRF,
/// sessions, password). A valid API key or access token gets `403 insufficient_scope`.
pub struct SessionAuth(pub SessionPrincipal);

impl FromRequestParts<AppState> for SessionAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match Authenticated::from_request_parts(parts, state).await?.0 {
            Principal::Session(s) => Ok(Self(*s)),
            Principal::ApiKey(_) | Principal::Token(_) => Err(ApiError(insufficient_scope())),
        }
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
        Ok(Self {
            client: client_info(parts),
            session_token: cookie(&parts.headers, state.cookie_name),
        })
    }
}

/// An authenticated caller if the request carries a credential, else anonymous (cross-site
/// unsafe requests refused). A stale session cookie counts as none; a bad bearer is `401`.
pub struct MaybeAuthenticated(pub Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(principal) = resolve(parts, state).await.0? {
            if let Principal::Session(s) = &principal {
                csrf_check(parts, state, s)?;
            }
            Ok(Self(Some(principal)))
        } else {
            Anonymous::from_request_parts(parts, state).await?;
            Ok(Self(None))
        }
    }
}
