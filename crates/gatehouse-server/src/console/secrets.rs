//! An org's secrets: names and metadata only; set (a new version) and delete. The console
//! never reveals a value: reading one is the API's, with a key, and audited.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use gatehouse_core::Error;
use gatehouse_core::clock::rfc3339;
use gatehouse_core::secret::SecretString;
use gatehouse_core::service::{OrgAccess, SessionPrincipal};
use serde::Deserialize;

use super::extract::{Posted, SignedIn};
use super::orgs::org_access;
use super::page::{self, Chrome, Notice, see_other};
use super::sign_in::Nothing;
use crate::error::ApiResult;
use crate::state::AppState;

/// A secret as the table shows it.
struct SecretRow {
    name: String,
    version: i64,
    updated_at: String,
}

#[derive(Template)]
#[template(path = "console/secrets.html")]
struct SecretsPage {
    chrome: Chrome,
    org_id: String,
    secrets: Vec<SecretRow>,
    can_write: bool,
}

async fn secrets_page(
    state: &AppState,
    session: &SessionPrincipal,
    access: &OrgAccess,
    notice: Option<Notice>,
) -> ApiResult<SecretsPage> {
    let reader = state.secrets.reader(access)?;
    let secrets = state
        .secrets
        .list(&reader)
        .await?
        .into_iter()
        .map(|m| SecretRow {
            name: m.name,
            version: m.version,
            updated_at: rfc3339(m.updated_at),
        })
        .collect();
    Ok(SecretsPage {
        chrome: Chrome::in_org(state, session, access, "secrets", "Secrets").with(notice),
        org_id: access.org().id.to_string(),
        secrets,
        can_write: state.secrets.writer(access).is_ok(),
    })
}

/// `GET /console/orgs/{org}/secrets` (owners and admins).
pub(super) async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = org_access(&state, &me.session, &org).await?;
    Ok(page::ok(
        &secrets_page(&state, &me.session, &access, None).await?,
    ))
}

#[derive(Deserialize)]
pub(super) struct SetForm {
    #[serde(default)]
    name: String,
    value: SecretString,
}

async fn refused(
    state: &AppState,
    session: &SessionPrincipal,
    access: &OrgAccess,
    e: Error,
) -> ApiResult<Response> {
    let again = secrets_page(state, session, access, Notice::error(&e)).await?;
    Ok(page::refused(e, &again))
}

/// `POST /console/orgs/{org}/secrets`: a new secret, or a new version of one.
pub(super) async fn set(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted<SetForm>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let written = match state.secrets.writer(&access) {
        Ok(w) => {
            state
                .secrets
                .put(&w, &posted.form.name, &posted.form.value, &posted.client)
                .await
        }
        Err(e) => Err(e),
    };
    match written {
        Ok((meta, _)) => {
            let done = Notice::ok(format!("Saved “{}”, version {}.", meta.name, meta.version));
            Ok(page::ok(
                &secrets_page(&state, &posted.session, &access, done).await?,
            ))
        }
        Err(e) => refused(&state, &posted.session, &access, e).await,
    }
}

/// `POST /console/orgs/{org}/secrets/{name}/delete`: every version goes.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path((org, name)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let deleted = match state.secrets.writer(&access) {
        Ok(w) => state.secrets.delete(&w, &name, &posted.client).await,
        Err(e) => Err(e),
    };
    match deleted {
        Ok(()) => Ok(see_other(&format!("/console/orgs/{org}/secrets"))),
        Err(e) => refused(&state, &posted.session, &access, e).await,
    }
}
