//! An org's members and invitations: change a role, remove, invite (the link shown once),
//! revoke an invitation.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_core::Error;
use gatehouse_core::ids::{InvitationId, UserId};
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::{OrgAccess, SessionPrincipal};
use serde::Deserialize;

use super::extract::{Posted, SignedIn};
use super::orgs::org_access;
use super::page::{self, Chrome, Notice, see_other};
use super::sign_in::Nothing;
use crate::error::ApiResult;
use crate::routes::views::{self, InvitationView, MemberView};
use crate::state::AppState;

const ROLES: [&str; 3] = ["member", "admin", "owner"];

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage {
    chrome: Chrome,
    org_id: String,
    members: Vec<MemberView>,
    invitations: Vec<InvitationView>,
    roles: Vec<&'static str>,
    can_manage: bool,
    invitation_link: Option<String>,
    invited_email: String,
}

async fn members_page(
    state: &AppState,
    session: &SessionPrincipal,
    access: &OrgAccess,
    notice: Option<Notice>,
) -> ApiResult<MembersPage> {
    let members = state
        .orgs
        .members(access)
        .await?
        .iter()
        .map(views::member)
        .collect();
    let (can_manage, invitations) = match access.manager() {
        Ok(manager) => (
            true,
            state
                .orgs
                .invitations(&manager)
                .await?
                .iter()
                .map(views::invitation)
                .collect(),
        ),
        Err(_) => (false, Vec::new()),
    };
    Ok(MembersPage {
        chrome: Chrome::in_org(state, session, access, "members", "Members").with(notice),
        org_id: access.org().id.to_string(),
        members,
        invitations,
        roles: ROLES.to_vec(),
        can_manage,
        invitation_link: None,
        invited_email: String::new(),
    })
}

/// `GET /console/orgs/{org}/members`.
pub(super) async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = org_access(&state, &me.session, &org).await?;
    Ok(page::ok(
        &members_page(&state, &me.session, &access, None).await?,
    ))
}

/// The members page again after a refused action, with the reason.
async fn refused(
    state: &AppState,
    session: &SessionPrincipal,
    access: &OrgAccess,
    e: Error,
) -> ApiResult<Response> {
    let again = members_page(state, session, access, Notice::error(&e)).await?;
    Ok(page::refused(e, &again))
}

#[derive(Deserialize)]
pub(super) struct RoleForm {
    #[serde(default)]
    role: String,
}

/// `POST /console/orgs/{org}/members/{user}/role`.
pub(super) async fn set_role(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    posted: Posted<RoleForm>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let user: UserId = user.parse()?;
    let member = state.orgs.target_member(&access, user).await?;
    match state
        .orgs
        .set_role(&member, &posted.form.role, &posted.client)
        .await
    {
        Ok(_) => Ok(see_other(&format!("/console/orgs/{org}/members"))),
        Err(e) => refused(&state, &posted.session, &access, e).await,
    }
}

/// `POST /console/orgs/{org}/members/{user}/remove` (removing myself is leaving).
pub(super) async fn remove(
    State(state): State<AppState>,
    Path((org, user)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let user: UserId = user.parse()?;
    let member = state.orgs.target_member(&access, user).await?;
    match state.orgs.remove(&member, &posted.client).await {
        Ok(()) if user == posted.session.user.id => Ok(see_other("/console/orgs")),
        Ok(()) => Ok(see_other(&format!("/console/orgs/{org}/members"))),
        Err(e) => refused(&state, &posted.session, &access, e).await,
    }
}

#[derive(Deserialize)]
pub(super) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// `POST /console/orgs/{org}/invitations`: the page with the link, shown this once.
pub(super) async fn invite(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted<InviteForm>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let issued = match access.manager() {
        Ok(manager) => {
            state
                .orgs
                .invite(
                    &manager,
                    &posted.form.email,
                    &posted.form.role,
                    &posted.client,
                )
                .await
        }
        Err(e) => Err(e),
    };
    match issued {
        Ok(issued) => {
            let mut shown = members_page(&state, &posted.session, &access, None).await?;
            shown.invitation_link = Some(format!(
                "{}/console/invitations/accept?token={}",
                state.public_url,
                issued.token.expose_secret()
            ));
            shown.invited_email = issued.invitation.email.clone();
            Ok(page::render(StatusCode::CREATED, &shown))
        }
        Err(e) => refused(&state, &posted.session, &access, e).await,
    }
}

/// `POST /console/orgs/{org}/invitations/{id}/revoke`.
pub(super) async fn revoke_invitation(
    State(state): State<AppState>,
    Path((org, id)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let id: InvitationId = id.parse()?;
    match state
        .orgs
        .revoke_invitation(&access, id, &posted.client)
        .await
    {
        Ok(()) => Ok(see_other(&format!("/console/orgs/{org}/members"))),
        Err(e) => refused(&state, &posted.session, &access, e).await,
    }
}
