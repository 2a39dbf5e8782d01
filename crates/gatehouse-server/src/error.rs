//! The wire form of errors: status, stable code, message, request id. Handlers return
//! [`ApiError`]; the envelope middleware renders it with the request id, and logs internals.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::error::{AuthFailure, ConflictReason, ForbiddenReason};

/// What the envelope renders; `detail` goes to the log only.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    pub fields: Option<BTreeMap<String, String>>,
    pub retry_after_secs: Option<u64>,
    pub detail: Option<String>,
}

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Status and stable code of a core error.
pub fn classify(e: &Error) -> (StatusCode, &'static str, &'static str) {
    match e {
        Error::NotFound => (StatusCode::NOT_FOUND, "not_found", "Not found."),
        Error::Conflict(what) => (
            StatusCode::CONFLICT,
            "conflict",
            match what {
                ConflictReason::EmailTaken => "An account with this email already exists.",
                ConflictReason::LastOwner => "An org must keep at least one owner.",
                ConflictReason::AlreadyMember => "Already a member of this org.",
                ConflictReason::KeyCollision | ConflictReason::KidTaken => {
                    "The request conflicts with the current state."
                }
            },
        ),
        Error::Unauthenticated(f) => (
            StatusCode::UNAUTHORIZED,
            match f {
                AuthFailure::Unauthenticated => "unauthenticated",
                AuthFailure::InvalidCredentials => "invalid_credentials",
                AuthFailure::Expired => "token_expired",
                AuthFailure::Revoked => "token_revoked",
            },
            match f {
                AuthFailure::Unauthenticated => "Authentication required.",
                AuthFailure::InvalidCredentials => "Invalid credentials.",
                AuthFailure::Expired => "The credential has expired.",
                AuthFailure::Revoked => "The credential has been revoked.",
            },
        ),
        Error::Forbidden(r) => (
            StatusCode::FORBIDDEN,
            match r {
                ForbiddenReason::Forbidden => "forbidden",
                ForbiddenReason::InsufficientScope => "insufficient_scope",
                ForbiddenReason::CsrfFailed => "csrf_failed",
                ForbiddenReason::SignupDisabled => "signup_disabled",
            },
            match r {
                ForbiddenReason::Forbidden => "Not allowed.",
                ForbiddenReason::InsufficientScope => "The credential lacks the required scope.",
                ForbiddenReason::CsrfFailed => "CSRF check failed.",
                ForbiddenReason::SignupDisabled => "Sign-up is by invitation only.",
            },
        ),
        Error::Validation(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Validation failed.",
        ),
        Error::InvalidRequest(_) => (
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request.",
        ),
        Error::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Too many requests.",
        ),
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable.",
        ),
        Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error.",
        ),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = classify(&self.0);
        let body = ErrorBody {
            code,
            message: match &self.0 {
                Error::InvalidRequest(why) => format!("Invalid request: {why}"),
                _ => message.to_owned(),
            },
            fields: match &self.0 {
                Error::Validation(f) => Some(f.clone()),
                _ => None,
            },
            retry_after_secs: match &self.0 {
                Error::RateLimited { retry_after_secs } => Some(*retry_after_secs),
                _ => None,
            },
            detail: match &self.0 {
                Error::Internal(d) | Error::Unavailable(d) => Some(d.clone()),
                _ => None,
            },
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(body);
        response
    }
}

/// The envelope for a bare status produced by the framework (unknown route, wrong method…).
pub fn body_for_status(status: StatusCode) -> ErrorBody {
    let (code, message) = match status.as_u16() {
        400 => ("invalid_request", "Invalid request."),
        401 => ("unauthenticated", "Authentication required."),
        403 => ("forbidden", "Not allowed."),
        404 => ("not_found", "Not found."),
        405 => ("method_not_allowed", "Method not allowed."),
        413 => (
            "payload_too_large",
            "Request body too large (limit 64 KiB).",
        ),
        415 => (
            "unsupported_media_type",
            "Expected Content-Type: application/json.",
        ),
        422 => ("validation_failed", "Validation failed."),
        429 => ("rate_limited", "Too many requests."),
        503 => ("unavailable", "Service unavailable."),
        s if s >= 500 => ("internal", "Internal error."),
        _ => ("invalid_request", "Invalid request."),
    };
    ErrorBody {
        code,
        message: message.to_owned(),
        fields: None,
        retry_after_secs: None,
        detail: None,
    }
}
