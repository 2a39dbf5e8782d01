//! `/v1/orgs`: orgs and their members (SPEC §6). Every `{org}` route resolves the org for the
//! caller first, so another tenant's org — or a malformed id — is `404` before anything else.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::ids::{OrgId, UserId};
use gatehouse_core::service::OrgAccess;
use gatehouse_core::token_policy::TokenScopePolicy;
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

/// An org as its managers see it: with the token policy of every role.
fn managed_org(
    org: &gatehouse_core::store::Org,
    role: gatehouse_core::role::Role,
    policy: &TokenScopePolicy,
) -> serde_json::Value {
    let mut body = views::org_with_role(org, Some(role));
    body["token_scopes"] = json!(policy.effective());
    body
}

pub async fn get(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let manager = access.manager()?;
    let policy = state.orgs.token_scopes(&manager).await?;
    Ok(axum::Json(managed_org(manager.org(), manager.role(), &policy)).into_response())
}

/// `PATCH /v1/orgs/{org}`: a new name, a new token policy, or both (at least one).
#[derive(Deserialize)]
pub struct UpdateBody {
    name: Option<String>,
    token_scopes: Option<serde_json::Value>,
}

pub async fn update(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path(org): Path<String>,
    Json(b): Json<UpdateBody>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let manager = access.manager()?;
    if b.name.is_none() && b.token_scopes.is_none() {
        return Err(gatehouse_core::Error::field("name", "required").into());
    }
    // Both checked before either is applied: a bad field changes nothing.
    if let Some(name) = &b.name {
        gatehouse_core::identity_chars::name("name", name)?;
    }
    if let Some(raw) = &b.token_scopes {
        TokenScopePolicy::parse(raw)?;
    }
    let policy = match &b.token_scopes {
        Some(raw) => state.orgs.set_token_scopes(&manager, raw, &client).await?,
        None => state.orgs.token_scopes(&manager).await?,
    };
    let org = match &b.name {
        Some(name) => state.orgs.rename(&manager, name, &client).await?,
        None => manager.org().clone(),
    };
    Ok(axum::Json(managed_org(&org, manager.role(), &policy)).into_response())
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
    let member = state.orgs.target_member(&access, target).await?;
    let member = state.orgs.set_role(&member, &b.role, &client).await?;
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
    let member = state.orgs.target_member(&access, target).await?;
    state.orgs.remove(&member, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
