//! The answer to a request that did not authenticate, in gatehouse's own shape:
//! `{"error": {"code", "message", "request_id"}}` with `WWW-Authenticate: Bearer
//! realm="gatehouse"`. An expired credential answers `token_expired` as gatehouse does; a key
//! set that could not be fetched answers `503 unavailable` (nothing was judged).

use axum::http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::VerifyError;

const REALM: &str = "Bearer realm=\"gatehouse\"";

/// The incoming `X-Request-Id`, when it is 1–128 characters of `[A-Za-z0-9._:-]`; otherwise
/// empty (this crate does not mint ids).
pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
        })
        .unwrap_or_default()
        .to_owned()
}

fn envelope(status: StatusCode, code: &str, message: &str, request_id: &str) -> Response {
    let body = json!({ "error": { "code": code, "message": message, "request_id": request_id } });
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The response for a refused request.
pub fn refusal(error: &VerifyError, request_id: &str) -> Response {
    if error.is_unavailable() {
        return envelope(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable.",
            request_id,
        );
    }
    let (code, message) = match error {
        VerifyError::Expired => ("token_expired", "The credential has expired."),
        _ => ("unauthenticated", "Authentication required."),
    };
    let mut response = envelope(StatusCode::UNAUTHORIZED, code, message, request_id);
    response
        .headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
    response
}

/// The response when an extractor finds no guard to check with: the app is misconfigured,
/// and the request is refused rather than let through.
pub(crate) fn misconfigured(request_id: &str) -> Response {
    envelope(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error.",
        request_id,
    )
}
