//! My account: sessions (with revoke), password change, my security events.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_core::ids::SessionId;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use gatehouse_core::service::SessionPrincipal;
use serde::Deserialize;

use super::audit::{EventRow, event_row};
use super::extract::{Posted, SignedIn};
use super::page::{self, Chrome, Notice, see_other};
use super::sign_in::Nothing;
use crate::error::ApiResult;
use crate::routes::views::{self, SessionView};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/account.html")]
pub(super) struct AccountPage {
    chrome: Chrome,
    sessions: Vec<SessionView>,
    events: Vec<EventRow>,
    /// Linked provider accounts (`None`: no providers configured).
    identities: Option<Vec<IdentityRow>>,
}

/// A linked provider account as the page lists it.
pub(super) struct IdentityRow {
    id: String,
    provider: String,
    email: String,
    created_at: String,
}

pub(super) async fn account(
    state: &AppState,
    session: &SessionPrincipal,
    notice: Option<Notice>,
) -> ApiResult<AccountPage> {
    let sessions = state
        .auth
        .sessions(session.user.id)
        .await?
        .iter()
        .map(|s| views::session(s, s.id == session.session.id))
        .collect();
    let events = state
        .audit
        .user_events(session.user.id)
        .await?
        .iter()
        .map(event_row)
        .collect();
    let identities = match &state.oidc {
        Some(oidc) => Some(
            oidc.identities(session.user.id)
                .await?
                .into_iter()
                .map(|i| IdentityRow {
                    id: i.id.to_string(),
                    provider: i.provider,
                    email: i.email.unwrap_or_default(),
                    created_at: gatehouse_core::clock::rfc3339(i.created_at),
                })
                .collect(),
        ),
        None => None,
    };
    Ok(AccountPage {
        chrome: Chrome::signed_in(state, session, "My account").with(notice),
        sessions,
        events,
        identities,
    })
}

/// `GET /console/account`.
pub(super) async fn page(State(state): State<AppState>, me: SignedIn) -> ApiResult<Response> {
    Ok(page::ok(&account(&state, &me.session, None).await?))
}

/// `POST /console/account/sessions/{id}/revoke`: one of my sessions (another user's: `404`).
pub(super) async fn revoke_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Nothing>,
) -> ApiResult<Response> {
    let id: SessionId = id.parse()?;
    state
        .auth
        .revoke_session(posted.session.user.id, id, &posted.client)
        .await?;
    Ok(see_other("/console/account"))
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    current_password: SecretString,
    new_password: SecretString,
}

/// `POST /console/account/password`: every other session ends.
pub(super) async fn change_password(
    State(state): State<AppState>,
    posted: Posted<PasswordForm>,
) -> ApiResult<Response> {
    let f = &posted.form;
    let changed = state
        .auth
        .change_password(
            &posted.session,
            f.current_password.expose_secret(),
            f.new_password.expose_secret(),
            &posted.client,
        )
        .await;
    match changed {
        Ok(()) => {
            let done = Notice::ok("Password changed. Every other session was signed out.");
            Ok(page::render(
                StatusCode::OK,
                &account(&state, &posted.session, done).await?,
            ))
        }
        Err(e) => {
            let again = account(&state, &posted.session, Notice::error(&e)).await?;
            Ok(page::refused(e, &again))
        }
    }
}

/// `POST /console/account/identities/{id}/unlink`: one of my provider links off (not the last
/// way to sign in).
pub(super) async fn unlink_identity(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: Posted<Nothing>,
) -> ApiResult<Response> {
    let oidc = state.oidc.clone().ok_or(gatehouse_core::Error::NotFound)?;
    match oidc.unlink(&posted.session, &id, &posted.client).await {
        Ok(()) => {
            let notice = Notice::ok("The provider account is unlinked.");
            Ok(page::ok(&account(&state, &posted.session, notice).await?))
        }
        Err(e) => {
            let again = account(&state, &posted.session, Notice::error(&e)).await?;
            Ok(page::refused(e, &again))
        }
    }
}
