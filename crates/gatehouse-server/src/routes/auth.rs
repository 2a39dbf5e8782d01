//! `/v1/setup` and `/v1/auth/*`: sign-up, sign-in, sessions, password change.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{self, Cookie};
use gatehouse_core::clock::rfc3339;
use gatehouse_core::ids::SessionId;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use gatehouse_core::service::Principal;
use gatehouse_core::service::auth::LoginOutcome;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::views::{self, MembershipView, OrgView, SessionView, UserView};
use crate::config::SameSite;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Anonymous, Authenticated, Client, SessionAuth};
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct SetupBody {
    #[schema(value_type = String)]
    token: SecretString,
    email: String,
    #[schema(value_type = String)]
    password: SecretString,
    org_name: String,
}

/// The org made at setup, owned by the new user.
#[derive(Serialize, ToSchema)]
pub struct SetupOrg {
    #[schema(value_type = String, format = Uuid)]
    pub id: gatehouse_core::ids::OrgId,
    pub name: String,
    pub role: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct SetupView {
    pub user: UserView,
    pub org: SetupOrg,
}

/// First-run setup with the printed setup token
#[utoipa::path(post, path = "/v1/setup", tag = "auth", request_body = SetupBody,
    responses(
        (status = 201, description = "The first user and org", body = SetupView),
        (status = 401, description = "Wrong setup token", body = ErrorEnvelope),
        (status = 403, description = "Cross-site request", body = ErrorEnvelope),
        (status = 404, description = "Setup already done", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields", body = ErrorEnvelope),
    ))]
