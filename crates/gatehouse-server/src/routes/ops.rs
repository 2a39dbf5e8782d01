//! Health, readiness, metrics, the OpenAPI document, and the fallback.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use gatehouse_core::Error;
use gatehouse_core::error::ForbiddenReason;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::middleware::envelope::RequestContext;
use crate::state::AppState;
use gatehouse_core::service::Principal;

/// Liveness: no database.
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: a database round trip within two seconds, else `503`.
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<serde_json::Value>> {
    state.readiness.check().await?;
    Ok(Json(json!({ "status": "ready" })))
}

/// Prometheus text, for a loopback TCP peer that is neither a proxy nor forwarding anyone
/// (never a forwarded address), or for an API key holding `metrics:read`.
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

pub async fn openapi(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(crate::openapi::document(&state.public_origin))
}

pub async fn not_found() -> ApiError {
    ApiError(Error::NotFound)
}
