//! What every console page shares: the frame around it ([`Chrome`]), rendering with the
//! console's strict CSP, redirects after a POST, and errors as pages with the API's code in words.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::service::{OrgAccess, SessionPrincipal};

use super::assets;
use crate::error::{ApiError, ErrorBody, ErrorCode, classify};
use crate::state::AppState;

/// SPEC §14: no inline script or style anywhere; everything from gatehouse itself.
pub const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Marks a response as a rendered console page: the envelope keeps its HTML body even when the
/// status is an error (it still records denials and logs internals).
#[derive(Clone, Copy, Debug)]
pub struct ConsolePage;

/// A message above the page: `ok` after an action, `error` when one was refused.
pub struct Notice {
    pub kind: &'static str,
    pub text: String,
}

impl Notice {
    pub fn ok(text: impl Into<String>) -> Option<Self> {
        Some(Self {
            kind: "ok",
            text: text.into(),
        })
    }

    pub fn error_text(text: impl Into<String>) -> Option<Self> {
        Some(Self {
            kind: "error",
            text: text.into(),
        })
    }

    #[must_use]
    pub fn error(e: &Error) -> Option<Self> {
        Some(Self {
            kind: "error",
            text: sentence(e),
        })
    }
}

/// The org a page is about, for the tabs.
pub struct OrgNav {
    pub id: String,
    pub name: String,
    pub role: &'static str,
    pub tab: &'static str,
}

/// The frame of every page: title, assets, who is signed in (with the session's CSRF token for
/// the forms), the org tabs and a notice.
pub struct Chrome {
    pub title: String,
    pub css: &'static str,
    pub js: &'static str,
    pub user: Option<String>,
    pub csrf: String,
    pub org: Option<OrgNav>,
    pub notice: Option<Notice>,
    /// Signed in with an address not yet verified, and mail going out: the banner that offers
    /// a verification link.
    pub unverified: bool,
}

impl Chrome {
    /// For a page nobody is signed in to see (sign-in, setup).
    #[must_use]
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            css: assets::css_url(),
            js: assets::js_url(),
            user: None,
            csrf: String::new(),
            org: None,
            notice: None,
            unverified: false,
        }
    }

    #[must_use]
    pub fn signed_in(state: &AppState, session: &SessionPrincipal, title: &str) -> Self {
        Self {
            user: Some(session.user.email.clone()),
            csrf: state.auth.csrf_token(session.session.id),
            unverified: session.user.email_verified_at.is_none() && state.auth.email_enabled(),
            ..Self::anonymous(title)
        }
    }

    /// A signed-in page about one org, on tab `tab`.
    #[must_use]
    pub fn in_org(
        state: &AppState,
        session: &SessionPrincipal,
        access: &OrgAccess,
        tab: &'static str,
        title: &str,
    ) -> Self {
        let org = access.org();
        Self {
            org: Some(OrgNav {
                id: org.id.to_string(),
                name: org.name.clone(),
                role: access.user().map(|(_, r)| r.as_str()).unwrap_or(""),
                tab,
            }),
            ..Self::signed_in(state, session, title)
        }
    }

    #[must_use]
    pub fn with(mut self, notice: Option<Notice>) -> Self {
        self.notice = notice;
        self
    }
}

/// A rendered page with the console's headers.
pub fn render(status: StatusCode, page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => html_response(status, html),
        Err(e) => ApiError(Error::internal(format!("console template: {e}"))).into_response(),
    }
}

/// `render` with `200`.
pub fn ok(page: &impl Template) -> Response {
    render(StatusCode::OK, page)
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONSOLE_CSP),
    );
    response.extensions_mut().insert(ConsolePage);
    response
}

/// A page re-rendered after a refused action: the form again with the reason, the status of
/// the API's answer, and the error kept for the envelope (a `403` is recorded as a denial).
pub fn refused(e: Error, page: &impl Template) -> Response {
    let (status, ..) = classify(&e);
    let mut response = render(status, page);
    if let Some(body) = ApiError(e)
        .into_response()
        .extensions_mut()
        .remove::<ErrorBody>()
    {
        response.extensions_mut().insert(body);
    }
    response
}

