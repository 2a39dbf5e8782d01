//! The router: every route gatehouse serves, and the layers around them.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod email;
pub mod forward_auth;
pub mod grants;
pub mod introspect;
pub mod invitations;
pub mod mfa;
pub mod oidc;
pub mod ops;
pub mod orgs;
pub mod passkeys;
pub mod secrets;
pub mod tokens;
pub mod views;

use axum::{Extension, Router};
use tower_http::limit::RequestBodyLimitLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::middleware::rate_limit::Budget;
use crate::openapi::{ApiDoc, Document};
use crate::state::AppState;

/// Request bodies above this answer `413`.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Console form bodies: a 32 KiB secret value percent-encodes to at most 96 KiB.
pub const CONSOLE_BODY_LIMIT: usize = 160 * 1024;

/// The routes that check a credential (sign-in, sign-up, setup, token grants, accepting an
/// invitation, changing a password): they share one rate budget per client IP.
fn credential_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(auth::setup))
        .routes(routes!(auth::signup))
        .routes(routes!(auth::login))
        .routes(routes!(auth::change_password))
        .routes(routes!(mfa::login_mfa))
        .routes(routes!(mfa::start_totp, mfa::disable_totp))
        .routes(routes!(mfa::confirm_totp))
        .routes(routes!(mfa::regenerate_recovery_codes))
        .routes(routes!(email::request_code))
        .routes(routes!(email::verify_code))
        .routes(routes!(email::forgot))
        .routes(routes!(email::reset))
        .routes(routes!(email::verify_email))
        .routes(routes!(email::send_verification))
        .routes(routes!(oidc::start))
        .routes(routes!(oidc::callback))
        .routes(routes!(passkeys::register_start))
        .routes(routes!(passkeys::delete))
        .routes(routes!(passkeys::login_start))
        .routes(routes!(passkeys::login_finish))
        .routes(routes!(tokens::token))
        .routes(routes!(invitations::accept))
}

/// Every other route (`/v1` ones count per credential).
fn other_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::readyz))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::openapi))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::logout_all))
        .routes(routes!(auth::me))
        .routes(routes!(auth::csrf))
        .routes(routes!(auth::sessions))
        .routes(routes!(auth::revoke_session))
        .routes(routes!(mfa::status))
        .routes(routes!(passkeys::list))
        .routes(routes!(oidc::identities))
        .routes(routes!(oidc::unlink))
        .routes(routes!(passkeys::register_finish))
        .routes(routes!(orgs::create, orgs::list))
        .routes(routes!(orgs::get, orgs::update, orgs::delete))
        .routes(routes!(orgs::members))
        .routes(routes!(orgs::set_role, orgs::remove_member))
        .routes(routes!(invitations::create, invitations::list))
        .routes(routes!(invitations::revoke))
        .routes(routes!(api_keys::create, api_keys::list))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(api_keys::delete))
        .routes(routes!(introspect::handle))
        .routes(routes!(tokens::revoke))
        .routes(routes!(tokens::jwks))
        .routes(routes!(audit::list))
        .routes(routes!(audit::verify))
        .routes(routes!(audit::append))
        .routes(routes!(audit::my_events))
        .routes(routes!(audit::system_list))
        .routes(routes!(audit::system_verify))
        .routes(routes!(secrets::list))
        .routes(routes!(secrets::put, secrets::get, secrets::delete))
        .routes(routes!(grants::create, grants::list))
        .routes(routes!(grants::delete))
        .routes(routes!(grants::check))
}

/// Forward-auth: outside the `/v1` budgets (each route has its own `rate_limit`), SPEC §11.
fn forward_auth_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(forward_auth::check_request))
}

/// The layers inside the envelope, the rate budget outermost: the budget, the body limit's
/// drain, the body limit.
fn limited(router: Router<AppState>, state: &AppState, budget: Budget) -> Router<AppState> {
    limited_to(router, state, budget, BODY_LIMIT)
}

fn limited_to(
    router: Router<AppState>,
    state: &AppState,
    budget: Budget,
    body_limit: usize,
) -> Router<AppState> {
    router
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(axum::middleware::from_fn(
            crate::middleware::body_limit::drain_oversized,
        ))
        .layer(axum::middleware::from_fn_with_state(
            (state.clone(), budget),
            crate::middleware::rate_limit::rate_limit,
        ))
}

/// Every route and the OpenAPI document that describes them, from one registration.
pub fn registered() -> (
    Router<AppState>,
    Router<AppState>,
    Router<AppState>,
    utoipa::openapi::OpenApi,
) {
    let (credential, credential_doc) = credential_routes().split_for_parts();
    let (forward, forward_doc) = forward_auth_routes().split_for_parts();
    let (other, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(other_routes())
        .split_for_parts();
    doc.merge(credential_doc);
    doc.merge(forward_doc);
    (credential, forward, other, doc)
}

pub fn router(state: AppState) -> Router {
    let (credential, forward, other, doc) = registered();
    let document = crate::openapi::finish(&doc, &state.public_origin);
    let other = other.fallback(ops::not_found);
    let mut app = limited(credential, &state, Budget::Credential)
        .merge(forward.layer(RequestBodyLimitLayer::new(BODY_LIMIT)))
        .merge(limited(other, &state, Budget::PerCredential))
        .merge(limited_to(
            crate::console::credential_routes(),
            &state,
            Budget::Credential,
            CONSOLE_BODY_LIMIT,
        ))
        .merge(limited_to(
            crate::console::routes(),
            &state,
            Budget::PerCredential,
            CONSOLE_BODY_LIMIT,
        ));
    if state.upstreams.is_some() {
        // With gateway routes, every path gatehouse does not serve is the gateway's (it answers
        // `404` itself for what no route takes, gatehouse's own paths included).
        app = app.fallback(crate::gateway::proxy::handle);
    }
    let ambient = state.ambient.clone();
    let app = app
        .layer(Extension::<Document>(document))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::envelope::envelope,
        ))
        .with_state(state);
    crate::middleware::request_id::layer(app, ambient)
}