pub async fn setup(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<SetupBody>,
) -> ApiResult<Response> {
    let (user, org) = state
        .auth
        .setup(
            b.token.expose_secret(),
            &b.email,
            b.password.expose_secret(),
            &b.org_name,
            &anon.client,
        )
        .await?;
    let body = SetupView {
        user: views::user(&user),
        org: SetupOrg {
            id: org.id,
            name: org.name,
            role: "owner",
        },
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct SignupBody {
    email: String,
    #[schema(value_type = String)]
    password: SecretString,
    name: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UserEnvelope {
    pub user: UserView,
}

/// Create an account (when signup is open)
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", request_body = SignupBody,
    responses(
        (status = 201, description = "The new account", body = UserEnvelope),
        (status = 403, description = "Sign-up is by invitation only, or a cross-site request", body = ErrorEnvelope),
        (status = 409, description = "The email is taken", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields", body = ErrorEnvelope),
    ))]
pub async fn signup(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<SignupBody>,
) -> ApiResult<Response> {
    let user = state
        .auth
        .signup(
            &b.email,
            b.password.expose_secret(),
            b.name.as_deref(),
            &anon.client,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(UserEnvelope {
            user: views::user(&user),
        }),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct LoginBody {
    email: String,
    #[schema(value_type = String)]
    password: SecretString,
    /// A TOTP or recovery code, for an account with a second factor (SPEC §15).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    otp: Option<SecretString>,
}

/// The new session.
#[derive(Serialize, ToSchema)]
pub struct NewSessionView {
    #[schema(value_type = String, format = Uuid)]
    pub id: SessionId,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginView {
    pub user: UserView,
    pub session: NewSessionView,
    pub csrf_token: String,
}

/// Sign in; sets the session cookie
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = LoginView),
        (status = 401, description = "Invalid credentials, or `mfa_required` (a right password; the error carries `mfa_token`, `methods` and `expires_at`)", body = ErrorEnvelope),
        (status = 403, description = "Cross-site request", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields", body = ErrorEnvelope),
    ))]
pub async fn login(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<LoginBody>,
) -> ApiResult<Response> {
    let replaces = replaced_session(&state, anon.session_token.as_deref()).await;
    let outcome = state
        .auth
        .login_with(
            &b.email,
            b.password.expose_secret(),
            b.otp.as_ref().map(ExposeSecret::expose_secret),
            anon.client,
            replaces,
        )
        .await?;
    Ok(login_answer(&state, outcome))
}

/// The answer of a sign-in (SPEC §3): the user, the new session and its CSRF token, with the
/// session cookie.
pub(crate) fn login_answer(state: &AppState, outcome: LoginOutcome) -> Response {
    let cookie = login_cookie(state, &outcome);
    let body = LoginView {
        user: views::user(&outcome.user),
        session: NewSessionView {
            id: outcome.session.id,
            expires_at: rfc3339(outcome.session.expires_at),
        },
        csrf_token: outcome.csrf_token,
    };
    ([(header::SET_COOKIE, cookie)], axum::Json(body)).into_response()
}

/// The session a browser still holds, which a new sign-in replaces (never reuses: no fixation).
pub(crate) async fn replaced_session(state: &AppState, token: Option<&str>) -> Option<SessionId> {
    let token = token?;
    state
        .auth
        .authenticate_session(token)
        .await
        .ok()
        .map(|p| p.session.id)
}

/// The cookie of a fresh session: its remaining absolute lifetime is all of it.
pub(crate) fn login_cookie(state: &AppState, outcome: &LoginOutcome) -> HeaderValue {
    let max_age = (outcome.session.expires_at - outcome.session.created_at)
        .whole_seconds()
        .max(0);
    session_cookie(state, outcome.token.expose_secret(), max_age)
}

/// The session cookie carrying `value` for `max_age` seconds (the console sets the same one).
pub(crate) fn session_cookie(state: &AppState, value: &str, max_age: i64) -> HeaderValue {
    // With a cookie domain the cookie must reach sibling hosts after a cross-host redirect:
    // Lax, whatever the setting (SPEC §11).
    let same_site = match (&state.config.cookie_domain, state.config.session_samesite) {
        (Some(_), _) | (None, SameSite::Lax) => cookie::SameSite::Lax,
        (None, SameSite::Strict) => cookie::SameSite::Strict,
    };
    let mut cookie = Cookie::build((state.cookie_name, value))
        .path("/")
        .http_only(true)
        .same_site(same_site)
        .max_age(time::Duration::seconds(max_age))
        .secure(state.https)
        .build();
    if let Some(domain) = &state.config.cookie_domain {
        cookie.set_domain(domain.clone());
    }
    HeaderValue::from_str(&cookie.to_string()).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The session cookie expired at once (sign-out).
pub(crate) fn cleared_cookie(state: &AppState) -> HeaderValue {
    session_cookie(state, "", 0)
}

fn cleared(state: &AppState) -> Response {
    (
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, cleared_cookie(state))],
    )
        .into_response()
}

/// End this session
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out; the cookie is cleared")),
    security(("session" = [], "csrf" = [])))]
pub async fn logout(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
) -> ApiResult<Response> {
    state.auth.logout(&p, &client).await?;
    Ok(cleared(&state))
}

/// End every session and credential of the user
#[utoipa::path(post, path = "/v1/auth/logout-all", tag = "auth",
    responses((status = 204, description = "Every session and token family ended")),
    security(("session" = [], "csrf" = [])))]
pub async fn logout_all(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
) -> ApiResult<Response> {
    state.auth.logout_all(p.user.id, &client).await?;
    Ok(cleared(&state))
}

/// A session: which one.
#[derive(Serialize, ToSchema)]
pub struct SessionMethod {
    method: &'static str,
    #[schema(value_type = String, format = Uuid)]
    session_id: SessionId,
}

/// How a credential other than a session authenticated: an access token or an API key.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum CredentialMethod {
    Token {
        method: &'static str,
        #[schema(value_type = Option<String>, format = Uuid)]
        org_id: Option<gatehouse_core::ids::OrgId>,
        scopes: Vec<String>,
        sid: String,
    },
    ApiKey {
        method: &'static str,
        #[schema(value_type = String, format = Uuid)]
        key_id: gatehouse_core::ids::ApiKeyId,
        #[schema(value_type = String, format = Uuid)]
        org_id: gatehouse_core::ids::OrgId,
        scopes: Vec<String>,
    },
}

