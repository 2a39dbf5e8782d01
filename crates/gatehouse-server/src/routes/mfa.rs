//! `/v1/auth/mfa*` and `/v1/auth/login/mfa` (SPEC §15): TOTP enrollment with recovery codes,
//! turning it off, new recovery codes, and the second step of a sign-in (a code or a passkey).

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

/// TOTP on the account.
#[derive(Serialize, ToSchema)]
pub struct TotpStatusView {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesStatusView {
    pub remaining: i64,
}

/// The account's second factors.
#[derive(Serialize, ToSchema)]
pub struct MfaStatusView {
    pub totp: TotpStatusView,
    pub recovery_codes: RecoveryCodesStatusView,
    /// Registered passkeys, oldest first.
    pub passkeys: Vec<super::passkeys::PasskeyView>,
}

/// The second factors of the signed-in user
#[utoipa::path(get, path = "/v1/auth/mfa", tag = "mfa",
    responses((status = 200, description = "TOTP, recovery codes, passkeys", body = MfaStatusView)),
    security(("session" = [])))]
pub async fn status(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
) -> ApiResult<Response> {
    let s = state.auth.mfa_status(p.user.id).await?;
    let passkeys = state.auth.passkeys(p.user.id).await?;
    let body = MfaStatusView {
        totp: TotpStatusView {
            enabled: s.totp_enabled,
            created_at: s.totp_created_at.map(rfc3339),
            last_used_at: s.totp_last_used_at.map(rfc3339),
        },
        recovery_codes: RecoveryCodesStatusView {
            remaining: s.recovery_codes_left,
        },
        passkeys: passkeys.iter().map(super::passkeys::passkey_view).collect(),
    };
    Ok(axum::Json(body).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct CurrentPasswordBody {
    #[schema(value_type = String)]
    current_password: SecretString,
}

/// A pending enrollment: the seed for the authenticator app, shown once.
#[derive(Serialize, ToSchema)]
pub struct EnrollmentView {
    pub secret: String,
    pub otpauth_uri: String,
    pub expires_at: String,
}

/// Start TOTP enrollment (pending for 15 minutes)
#[utoipa::path(post, path = "/v1/auth/mfa/totp", tag = "mfa", request_body = CurrentPasswordBody,
    responses(
        (status = 201, description = "The seed, shown once", body = EnrollmentView),
        (status = 401, description = "Wrong password", body = ErrorEnvelope),
        (status = 409, description = "TOTP is already on", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn start_totp(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Json(b): Json<CurrentPasswordBody>,
) -> ApiResult<Response> {
    let e = state
        .auth
        .start_totp(&p, b.current_password.expose_secret(), &client)
        .await?;
    let body = EnrollmentView {
        secret: e.secret.expose_secret().to_owned(),
        otpauth_uri: e.otpauth_uri.expose_secret().to_owned(),
        expires_at: rfc3339(e.expires_at),
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(body),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct CodeBody {
    #[serde(default)]
    #[schema(value_type = String)]
    code: Option<SecretString>,
}

/// What was sent, or nothing (a missing field is a wrong value).
fn given(field: Option<&SecretString>) -> &str {
    field.map_or("", ExposeSecret::expose_secret)
}

/// Ten recovery codes, each usable once, shown once.
#[derive(Serialize, ToSchema)]
pub struct RecoveryCodesView {
    pub recovery_codes: Vec<String>,
}

fn codes_view(codes: &[SecretString]) -> RecoveryCodesView {
    RecoveryCodesView {
        recovery_codes: codes.iter().map(|c| c.expose_secret().to_owned()).collect(),
    }
}

/// Confirm the enrollment with a first code; TOTP is on
#[utoipa::path(post, path = "/v1/auth/mfa/totp/confirm", tag = "mfa", request_body = CodeBody,
    responses(
        (status = 200, description = "On; the recovery codes, shown once", body = RecoveryCodesView),
        (status = 422, description = "Wrong code (`code: invalid`) or nothing pending (`code: no_enrollment`)", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn confirm_totp(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Json(b): Json<CodeBody>,
) -> ApiResult<Response> {
    let codes = state
        .auth
        .confirm_totp(p.user.id, given(b.code.as_ref()), &client)
        .await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(codes_view(&codes)),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct PasswordAndCodeBody {
    #[schema(value_type = String)]
    current_password: SecretString,
    #[schema(value_type = String)]
    code: SecretString,
}

/// Turn TOTP off (the recovery codes go with it)
#[utoipa::path(delete, path = "/v1/auth/mfa/totp", tag = "mfa", request_body = PasswordAndCodeBody,
    responses(
        (status = 204, description = "Off"),
        (status = 401, description = "Wrong password or code", body = ErrorEnvelope),
        (status = 404, description = "TOTP is not on", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn disable_totp(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Json(b): Json<PasswordAndCodeBody>,
) -> ApiResult<Response> {
    state
        .auth
        .disable_totp(
            &p,
            b.current_password.expose_secret(),
            b.code.expose_secret(),
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// New recovery codes; the old set is void
#[utoipa::path(post, path = "/v1/auth/mfa/recovery-codes", tag = "mfa", request_body = PasswordAndCodeBody,
    responses(
        (status = 201, description = "The new codes, shown once", body = RecoveryCodesView),
        (status = 401, description = "Wrong password or code", body = ErrorEnvelope),
        (status = 404, description = "TOTP is not on", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = [])))]
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    SessionAuth(p): SessionAuth,
    Client(client): Client,
    Json(b): Json<PasswordAndCodeBody>,
) -> ApiResult<Response> {
    let codes = state
        .auth
        .regenerate_recovery_codes(
            &p,
            b.current_password.expose_secret(),
            b.code.expose_secret(),
            &client,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(codes_view(&codes)),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct LoginMfaBody {
    #[serde(default)]
    #[schema(value_type = String)]
    mfa_token: Option<SecretString>,
    #[serde(default)]
    #[schema(value_type = String)]
    otp: Option<SecretString>,
    /// Instead of `otp`: the answer to the `passkey` ceremony of the `mfa_required` error.
    #[serde(default)]
    passkey: Option<super::passkeys::PasskeyAnswer>,
}

/// Finish a sign-in that answered `mfa_required`; sets the session cookie
#[utoipa::path(post, path = "/v1/auth/login/mfa", tag = "auth", request_body = LoginMfaBody,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = LoginView),
        (status = 401, description = "Wrong code, or an unknown, lapsed, spent or exhausted token", body = ErrorEnvelope),
        (status = 403, description = "Cross-site request", body = ErrorEnvelope),
    ))]
pub async fn login_mfa(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<LoginMfaBody>,
) -> ApiResult<Response> {
    let replaces = replaced_session(&state, anon.session_token.as_deref()).await;
    let mfa_token = given(b.mfa_token.as_ref());
    let outcome = match (&b.otp, &b.passkey) {
        (None, Some(passkey)) => {
            state
                .auth
                .login_mfa_passkey(
                    mfa_token,
                    &passkey.ceremony_id,
                    &passkey.credential,
                    anon.client,
                    replaces,
                )
                .await?
        }
        _ => {
            state
                .auth
                .login_mfa(mfa_token, given(b.otp.as_ref()), anon.client, replaces)
                .await?
        }
    };
    Ok(login_answer(&state, outcome))
}
