//! My second factors: turning TOTP on (the seed as a QR code, rendered here as SVG, and as text),
//! confirming it (the recovery codes shown once, with a download), new recovery codes, and off.
//! The same services as `/v1/auth/mfa*`, so the same password-and-code rules and lockout.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_core::clock::rfc3339;
use gatehouse_core::secret::{ExposeSecret, SecretString};
use gatehouse_core::service::SessionPrincipal;
use gatehouse_core::service::auth::Enrollment;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;

use super::extract::{Posted, SignedIn};
use super::page::{self, Chrome, Notice};
use crate::error::ApiResult;
use crate::state::AppState;

/// A pending enrollment as the page shows it.
struct Pending {
    /// The `otpauth://` URI as a QR code: an `<svg>` element built here from the URI's bytes
    /// (no text of the URI is in it).
    qr_svg: String,
    secret: String,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "console/mfa.html")]
struct MfaPage {
    chrome: Chrome,
    enabled: bool,
    remaining: i64,
    pending: Option<Pending>,
    /// Recovery codes just made: shown this once.
    codes: Vec<String>,
    /// The same codes as a `data:` URL for the download link.
    codes_download: String,
    passkeys: Vec<PasskeyRow>,
}

/// A passkey as the list shows it.
struct PasskeyRow {
    id: String,
    name: String,
    created_at: String,
    last_used_at: Option<String>,
    backup_eligible: bool,
}

/// The QR code of `text` as an inline `<svg>` (the XML declaration dropped).
fn qr_svg(text: &str) -> String {
    let Ok(code) = QrCode::new(text.as_bytes()) else {
        return String::new();
    };
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    match image.find("<svg") {
        Some(at) => image[at..].to_owned(),
        None => String::new(),
    }
}

fn pending(e: &Enrollment) -> Pending {
    Pending {
        qr_svg: qr_svg(e.otpauth_uri.expose_secret()),
        secret: e.secret.expose_secret().to_owned(),
        expires_at: rfc3339(e.expires_at),
    }
}

/// The page. `enrollment`: the seed just made, shown in the answer to the set-up form only (a
/// later visit, by this or another session, never sees it again).
async fn mfa_page(
    state: &AppState,
    session: &SessionPrincipal,
    notice: Option<Notice>,
    codes: &[SecretString],
    enrollment: Option<&Enrollment>,
) -> ApiResult<MfaPage> {
    let status = state.auth.mfa_status(session.user.id).await?;
    let passkeys = state
        .auth
        .passkeys(session.user.id)
        .await?
        .into_iter()
        .map(|p| PasskeyRow {
            id: p.id.to_string(),
            name: p.name,
            created_at: rfc3339(p.created_at),
            last_used_at: p.last_used_at.map(rfc3339),
            backup_eligible: p.backup_eligible,
        })
        .collect();
    let pending = enrollment.filter(|_| !status.totp_enabled).map(pending);
    let codes: Vec<String> = codes.iter().map(|c| c.expose_secret().to_owned()).collect();
    let text = codes.join("\n") + "\n";
    Ok(MfaPage {
        chrome: Chrome::signed_in(state, session, "Second factors").with(notice),
        enabled: status.totp_enabled,
        remaining: status.recovery_codes_left,
        pending,
        codes_download: format!(
            "data:text/plain;charset=utf-8,{}",
            utf8_percent_encode(&text, NON_ALPHANUMERIC)
        ),
        codes,
        passkeys,
    })
}

/// `GET /console/account/mfa`.
pub(super) async fn page(State(state): State<AppState>, me: SignedIn) -> ApiResult<Response> {
    Ok(page::ok(
        &mfa_page(&state, &me.session, None, &[], None).await?,
    ))
}

/// What an action's outcome renders: the page with its notice and codes, or refused.
async fn answer(
    state: &AppState,
    session: &SessionPrincipal,
    outcome: gatehouse_core::Result<(Option<Notice>, Vec<SecretString>)>,
) -> ApiResult<Response> {
    match outcome {
        Ok((notice, codes)) => Ok(page::render(
            StatusCode::OK,
            &mfa_page(state, session, notice, &codes, None).await?,
        )),
        Err(e) => {
            let again = mfa_page(state, session, Notice::error(&e), &[], None).await?;
            Ok(page::refused(e, &again))
        }
    }
}

