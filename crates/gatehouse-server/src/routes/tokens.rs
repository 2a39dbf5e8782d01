//! `POST /v1/auth/token`, `POST /v1/auth/revoke` and `GET /.well-known/jwks.json`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::Anonymous;
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct TokenBody {
    /// `password` (with `email` and `password`) or `refresh_token` (with `refresh_token`).
    grant_type: String,
    email: Option<String>,
    #[schema(value_type = Option<String>)]
    password: Option<SecretString>,
    /// A TOTP or recovery code, for an account with a second factor (SPEC §15).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    otp: Option<SecretString>,
    org_id: Option<String>,
    scope: Option<String>,
    #[schema(value_type = Option<String>)]
    refresh_token: Option<SecretString>,
}

/// An optional secret field, exposed for the one call that needs it.
fn exposed(field: Option<&SecretString>) -> Option<&str> {
    field.map(|s| s.expose_secret())
}

/// `password`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PasswordGrantType {
    Password,
}

/// `refresh_token`.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefreshGrantType {
    RefreshToken,
}

/// The password grant, as the document shows it (the handler reads [`TokenBody`]).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct PasswordGrant {
    grant_type: PasswordGrantType,
    #[schema(min_length = 1)]
    email: String,
    #[schema(min_length = 1)]
    password: String,
    otp: Option<String>,
    /// The org the token acts in (a UUID of an org the user belongs to).
    org_id: Option<String>,
    scope: Option<String>,
}

/// The refresh grant, as the document shows it.
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct RefreshGrant {
    grant_type: RefreshGrantType,
    #[schema(min_length = 1)]
    refresh_token: String,
}

/// `POST /v1/auth/token`'s body: one of the two grants.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum TokenRequest {
    Password(PasswordGrant),
    Refresh(RefreshGrant),
}

/// An access token and the refresh token that renews it.
#[derive(Serialize, ToSchema)]
pub struct TokenView {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    pub scope: String,
}

/// Access and refresh tokens (grant_type password or refresh_token)
#[utoipa::path(post, path = "/v1/auth/token", tag = "tokens", request_body = TokenRequest,
    responses(
        (status = 200, description = "Issued", body = TokenView),
        (status = 401, description = "Invalid credentials or refresh token", body = ErrorEnvelope),
        (status = 403, description = "Not a member, a scope beyond the policy, or a cross-site request", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields", body = ErrorEnvelope),
    ))]
pub async fn token(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<TokenBody>,
) -> ApiResult<Response> {
    let issued = match b.grant_type.as_str() {
        "password" => {
            let (Some(email), Some(password)) = (b.email.as_deref(), exposed(b.password.as_ref()))
            else {
                return Err(Error::InvalidRequest(
                    "password grant needs email and password".into(),
                )
                .into());
            };
            state
                .tokens
                .password_grant_with(
                    email,
                    password,
                    exposed(b.otp.as_ref()),
                    b.org_id.as_deref(),
                    b.scope.as_deref(),
                    &anon.client,
                )
                .await?
        }
        "refresh_token" => {
            let Some(refresh) = exposed(b.refresh_token.as_ref()) else {
                return Err(Error::InvalidRequest(
                    "refresh_token grant needs refresh_token".into(),
                )
                .into());
            };
            state.tokens.refresh_grant(refresh, &anon.client).await?
        }
        _ => {
            return Err(Error::InvalidRequest(
                "grant_type must be password or refresh_token".into(),
            )
            .into());
        }
    };
    Ok(axum::Json(TokenView {
        access_token: issued.access_token.expose_secret().to_owned(),
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: issued.refresh_token.expose_secret().to_owned(),
        scope: issued.scope,
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct RevokeBody {
    #[schema(value_type = String)]
    token: SecretString,
}

/// RFC 7009's empty answer.
#[derive(Serialize, ToSchema)]
pub struct Empty {}

/// Revoke a refresh token's family or an access token (RFC 7009; always 200)
#[utoipa::path(post, path = "/v1/auth/revoke", tag = "tokens", request_body = RevokeBody,
    responses(
        (status = 200, description = "Always, whether or not the token meant anything", body = Empty),
        (status = 403, description = "Cross-site request", body = ErrorEnvelope),
    ))]
pub async fn revoke(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<RevokeBody>,
) -> ApiResult<Response> {
    state
        .tokens
        .revoke(b.token.expose_secret(), &anon.client)
        .await?;
    Ok(axum::Json(Empty {}).into_response())
}

/// One public key (RFC 8037 OKP, Ed25519).
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct Jwk {
    kty: String,
    crv: String,
    x: String,
    kid: String,
    #[serde(rename = "use")]
    use_: String,
    alg: String,
}

/// The published keys.
#[derive(Serialize, ToSchema)]
pub struct JwksView {
    #[schema(value_type = Vec<Jwk>)]
    pub keys: serde_json::Value,
}

/// The public keys that sign access tokens
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "tokens",
    responses((status = 200, description = "The key set", body = JwksView)))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut set = state.tokens.jwks();
    let body = JwksView {
        keys: set
            .get_mut("keys")
            .map(serde_json::Value::take)
            .unwrap_or_else(|| serde_json::Value::Array(Vec::new())),
    };
    let mut r = axum::Json(body).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=300"),
    );
    r
}
