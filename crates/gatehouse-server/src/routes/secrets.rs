//! `/v1/orgs/{org}/secrets`: the vault (SPEC §10). Writing and deleting need owner/admin or
//! `secrets:write`; listing and reading need owner/admin or `secrets:read`. Listing shows
//! names and metadata only; a read answers one value and is audited.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::clock::rfc3339;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use gatehouse_core::store::{SecretMeta, Writer};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::orgs::access;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Authenticated, Client};
use crate::json::Json;
use crate::state::AppState;

/// A secret's new value: a string of at most 32 KiB (UTF-8). Anything else in `value` is
/// `422` (SPEC §10), so the field is read as any JSON and judged here.
#[derive(Deserialize, ToSchema)]
pub struct PutBody {
    #[serde(default)]
    #[schema(value_type = String, max_length = 32768, required = true)]
    value: serde_json::Value,
}

/// Which version to read (default: the latest).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    #[param(minimum = 1)]
    version: Option<i64>,
}

/// Who wrote a version: a user or an API key.
#[derive(Serialize, ToSchema)]
pub struct WriterView {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
}

/// A secret's latest version, without its value.
#[derive(Serialize, ToSchema)]
pub struct SecretMetaView {
    name: String,
    version: i64,
    created_at: String,
    updated_at: String,
}

/// A secret in a listing: metadata and who last wrote it.
#[derive(Serialize, ToSchema)]
pub struct SecretListItem {
    #[serde(flatten)]
    meta: SecretMetaView,
    updated_by: WriterView,
}

#[derive(Serialize, ToSchema)]
pub struct SecretsView {
    secrets: Vec<SecretListItem>,
}

/// One version's value.
#[derive(Serialize, ToSchema)]
pub struct SecretValueView {
    name: String,
    value: String,
    version: i64,
    updated_at: String,
}

fn meta_view(m: &SecretMeta) -> SecretMetaView {
    SecretMetaView {
        name: m.name.clone(),
        version: m.version,
        created_at: rfc3339(m.created_at),
        updated_at: rfc3339(m.updated_at),
    }
}

fn writer_view(w: &Writer) -> WriterView {
    WriterView {
        kind: w.kind.clone(),
        id: w.id.clone(),
    }
}

/// Write a secret (a new version each time; the ten latest are kept)
#[utoipa::path(put, path = "/v1/orgs/{org}/secrets/{name}", tag = "secrets", request_body = PutBody,
    responses(
        (status = 201, description = "A new secret, version 1", body = SecretMetaView),
        (status = 200, description = "A new version of the secret", body = SecretMetaView),
        (status = 422, description = "Invalid name or value", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn put(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path((org, name)): Path<(String, String)>,
    Json(b): Json<PutBody>,
) -> ApiResult<Response> {
    // Who may write comes first: another org's path answers 404 whatever the body holds.
    let access = access(&state, &auth, &org).await?;
    let writer = state.secrets.writer(&access)?;
    let serde_json::Value::String(value) = b.value else {
        return Err(gatehouse_core::Error::field("value", "not_a_string").into());
    };
    let value = SecretString::from(value);
    let (meta, created) = state.secrets.put(&writer, &name, &value, &client).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(meta_view(&meta))).into_response())
}

/// An org's secrets: names and metadata, never values
#[utoipa::path(get, path = "/v1/orgs/{org}/secrets", tag = "secrets",
    responses((status = 200, description = "The secrets", body = SecretsView)),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let reader = state.secrets.reader(&access)?;
    let secrets = state
        .secrets
        .list(&reader)
        .await?
        .iter()
        .map(|m| SecretListItem {
            meta: meta_view(m),
            updated_by: writer_view(&m.updated_by),
        })
        .collect();
    Ok(axum::Json(SecretsView { secrets }).into_response())
}

/// Read a secret's value (the latest version, or `?version=N`); audited as `secret.read`
#[utoipa::path(get, path = "/v1/orgs/{org}/secrets/{name}", tag = "secrets", params(VersionQuery),
    responses(
        (status = 200, description = "The value", body = SecretValueView),
        (status = 400, description = "A bad query (a version that is not a number)", body = ErrorEnvelope),
        (status = 422, description = "Invalid name or version", body = ErrorEnvelope),
    ),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path((org, name)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let reader = state.secrets.reader(&access)?;
    let opened = state
        .secrets
        .read(&reader, &name, q.version, &client)
        .await?;
    let body = SecretValueView {
        name: opened.name,
        value: opened.value.expose_secret().to_owned(),
        version: opened.version,
        updated_at: rfc3339(opened.updated_at),
    };
    Ok(axum::Json(body).into_response())
}

/// Delete a secret: every version goes
#[utoipa::path(delete, path = "/v1/orgs/{org}/secrets/{name}", tag = "secrets",
    responses((status = 204, description = "Deleted")),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path((org, name)): Path<(String, String)>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let writer = state.secrets.writer(&access)?;
    state.secrets.delete(&writer, &name, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
