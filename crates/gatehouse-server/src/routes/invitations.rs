//! Invitations: issued, listed and revoked by an org's owners and admins, accepted by the
//! invited address.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::clock::rfc3339;
use gatehouse_core::ids::InvitationId;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use gatehouse_core::service::orgs::Accepted;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::orgs::access;
use super::views::{self, InvitationView, OrgView, UserView};
use crate::error::{ApiResult, ErrorEnvelope};
use crate::extract::{Authenticated, Client, MaybeAuthenticated};
use crate::json::Json;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct InviteBody {
    email: String,
    #[serde(default = "member_role")]
    role: String,
}

fn member_role() -> String {
    "member".to_owned()
}

/// An issued invitation, with its token shown this once.
#[derive(Serialize, ToSchema)]
pub struct IssuedInvitationView {
    #[schema(value_type = String, format = Uuid)]
    pub id: InvitationId,
    pub token: String,
    pub email: String,
    pub role: &'static str,
    pub expires_at: String,
}

/// Invite an email with a role; the token is shown once
#[utoipa::path(post, path = "/v1/orgs/{org}/invitations", tag = "invitations", request_body = InviteBody,
    responses(
        (status = 201, description = "The invitation and its token", body = IssuedInvitationView),
        (status = 409, description = "Already a member", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields", body = ErrorEnvelope),
    ),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
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
    let body = IssuedInvitationView {
        id: i.id,
        token: issued.token.expose_secret().to_owned(),
        email: i.email.clone(),
        role: i.role.as_str(),
        expires_at: rfc3339(i.expires_at),
    };
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct AcceptBody {
    #[schema(value_type = String)]
    token: SecretString,
    #[schema(value_type = Option<String>)]
    password: Option<SecretString>,
    name: Option<String>,
}

/// A signed-in user who joined.
#[derive(Serialize, ToSchema)]
pub struct JoinedView {
    pub user: UserView,
    pub org: OrgView,
}

/// The org an anonymous accept names.
#[derive(Serialize, ToSchema)]
pub struct InvitingOrg {
    #[schema(value_type = String, format = Uuid)]
    pub id: gatehouse_core::ids::OrgId,
    pub name: String,
}

/// An anonymous accept: sign in next (whether or not the account is new).
#[derive(Serialize, ToSchema)]
pub struct SignInNextView {
    pub next: &'static str,
    pub email: String,
    pub org: InvitingOrg,
    pub role: &'static str,
}

/// Accept an invitation: signed in, joins (200); anonymous, creates the account when new and
/// answers 202 "sign in next" either way
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "invitations", request_body = AcceptBody,
    responses(
        (status = 200, description = "Joined", body = JoinedView),
        (status = 202, description = "Sign in next", body = SignInNextView),
        (status = 401, description = "Expired invitation, or a bad credential", body = ErrorEnvelope),
        (status = 403, description = "Not the invited address, or a cross-site request", body = ErrorEnvelope),
        (status = 404, description = "Unknown or spent invitation", body = ErrorEnvelope),
        (status = 409, description = "Already a member", body = ErrorEnvelope),
        (status = 422, description = "Invalid fields", body = ErrorEnvelope),
    ),
    security((), ("session" = [], "csrf" = []), ("bearer" = [])))]
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
            b.token.expose_secret(),
            b.password.as_ref().map(|p| p.expose_secret()),
            b.name.as_deref(),
            &client,
        )
        .await?;
    Ok(match accepted {
        Accepted::Joined(j) => {
            let body = JoinedView {
                user: views::user(&j.user),
                org: views::org_with_role(&j.org, Some(j.role)),
            };
            (StatusCode::OK, axum::Json(body)).into_response()
        }
        // The same answer whether or not the address already had an account.
        Accepted::SignIn { org, email, role } => {
            let body = SignInNextView {
                next: "sign_in",
                email,
                org: InvitingOrg {
                    id: org.id,
                    name: org.name,
                },
                role: role.as_str(),
            };
            (StatusCode::ACCEPTED, axum::Json(body)).into_response()
        }
    })
}

#[derive(Serialize, ToSchema)]
pub struct InvitationsView {
    pub invitations: Vec<InvitationView>,
}

/// Pending invitations (never their tokens)
#[utoipa::path(get, path = "/v1/orgs/{org}/invitations", tag = "invitations",
    responses((status = 200, description = "Pending invitations", body = InvitationsView)),
    security(("session" = []), ("bearer" = []), ("api_key" = [])))]
pub async fn list(
    State(state): State<AppState>,
    auth: Authenticated,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = access(&state, &auth, &org).await?;
    let pending = state.orgs.invitations(&access.manager()?).await?;
    let invitations = pending.iter().map(views::invitation).collect();
    Ok(axum::Json(InvitationsView { invitations }).into_response())
}

/// Revoke a pending invitation
#[utoipa::path(delete, path = "/v1/orgs/{org}/invitations/{id}", tag = "invitations",
    responses((status = 204, description = "Revoked")),
    security(("session" = [], "csrf" = []), ("bearer" = []), ("api_key" = [])))]
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
