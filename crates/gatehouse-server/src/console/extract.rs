//! Who is using the console, and the forms they post. A page needs a signed-in session (else a
//! redirect to sign-in that comes back); a POST from a signed-in session must be a form, carry
//! the session's CSRF token in `csrf_token` and pass the origin check of SPEC §2; an anonymous
//! POST (sign-in, setup, accepting an invitation) must pass the origin check.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::error::ForbiddenReason;
use gatehouse_core::service::{ClientInfo, Principal, SessionPrincipal};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::page::to_sign_in;
use crate::error::ApiError;
use crate::extract::{client_info, cookie, cross_site, resolve};
use crate::state::AppState;

/// A signed-in session. Anything else is sent to sign in.
pub(super) struct SignedIn {
    pub session: SessionPrincipal,
}

async fn session_of(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Option<SessionPrincipal>, Response> {
    // The console is for browsers: a bearer credential does not sign anyone in here.
    if parts.headers.contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    match resolve(parts, state).await.0 {
        Ok(Some(Principal::Session(s))) => Ok(Some(*s)),
        Ok(_) => Ok(None),
        Err(e) => Err(ApiError(e).into_response()),
    }
}

fn back_here(parts: &Parts) -> String {
    if parts.method == axum::http::Method::GET {
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/console".to_owned())
    } else {
        "/console".to_owned()
    }
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session_of(parts, state).await? {
            Some(session) => Ok(Self { session }),
            None => Err(to_sign_in(&back_here(parts))),
        }
    }
}

/// A signed-in session if there is one (the invitation page serves both).
pub(super) struct MaybeSignedIn(pub Option<SessionPrincipal>);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        Ok(Self(session_of(parts, state).await?))
    }
}

#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf_token: String,
}

fn csrf_failed() -> Response {
    ApiError(Error::Forbidden(ForbiddenReason::CsrfFailed)).into_response()
}

/// The body of a console form, parsed as `T`; `415` for anything but a form, `400` for one
/// that does not parse.
async fn form_body(req: Request, state: &AppState) -> Result<(Parts, Bytes), Response> {
    let (parts, body) = req.into_parts();
    let is_form = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';').next().is_some_and(|m| {
                m.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !is_form {
        return Err(axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response());
    }
    let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok((parts, bytes))
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_html_form::from_bytes(bytes)
        .map_err(|e| ApiError(Error::InvalidRequest(format!("form: {e}"))))
}

/// A form posted by a signed-in session, CSRF-checked.
pub(super) struct Posted<T> {
    pub session: SessionPrincipal,
    pub client: ClientInfo,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for Posted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Some(session) = session_of(&mut parts, state).await? else {
            return Err(to_sign_in("/console"));
        };
        let (parts, bytes) = form_body(Request::from_parts(parts, body), state).await?;
        let presented: CsrfField = parse(&bytes).map_err(IntoResponse::into_response)?;
        if cross_site(&parts.headers, state)
            || !state
                .auth
                .csrf_matches(session.session.id, &presented.csrf_token)
        {
            return Err(csrf_failed());
        }
        Ok(Self {
            session,
            client: client_info(&parts),
            form: parse(&bytes).map_err(IntoResponse::into_response)?,
        })
    }
}

/// A form posted without a session (sign-in, setup, an anonymous invitation accept): only the
/// origin check applies (it stops login CSRF).
pub(super) struct AnonymousPosted<T> {
    pub client: ClientInfo,
    pub session_token: Option<String>,
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for AnonymousPosted<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (parts, bytes) = form_body(req, state).await?;
        if cross_site(&parts.headers, state) {
            return Err(csrf_failed());
        }
        Ok(Self {
            client: client_info(&parts),
            session_token: cookie(&parts.headers, state.cookie_name),
            form: parse(&bytes).map_err(IntoResponse::into_response)?,
        })
    }
}
