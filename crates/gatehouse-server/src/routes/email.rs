//! Mailed flows (SPEC §16): sign-in by an emailed code or link, password reset, address
//! verification. Without SMTP configured every route here answers `404`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::clock::rfc3339;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{LoginView, login_answer, replaced_session};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Anonymous, Client, SessionAuth};
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct EmailCodeBody {
    #[serde(default)]
    email: String,
    /// Where the console goes after the link signs in (checked like every return-to).
    #[serde(default)]
    return_to: Option<String>,
}

/// A mailed sign-in begun (the same answer whether or not the address has an account).
#[derive(Serialize, ToSchema)]
pub struct FlowView {
    pub flow_id: String,
    pub expires_at: String,
}

/// Mail a sign-in code and link
#[utoipa::path(post, path = "/v1/auth/email-code", tag = "auth", request_body = EmailCodeBody,
    responses(
        (status = 202, description = "Always, for any well-formed address", body = FlowView),
        (status = 404, description = "No SMTP configured", body = ErrorEnvelope),
        (status = 422, description = "Not an email address", body = ErrorEnvelope),
        (status = 429, description = "Too many mails to this address (with Retry-After)", body = ErrorEnvelope),
    ))]
pub async fn request_code(
    State(state): State<AppState>,
    Client(client): Client,
    Json(b): Json<EmailCodeBody>,
) -> ApiResult<Response> {
    let return_to = b
        .return_to
        .as_deref()
        .and_then(|to| crate::console::return_to_policy(&state).accept(to))
        .map(str::to_owned);
    let started = state
        .auth
        .request_email_code(&b.email, return_to, &client)
        .await?;
    let body = FlowView {
        flow_id: started.flow_id.to_string(),
        expires_at: rfc3339(started.expires_at),
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct VerifyCodeBody {
    #[serde(default)]
    flow_id: String,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    code: Option<SecretString>,
    /// Instead of `code`: the token of the mailed link.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    token: Option<SecretString>,
}

/// Sign in with the mailed code (or the link's token); sets the session cookie
#[utoipa::path(post, path = "/v1/auth/email-code/verify", tag = "auth", request_body = VerifyCodeBody,
    responses(
        (status = 200, description = "Signed in", body = LoginView),
        (status = 401, description = "Wrong code, or an unknown, lapsed, spent or exhausted flow; or `mfa_required`", body = ErrorEnvelope),
        (status = 404, description = "No SMTP configured", body = ErrorEnvelope),
    ))]
pub async fn verify_code(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<VerifyCodeBody>,
) -> ApiResult<Response> {
    let replaces = replaced_session(&state, anon.session_token.as_deref()).await;
    let (outcome, _) = state
        .auth
        .verify_email_code(
            &b.flow_id,
            b.code.as_ref().map(ExposeSecret::expose_secret),
            b.token.as_ref().map(ExposeSecret::expose_secret),
            anon.client,
            replaces,
        )
        .await?;
    Ok(login_answer(&state, outcome))
}

#[derive(Deserialize, ToSchema)]
pub struct ForgotBody {
    #[serde(default)]
    email: String,
}

/// Mail a password reset link
#[utoipa::path(post, path = "/v1/auth/password/forgot", tag = "auth", request_body = ForgotBody,
    responses(
        (status = 202, description = "Always, for any well-formed address"),
        (status = 404, description = "No SMTP configured", body = ErrorEnvelope),
        (status = 422, description = "Not an email address", body = ErrorEnvelope),
        (status = 429, description = "Too many mails to this address (with Retry-After)", body = ErrorEnvelope),
    ))]
pub async fn forgot(
    State(state): State<AppState>,
    Client(client): Client,
    Json(b): Json<ForgotBody>,
) -> ApiResult<Response> {
    state.auth.forgot_password(&b.email, &client).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct ResetBody {
    #[serde(default)]
    #[schema(value_type = String)]
    token: Option<SecretString>,
    #[serde(default)]
    #[schema(value_type = String)]
    new_password: Option<SecretString>,
}

fn given(field: Option<&SecretString>) -> &str {
    field.map_or("", ExposeSecret::expose_secret)
}

/// Choose a new password with the mailed token; every credential of the user dies
#[utoipa::path(post, path = "/v1/auth/password/reset", tag = "auth", request_body = ResetBody,
    responses(
        (status = 204, description = "Changed; every session, refresh family and access token is void"),
        (status = 401, description = "Unknown, lapsed or spent token", body = ErrorEnvelope),
        (status = 404, description = "No SMTP configured", body = ErrorEnvelope),
        (status = 422, description = "The new password breaks the policy (the token stays good)", body = ErrorEnvelope),
    ))]
pub async fn reset(
    State(state): State<AppState>,
    Client(client): Client,
    Json(b): Json<ResetBody>,
) -> ApiResult<Response> {
    state
        .auth
        .reset_password(
            given(b.token.as_ref()),
            given(b.new_password.as_ref()),
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct TokenBody {
    #[serde(default)]
    #[schema(value_type = String)]
    token: Option<SecretString>,
}

/// Prove the address with the mailed token
#[utoipa::path(post, path = "/v1/auth/email/verify", tag = "auth", request_body = TokenBody,
    responses(
        (status = 204, description = "Verified"),
        (status = 401, description = "Unknown, lapsed or spent token, or the address changed since", body = ErrorEnvelope),
        (status = 404, description = "No SMTP configured", body = ErrorEnvelope),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    Client(client): Client,
    Json(b): Json<TokenBody>,
) -> ApiResult<Response> {
    state
        .auth
        .verify_email(given(b.token.as_ref()), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Mail a verification link to my address
#[utoipa::path(post, path = "/v1/auth/email/verify/send", tag = "auth",
    responses(
        (status = 202, description = "Sent (nothing when the address is verified already)"),
        (status = 404, description = "No SMTP configured", body = ErrorEnvelope),
        (status = 429, description = "Too many mails to this address (with Retry-After)", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn send_verification(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    state.auth.send_verification(&p).await?;
    Ok((StatusCode::ACCEPTED, [(header::CACHE_CONTROL, "no-store")]).into_response())
}
