//! `GET|HEAD /v1/forward-auth` (SPEC §11): nginx `auth_request`, Traefik `forwardAuth` and
//! Caddy `forward_auth` ask whether the request they describe may reach the app. Every answer
//! is one a proxy keeps the meaning of: `200`, `400`, `401` (or `302` for browsers), `403`,
//! `429`, `503` — never `404` or `405`, which nginx turns into `500`.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::error::ForbiddenReason;
use gatehouse_core::gateway::is_ambiguous;
use gatehouse_core::gateway::path::path_of;

use crate::error::{ApiError, invalid_request_fields};
use crate::gateway::described::describe;
use crate::gateway::{Judged, check, rate_headers, set_identity};
use crate::state::AppState;

/// Judge a request for a reverse proxy
///
/// The described request comes from `X-Forwarded-Method` (required), `X-Forwarded-Proto`,
/// `X-Forwarded-Host` and `X-Forwarded-Uri` (`X-Original-*` only where those are absent).
/// `200` carries the identity headers for the app; `?redirect=browser` turns an
/// unauthenticated browser navigation's `401` into a `302` to the sign-in page.
#[utoipa::path(get, path = "/v1/forward-auth", tag = "gateway",
    params(
        ("redirect" = Option<String>, Query, description = "`browser`: 302 to sign-in for unauthenticated navigations"),
        ("X-Forwarded-Method" = Option<String>, Header, description = "The described method, `^[A-Z]{1,16}$` (required unless X-Original-Method is sent)"),
        ("X-Forwarded-Proto" = Option<String>, Header, description = "`http` or `https` (default `http`)"),
        ("X-Forwarded-Host" = Option<String>, Header, description = "The described host (required unless X-Original-URL is sent)"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "The described path and query, as the client sent them"),
        ("X-Original-URL" = Option<String>, Header, description = "nginx: the absolute described URL, read only where X-Forwarded-Host/-Uri are absent"),
    ),
    responses(
        (status = 200, description = "Let through; X-Gatehouse-User, -Org, -Scopes, -Credential and -Assertion set"),
        (status = 302, description = "Unauthenticated browser navigation (with ?redirect=browser)"),
        (status = 400, description = "Missing, invalid or ambiguous description", body = crate::error::ErrorEnvelope),
        (status = 401, description = "No working credential; Location names the sign-in page", body = crate::error::ErrorEnvelope),
        (status = 403, description = "No route, method not allowed, scope, role or CSRF", body = crate::error::ErrorEnvelope),
        (status = 429, description = "The route's rate limit", body = crate::error::ErrorEnvelope),
        (status = 503, description = "Unavailable", body = crate::error::ErrorEnvelope)),
    security((), ("session" = []), ("bearer" = [])))]
pub async fn check_request(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _body) = req.into_parts();
    let redirect_browsers = parts
        .uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p == "redirect=browser"));
    let described = match describe(&parts.headers) {
        Ok(d) => d,
        Err(u) => {
            let why = format!("X-Forwarded-{} {}", u.field, u.reason);
            return no_store(invalid_request_fields(&why, &[(u.field, u.reason)]));
        }
    };
    let path = path_of(&described.target);
    if is_ambiguous(path) {
        return no_store(invalid_request_fields(
            "the described path is ambiguous",
            &[("uri", "ambiguous_path")],
        ));
    }
    let table = state.config.gateway.clone();
    let Some(route) = table
        .find(Some(&described.host), path)
        .filter(|r| r.allows_method(&described.method))
    else {
        return no_store(ApiError(Error::Forbidden(ForbiddenReason::Forbidden)).into_response());
    };
    let origin = described.origin();
    let judged = Judged {
        method: &described.method,
        origin: &origin,
        target: &described.target,
        full_csrf: false,
        redirect_browsers,
    };
    match check(&state, &mut parts, route, &judged).await {
        Err(refused) => no_store(refused),
        Ok(passed) => {
            let mut r = axum::http::StatusCode::OK.into_response();
            set_identity(r.headers_mut(), &passed);
            if let Some(limit) = &passed.limit {
                rate_headers(&state, r.headers_mut(), limit);
            }
            no_store(r)
        }
    }
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
