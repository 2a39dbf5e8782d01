//! `/v1/orgs/{org}/grants` and `/v1/orgs/{org}/check`: per-resource permissions (SPEC §7).
//! Who may do what is the core's rule ([`GrantService`](gatehouse_core::service::GrantService));
//! these handlers read the body, call it, and shape the answer.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::clock::rfc3339;
use gatehouse_core::ids::GrantId;
use gatehouse_core::service::grants::{GrantRequest, GrantsOf};
use gatehouse_core::store::Grant;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::orgs::access;
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Authenticated, Client};
use crate::json::Json;
use crate::state::AppState;

/// A grant to make, or to replace (same resource and subject). Every field defaults, so who
/// may ask is judged before what was asked (another org's path is `404` whatever the body);
/// a missing field is then `422` like a bad one.
#[derive(Deserialize, ToSchema)]
pub struct GrantBody {
    /// `type:id`, e.g. `page:123` (`^[a-z][a-z0-9_.-]{0,63}:[A-Za-z0-9_.:/@-]{1,200}$`).
    #[serde(default)]
    #[schema(example = "page:123", required = true)]
    resource: String,
    /// `user:<user id>` of a member, or `api_key:<key id>` of a key of the org.
    #[serde(default)]
    #[schema(required = true)]
    subject: String,
    /// A non-empty subset of `view`, `edit`, `share`, `delete`.
    #[serde(default)]
    #[schema(required = true)]
    capabilities: Vec<String>,
    /// RFC 3339; none for a grant that does not expire. Kept to the second.
    expires_at: Option<String>,
}

/// A stored grant.
#[derive(Serialize, ToSchema)]
pub struct GrantView {
    id: String,
    resource: String,
    subject: String,
    capabilities: Vec<String>,
    expires_at: Option<String>,
    /// `user:<id>` or `api_key:<id>`.
    created_by: String,
    created_at: String,
    updated_at: String,
}

/// A grant in a listing: `expired` is true once its instant has passed.
#[derive(Serialize, ToSchema)]
pub struct ListedGrant {
    #[serde(flatten)]
    grant: GrantView,
    expired: bool,
}

#[derive(Serialize, ToSchema)]
pub struct GrantsView {
    grants: Vec<ListedGrant>,
}

/// Exactly one of the two.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantsQuery {
    /// The grants of this resource.
    resource: Option<String>,
    /// The grants of this subject.
    subject: Option<String>,
}

/// The question a check asks (fields default, as in [`GrantBody`]).
#[derive(Deserialize, ToSchema)]
pub struct CheckBody {
    #[serde(default)]
    #[schema(required = true)]
    subject: String,
    #[serde(default)]
    #[schema(required = true)]
    resource: String,
    /// One of `view`, `edit`, `share`, `delete`.
    #[serde(default)]
    #[schema(required = true)]
    capability: String,
}

/// A check's answer.
#[derive(Serialize, ToSchema)]
pub struct CheckView {
    allowed: bool,
    /// `owner`, `admin`, `grant`, `none` or `expired`.
    reason: &'static str,
}

pub fn grant_view(g: &Grant) -> GrantView {
    GrantView {
        id: g.id.to_string(),
        resource: g.resource.clone(),
        subject: g.subject.clone(),
        capabilities: g.capabilities.clone(),
        expires_at: g.expires_at.map(rfc3339),
        created_by: g.created_by.clone(),
        created_at: rfc3339(g.created_at),
        updated_at: rfc3339(g.updated_at),
    }
}

/// Grant capabilities on a resource (again: replace them)
#[utoipa::path(post, path = "/v1/orgs/{org}/grants", tag = "grants", request_body = GrantBody,
    responses(
        (status = 201, description = "A new grant", body = GrantView),
        (status = 200, description = "The subject's grant on the resource, replaced", body = GrantView),
        (status = 403, description = "Beyond the caller's reach (a member's share limit)", body = ErrorEnvelope),
        (status = 422, description = "Invalid resource, subject, capabilities or expiry", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path(org): Path<String>,
    Json(b): Json<GrantBody>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let expires_at = crate::json::optional_instant("expires_at", b.expires_at.as_deref())?;
    let request = GrantRequest {
        resource: b.resource,
        subject: b.subject,
        capabilities: b.capabilities,
        expires_at,
    };
    let (grant, created) = state.grants.put(&access, &request, &client).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(grant_view(&grant))).into_response())
}

/// The grants of a resource or of a subject, expired ones marked
#[utoipa::path(get, path = "/v1/orgs/{org}/grants", tag = "grants", params(GrantsQuery),
    responses(
        (status = 200, description = "The grants", body = GrantsView),
        (status = 422, description = "Neither or both of resource and subject, or one invalid", body = ErrorEnvelope),
    ),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
    Query(q): Query<GrantsQuery>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let of = match (q.resource.as_deref(), q.subject.as_deref()) {
        (Some(r), None) => GrantsOf::Resource(r),
        (None, Some(s)) => GrantsOf::Subject(s),
        _ => return Err(Error::field("query", "resource_or_subject").into()),
    };
    let now = state.ambient.now();
    let grants = state
        .grants
        .list(&access, of)
        .await?
        .iter()
        .map(|g| ListedGrant {
            grant: grant_view(g),
            expired: !g.live_at(now),
        })
        .collect();
    Ok(axum::Json(GrantsView { grants }).into_response())
}

/// Revoke a grant
#[utoipa::path(delete, path = "/v1/orgs/{org}/grants/{id}", tag = "grants",
    responses((status = 204, description = "Revoked")),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let id: GrantId = id.parse()?;
    state.grants.delete(&access, id, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// May a subject do this on that resource? Read fresh on every call
#[utoipa::path(post, path = "/v1/orgs/{org}/check", tag = "grants", request_body = CheckBody,
    responses(
        (status = 200, description = "The answer", body = CheckView),
        (status = 422, description = "Invalid subject, resource or capability", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn check(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
    Json(b): Json<CheckBody>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let verdict = state
        .grants
        .check(&access, &b.subject, &b.resource, &b.capability)
        .await?;
    let body = CheckView {
        allowed: verdict.allowed,
        reason: verdict.reason.as_str(),
    };
    Ok(axum::Json(body).into_response())
}
