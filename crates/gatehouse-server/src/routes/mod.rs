//! The router: every route gatehouse serves, and the layers around them.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod introspect;
pub mod invitations;
pub mod ops;
pub mod orgs;
pub mod tokens;
pub mod views;

use axum::Router;
use axum::routing::{delete, get, patch, post};
use tower_http::limit::RequestBodyLimitLayer;

use crate::state::AppState;

/// Request bodies above this answer `413`.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/v1/setup", post(auth::setup))
        .route("/v1/auth/signup", post(auth::signup))
        .route("/v1/auth/login", post(auth::login))
        .route("/v1/auth/logout", post(auth::logout))
        .route("/v1/auth/logout-all", post(auth::logout_all))
        .route("/v1/auth/me", get(auth::me))
        .route("/v1/auth/csrf", get(auth::csrf))
        .route("/v1/auth/sessions", get(auth::sessions))
        .route("/v1/auth/sessions/{id}", delete(auth::revoke_session))
        .route("/v1/auth/password", post(auth::change_password))
        .route("/v1/orgs", post(orgs::create).get(orgs::list))
        .route(
            "/v1/orgs/{org}",
            get(orgs::get).patch(orgs::update).delete(orgs::delete),
        )
        .route("/v1/orgs/{org}/members", get(orgs::members))
        .route(
            "/v1/orgs/{org}/members/{user_id}",
            patch(orgs::set_role).delete(orgs::remove_member),
        )
        .route(
            "/v1/orgs/{org}/invitations",
            post(invitations::create).get(invitations::list),
        )
        .route(
            "/v1/orgs/{org}/invitations/{id}",
            delete(invitations::revoke),
        )
        .route("/v1/invitations/accept", post(invitations::accept))
        .route(
            "/v1/orgs/{org}/api-keys",
            post(api_keys::create).get(api_keys::list),
        )
        .route(
            "/v1/orgs/{org}/api-keys/{id}/revoke",
            post(api_keys::revoke),
        )
        .route("/v1/orgs/{org}/api-keys/{id}", delete(api_keys::delete))
        .route("/v1/introspect", post(introspect::handle))
        .route("/v1/auth/token", post(tokens::token))
        .route("/v1/auth/revoke", post(tokens::revoke))
        .route("/.well-known/jwks.json", get(tokens::jwks))
        .route("/v1/orgs/{org}/audit", get(audit::list))
        .route("/v1/orgs/{org}/audit/verify", get(audit::verify))
        .route("/v1/orgs/{org}/audit/events", post(audit::append))
        .route("/v1/auth/events", get(audit::my_events))
        .route("/v1/system/audit", get(audit::system_list))
        .route("/v1/system/audit/verify", get(audit::system_verify))
        .fallback(ops::not_found)
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        .layer(axum::middleware::from_fn(
            crate::middleware::body_limit::drain_oversized,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::rate_limit::rate_limit,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::middleware::envelope::envelope,
        ))
        .with_state(state)
}
