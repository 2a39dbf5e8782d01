//! `/v1/orgs`: orgs and their members (SPEC §6). Every `{org}` route resolves the org for the
//! caller first, so another tenant's org — or a malformed id — is `404` before anything else.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::ids::{OrgId, UserId};
use gatehouse_core::service::OrgAccess;
use serde::Deserialize;
use serde_json::json;

use super::views;
use crate::error::ApiResult;
use crate::extract::{Authenticated, Client};
use crate::json::Json;
use crate::state::AppState;

/// The org named in the path, as the caller may see it.
pub async fn access(
    state: &AppState,
    principal: &Authenticated,
    org: &str,
) -> ApiResult<OrgAccess> {
    let org: OrgId = org.parse()?;
    let access = state.orgs.access(&principal.0, org).await?;
    principal.entered_org(org);
    Ok(access)
}

#[derive(Deserialize)]
pub struct NameBody {
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Json(b): Json<NameBody>,
) -> ApiResult<Response> {
    let org = state.orgs.create(&auth.0, &b.name, &client).await?;
    let body = views::org_with_role(&org, Some(gatehouse_core::role::Role::Owner));
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

pub async fn list(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let orgs = state.orgs.list(&auth.0).await?;
    let items: Vec<_> = orgs
        .iter()
        .map(|(o, r)| views::org_with_role(o, *r))
        .collect();
    Ok(axum::Json(json!({ "orgs": items })).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let manager = access.manager()?;
    Ok(axum::Json(views::org_with_role(manager.org, Some(manager.role))).into_response())
}

pub async fn rename(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path(org): Path<String>,
    Json(b): Json<NameBody>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let manager = access.manager()?;
    let org = state.orgs.rename(&manager, &b.name, &client).await?;
    Ok(axum::Json(views::org_with_role(&org, Some(manager.role))).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    state.orgs.delete(&access.owner()?, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn members(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let members = state.orgs.members(&access).await?;
    let items: Vec<_> = members.iter().map(views::member).collect();
    Ok(axum::Json(json!({ "members": items })).into_response())
}

#[derive(Deserialize)]
pub struct RoleBody {
    role: String,
}

pub async fn set_role(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path((org, user)): Path<(String, String)>,
    Json(b): Json<RoleBody>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let target: UserId = user.parse()?;
    state.orgs.target_member(&access, target).await?;
    let member = state
        .orgs
        .set_role(&access.manager()?, target, &b.role, &client)
        .await?;
    Ok(axum::Json(views::member(&member)).into_response())
}

pub async fn remove_member(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path((org, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let target: UserId = user.parse()?;
    state.orgs.target_member(&access, target).await?;
    state.orgs.remove(&access, target, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
