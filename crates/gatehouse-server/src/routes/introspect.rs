//! `POST /v1/introspect`: RFC 7662-shaped answers for session tokens and API keys.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::service::introspect::{Introspection, introspect};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiResult;
use crate::extract::Authenticated;
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct IntrospectBody {
    token: String,
}

pub async fn handle(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(b): Json<IntrospectBody>,
) -> ApiResult<Response> {
    let found = introspect(
        &auth.0,
        &b.token,
        &state.auth,
        &state.keys,
        &state.tokens,
        &state.orgs,
    )
    .await?;
    let body = match found {
        Introspection::Inactive => json!({ "active": false }),
        Introspection::Session(s) => json!({
            "active": true,
            "token_type": "session",
            "sub": s.user.id,
            "sid": s.session.id,
            "iat": s.session.created_at.unix_timestamp(),
            "exp": s.session.expires_at.unix_timestamp(),
        }),
        Introspection::Token(t) => json!({
            "active": true,
            "token_type": "access_token",
            "sub": t.claims.sub,
            "org_id": t.claims.org_id,
            "scope": t.claims.scope,
            "sid": t.claims.sid,
            "jti": t.claims.jti,
            "iss": t.claims.iss,
            "aud": t.claims.aud,
            "iat": t.claims.iat,
            "exp": t.claims.exp,
        }),
        Introspection::ApiKey(k) => json!({
            "active": true,
            "token_type": "api_key",
            "sub": k.key.id,
            "org_id": k.key.org_id,
            "scope": k.scopes.joined(),
            "iat": k.key.created_at.unix_timestamp(),
            "exp": k.key.expires_at.map(|t| t.unix_timestamp()),
        }),
    };
    Ok(axum::Json(body).into_response())
}
