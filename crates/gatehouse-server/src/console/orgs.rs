//! Orgs: my orgs and a new one; an org's settings page (rename, delete with the name typed to
//! confirm).

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use gatehouse_core::Error;
use gatehouse_core::clock::rfc3339;
use gatehouse_core::ids::OrgId;
use gatehouse_core::service::{OrgAccess, Principal, SessionPrincipal};
use serde::Deserialize;

use super::extract::{Posted, SignedIn};
use super::page::{self, Chrome, Notice, see_other};
use crate::error::ApiResult;
use crate::routes::views::{self, OrgView};
use crate::state::AppState;

/// The org named in the path as this session may see it (another tenant's: `404`).
pub(super) async fn org_access(
    state: &AppState,
    session: &SessionPrincipal,
    org: &str,
) -> ApiResult<OrgAccess> {
    let org: OrgId = org.parse()?;
    let principal = Principal::Session(Box::new(session.clone()));
    Ok(state.orgs.access(&principal, org).await?)
}

#[derive(Template)]
#[template(path = "console/orgs.html")]
struct OrgsPage {
    chrome: Chrome,
    orgs: Vec<OrgView>,
}

async fn orgs(
    state: &AppState,
    session: &SessionPrincipal,
    notice: Option<Notice>,
) -> ApiResult<OrgsPage> {
    let principal = Principal::Session(Box::new(session.clone()));
    let orgs = state
        .orgs
        .list(&principal)
        .await?
        .iter()
        .map(|(o, r)| views::org_with_role(o, *r))
        .collect();
    Ok(OrgsPage {
        chrome: Chrome::signed_in(state, session, "Orgs").with(notice),
        orgs,
    })
}

/// `GET /console/orgs`.
pub(super) async fn list(State(state): State<AppState>, me: SignedIn) -> ApiResult<Response> {
    Ok(page::ok(&orgs(&state, &me.session, None).await?))
}

#[derive(Deserialize)]
pub(super) struct NameForm {
    #[serde(default)]
    name: String,
}

/// `POST /console/orgs`: a new org I own.
pub(super) async fn create(
    State(state): State<AppState>,
    posted: Posted<NameForm>,
) -> ApiResult<Response> {
    let principal = Principal::Session(Box::new(posted.session.clone()));
    match state
        .orgs
        .create(&principal, &posted.form.name, &posted.client)
        .await
    {
        Ok(org) => Ok(see_other(&format!("/console/orgs/{}", org.id))),
        Err(e) => {
            let again = orgs(&state, &posted.session, Notice::error(&e)).await?;
            Ok(page::refused(e, &again))
        }
    }
}

#[derive(Template)]
#[template(path = "console/org.html")]
struct OrgPage {
    chrome: Chrome,
    id: String,
    name: String,
    created_at: String,
    can_manage: bool,
    is_owner: bool,
}

fn org_page(
    state: &AppState,
    session: &SessionPrincipal,
    access: &OrgAccess,
    notice: Option<Notice>,
) -> OrgPage {
    let org = access.org();
    OrgPage {
        chrome: Chrome::in_org(state, session, access, "settings", &org.name).with(notice),
        id: org.id.to_string(),
        name: org.name.clone(),
        created_at: rfc3339(org.created_at),
        can_manage: access.manager().is_ok(),
        is_owner: access.owner().is_ok(),
    }
}

/// `GET /console/orgs/{org}`: any member sees it; owners and admins may rename.
pub(super) async fn settings(
    State(state): State<AppState>,
    me: SignedIn,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = org_access(&state, &me.session, &org).await?;
    Ok(page::ok(&org_page(&state, &me.session, &access, None)))
}

/// `POST /console/orgs/{org}/rename`.
pub(super) async fn rename(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted<NameForm>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let renamed = match access.manager() {
        Ok(manager) => state
            .orgs
            .rename(&manager, &posted.form.name, &posted.client)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match renamed {
        Ok(()) => Ok(see_other(&format!("/console/orgs/{org}"))),
        Err(e) => {
            let again = org_page(&state, &posted.session, &access, Notice::error(&e));
            Ok(page::refused(e, &again))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    confirm: String,
}

/// `POST /console/orgs/{org}/delete`: owners, with the org's name typed to confirm.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted<ConfirmForm>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let deleted = match access.owner() {
        Ok(_) if posted.form.confirm != access.org().name => {
            Err(Error::field("confirm", "does_not_match_the_org_name"))
        }
        Ok(owner) => state.orgs.delete(&owner, &posted.client).await,
        Err(e) => Err(e),
    };
    match deleted {
        Ok(()) => {
            let done = Notice::ok(format!("Org “{}” deleted.", access.org().name));
            Ok(page::ok(&orgs(&state, &posted.session, done).await?))
        }
        Err(e) => {
            let again = org_page(&state, &posted.session, &access, Notice::error(&e));
            Ok(page::refused(e, &again))
        }
    }
}
