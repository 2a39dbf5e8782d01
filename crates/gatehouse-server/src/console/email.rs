//! The mailed flows' pages (SPEC §16): sign-in by an emailed code, the mailed link's page (a
//! GET shows one button; only its POST uses the link, since mail scanners open links), "forgot
//! password" and the reset form, and the address verification link. The same services as
//! `/v1/auth/email-code*`, `/v1/auth/password/*` and `/v1/auth/email/*`; without SMTP, `404`.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::extract::{AnonymousPosted, Posted};
use super::page::{self, Chrome, Notice, see_other};
use super::sign_in::{HOME, SecondStepPage, return_to_policy};
use crate::error::ApiResult;
use crate::routes::auth::{login_cookie, replaced_session};
use crate::state::AppState;

fn mail_on(state: &AppState) -> ApiResult<()> {
    if state.auth.email_enabled() {
        Ok(())
    } else {
        Err(Error::NotFound.into())
    }
}

#[derive(Template)]
#[template(path = "console/email_code.html")]
struct EmailCodePage {
    chrome: Chrome,
    return_to: String,
    email: String,
    /// Set once the code is mailed: the form for it.
    flow_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ReturnQuery {
    #[serde(default)]
    return_to: String,
}

/// `GET /console/email-code`: the address to mail a code to.
pub(super) async fn page(
    State(state): State<AppState>,
    Query(q): Query<ReturnQuery>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    Ok(page::ok(&EmailCodePage {
        chrome: Chrome::anonymous("Sign in by email"),
        return_to: return_to_policy(&state)
            .accept(&q.return_to)
            .unwrap_or_default()
            .to_owned(),
        email: String::new(),
        flow_id: None,
    }))
}

#[derive(Deserialize)]
pub(super) struct EmailForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    return_to: String,
}

/// `POST /console/email-code`: mails the code and link; the code form.
pub(super) async fn request(
    State(state): State<AppState>,
    posted: AnonymousPosted<EmailForm>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    let f = &posted.form;
    let return_to = return_to_policy(&state)
        .accept(&f.return_to)
        .unwrap_or_default()
        .to_owned();
    let to = (!return_to.is_empty()).then(|| return_to.clone());
    match state
        .auth
        .request_email_code(&f.email, to, &posted.client)
        .await
    {
        Ok(started) => Ok(page::ok(&EmailCodePage {
            chrome: Chrome::anonymous("Sign in by email").with(Notice::ok(
                "If the address can sign in here, a code is on its way. It works for 10 minutes.",
            )),
            return_to,
            email: f.email.clone(),
            flow_id: Some(started.flow_id.to_string()),
        })),
        Err(e) => {
            let again = EmailCodePage {
                chrome: Chrome::anonymous("Sign in by email").with(Notice::error(&e)),
                return_to,
                email: f.email.clone(),
                flow_id: None,
            };
            Ok(page::refused(e, &again))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    #[serde(default)]
    flow_id: String,
    #[serde(default)]
    code: Option<SecretString>,
    #[serde(default)]
    token: Option<SecretString>,
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    email: String,
}

/// `POST /console/email-code/verify` (the code) and `POST /console/email-code/link` (the
/// link's token): signed in, `303` to the flow's checked return-to; TOTP's second step when on.
pub(super) async fn verify(
    State(state): State<AppState>,
    posted: AnonymousPosted<CodeForm>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    let f = &posted.form;
    let replaces = replaced_session(&state, posted.session_token.as_deref()).await;
    let policy = return_to_policy(&state);
    let outcome = state
        .auth
        .verify_email_code(
            &f.flow_id,
            f.code.as_ref().map(ExposeSecret::expose_secret),
            f.token.as_ref().map(ExposeSecret::expose_secret),
            posted.client.clone(),
            replaces,
        )
        .await;
    match outcome {
        Ok((outcome, return_to)) => {
            let asked = return_to.unwrap_or_else(|| f.return_to.clone());
            let to = policy.accept(&asked).unwrap_or(HOME).to_owned();
            let cookie = login_cookie(&state, &outcome);
            Ok(([(header::SET_COOKIE, cookie)], see_other(&to)).into_response())
        }
        Err(Error::MfaRequired(challenge)) => Ok(page::ok(&SecondStepPage::new(
            *challenge,
            policy.accept(&f.return_to).unwrap_or_default().to_owned(),
        ))),
        Err(e) if f.token.is_some() => {
            let again = LinkPage::sign_in(f.token.as_ref().map_or("", |t| t.expose_secret()))
                .with(Notice::error(&e));
            Ok(page::refused(e, &again))
        }
        Err(e) => {
            let again = EmailCodePage {
                chrome: Chrome::anonymous("Sign in by email").with(Notice::error(&e)),
                return_to: policy.accept(&f.return_to).unwrap_or_default().to_owned(),
                email: f.email.clone(),
                flow_id: Some(f.flow_id.clone()),
            };
            Ok(page::refused(e, &again))
        }
    }
}

/// A mailed link's page: what it does, and one button that POSTs its token.
#[derive(Template)]
#[template(path = "console/email_link.html")]
struct LinkPage {
    chrome: Chrome,
    heading: &'static str,
    text: &'static str,
    action: &'static str,
    button: &'static str,
    token: String,
}

impl LinkPage {
    fn sign_in(token: &str) -> Self {
        Self {
            chrome: Chrome::anonymous("Sign in"),
            heading: "Sign in",
            text: "Continue to sign in with the link from your mail. It works once.",
            action: "/console/email-code/link",
            button: "Sign in",
            token: token.to_owned(),
        }
    }

    fn verify(token: &str) -> Self {
        Self {
            chrome: Chrome::anonymous("Confirm your address"),
            heading: "Confirm your address",
            text: "Confirm that this email address is yours.",
            action: "/console/verify-email",
            button: "Confirm",
            token: token.to_owned(),
        }
    }

    fn with(mut self, notice: Option<Notice>) -> Self {
        self.chrome = self.chrome.with(notice);
        self
    }
}

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    #[serde(default)]
    token: String,
}

/// `GET /console/email-code/link?token=…`: the button; nothing is used until it is pressed.
pub(super) async fn link_page(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    Ok(page::ok(&LinkPage::sign_in(&q.token)))
}

#[derive(Template)]
#[template(path = "console/forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    email: String,
}

