//! `POST /v1/introspect`: RFC 7662-shaped answers for session tokens and API keys.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use gatehouse_core::secret::{ExposeSecret, SecretString};
use gatehouse_core::service::introspect::{Introspection, introspect};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiResult;
use crate::extract::Authenticated;
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct IntrospectBody {
    #[schema(value_type = String)]
    token: SecretString,
}

/// RFC 7662's answer: `{"active": false}`, or what the token is.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum IntrospectionView {
    Inactive {
        active: bool,
    },
    Session {
        active: bool,
        token_type: &'static str,
        #[schema(value_type = String, format = Uuid)]
        sub: gatehouse_core::ids::UserId,
        #[schema(value_type = String, format = Uuid)]
        sid: gatehouse_core::ids::SessionId,
        iat: i64,
        exp: i64,
    },
    AccessToken {
        active: bool,
        token_type: &'static str,
        sub: String,
        org_id: Option<String>,
        scope: String,
        sid: String,
        jti: String,
        iss: String,
        aud: String,
        iat: i64,
        exp: i64,
    },
    ApiKey {
        active: bool,
        token_type: &'static str,
        #[schema(value_type = String, format = Uuid)]
        sub: gatehouse_core::ids::ApiKeyId,
        #[schema(value_type = String, format = Uuid)]
        org_id: gatehouse_core::ids::OrgId,
        scope: String,
        iat: i64,
        exp: Option<i64>,
    },
}

/// RFC 7662 introspection (API key with the introspect scope)
#[utoipa::path(post, path = "/v1/introspect", tag = "tokens", request_body = IntrospectBody,
    responses((status = 200, description = "Whether the token is active, and what it is", body = IntrospectionView)),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn handle(
    State(state): State<AppState>,
    auth: Authenticated,
    Json(b): Json<IntrospectBody>,
) -> ApiResult<Response> {
    let found = introspect(
        &auth.0,
        b.token.expose_secret(),
        &state.auth,
        &state.keys,
        &state.tokens,
        &state.orgs,
    )
    .await?;
    let body = match found {
        Introspection::Inactive => IntrospectionView::Inactive { active: false },
        Introspection::Session(s) => IntrospectionView::Session {
            active: true,
            token_type: "session",
            sub: s.user.id,
            sid: s.session.id,
            iat: s.session.created_at.unix_timestamp(),
            exp: s.session.expires_at.unix_timestamp(),
        },
        Introspection::Token(t) => {
            let c = t.claims;
            IntrospectionView::AccessToken {
                active: true,
                token_type: "access_token",
                sub: c.sub,
                org_id: c.org_id,
                scope: c.scope,
                sid: c.sid,
                jti: c.jti,
                iss: c.iss,
                aud: c.aud,
                iat: c.iat,
                exp: c.exp,
            }
        }
        Introspection::ApiKey(k) => IntrospectionView::ApiKey {
            active: true,
            token_type: "api_key",
            sub: k.key.id,
            org_id: k.key.org_id,
            scope: k.scopes.joined(),
            iat: k.key.created_at.unix_timestamp(),
            exp: k.key.expires_at.map(|t| t.unix_timestamp()),
        },
    };
    Ok(axum::Json(body).into_response())
}
