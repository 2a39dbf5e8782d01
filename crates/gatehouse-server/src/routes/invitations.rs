//! Invitations: issued by an org's owners and admins, accepted by the invited address.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::clock::rfc3339;
use serde::Deserialize;
use serde_json::json;

use super::orgs::access;
use super::views;
use crate::error::ApiResult;
use crate::extract::{Authenticated, Client, MaybeAuthenticated};
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct InviteBody {
    email: String,
    #[serde(default = "member_role")]
    role: String,
}

fn member_role() -> String {
    "member".to_owned()
}

pub async fn create(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path(org): Path<String>,
    Json(b): Json<InviteBody>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let issued = state
        .orgs
        .invite(&access.manager()?, &b.email, &b.role, &client)
        .await?;
    let i = &issued.invitation;
    let body = json!({
        "id": i.id,
        "token": issued.token,
        "email": i.email,
        "role": i.role.as_str(),
        "expires_at": rfc3339(i.expires_at),
    });
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(Deserialize)]
pub struct AcceptBody {
    token: String,
    password: Option<String>,
    name: Option<String>,
}

pub async fn accept(
    State(state): State<AppState>,
    MaybeAuthenticated(principal): MaybeAuthenticated,
    Client(client): Client,
    Json(b): Json<AcceptBody>,
) -> ApiResult<Response> {
    let joined = state
        .orgs
        .accept(
            principal.as_ref(),
            &b.token,
            b.password.as_deref(),
            b.name.as_deref(),
            &client,
        )
        .await?;
    let status = if joined.created_user {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = json!({
        "user": views::user(&joined.user),
        "org": views::org_with_role(&joined.org, Some(joined.role)),
    });
    Ok((status, axum::Json(body)).into_response())
}
