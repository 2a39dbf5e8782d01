//! Sign-in with an external OpenID Connect provider (SPEC §17): `start` (JSON or a console
//! form) sends the browser to the provider with a per-flow cookie; the `callback` answers
//! `200 text/html` that sets the session and moves on with a meta refresh (so a `Strict`
//! session cookie is sent on the next page), or goes back to the console's sign-in page. Also
//! the linked identities. Without `[[oidc.providers]]` every route here answers `404`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, SameSite};
use gatehouse_core::Error;
use gatehouse_core::clock::rfc3339;
use gatehouse_core::ids::OidcFlowId;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::oidc::{Callback, Landed, OidcService};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{login_cookie, replaced_session};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Anonymous, Client, SessionAuth, cookie};
use crate::state::AppState;

fn service(state: &AppState) -> ApiResult<&Arc<OidcService>> {
    state.oidc.as_ref().ok_or_else(|| Error::NotFound.into())
}

/// Under https a `__Host-` cookie (host-only, `Secure`, `Path=/`: a sibling host cannot plant
/// one for its own flow); over plain http (development) scoped to the OIDC routes.
fn flow_cookie_name(state: &AppState, id: OidcFlowId) -> String {
    let prefix = if state.https { "__Host-" } else { "" };
    format!("{prefix}gatehouse_oidc_{}", id.0.simple())
}

/// The flow's cookie: `HttpOnly; SameSite=Lax` (it must come back on the provider's top-level
/// redirect), for the flow's 10 minutes (`value` empty: cleared).
fn flow_cookie(state: &AppState, id: OidcFlowId, value: &str) -> HeaderValue {
    let max_age = if value.is_empty() { 0 } else { 600 };
    let path = if state.https { "/" } else { "/v1/auth/oidc" };
    let c = Cookie::build((flow_cookie_name(state, id), value.to_owned()))
        .http_only(true)
        .secure(state.https)
        .same_site(SameSite::Lax)
        .path(path)
        .max_age(time::Duration::seconds(max_age))
        .build();
    HeaderValue::from_str(&c.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct StartBody {
    #[serde(default)]
    return_to: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct StartView {
    pub authorization_url: String,
}

/// Begin signing in at a provider
#[utoipa::path(post, path = "/v1/auth/oidc/{provider}/start", tag = "auth",
    params(("provider" = String, Path, description = "The provider's id")),
    request_body = StartBody,
    responses(
        (status = 200, description = "With `Accept: application/json`: where to send the browser (the flow cookie is set)", body = StartView),
        (status = 303, description = "To the provider's authorization endpoint (the flow cookie is set)"),
        (status = 404, description = "No such provider", body = ErrorEnvelope),
        (status = 503, description = "The provider cannot be reached (or the SSRF guard refused it)", body = ErrorEnvelope),
    ))]
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    _anon: Anonymous,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let oidc = service(&state)?;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let asked: StartBody = if body.is_empty() {
        StartBody::default()
    } else if form {
        serde_html_form::from_bytes(&body).unwrap_or_default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| Error::InvalidRequest("the body is not JSON".into()))?
    };
    let return_to = asked
        .return_to
        .as_deref()
        .and_then(|to| crate::console::return_to_policy(&state).accept(to))
        .map(str::to_owned);
    let started = oidc.start(&provider, return_to).await?;
    let cookie = flow_cookie(&state, started.flow_id, started.state.expose_secret());
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    if wants_json {
        let body = StartView {
            authorization_url: started.authorization_url,
        };
        return Ok((
            [
                (header::SET_COOKIE, cookie),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            axum::Json(body),
        )
            .into_response());
    }
    let location = HeaderValue::from_str(&started.authorization_url)
        .map_err(|_| Error::internal("authorization URL"))?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie),
            (header::LOCATION, location),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
    )
        .into_response())
}

