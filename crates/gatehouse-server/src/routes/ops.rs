//! Health, readiness, metrics, the OpenAPI document, and the fallback.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use gatehouse_core::Error;
use gatehouse_core::error::ForbiddenReason;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiResult, ErrorEnvelope};
use crate::middleware::envelope::RequestContext;
use crate::state::AppState;
use gatehouse_core::service::Principal;

/// `ok` (liveness) or `ready` (readiness).
#[derive(Serialize, ToSchema)]
pub struct StatusView {
    pub status: &'static str,
}

/// Liveness (no database)
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = StatusView)))]
pub async fn healthz() -> Json<StatusView> {
    Json(StatusView { status: "ok" })
}

/// Readiness: 503 while the database is unreachable
///
/// A database round trip within two seconds.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready", body = StatusView),
        (status = 503, description = "The database did not answer", body = ErrorEnvelope),
    ))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<StatusView>> {
    state.readiness.check().await?;
    Ok(Json(StatusView { status: "ready" }))
}

/// Prometheus metrics (loopback, or an API key with metrics:read)
///
/// For a loopback TCP peer that is neither a proxy nor forwarding anyone (never a forwarded
/// address), or for an API key holding `metrics:read`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text", body = String, content_type = "text/plain"),
        (status = 401, description = "A bad credential", body = ErrorEnvelope),
        (status = 403, description = "Not loopback and no key with metrics:read", body = ErrorEnvelope),
    ),
    security((), ("api_key" = [])))]
pub async fn metrics(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    mut parts: axum::http::request::Parts,
) -> ApiResult<Response> {
    if !ctx.local_peer {
        match crate::extract::resolve(&mut parts, &state).await.0? {
            Some(Principal::ApiKey(k)) if k.scopes.allows(gatehouse_core::scope::METRICS_READ) => {}
            Some(Principal::ApiKey(_)) => {
                return Err(ApiError(Error::Forbidden(
                    ForbiddenReason::InsufficientScope,
                )));
            }
            _ => return Err(ApiError(Error::Forbidden(ForbiddenReason::Forbidden))),
        }
    }
    let text = state.metrics.render();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// This document
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub async fn openapi(Extension(doc): Extension<crate::openapi::Document>) -> Response {
    doc.response()
}

pub async fn not_found() -> ApiError {
    ApiError(Error::NotFound)
}
