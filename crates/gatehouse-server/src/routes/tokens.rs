//! `POST /v1/auth/token`, `POST /v1/auth/revoke` and `GET /.well-known/jwks.json`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiResult;
use crate::extract::Anonymous;
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct TokenBody {
    grant_type: String,
    email: Option<String>,
    password: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    otp: Option<String>,
    org_id: Option<String>,
    scope: Option<String>,
    refresh_token: Option<String>,
}

pub async fn token(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<TokenBody>,
) -> ApiResult<Response> {
    let issued = match b.grant_type.as_str() {
        "password" => {
            let (Some(email), Some(password)) = (b.email.as_deref(), b.password.as_deref()) else {
                return Err(Error::InvalidRequest(
                    "password grant needs email and password".into(),
                )
                .into());
            };
            state
                .tokens
                .password_grant(
                    email,
                    password,
                    b.org_id.as_deref(),
                    b.scope.as_deref(),
                    &anon.client,
                )
                .await?
        }
        "refresh_token" => {
            let Some(refresh) = b.refresh_token.as_deref() else {
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
    Ok(axum::Json(json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
        "refresh_token": issued.refresh_token,
        "scope": issued.scope,
    }))
    .into_response())
}

#[derive(Deserialize)]
pub struct RevokeBody {
    token: String,
}

/// Always `200` (RFC 7009), whether or not the token meant anything.
pub async fn revoke(
    State(state): State<AppState>,
    anon: Anonymous,
    Json(b): Json<RevokeBody>,
) -> ApiResult<Response> {
    state.tokens.revoke(&b.token, &anon.client).await?;
    Ok(axum::Json(json!({})).into_response())
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut r = axum::Json(state.tokens.jwks()).into_response();
    r.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("public, max-age=300"),
    );
    r
}
