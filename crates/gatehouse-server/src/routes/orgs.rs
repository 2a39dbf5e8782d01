//! `/v1/orgs`: orgs and their members (SPEC §6). Every `{org}` route resolves the org for the
//! caller first, so another tenant's org — or a malformed id — is `404` before anything else.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::ids::{OrgId, UserId};
use gatehouse_core::service::OrgAccess;
use gatehouse_core::token_policy::TokenScopePolicy;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::views::{self, ManagedOrgView, MemberView, OrgView};
use crate::error::{ApiResult, ErrorEnvelope};
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

#[derive(Deserialize, ToSchema)]
pub struct NameBody {
    name: String,
}

/// Create an org; the caller owns it
#[utoipa::path(post, path = "/v1/orgs", tag = "orgs", request_body = NameBody,
    responses(
        (status = 201, description = "The new org", body = OrgView),
        (status = 422, description = "Invalid name", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
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

#[derive(Serialize, ToSchema)]
pub struct OrgsView {
    pub orgs: Vec<OrgView>,
}

/// The caller's orgs
#[utoipa::path(get, path = "/v1/orgs", tag = "orgs",
    responses((status = 200, description = "The orgs the credential reaches", body = OrgsView)),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn list(State(state): State<AppState>, auth: Authenticated) -> ApiResult<Response> {
    let orgs = state.orgs.list(&auth.0).await?;
    let orgs = orgs
        .iter()
        .map(|(o, r)| views::org_with_role(o, *r))
        .collect();
    Ok(axum::Json(OrgsView { orgs }).into_response())
}

/// An org as its managers see it: with the token policy of every role.
fn managed_org(
    org: &gatehouse_core::store::Org,
    role: gatehouse_core::role::Role,
    policy: &TokenScopePolicy,
) -> ManagedOrgView {
    ManagedOrgView {
        org: views::org_with_role(org, Some(role)),
        token_scopes: policy.effective(),
    }
}

/// An org (owner or admin)
#[utoipa::path(get, path = "/v1/orgs/{org}", tag = "orgs",
    responses((status = 200, description = "The org with its token policy", body = ManagedOrgView)),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
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
#[derive(Deserialize, ToSchema)]
pub struct UpdateBody {
    name: Option<String>,
    /// Per role (`owner`, `admin`, `member`), the scopes access tokens may carry.
    #[schema(value_type = Option<std::collections::BTreeMap<String, Vec<String>>>)]
    token_scopes: Option<serde_json::Value>,
}

/// Rename an org or set its token policy (owner or admin; tokens need org:admin)
#[utoipa::path(patch, path = "/v1/orgs/{org}", tag = "orgs", request_body = UpdateBody,
    responses(
        (status = 200, description = "The org as changed", body = ManagedOrgView),
        (status = 422, description = "Invalid fields, or neither given", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]

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

/// Delete an org and everything it owns (owner)
#[utoipa::path(delete, path = "/v1/orgs/{org}", tag = "orgs",
    responses((status = 204, description = "Deleted")),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
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

#[derive(Serialize, ToSchema)]
pub struct MembersView {
    pub members: Vec<MemberView>,
}

/// Members with roles (members, or keys with members:read)
#[utoipa::path(get, path = "/v1/orgs/{org}/members", tag = "orgs",
    responses((status = 200, description = "The members", body = MembersView)),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn members(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let members = state.orgs.members(&access).await?;
    let members = members.iter().map(views::member).collect();
    Ok(axum::Json(MembersView { members }).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct RoleBody {
    role: String,
}

/// Change a member's role
#[utoipa::path(patch, path = "/v1/orgs/{org}/members/{user_id}", tag = "orgs", request_body = RoleBody,
    responses(
        (status = 200, description = "The member with the new role", body = MemberView),
        (status = 409, description = "The last owner", body = ErrorEnvelope),
        (status = 422, description = "Unknown role", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
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

/// Remove a member (or leave)
#[utoipa::path(delete, path = "/v1/orgs/{org}/members/{user_id}", tag = "orgs",
    responses(
        (status = 204, description = "Removed"),
        (status = 409, description = "The last owner", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
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
