//! Setup, sign-in and sign-out pages. They call the same services as `/v1/setup` and
//! `/v1/auth/login`, set the same cookie, and follow `return_to` only under SPEC §11's rules.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use gatehouse_core::gateway::ReturnToPolicy;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::extract::{AnonymousPosted, MaybeSignedIn, Posted};
use super::page::{self, Chrome, Notice, see_other};
use crate::error::{ApiError, ApiResult};
use crate::routes::auth::{cleared_cookie, login_cookie, replaced_session};
use crate::state::AppState;
use gatehouse_core::Error;

/// Where a sign-in lands when no acceptable `return_to` came with it.
pub(super) const HOME: &str = "/console/orgs";

/// The hosts a `return_to` may name: the public URL's, every gateway route's, the cookie
/// domain's; https only in production.
pub(crate) fn return_to_policy(state: &AppState) -> ReturnToPolicy {
    let public_host = state
        .public_origin
        .split_once("://")
        .map_or(state.public_origin.as_str(), |(_, h)| h)
        .to_owned();
    ReturnToPolicy {
        public_host,
        route_hosts: state
            .config
            .gateway
            .routes()
            .iter()
            .filter_map(|r| r.host.clone())
            .collect(),
        cookie_domain: state.config.cookie_domain.clone(),
        https_only: state.config.is_production(),
    }
}

/// `GET /console`: the orgs when signed in, else sign-in.
pub(super) async fn index(MaybeSignedIn(session): MaybeSignedIn) -> Response {
    match session {
        Some(_) => see_other(HOME),
        None => see_other("/console/login"),
    }
}

#[derive(Template)]
#[template(path = "console/setup.html")]
struct SetupPage {
    chrome: Chrome,
    token: String,
    email: String,
    org_name: String,
}

#[derive(Deserialize)]
pub(super) struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// `GET /console/setup?token=…`: the first account's form (`404` once setup is done).
pub(super) async fn setup_page(
    State(state): State<AppState>,
    Query(q): Query<SetupQuery>,
) -> ApiResult<Response> {
    if !state.auth.setup_pending().await? {
        return Err(gatehouse_core::Error::NotFound.into());
    }
    Ok(page::ok(&SetupPage {
        chrome: Chrome::anonymous("Set up"),
        token: q.token,
        email: String::new(),
        org_name: String::new(),
    }))
}

#[derive(Deserialize)]
pub(super) struct SetupForm {
    token: SecretString,
    email: String,
    password: SecretString,
    org_name: String,
}

/// `POST /console/setup`: creates the first admin and org, then signs them in.
pub(super) async fn setup(
    State(state): State<AppState>,
    posted: AnonymousPosted<SetupForm>,
) -> ApiResult<Response> {
    let f = &posted.form;
    let created = state
        .auth
        .setup(
            f.token.expose_secret(),
            &f.email,
            f.password.expose_secret(),
            &f.org_name,
            &posted.client,
        )
        .await;
    let (_, org) = match created {
        Ok(done) => done,
        Err(gatehouse_core::Error::NotFound) => return Err(gatehouse_core::Error::NotFound.into()),
        Err(e) => {
            let again = SetupPage {
                chrome: Chrome::anonymous("Set up").with(Notice::error(&e)),
                token: f.token.expose_secret().to_owned(),
                email: f.email.clone(),
                org_name: f.org_name.clone(),
            };
            return Ok(page::refused(e, &again));
        }
    };
    signed_in_redirect(
        &state,
        &f.email,
        &f.password,
        posted.client.clone(),
        None,
        &format!("/console/orgs/{}", org.id),
    )
    .await
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    chrome: Chrome,
    return_to: String,
    email: String,
    /// Whether mail goes out (the email-code and forgot-password links).
    mail: bool,
    /// The OpenID Connect providers' ids (a button each).
    providers: Vec<String>,
}

fn provider_ids(state: &AppState) -> Vec<String> {
    state
        .oidc
        .as_ref()
        .map(|o| o.providers().iter().map(|p| p.id.clone()).collect())
        .unwrap_or_default()
}

#[derive(Deserialize)]
pub(super) struct ReturnQuery {
    #[serde(default)]
    return_to: String,
    /// `done` after a password reset.
    #[serde(default)]
    reset: String,
    /// `failed` after a refused provider sign-in.
    #[serde(default)]
    oidc: String,
}

/// `GET /console/login?return_to=…`.
pub(super) async fn login_page(
    State(state): State<AppState>,
    Query(q): Query<ReturnQuery>,
) -> Response {
    let return_to = return_to_policy(&state)
        .accept(&q.return_to)
        .unwrap_or_default()
        .to_owned();
    let notice = if q.reset == "done" {
        Notice::ok("Your password is changed. Sign in with it.")
    } else if q.oidc == "failed" {
        Notice::error_text("Signing in with the provider did not work. Please try again.")
    } else {
        None
    };
    page::ok(&LoginPage {
        chrome: Chrome::anonymous("Sign in").with(notice),
        return_to,
        email: String::new(),
        mail: state.auth.email_enabled(),
        providers: provider_ids(&state),
    })
}

#[derive(Deserialize)]
pub(super) struct LoginForm {
    email: String,
    password: SecretString,
    #[serde(default)]
    return_to: String,
}

