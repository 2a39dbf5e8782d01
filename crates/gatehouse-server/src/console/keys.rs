//! An org's API keys: create (the key shown once, with a copy button), revoke, delete, last use.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_core::Error;
use gatehouse_core::ids::ApiKeyId;
use gatehouse_core::scope::OWN_SCOPES;
use gatehouse_core::secret::ExposeSecret;
use gatehouse_core::service::api_keys::NewKeyRequest;
use gatehouse_core::service::{OrgAccess, SessionPrincipal};
use serde::Deserialize;
use time::OffsetDateTime;

use super::extract::{Posted, SignedIn};
use super::orgs::org_access;
use super::page::{self, Chrome, Notice, see_other};
use super::sign_in::Nothing;
use crate::error::ApiResult;
use crate::routes::views::{self, ApiKeyView};
use crate::state::AppState;

/// A key as the table shows it.
struct KeyRow {
    view: ApiKeyView,
    scopes: String,
    state: &'static str,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    chrome: Chrome,
    org_id: String,
    keys: Vec<KeyRow>,
    scopes: &'static [&'static str],
    new_key: Option<String>,
    new_key_name: String,
}

async fn keys_page(
    state: &AppState,
    session: &SessionPrincipal,
    access: &OrgAccess,
    notice: Option<Notice>,
) -> ApiResult<KeysPage> {
    let now = state.auth.now();
    let keys = state
        .keys
        .list(&access.manager()?)
        .await?
        .iter()
        .map(|k| KeyRow {
            view: views::api_key(k),
            scopes: k.scopes.join(" "),
            state: if k.revoked_at.is_some() {
                "revoked"
            } else if k.expires_at.is_some_and(|at| at <= now) {
                "expired"
            } else {
                "active"
            },
        })
        .collect();
    Ok(KeysPage {
        chrome: Chrome::in_org(state, session, access, "keys", "API keys").with(notice),
        org_id: access.org().id.to_string(),
        keys,
        scopes: OWN_SCOPES,
        new_key: None,
        new_key_name: String::new(),
    })
}

/// `GET /console/orgs/{org}/keys` (owners and admins).
pub(super) async fn page(
    State(state): State<AppState>,
    me: SignedIn,
    Path(org): Path<String>,
) -> ApiResult<Response> {
    let access = org_access(&state, &me.session, &org).await?;
    Ok(page::ok(
        &keys_page(&state, &me.session, &access, None).await?,
    ))
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    scope: Vec<String>,
    /// `YYYY-MM-DDTHH:MM` from a `datetime-local` input, read as UTC; empty: never expires.
    #[serde(default)]
    expires_at: String,
}

/// A `datetime-local` value (minutes, optionally seconds) as a UTC time.
pub(super) fn parse_local_utc(text: &str) -> Result<OffsetDateTime, Error> {
    let invalid = || Error::field("expires_at", "invalid");
    let with_seconds = if text.len() == 16 {
        format!("{text}:00")
    } else {
        text.to_owned()
    };
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(&with_seconds, format)
        .map(time::PrimitiveDateTime::assume_utc)
        .map_err(|_| invalid())
}

/// `POST /console/orgs/{org}/keys`: the page with the new key, shown this once.
pub(super) async fn create(
    State(state): State<AppState>,
    Path(org): Path<String>,
    posted: Posted<CreateForm>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let manager = access.manager()?;
    let f = &posted.form;
    let expires_at = match f.expires_at.trim() {
        "" => Ok(None),
        text => parse_local_utc(text).map(Some),
    };
    let created = match expires_at {
        Ok(expires_at) => {
            let request = NewKeyRequest {
                name: f.name.clone(),
                scopes: f.scope.clone(),
                expires_at,
            };
            state.keys.create(&manager, request, &posted.client).await
        }
        Err(e) => Err(e),
    };
    match created {
        Ok((record, key)) => {
            let mut shown = keys_page(&state, &posted.session, &access, None).await?;
            shown.new_key = Some(key.expose_secret().to_owned());
            shown.new_key_name = record.name;
            Ok(page::render(StatusCode::CREATED, &shown))
        }
        Err(e) => {
            let again = keys_page(&state, &posted.session, &access, Notice::error(&e)).await?;
            Ok(page::refused(e, &again))
        }
    }
}

/// `POST /console/orgs/{org}/keys/{id}/revoke`.
pub(super) async fn revoke(
    State(state): State<AppState>,
    Path((org, id)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let id: ApiKeyId = id.parse()?;
    let key = state.keys.target(&access, id).await?;
    state.keys.revoke(&key, &posted.client).await?;
    Ok(see_other(&format!("/console/orgs/{org}/keys")))
}

/// `POST /console/orgs/{org}/keys/{id}/delete`.
pub(super) async fn delete(
    State(state): State<AppState>,
    Path((org, id)): Path<(String, String)>,
    posted: Posted<Nothing>,
) -> ApiResult<Response> {
    let access = org_access(&state, &posted.session, &org).await?;
    let id: ApiKeyId = id.parse()?;
    let key = state.keys.target(&access, id).await?;
    state.keys.delete(&key, &posted.client).await?;
    Ok(see_other(&format!("/console/orgs/{org}/keys")))
}