#[derive(Deserialize)]
pub(super) struct PasswordForm {
    current_password: SecretString,
}

/// `POST /console/account/mfa/totp`: a pending seed, after the current password.
pub(super) async fn start(
    State(state): State<AppState>,
    posted: Posted<PasswordForm>,
) -> ApiResult<Response> {
    let started = state
        .auth
        .start_totp(
            &posted.session,
            posted.form.current_password.expose_secret(),
            &posted.client,
        )
        .await;
    match started {
        Ok(enrollment) => {
            let next = Notice::ok("Scan the code with your authenticator app, then enter a code.");
            let shown = mfa_page(&state, &posted.session, next, &[], Some(&enrollment)).await?;
            Ok(page::render(StatusCode::OK, &shown))
        }
        Err(e) => answer(&state, &posted.session, Err(e)).await,
    }
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    code: SecretString,
}

/// `POST /console/account/mfa/totp/confirm`: TOTP on; the recovery codes, this once.
pub(super) async fn confirm(
    State(state): State<AppState>,
    posted: Posted<CodeForm>,
) -> ApiResult<Response> {
    let confirmed = state
        .auth
        .confirm_totp(
            posted.session.user.id,
            posted.form.code.expose_secret(),
            &posted.client,
        )
        .await
        .map(|codes| {
            (
                Notice::ok("TOTP is on. Keep your recovery codes safe."),
                codes,
            )
        });
    answer(&state, &posted.session, confirmed).await
}

#[derive(Deserialize)]
pub(super) struct PasswordAndCodeForm {
    current_password: SecretString,
    code: SecretString,
}

/// `POST /console/account/mfa/recovery-codes`: a new set, this once; the old set is void.
pub(super) async fn regenerate(
    State(state): State<AppState>,
    posted: Posted<PasswordAndCodeForm>,
) -> ApiResult<Response> {
    let f = &posted.form;
    let made = state
        .auth
        .regenerate_recovery_codes(
            &posted.session,
            f.current_password.expose_secret(),
            f.code.expose_secret(),
            &posted.client,
        )
        .await
        .map(|codes| {
            (
                Notice::ok("New recovery codes. The old ones no longer work."),
                codes,
            )
        });
    answer(&state, &posted.session, made).await
}

/// `POST /console/account/mfa/totp/disable`: TOTP off, the recovery codes with it.
pub(super) async fn disable(
    State(state): State<AppState>,
    posted: Posted<PasswordAndCodeForm>,
) -> ApiResult<Response> {
    let f = &posted.form;
    let done = state
        .auth
        .disable_totp(
            &posted.session,
            f.current_password.expose_secret(),
            f.code.expose_secret(),
            &posted.client,
        )
        .await
        .map(|()| (Notice::ok("TOTP is off."), Vec::new()));
    answer(&state, &posted.session, done).await
}

#[derive(Deserialize)]
pub(super) struct RemovePasskeyForm {
    #[serde(default)]
    id: String,
    current_password: SecretString,
}

/// `POST /console/account/passkeys/remove`: one of my passkeys off, after the current password.
pub(super) async fn remove_passkey(
    State(state): State<AppState>,
    posted: Posted<RemovePasskeyForm>,
) -> ApiResult<Response> {
    let f = &posted.form;
    let done = state
        .auth
        .delete_passkey(
            &posted.session,
            &f.id,
            Some(f.current_password.expose_secret()),
            None,
            &posted.client,
        )
        .await
        .map(|()| (Notice::ok("The passkey is removed."), Vec::new()));
    answer(&state, &posted.session, done).await
}

/// `POST /console/account/passkeys/add` reaches here only when the page's script did not run:
/// a passkey is made by the browser, which needs it.
pub(super) async fn add_passkey_without_script(
    State(state): State<AppState>,
    posted: Posted<super::sign_in::Nothing>,
) -> ApiResult<Response> {
    let notice = Notice::error_text("Adding a passkey needs JavaScript in this browser.");
    answer(&state, &posted.session, Ok((notice, Vec::new()))).await
}