/// `303 See Other` to `to` (after every successful POST, so a reload repeats nothing).
pub fn see_other(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Where a signed-out visitor of `path_and_query` is sent.
#[must_use]
pub fn to_sign_in(path_and_query: &str) -> Response {
    let back =
        percent_encoding::utf8_percent_encode(path_and_query, percent_encoding::NON_ALPHANUMERIC);
    see_other(&format!("/console/login?return_to={back}"))
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct MessagePage<'a> {
    chrome: Chrome,
    heading: &'a str,
    text: &'a str,
    link: &'a str,
    link_text: &'a str,
}

/// The page for an error the envelope found on a console path (unknown page, other org's
/// page, rate limit, a refused CSRF check…): the code in words and the request id.
#[must_use]
pub fn error_page(status: StatusCode, body: &ErrorBody, request_id: &str) -> Response {
    let heading = match body.code {
        ErrorCode::NotFound => "Page not found",
        ErrorCode::CsrfFailed => "Request refused",
        ErrorCode::RateLimited => "Too many attempts",
        ErrorCode::Forbidden | ErrorCode::InsufficientScope => "Not allowed",
        _ if status.is_server_error() => "Something went wrong",
        _ => "Request refused",
    };
    let text = format!(
        "{} (code {}, request {request_id})",
        code_sentence(body.code),
        body.code.as_str()
    );
    let page = MessagePage {
        chrome: Chrome::anonymous(heading),
        heading,
        text: &text,
        link: "/console",
        link_text: "Back to the console",
    };
    render(status, &page)
}

/// An error as a sentence for people: per-field problems named, otherwise the code in words.
#[must_use]
pub fn sentence(e: &Error) -> String {
    match e {
        Error::Validation(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(field, why)| {
                    format!("{}: {}", field.replace('_', " "), why.replace('_', " "))
                })
                .collect();
            format!("Please check these fields — {}.", parts.join("; "))
        }
        Error::RateLimited { retry_after_secs } => {
            format!("Too many attempts. Try again in {retry_after_secs} seconds.")
        }
        other => {
            let (_, code, message) = classify(other);
            match code {
                ErrorCode::Conflict => message.to_owned(),
                _ => code_sentence(code).to_owned(),
            }
        }
    }
}

/// Each stable error code in words.
#[must_use]
pub fn code_sentence(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::NotFound => "There is nothing here, or it is not yours to see.",
        ErrorCode::Conflict => "That conflicts with what is already there.",
        ErrorCode::Unauthenticated => "Please sign in first.",
        ErrorCode::InvalidCredentials => "The email or password is not right.",
        ErrorCode::MfaRequired => {
            "This account has a second factor: enter its code to finish signing in."
        }
        ErrorCode::TokenExpired => "That link or credential has expired.",
        ErrorCode::TokenRevoked => "That credential has been revoked.",
        ErrorCode::Forbidden => "Your role does not allow this.",
        ErrorCode::InsufficientScope => "This credential does not allow this.",
        ErrorCode::CsrfFailed => {
            "The form did not come from this console, or your session changed. Reload the page and try again."
        }
        ErrorCode::SignupDisabled => "Sign-up is by invitation only.",
        ErrorCode::ValidationFailed => "Some fields are not valid.",
        ErrorCode::InvalidRequest => "The request was not understood.",
        ErrorCode::RateLimited => "Too many attempts. Wait a little and try again.",
        ErrorCode::Unavailable => "The service is unavailable right now. Try again shortly.",
        ErrorCode::Internal => "Something went wrong on our side.",
        ErrorCode::MethodNotAllowed => "This page does not take that kind of request.",
        ErrorCode::PayloadTooLarge => "What you sent is too large.",
        ErrorCode::UnsupportedMediaType => {
            "The form was sent in a format the console does not take."
        }
        ErrorCode::BadGateway | ErrorCode::GatewayTimeout => "The upstream service did not answer.",
    }
}
