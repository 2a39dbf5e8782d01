//! `/v1/orgs/{org}/api-keys`: owners and admins create (the key shown once), list, revoke and
//! delete an org's keys. API keys themselves can never manage keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::ids::ApiKeyId;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::api_keys::NewKeyRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::orgs::access;
use super::views::{self, ApiKeyView};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Authenticated, Client};
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct CreateBody {
    name: String,
    scopes: Vec<String>,
    /// RFC 3339; none for a key that does not expire.
    expires_at: Option<String>,
}

/// A new API key: the record and, this once, the key.
#[derive(Serialize, ToSchema)]
pub struct CreatedKeyView {
    #[serde(flatten)]
    pub record: ApiKeyView,
    pub key: String,
}

/// Create an API key; the key is shown once
#[utoipa::path(post, path = "/v1/orgs/{org}/api-keys", tag = "api-keys", request_body = CreateBody,
    responses(
        (status = 201, description = "The key, shown once", body = CreatedKeyView),
        (status = 422, description = "Invalid fields", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path(org): Path<String>,
    Json(b): Json<CreateBody>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let manager = access.manager()?;
    let expires_at = crate::json::optional_instant("expires_at", b.expires_at.as_deref())?;
    let request = NewKeyRequest {
        name: b.name,
        scopes: b.scopes,
        expires_at,
    };
    let (record, key) = state.keys.create(&manager, request, &client).await?;
    let body = CreatedKeyView {
        record: views::api_key(&record),
        key: key.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct ApiKeysView {
    pub api_keys: Vec<ApiKeyView>,
}

/// An org's API keys (never the keys themselves)
#[utoipa::path(get, path = "/v1/orgs/{org}/api-keys", tag = "api-keys",
    responses((status = 200, description = "The keys", body = ApiKeysView)),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let keys = state.keys.list(&access.manager()?).await?;
    let api_keys = keys.iter().map(views::api_key).collect();
    Ok(axum::Json(ApiKeysView { api_keys }).into_response())
}

/// Revoke an API key (the record stays)
#[utoipa::path(post, path = "/v1/orgs/{org}/api-keys/{id}/revoke", tag = "api-keys",
    responses((status = 200, description = "The revoked key", body = ApiKeyView)),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let id: ApiKeyId = id.parse()?;
    let key = state.keys.target(&access, id).await?;
    let key = state.keys.revoke(&key, &client).await?;
    Ok(axum::Json(views::api_key(&key)).into_response())
}

/// Delete an API key
#[utoipa::path(delete, path = "/v1/orgs/{org}/api-keys/{id}", tag = "api-keys",
    responses((status = 204, description = "Deleted")),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let id: ApiKeyId = id.parse()?;
    let key = state.keys.target(&access, id).await?;
    state.keys.delete(&key, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
