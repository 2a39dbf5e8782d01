//! The grants of one resource (SPEC §7, §14): pick a resource, see who holds what on it
//! (expired grants marked), grant a member or a key, remove a grant. The same service and rules
//! as the API: owners and admins reach everything, a member holding `share` on the resource
//! grants within their own grant and removes what they created.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use gatehouse_core::Error;
use gatehouse_core::clock::rfc3339;
use gatehouse_core::ids::GrantId;
use gatehouse_core::permission::Capability;
use gatehouse_core::service::grants::{GrantRequest, GrantsOf};
use gatehouse_core::service::{OrgAccess, SessionPrincipal};
use serde::Deserialize;

use super::extract::{Posted, SignedIn};
use super::keys::parse_local_utc;
use super::orgs::org_access;
use super::page::{self, Chrome, Notice};
use crate::error::ApiResult;
use crate::state::AppState;

/// A grant as the table shows it.
struct GrantRow {
    id: String,
    /// The member's email or the key's name, else the subject itself.
    who: String,
    subject: String,
    capabilities: String,
    expires_at: Option<String>,
    expired: bool,
}

/// Someone a grant can be for, in the form's list.
struct SubjectChoice {
    subject: String,
    label: String,
}

#[derive(Template)]
#[template(path = "console/grants.html")]
struct GrantsPage {
    chrome: Chrome,
    org_id: String,
    /// The resource shown, as asked for (empty: none yet).
    resource: String,
    /// `None` until a resource is asked for, or when the caller may not see its grants.
    grants: Option<Vec<GrantRow>>,
    subjects: Vec<SubjectChoice>,
    capabilities: Vec<&'static str>,
}

#[derive(Deserialize)]
pub(super) struct ResourceQuery {
    #[serde(default)]
    resource: String,
}

/// Members (by email) and, for owners and admins, keys (by name).
async fn subject_choices(state: &AppState, access: &OrgAccess) -> ApiResult<Vec<SubjectChoice>> {
    let mut choices: Vec<SubjectChoice> = state
        .orgs
        .members(access)
        .await?
        .into_iter()
        .map(|m| SubjectChoice {
            subject: format!("user:{}", m.user_id),
            label: format!("{} ({})", m.email, m.role.as_str()),
        })
        .collect();
    if let Ok(manager) = access.manager() {
        choices.extend(
            state
                .keys
                .list(&manager)
                .await?
                .into_iter()
                .map(|k| SubjectChoice {
                    subject: format!("api_key:{}", k.id),
                    label: format!("key “{}” ({})", k.name, k.public_id),
                }),
        );
    }
    Ok(choices)
}

async fn grants_page(
    state: &AppState,
    session: &SessionPrincipal,
    access: &OrgAccess,
    resource: &str,
    notice: Option<Notice>,
) -> ApiResult<GrantsPage> {
    let subjects = subject_choices(state, access).await?;
    let mut notice = notice;
    let grants = if resource.is_empty() {
        None
    } else {
        match state
            .grants
            .list(access, GrantsOf::Resource(resource))
            .await
        {
            Ok(found) => {
                let now = state.ambient.now();
                Some(
                    found
                        .into_iter()
                        .map(|g| GrantRow {
                            id: g.id.to_string(),
                            who: subjects
                                .iter()
                                .find(|s| s.subject == g.subject)
                                .map_or_else(|| g.subject.clone(), |s| s.label.clone()),
                            expired: !g.live_at(now),
                            subject: g.subject,
                            capabilities: g.capabilities.join(", "),
                            expires_at: g.expires_at.map(rfc3339),
                        })
                        .collect(),
                )
            }
            Err(e) => {
                notice = notice.or_else(|| Notice::error(&e));
                None
            }
        }
    };
    Ok(GrantsPage {
        chrome: Chrome::in_org(state, session, access, "grants", "Grants").with(notice),
        org_id: access.org().id.to_string(),
        resource: resource.to_owned(),
        grants,
        subjects,
        capabilities: Capability::ALL.iter().map(|c| c.as_str()).collect(),
    })
}

/// `GET /console/orgs/{org}/grants?resource=page:1`.
pub(super) async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<ResourceQuery>,
) -> ApiResult<Response> {
    let access = org_access(&state, &me.session, &org).await?;
    let resource = q.resource.trim();
    Ok(page::ok(
        &grants_page(&state, &me.session, &access, resource, None).await?,
    ))
}

#[derive(Deserialize)]
pub(super) struct GrantForm {
    #[serde(default)]
    resource: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    capability: Vec<String>,
    /// `YYYY-MM-DDTHH:MM` from a `datetime-local` input, read as UTC; empty: never expires.
    #[serde(default)]
    expires_at: String,
}

#[derive(Deserialize)]
pub(super) struct RemoveForm {
    #[serde(default)]
    resource: String,
}

/// The page again after a form, with what happened.
async fn after(
    state: &AppState,
    session: &SessionPrincipal,
    access: &OrgAccess,
    resource: &str,
    done: Result<String, Error>,
) -> ApiResult<Response> {
    match done {
        Ok(text) => Ok(page::ok(
            &grants_page(state, session, access, resource, Notice::ok(text)).await?,
        )),
        Err(e) => {
            let again = grants_page(state, session, access, resource, Notice::error(&e)).await?;
            Ok(page::refused(e, &again))
        }
    }
}

/// `POST /console/orgs/{org}/grants`: grant (or replace) a subject's capabilities.
pub(super) async fn add(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted<GrantForm>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let f = &posted.form;
    let resource = f.resource.trim();
    let expires_at = match f.expires_at.trim() {
        "" => Ok(None),
        text => parse_local_utc(text).map(Some),
    };
    let done = match expires_at {
        Ok(expires_at) => {
            let request = GrantRequest {
                resource: resource.to_owned(),
                subject: f.subject.clone(),
                capabilities: f.capability.clone(),
                expires_at,
            };
            state
                .grants
                .put(&access, &request, &posted.client)
                .await
                .map(|(g, created)| {
                    let verb = if created {
                        "Granted"
                    } else {
                        "Replaced the grant:"
                    };
                    format!("{verb} {} on {}.", g.capabilities.join(", "), g.resource)
                })
        }
        Err(e) => Err(e),
    };
    after(&state, &posted.session, &access, resource, done).await
}

/// `POST /console/orgs/{org}/grants/{id}/delete`: removes the grant.
pub(super) async fn remove(
    State(state): State<AppState>,
    Path((org, id)): Path<(String, String)>,
    posted: Posted<RemoveForm>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let id: GrantId = id.parse()?;
    let done = state
        .grants
        .delete(&access, id, &posted.client)
        .await
        .map(|()| "Grant removed.".to_owned());
    let resource = posted.form.resource.trim().to_owned();
    after(&state, &posted.session, &access, &resource, done).await
}
