//! Invitations: issued, listed and revoked by an org's owners and admins, accepted by the
//! invited address.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::clock::rfc3339;
use gatehouse_core::ids::InvitationId;
use gatehouse_core::service::orgs::Accepted;
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
    let accepted = state
        .orgs
        .accept(
            principal.as_ref(),
            &b.token,
            b.password.as_deref(),
            b.name.as_deref(),
            &client,
        )
        .await?;
    Ok(match accepted {
        Accepted::Joined(j) => {
            let body = json!({
                "user": views::user(&j.user),
                "org": views::org_with_role(&j.org, Some(j.role)),
            });
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        // The same answer whether or not the address already had an account.
        Accepted::SignIn { org, email, role } => {
            let body = json!({
                "next": "sign_in",
                "email": email,
                "org": { "id": org.id, "name": org.name },
                "role": role.as_str(),
            });
            (StatusCode::ACCEPTED, axum::Json(body)).into_response()
        }
    })
}

pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let pending = state.orgs.invitations(&access.manager()?).await?;
    let items: Vec<_> = pending.iter().map(views::invitation).collect();
    Ok(axum::Json(json!({ "invitations": items })).into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    auth: Authenticated,
    Client(client): Client,
    Path((org, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let id: InvitationId = id.parse()?;
    state.orgs.revoke_invitation(&access, id, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