/// `POST /console/login`: the API's sign-in; on success `303` to the accepted `return_to`.
pub(super) async fn login(
    State(state): State<AppState>,
    posted: AnonymousPosted<LoginForm>,
) -> ApiResult<Response> {
    let f = &posted.form;
    let policy = return_to_policy(&state);
    let to = policy.accept(&f.return_to).unwrap_or(HOME).to_owned();
    let replaces = replaced_session(&state, posted.session_token.as_deref()).await;
    match signed_in_redirect(
        &state,
        &f.email,
        &f.password,
        posted.client.clone(),
        replaces,
        &to,
    )
    .await
    {
        Ok(response) => Ok(response),
        // A right password on an account with a second factor: the code comes next.
        Err(ApiError(Error::MfaRequired(challenge))) => Ok(page::ok(&SecondStepPage::new(
            *challenge,
            policy.accept(&f.return_to).unwrap_or_default().to_owned(),
        ))),
        Err(e) => {
            let again = LoginPage {
                chrome: Chrome::anonymous("Sign in").with(Notice::error(&e.0)),
                return_to: policy.accept(&f.return_to).unwrap_or_default().to_owned(),
                email: f.email.clone(),
                mail: state.auth.email_enabled(),
                providers: provider_ids(&state),
            };
            Ok(page::refused(e.0, &again))
        }
    }
}

#[derive(Template)]
#[template(path = "console/login_mfa.html")]
pub(super) struct SecondStepPage {
    chrome: Chrome,
    mfa_token: String,
    return_to: String,
    /// Whether a TOTP or recovery code can finish it (the code form).
    has_codes: bool,
    /// The passkey way, done by the page's script against `/v1/auth/login/mfa`.
    passkey: Option<PasskeyStep>,
}

impl SecondStepPage {
    /// The page for a sign-in that answered `mfa_required`.
    pub(super) fn new(challenge: gatehouse_core::error::MfaChallenge, return_to: String) -> Self {
        Self {
            chrome: Chrome::anonymous("Second factor"),
            has_codes: challenge.methods.contains(&"totp"),
            passkey: challenge.passkey.as_ref().map(PasskeyStep::new),
            mfa_token: challenge.token,
            return_to,
        }
    }
}

/// The second-step page for a sign-in that ended elsewhere (an OIDC callback) with
/// `mfa_required`.
pub(crate) fn second_step_page(
    challenge: gatehouse_core::error::MfaChallenge,
    return_to: String,
) -> Response {
    page::ok(&SecondStepPage::new(challenge, return_to))
}

/// A passkey ceremony for the page's script: its id and the request options as JSON.
struct PasskeyStep {
    ceremony_id: String,
    options: String,
}

impl PasskeyStep {
    fn new(c: &gatehouse_core::error::PasskeyChallenge) -> Self {
        Self {
            ceremony_id: c.ceremony_id.to_string(),
            options: c
                .options
                .get("publicKey")
                .map(ToString::to_string)
                .unwrap_or_default(),
        }
    }
}

#[derive(Deserialize)]
pub(super) struct SecondStepForm {
    #[serde(default)]
    mfa_token: String,
    otp: SecretString,
    #[serde(default)]
    return_to: String,
}

/// `POST /console/login/mfa`: the API's second step (`/v1/auth/login/mfa`); on success `303` to
/// the accepted `return_to`, else the same page again while the token has attempts left.
pub(super) async fn login_mfa(
    State(state): State<AppState>,
    posted: AnonymousPosted<SecondStepForm>,
) -> ApiResult<Response> {
    let f = &posted.form;
    let policy = return_to_policy(&state);
    let to = policy.accept(&f.return_to).unwrap_or(HOME).to_owned();
    let replaces = replaced_session(&state, posted.session_token.as_deref()).await;
    let outcome = state
        .auth
        .login_mfa(
            &f.mfa_token,
            f.otp.expose_secret(),
            posted.client.clone(),
            replaces,
        )
        .await;
    match outcome {
        Ok(outcome) => {
            let cookie = login_cookie(&state, &outcome);
            Ok(([(header::SET_COOKIE, cookie)], see_other(&to)).into_response())
        }
        Err(e) => {
            let again = SecondStepPage {
                chrome: Chrome::anonymous("Second factor").with(Notice::error(&e)),
                mfa_token: f.mfa_token.clone(),
                return_to: policy.accept(&f.return_to).unwrap_or_default().to_owned(),
                has_codes: true,
                passkey: None,
            };
            Ok(page::refused(e, &again))
        }
    }
}

/// Signs in and answers `303` to `to` with the session cookie.
async fn signed_in_redirect(
    state: &AppState,
    email: &str,
    password: &SecretString,
    client: gatehouse_core::service::ClientInfo,
    replaces: Option<gatehouse_core::ids::SessionId>,
    to: &str,
) -> ApiResult<Response> {
    let outcome = state
        .auth
        .login(email, password.expose_secret(), client, replaces)
        .await?;
    let cookie = login_cookie(state, &outcome);
    Ok(([(header::SET_COOKIE, cookie)], see_other(to)).into_response())
}

#[derive(Deserialize)]
pub(super) struct Nothing {}

/// `POST /console/logout`: ends this session, clears the cookie.
pub(super) async fn logout(
    State(state): State<AppState>,
    posted: Posted<Nothing>,
) -> ApiResult<Response> {
    state.auth.logout(&posted.session, &posted.client).await?;
    Ok((
        [(header::SET_COOKIE, cleared_cookie(&state))],
        see_other("/console/login"),
    )
        .into_response())
}

#[derive(Deserialize)]
pub(super) struct ProviderForm {
    #[serde(default)]
    return_to: String,
}

/// `POST /console/oidc/{provider}/start`: on to the provider.
pub(super) async fn provider_start(
    State(state): State<AppState>,
    axum::extract::Path(provider): axum::extract::Path<String>,
    posted: AnonymousPosted<ProviderForm>,
) -> ApiResult<Response> {
    crate::routes::oidc::console_start(&state, &provider, &posted.form.return_to).await
}
