//! The console (SPEC §14): server-rendered pages under `/console/` for the people who run an
//! org. Pages call the same services and permission checks as the API; forms are POSTs with
//! the session's CSRF token; every page carries the console's strict CSP and no inline script
//! or style. Templates live in `templates/console/`, the stylesheet and script in
//! `console/static/`.

mod account;
pub mod assets;
mod audit;
mod email;
mod extract;
mod grants;
mod invitations;
mod keys;
mod members;
mod mfa;
mod orgs;
pub mod page;
mod secrets;
mod sign_in;

use axum::Router;
use axum::routing::{get, post};

pub use audit::{AuditPage, AuditQuery, EventRow, matching as audit_rows};
pub use page::Chrome;
pub use page::{CONSOLE_CSP, ConsolePage, error_page};
pub(crate) use sign_in::{return_to_policy, second_step_page};

use crate::state::AppState;

/// The console's forms that check a credential (sign-in, setup, password change, accepting an
/// invitation): they draw on the sign-in rate budget with the API's.
pub fn credential_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console/setup",
            get(sign_in::setup_page).post(sign_in::setup),
        )
        .route(
            "/console/login",
            get(sign_in::login_page).post(sign_in::login),
        )
        .route("/console/login/mfa", post(sign_in::login_mfa))
        .route(
            "/console/oidc/{provider}/start",
            post(sign_in::provider_start),
        )
        .route("/console/email-code", get(email::page).post(email::request))
        .route("/console/email-code/verify", post(email::verify))
        .route(
            "/console/email-code/link",
            get(email::link_page).post(email::verify),
        )
        .route(
            "/console/forgot-password",
            get(email::forgot_page).post(email::forgot),
        )
        .route(
            "/console/reset-password",
            get(email::reset_page).post(email::reset),
        )
        .route(
            "/console/verify-email",
            get(email::verify_page).post(email::verify_email),
        )
        .route(
            "/console/account/verify-email/send",
            post(email::send_verification),
        )
        .route("/console/account/password", post(account::change_password))
        .route("/console/account/mfa/totp", post(mfa::start))
        .route("/console/account/mfa/totp/confirm", post(mfa::confirm))
        .route("/console/account/mfa/totp/disable", post(mfa::disable))
        .route("/console/account/mfa/recovery-codes", post(mfa::regenerate))
        .route(
            "/console/account/passkeys/remove",
            post(mfa::remove_passkey),
        )
        .route(
            "/console/account/passkeys/add",
            post(mfa::add_passkey_without_script),
        )
        .route(
            "/console/invitations/accept",
            get(invitations::page).post(invitations::accept),
        )
}

/// Every other console page and form.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(sign_in::index))
        .route("/console/", get(sign_in::index))
        .route("/console/static/{file}", get(assets::serve))
        .route("/console/logout", post(sign_in::logout))
        .route("/console/account", get(account::page))
        .route("/console/account/mfa", get(mfa::page))
        .route(
            "/console/account/sessions/{id}/revoke",
            post(account::revoke_session),
        )
        .route(
            "/console/account/identities/{id}/unlink",
            post(account::unlink_identity),
        )
        .route("/console/orgs", get(orgs::list).post(orgs::create))
        .route("/console/orgs/{org}", get(orgs::settings))
        .route("/console/orgs/{org}/rename", post(orgs::rename))
        .route("/console/orgs/{org}/delete", post(orgs::delete))
        .route("/console/orgs/{org}/members", get(members::page))
        .route(
            "/console/orgs/{org}/members/{user}/role",
            post(members::set_role),
        )
        .route(
            "/console/orgs/{org}/members/{user}/remove",
            post(members::remove),
        )
        .route("/console/orgs/{org}/invitations", post(members::invite))
        .route(
            "/console/orgs/{org}/invitations/{id}/revoke",
            post(members::revoke_invitation),
        )
        .route(
            "/console/orgs/{org}/keys",
            get(keys::page).post(keys::create),
        )
        .route("/console/orgs/{org}/keys/{id}/revoke", post(keys::revoke))
        .route("/console/orgs/{org}/keys/{id}/delete", post(keys::delete))
        .route("/console/orgs/{org}/audit", get(audit::page))
        .route("/console/orgs/{org}/audit/verify", get(audit::verify))
        .route("/console/orgs/{org}/audit/export", get(audit::export))
        .route(
            "/console/orgs/{org}/secrets",
            get(secrets::page).post(secrets::set),
        )
        .route(
            "/console/orgs/{org}/secrets/{name}/delete",
            post(secrets::delete),
        )
        .route(
            "/console/orgs/{org}/grants",
            get(grants::page).post(grants::add),
        )
        .route(
            "/console/orgs/{org}/grants/{id}/delete",
            post(grants::remove),
        )
}
