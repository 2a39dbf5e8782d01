//! `/v1/auth/passkeys*` (SPEC §15): registering a passkey, listing and removing them, and
//! signing in with one, by email or discoverable (usernameless).

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::clock::rfc3339;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use gatehouse_core::store::StoredPasskey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{LoginView, login_answer, replaced_session};
use crate::error::{ApiResult, ErrorEnvelope, PasskeyCeremonyView};
use crate::extract::{Anonymous, Client, SessionAuth};
use crate::json::Json;
use crate::state::AppState;

/// A registered passkey.
#[derive(Serialize, ToSchema)]
pub struct PasskeyView {
    pub id: String,
    pub name: String,
    pub created_at: String,
    /// `null` until it first signs in.
    pub last_used_at: Option<String>,
    /// Whether the authenticator may sync it to other devices.
    pub backup_eligible: bool,
}

#[must_use]
pub fn passkey_view(p: &StoredPasskey) -> PasskeyView {
    PasskeyView {
        id: p.id.to_string(),
        name: p.name.clone(),
        created_at: rfc3339(p.created_at),
        last_used_at: p.last_used_at.map(rfc3339),
        backup_eligible: p.backup_eligible,
    }
}

fn ceremony_answer(challenge: &gatehouse_core::error::PasskeyChallenge) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(PasskeyCeremonyView::new(challenge)),
    )
        .into_response()
}

fn given(field: Option<&SecretString>) -> Option<&str> {
    field.map(ExposeSecret::expose_secret)
}

/// The current password or a second-factor code, for a sensitive change.
#[derive(Deserialize, ToSchema)]
pub struct ConfirmationBody {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    current_password: Option<SecretString>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    code: Option<SecretString>,
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterStartBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    current_password: Option<SecretString>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    code: Option<SecretString>,
}

/// Begin registering a passkey (after the current password or a second-factor code)
#[utoipa::path(post, path = "/v1/auth/passkeys/register/start", tag = "mfa",
    request_body = RegisterStartBody,
    responses(
        (status = 200, description = "The WebAuthn creation options", body = PasskeyCeremonyView),
        (status = 401, description = "Wrong password or code", body = ErrorEnvelope),
        (status = 422, description = "Bad name, or neither password nor code", body = ErrorEnvelope),
        (status = 503, description = "Passkeys are off: the public URL's host is an IP address", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn register_start(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Json(b): Json<RegisterStartBody>,
) -> ApiResult<Response> {
    let challenge = state
        .auth
        .start_passkey_registration(
            &p,
            &b.name,
            given(b.current_password.as_ref()),
            given(b.code.as_ref()),
            &client,
        )
        .await?;
    Ok(ceremony_answer(&challenge))
}

/// A ceremony finished with the authenticator's answer (`PublicKeyCredential` as JSON).
#[derive(Deserialize, ToSchema)]
pub struct CeremonyFinishBody {
    #[serde(default)]
    ceremony_id: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Finish registering a passkey
#[utoipa::path(post, path = "/v1/auth/passkeys/register/finish", tag = "mfa",
    request_body = CeremonyFinishBody,
    responses(
        (status = 201, description = "Registered", body = PasskeyView),
        (status = 409, description = "This authenticator's passkey is registered already", body = ErrorEnvelope),
        (status = 422, description = "Unknown, lapsed or spent ceremony (`ceremony_id`), or an answer that does not verify (`credential`)", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn register_finish(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Json(b): Json<CeremonyFinishBody>,
) -> ApiResult<Response> {
    let passkey = state
        .auth
        .finish_passkey_registration(&p, &b.ceremony_id, &b.credential, &client)
        .await?;
    Ok((StatusCode::CREATED, axum::Json(passkey_view(&passkey))).into_response())
}

/// The signed-in user's passkeys
#[utoipa::path(get, path = "/v1/auth/passkeys", tag = "mfa",
    responses((status = 200, description = "Oldest first", body = [PasskeyView])),
    security(("session" = [])))]
pub async fn list(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let passkeys = state.auth.passkeys(p.user.id).await?;
    let body: Vec<PasskeyView> = passkeys.iter().map(passkey_view).collect();
    Ok(axum::Json(body).into_response())
}

/// Remove a passkey (after the current password or a second-factor code)
#[utoipa::path(delete, path = "/v1/auth/passkeys/{id}", tag = "mfa",
    request_body = ConfirmationBody,
    params(("id" = String, Path, description = "The passkey's id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Wrong password or code", body = ErrorEnvelope),
        (status = 404, description = "No passkey of yours with this id", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Path(id): Path<String>,
    Json(b): Json<ConfirmationBody>,
) -> ApiResult<Response> {
    state
        .auth
        .delete_passkey(
            &p,
            &id,
            given(b.current_password.as_ref()),
            given(b.code.as_ref()),
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct LoginStartBody {
    #[serde(default)]
    email: Option<String>,
}

/// Begin a passkey sign-in: for an email's passkeys, or (no email) any discoverable one
#[utoipa::path(post, path = "/v1/auth/passkeys/login/start", tag = "auth",
    request_body = LoginStartBody,
    responses(
        (status = 200, description = "The WebAuthn request options (the same kind of answer for an unknown email)", body = PasskeyCeremonyView),
        (status = 503, description = "Passkeys are off: the public URL's host is an IP address", body = ErrorEnvelope),
    ))]
pub async fn login_start(
    State(state): State<AppState>,
    Json(b): Json<LoginStartBody>,
) -> ApiResult<Response> {
    let challenge = state.auth.start_passkey_login(b.email.as_deref()).await?;
    Ok(ceremony_answer(&challenge))
}

/// Finish a passkey sign-in; sets the session cookie
#[utoipa::path(post, path = "/v1/auth/passkeys/login/finish", tag = "auth",
    request_body = CeremonyFinishBody,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = LoginView),
        (status = 401, description = "An answer that does not verify, a regressed counter, or an unknown, lapsed or spent ceremony", body = ErrorEnvelope),
        (status = 403, description = "Cross-site request", body = ErrorEnvelope),
    ))]
pub async fn login_finish(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<CeremonyFinishBody>,
) -> ApiResult<Response> {
    let replaces = replaced_session(&state, anon.session_token.as_deref()).await;
    let outcome = state
        .auth
        .login_passkey(&b.ceremony_id, &b.credential, anon.client, replaces)
        .await?;
    Ok(login_answer(&state, outcome))
}

/// The passkey way to finish `POST /v1/auth/login/mfa`.
#[derive(Deserialize, ToSchema)]
pub struct PasskeyAnswer {
    #[serde(default)]
    pub ceremony_id: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}