/// `GET /console/forgot-password`.
pub(super) async fn forgot_page(State(state): State<AppState>) -> ApiResult<Response> {
    mail_on(&state)?;
    Ok(page::ok(&ForgotPage {
        chrome: Chrome::anonymous("Forgot password"),
        email: String::new(),
    }))
}

/// `POST /console/forgot-password`: the same words whether or not the address has an account.
pub(super) async fn forgot(
    State(state): State<AppState>,
    posted: AnonymousPosted<EmailForm>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    let f = &posted.form;
    match state.auth.forgot_password(&f.email, &posted.client).await {
        Ok(()) => Ok(page::ok(&ForgotPage {
            chrome: Chrome::anonymous("Forgot password").with(Notice::ok(
                "If the address has an account here, a link to reset its password is on its way.",
            )),
            email: f.email.clone(),
        })),
        Err(e) => {
            let again = ForgotPage {
                chrome: Chrome::anonymous("Forgot password").with(Notice::error(&e)),
                email: f.email.clone(),
            };
            Ok(page::refused(e, &again))
        }
    }
}

#[derive(Template)]
#[template(path = "console/reset.html")]
struct ResetPage {
    chrome: Chrome,
    token: String,
}

/// `GET /console/reset-password?token=…`: the new-password form (the token is used only when
/// it is posted).
pub(super) async fn reset_page(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    Ok(page::ok(&ResetPage {
        chrome: Chrome::anonymous("Choose a new password"),
        token: q.token,
    }))
}

#[derive(Deserialize)]
pub(super) struct ResetForm {
    #[serde(default)]
    token: String,
    new_password: SecretString,
}

/// `POST /console/reset-password`: the new password; then sign-in, every old session gone.
pub(super) async fn reset(
    State(state): State<AppState>,
    posted: AnonymousPosted<ResetForm>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    let f = &posted.form;
    match state
        .auth
        .reset_password(&f.token, f.new_password.expose_secret(), &posted.client)
        .await
    {
        Ok(()) => Ok(see_other("/console/login?reset=done")),
        Err(e) => {
            let again = ResetPage {
                chrome: Chrome::anonymous("Choose a new password").with(Notice::error(&e)),
                token: f.token.clone(),
            };
            Ok(page::refused(e, &again))
        }
    }
}

/// `GET /console/verify-email?token=…`: the button.
pub(super) async fn verify_page(
    State(state): State<AppState>,
    Query(q): Query<TokenQuery>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    Ok(page::ok(&LinkPage::verify(&q.token)))
}

#[derive(Deserialize)]
pub(super) struct TokenForm {
    #[serde(default)]
    token: String,
}

/// `POST /console/verify-email`: the address is verified.
pub(super) async fn verify_email(
    State(state): State<AppState>,
    posted: AnonymousPosted<TokenForm>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    let done = state
        .auth
        .verify_email(&posted.form.token, &posted.client)
        .await;
    let page = LinkPage::verify(&posted.form.token);
    match done {
        Ok(()) => Ok(page::ok(
            &page.with(Notice::ok("Thank you: your address is confirmed.")),
        )),
        Err(e) => {
            let again = page.with(Notice::error(&e));
            Ok(page::refused(e, &again))
        }
    }
}

/// `POST /console/account/verify-email/send`: a verification link to my address.
pub(super) async fn send_verification(
    State(state): State<AppState>,
    posted: Posted<super::sign_in::Nothing>,
) -> ApiResult<Response> {
    mail_on(&state)?;
    state.auth.send_verification(&posted.session).await?;
    let notice =
        Notice::ok("A link to confirm your address is on its way. It works for 10 minutes.");
    Ok(page::ok(
        &super::account::account(&state, &posted.session, notice).await?,
    ))
}