/// `POST /console/oidc/{provider}/start`, the console's button: the same flow, answered with a
/// page that moves on to the provider (the console's CSP allows forms to post only to
/// gatehouse, redirects included, so the form cannot be answered with a `303` to the provider).
pub(crate) async fn console_start(
    state: &AppState,
    provider: &str,
    return_to: &str,
) -> ApiResult<Response> {
    let oidc = service(state)?;
    let return_to = crate::console::return_to_policy(state)
        .accept(return_to)
        .map(str::to_owned);
    let started = oidc.start(provider, return_to).await?;
    let cookie = flow_cookie(state, started.flow_id, started.state.expose_secret());
    let to = escape(&started.authorization_url);
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={to}\"><title>Signing in</title></head>\
         <body><p><a href=\"{to}\">Continue to sign in</a></p></body></html>"
    );
    Ok((
        StatusCode::OK,
        [
            (header::SET_COOKIE, cookie),
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        page,
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    iss: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The page that carries the new session on: the cookie is set by this same-site answer, and
/// the meta refresh is a same-site navigation, so even a `Strict` cookie goes with it.
fn moving_on(to: &str) -> String {
    let to = escape(to);
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"0;url={to}\"><title>Signed in</title></head>\
         <body><p>Signed in. <a href=\"{to}\">Continue</a></p></body></html>"
    )
}

/// Where the provider sends the browser back
#[utoipa::path(get, path = "/v1/auth/oidc/{provider}/callback", tag = "auth",
    params(
        ("provider" = String, Path, description = "The provider's id"),
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The flow's state"),
        ("iss" = Option<String>, Query, description = "The issuer (RFC 9207)"),
    ),
    responses(
        (status = 200, description = "Signed in: sets the session cookie and moves on to the checked return-to (HTML)"),
        (status = 303, description = "Refused: back to the console's sign-in page (the reason is in the audit log)"),
        (status = 404, description = "No such provider", body = ErrorEnvelope),
    ))]
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(q): Query<CallbackQuery>,
    anon: Anonymous,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let oidc = service(&state)?;
    let replaces = replaced_session(&state, anon.session_token.as_deref()).await;
    let seen = std::sync::Mutex::new(None);
    let read_cookie = |id: OidcFlowId| {
        if let Ok(mut s) = seen.lock() {
            *s = Some(id);
        }
        cookie(&headers, &flow_cookie_name(&state, id))
    };
    let cb = Callback {
        code: q.code.as_deref(),
        state: q.state.as_deref(),
        iss: q.iss.as_deref(),
        error: q.error.as_deref(),
        cookie: &read_cookie,
    };
    let outcome = oidc.callback(&provider, &cb, anon.client, replaces).await;
    let flow = seen.lock().ok().and_then(|s| *s);
    let policy = crate::console::return_to_policy(&state);
    let mut response = match outcome {
        Ok((landed, return_to)) => {
            let to = return_to
                .as_deref()
                .and_then(|t| policy.accept(t))
                .unwrap_or("")
                .to_owned();
            match landed {
                Landed::SignedIn(outcome) => {
                    let to = if to.is_empty() {
                        "/console/orgs".to_owned()
                    } else {
                        to
                    };
                    let mut r = (
                        StatusCode::OK,
                        [
                            (
                                header::CONTENT_TYPE,
                                HeaderValue::from_static("text/html; charset=utf-8"),
                            ),
                            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                        ],
                        moving_on(&to),
                    )
                        .into_response();
                    r.headers_mut()
                        .append(header::SET_COOKIE, login_cookie(&state, &outcome));
                    r
                }
                Landed::SecondStep(challenge) => crate::console::second_step_page(*challenge, to),
            }
        }
        Err(Error::NotFound) => return Err(Error::NotFound.into()),
        Err(_) => (
            StatusCode::SEE_OTHER,
            [(
                header::LOCATION,
                HeaderValue::from_static("/console/login?oidc=failed"),
            )],
        )
            .into_response(),
    };
    if let Some(id) = flow {
        response
            .headers_mut()
            .append(header::SET_COOKIE, flow_cookie(&state, id, ""));
    }
    Ok(response)
}

/// A linked provider account.
#[derive(Serialize, ToSchema)]
pub struct IdentityView {
    pub id: String,
    pub provider: String,
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub created_at: String,
}

/// My linked provider accounts
#[utoipa::path(get, path = "/v1/auth/identities", tag = "auth",
    responses((status = 200, description = "Oldest first (empty without providers)", body = [IdentityView])),
    security(("session" = [])))]
pub async fn identities(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let list = match &state.oidc {
        Some(oidc) => oidc.identities(p.user.id).await?,
        None => Vec::new(),
    };
    let body: Vec<IdentityView> = list
        .into_iter()
        .map(|i| IdentityView {
            id: i.id.to_string(),
            provider: i.provider,
            issuer: i.issuer,
            subject: i.subject,
            email: i.email,
            created_at: rfc3339(i.created_at),
        })
        .collect();
    Ok(axum::Json(body).into_response())
}

/// Unlink a provider account (not the last way to sign in)
#[utoipa::path(delete, path = "/v1/auth/identities/{id}", tag = "auth",
    params(("id" = String, Path, description = "The link's id")),
    responses(
        (status = 204, description = "Unlinked"),
        (status = 404, description = "No link of yours with this id", body = ErrorEnvelope),
        (status = 409, description = "It is your last way to sign in", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn unlink(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    service(&state)?.unlink(&p, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
