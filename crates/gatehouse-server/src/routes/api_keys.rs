//! `/v1/orgs/{org}/api-keys`: owners and admins create (the key shown once), list, revoke and
//! delete an org's keys. API keys themselves can never manage keys.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::ids::ApiKeyId;
use gatehouse_core::service::api_keys::NewKeyRequest;
use serde::Deserialize;
use serde_json::json;

use super::orgs::access;
use super::views;
use crate::error::ApiResult;
use crate::extract::{Authenticated, Client};
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct CreateBody {
    name: String,
    scopes: Vec<String>,
    expires_at: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path(org): Path<String>,
    Json(b): Json<CreateBody>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let manager = access.manager()?;
    let expires_at = match b.expires_at.as_deref() {
        None => None,
        Some(text) => Some(
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|_| Error::field("expires_at", "invalid"))?,
        ),
    };
    let request = NewKeyRequest {
        name: b.name,
        scopes: b.scopes,
        expires_at,
    };
    let (record, key) = state.keys.create(&manager, request, &client).await?;
    let mut body = views::api_key(&record);
    body["key"] = json!(key);
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let keys = state.keys.list(&access.manager()?).await?;
    let items: Vec<_> = keys.iter().map(views::api_key).collect();
    Ok(axum::Json(json!({ "api_keys": items })).into_response())
}

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
