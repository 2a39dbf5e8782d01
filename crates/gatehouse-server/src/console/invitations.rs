//! Accepting an invitation from its link: signed in, the account joins; signed out, a password
//! creates the account (or is checked against the existing one) and sign-in follows.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use gatehouse_core::service::orgs::Accepted;
use gatehouse_core::service::{Principal, SessionPrincipal};
use serde::Deserialize;

use super::extract::{AnonymousPosted, MaybeSignedIn};
use super::page::{self, Chrome, Notice, see_other};
use crate::error::ApiResult;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "console/invitation.html")]
struct InvitationPage {
    chrome: Chrome,
    token: String,
    signed_in: bool,
}

fn invitation_page(
    state: &AppState,
    session: Option<&SessionPrincipal>,
    token: String,
    notice: Option<Notice>,
) -> InvitationPage {
    let chrome = match session {
        Some(s) => Chrome::signed_in(state, s, "Accept an invitation"),
        None => Chrome::anonymous("Accept an invitation"),
    };
    InvitationPage {
        chrome: chrome.with(notice),
        token,
        signed_in: session.is_some(),
    }
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /console/invitations/accept?token=…`: the form (nothing is spent by looking).
pub(super) async fn page(
    State(state): State<AppState>,
    MaybeSignedIn(session): MaybeSignedIn,
    Query(q): Query<TokenQuery>,
) -> Response {
    page::ok(&invitation_page(&state, session.as_ref(), q.token, None))
}

#[derive(Deserialize)]
pub(super) struct AcceptForm {
    token: SecretString,
    #[serde(default)]
    csrf_token: String,
    password: Option<SecretString>,
    #[serde(default)]
    name: String,
}

/// `POST /console/invitations/accept`: the API's accept. A signed-in session must send its
/// CSRF token too.
pub(super) async fn accept(
    State(state): State<AppState>,
    MaybeSignedIn(session): MaybeSignedIn,
    posted: AnonymousPosted<AcceptForm>,
) -> ApiResult<Response> {
    let f = &posted.form;
    if let Some(s) = &session
        && !state.auth.csrf_matches(s.session.id, &f.csrf_token)
    {
        return Err(gatehouse_core::Error::Forbidden(
            gatehouse_core::error::ForbiddenReason::CsrfFailed,
        )
        .into());
    }
    let principal = session.clone().map(|s| Principal::Session(Box::new(s)));
    let password = f
        .password
        .as_ref()
        .map(|p| p.expose_secret())
        .filter(|p| !p.is_empty());
    let name = Some(f.name.trim()).filter(|n| !n.is_empty());
    let accepted = state
        .orgs
        .accept(
            principal.as_ref(),
            f.token.expose_secret(),
            password,
            name,
            &posted.client,
        )
        .await;
    match accepted {
        Ok(Accepted::Joined(j)) => Ok(see_other(&format!("/console/orgs/{}", j.org.id))),
        Ok(Accepted::SignIn { .. }) => Ok(see_other("/console/login?return_to=%2Fconsole%2Forgs")),
        Err(e) => {
            let again = invitation_page(
                &state,
                session.as_ref(),
                f.token.expose_secret().to_owned(),
                Notice::error(&e),
            );
            Ok(page::refused(e, &again))
        }
    }
}