/// The caller: a signed-in user with their memberships, or a token's user or an API key (no
/// user) with the orgs the credential reaches.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum MeView {
    Session {
        user: UserView,
        orgs: Vec<MembershipView>,
        auth: SessionMethod,
    },
    Credential {
        user: Option<UserView>,
        orgs: Vec<OrgView>,
        auth: CredentialMethod,
    },
}

/// The caller, their orgs and how they authenticated
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth",
    responses((status = 200, description = "The caller", body = MeView)),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn me(
    State(state): State<AppState>,
    Authenticated(p, _): Authenticated,
) -> ApiResult<Response> {
    let body = match &p {
        Principal::Session(s) => {
            let orgs = state.orgs.memberships(s.user.id).await?;
            MeView::Session {
                user: views::user(&s.user),
                orgs: orgs.iter().map(views::membership).collect(),
                auth: SessionMethod {
                    method: p.method(),
                    session_id: s.session.id,
                },
            }
        }
        Principal::Token(t) => {
            let orgs = state.orgs.list(&p).await?;
            MeView::Credential {
                user: Some(views::user(&t.user)),
                orgs: orgs
                    .iter()
                    .map(|(o, r)| views::org_with_role(o, *r))
                    .collect(),
                auth: CredentialMethod::Token {
                    method: p.method(),
                    org_id: t.org_id,
                    scopes: t.scopes.clone(),
                    sid: t.claims.sid.clone(),
                },
            }
        }
        Principal::ApiKey(k) => {
            let orgs = state.orgs.list(&p).await?;
            MeView::Credential {
                user: None,
                orgs: orgs
                    .iter()
                    .map(|(o, r)| views::org_with_role(o, *r))
                    .collect(),
                auth: CredentialMethod::ApiKey {
                    method: p.method(),
                    key_id: k.key.id,
                    org_id: k.key.org_id,
                    scopes: k.scopes.as_slice().to_vec(),
                },
            }
        }
    };
    Ok(axum::Json(body).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct CsrfView {
    pub csrf_token: String,
}

/// The CSRF token of this session
#[utoipa::path(get, path = "/v1/auth/csrf", tag = "auth",
    responses((status = 200, description = "The token to send as X-CSRF-Token", body = CsrfView)),
    security(("session" = [])))]
pub async fn csrf(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let body = CsrfView {
        csrf_token: state.auth.csrf_token(p.session.id),
    };
    Ok(axum::Json(body).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct SessionsView {
    pub sessions: Vec<SessionView>,
}

/// The caller's live sessions
#[utoipa::path(get, path = "/v1/auth/sessions", tag = "auth",
    responses((status = 200, description = "Live sessions", body = SessionsView)),
    security(("session" = [])))]
pub async fn sessions(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let list = state.auth.sessions(p.user.id).await?;
    let sessions = list
        .iter()
        .map(|s| views::session(s, s.id == p.session.id))
        .collect();
    Ok(axum::Json(SessionsView { sessions }).into_response())
}

/// Revoke one of the caller's sessions
#[utoipa::path(delete, path = "/v1/auth/sessions/{id}", tag = "auth",
    responses((status = 204, description = "Revoked")),
    security(("session" = [], "csrf" = [])))]
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

#[derive(Deserialize, ToSchema)]
pub struct PasswordBody {
    #[schema(value_type = String)]
    current_password: SecretString,
    #[schema(value_type = String)]
    new_password: SecretString,
}

/// Change password; other sessions are revoked
#[utoipa::path(post, path = "/v1/auth/password", tag = "auth", request_body = PasswordBody,
    responses(
        (status = 204, description = "Changed"),
        (status = 422, description = "Invalid new password", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Json(b): Json<PasswordBody>,
) -> ApiResult<Response> {
    state
        .auth
        .change_password(
            &p,
            b.current_password.expose_secret(),
            b.new_password.expose_secret(),
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
