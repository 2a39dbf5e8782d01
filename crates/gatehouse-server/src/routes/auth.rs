//! `/v1/setup` and `/v1/auth/*`: sign-up, sign-in, sessions, password change.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{self, Cookie};
use gatehouse_core::clock::rfc3339;
use gatehouse_core::ids::SessionId;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::Principal;
use serde::Deserialize;
use serde_json::json;

use super::views;
use crate::config::SameSite;
use crate::error::ApiResult;
use crate::extract::{Anonymous, Authenticated, Client, SessionAuth};
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct SetupBody {
    token: String,
    email: String,
    password: String,
    org_name: String,
}

pub async fn setup(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<SetupBody>,
) -> ApiResult<Response> {
    let (user, org) = state
        .auth
        .setup(&b.token, &b.email, &b.password, &b.org_name, &anon.client)
        .await?;
    let body = json!({ "user": views::user(&user), "org": { "id": org.id, "name": org.name, "role": "owner" } });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(Deserialize)]
pub struct SignupBody {
    email: String,
    password: String,
    name: Option<String>,
}

pub async fn signup(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<SignupBody>,
) -> ApiResult<Response> {
    let user = state
        .auth
        .signup(&b.email, &b.password, b.name.as_deref(), &anon.client)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "user": views::user(&user) })),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
    #[serde(default)]
    #[allow(dead_code)]
    otp: Option<String>,
}

pub async fn login(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<LoginBody>,
) -> ApiResult<Response> {
    // A session the browser still holds is replaced, never reused (no fixation).
    let replaces = match &anon.session_token {
        Some(token) => state
            .auth
            .authenticate_session(token)
            .await
            .ok()
            .map(|p| p.session.id),
        None => None,
    };
    let outcome = state
        .auth
        .login(&b.email, &b.password, anon.client, replaces)
        .await?;
    // A fresh session: the remaining absolute lifetime is all of it.
    let max_age = (outcome.session.expires_at - outcome.session.created_at)
        .whole_seconds()
        .max(0);
    let cookie = session_cookie(&state, outcome.token.expose_secret(), max_age);
    let body = json!({
        "user": views::user(&outcome.user),
        "session": { "id": outcome.session.id, "expires_at": rfc3339(outcome.session.expires_at) },
        "csrf_token": outcome.csrf_token,
    });
    Ok(([(header::SET_COOKIE, cookie)], axum::Json(body)).into_response())
}

fn session_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let same_site = match state.config.session_samesite {
        SameSite::Strict => cookie::SameSite::Strict,
        SameSite::Lax => cookie::SameSite::Lax,
    };
    let cookie = Cookie::build((state.cookie_name, value))
        .path("/")
        .http_only(true)
        .same_site(same_site)
        .max_age(time::Duration::seconds(max_age))
        .secure(state.https)
        .build();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn cleared(state: &AppState) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie(state, "", 0))],
    )
        .into_response()
}

pub async fn logout(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
) -> ApiResult<Response> {
    state.auth.logout(&p, &client).await?;
    Ok(cleared(&state))
}

pub async fn logout_all(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
) -> ApiResult<Response> {
    state.auth.logout_all(p.user.id, &client).await?;
    Ok(cleared(&state))
}

pub async fn me(
    State(state): State<AppState>,
    Authenticated(p, _): Authenticated,
) -> ApiResult<Response> {
    let body = match &p {
        Principal::Session(s) => {
            let orgs = state.orgs.memberships(s.user.id).await?;
            json!({
                "user": views::user(&s.user),
                "orgs": orgs.iter().map(views::membership).collect::<Vec<_>>(),
                "auth": { "method": p.method(), "session_id": s.session.id },
            })
        }
        Principal::Token(t) => {
            let orgs = state.orgs.list(&p).await?;
            json!({
                "user": views::user(&t.user),
                "orgs": orgs.iter().map(|(o, r)| views::org_with_role(o, *r)).collect::<Vec<_>>(),
                "auth": {
                    "method": p.method(),
                    "org_id": t.org_id,
                    "scopes": t.scopes,
                    "sid": t.claims.sid,
                },
            })
        }
        Principal::ApiKey(k) => {
            let orgs = state.orgs.list(&p).await?;
            json!({
                "user": null,
                "orgs": orgs.iter().map(|(o, r)| views::org_with_role(o, *r)).collect::<Vec<_>>(),
                "auth": {
                    "method": p.method(),
                    "key_id": k.key.id,
                    "org_id": k.key.org_id,
                    "scopes": k.scopes.as_slice(),
                },
            })
        }
    };
    Ok(axum::Json(body).into_response())
}

pub async fn csrf(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    Ok(axum::Json(json!({ "csrf_token": state.auth.csrf_token(p.session.id) })).into_response())
}

pub async fn sessions(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let list = state.auth.sessions(p.user.id).await?;
    let items: Vec<_> = list
        .iter()
        .map(|s| views::session(s, s.id == p.session.id))
        .collect();
    Ok(axum::Json(json!({ "sessions": items })).into_response())
}

pub async fn revoke_session(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id: SessionId = id.parse()?;
    state.auth.revoke_session(p.user.id, id, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
pub struct PasswordBody {
    current_password: String,
    new_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Json(b): Json<PasswordBody>,
) -> ApiResult<Response> {
    state
        .auth
        .change_password(&p, &b.current_password, &b.new_password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
