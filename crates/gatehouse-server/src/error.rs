//! The wire form of errors: status, stable code, message, request id. Handlers return
//! [`ApiError`]; the envelope middleware renders it with the request id, and logs internals.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use gatehouse_core::Error;
use gatehouse_core::error::{AuthFailure, ConflictReason, ForbiddenReason};

/// The stable error codes of the wire (`error.code`); middleware matches on these, never on text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    NotFound,
    Conflict,
    Unauthenticated,
    InvalidCredentials,
    /// A right password; the sign-in needs its second step (SPEC §15).
    MfaRequired,
    TokenExpired,
    TokenRevoked,
    Forbidden,
    InsufficientScope,
    CsrfFailed,
    SignupDisabled,
    ValidationFailed,
    InvalidRequest,
    RateLimited,
    Unavailable,
    Internal,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// The gateway's upstream refused, reset or broke the exchange (`502`).
    BadGateway,
    /// The gateway's upstream did not answer within the route's `timeout` (`504`).
    GatewayTimeout,
}

impl ErrorCode {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Conflict => "conflict",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::MfaRequired => "mfa_required",
            Self::TokenExpired => "token_expired",
            Self::TokenRevoked => "token_revoked",
            Self::Forbidden => "forbidden",
            Self::InsufficientScope => "insufficient_scope",
            Self::CsrfFailed => "csrf_failed",
            Self::SignupDisabled => "signup_disabled",
            Self::ValidationFailed => "validation_failed",
            Self::InvalidRequest => "invalid_request",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::BadGateway => "bad_gateway",
            Self::GatewayTimeout => "gateway_timeout",
        }
    }
}

/// The error envelope on the wire: `{"error": {...}}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorEnvelope {
    pub error: ErrorDetail,
}

/// What went wrong: a stable `code`, a message for people, the request id, and per-field
/// problems for `validation_failed`.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: &'static str,
    pub message: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
    /// `mfa_required`: the token that finishes the sign-in at `POST /v1/auth/login/mfa`
    /// (shown once, 5 minutes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// `mfa_required`: the second factors the sign-in may be finished with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<&'static str>>,
    /// `mfa_required`: when `mfa_token` lapses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// `mfa_required` for a user with passkeys: the ceremony to finish with one of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passkey: Option<PasskeyCeremonyView>,
}

/// A begun WebAuthn ceremony: its id (sent back with the credential) and the options for
/// `navigator.credentials.create` / `.get` (`publicKey`, and `mediation` for a discoverable
/// sign-in).
#[derive(Serialize, Clone, ToSchema)]
pub struct PasskeyCeremonyView {
    pub ceremony_id: String,
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mediation: Option<String>,
}

impl PasskeyCeremonyView {
    #[must_use]
    pub fn new(challenge: &gatehouse_core::error::PasskeyChallenge) -> Self {
        Self {
            ceremony_id: challenge.ceremony_id.to_string(),
            public_key: challenge
                .options
                .get("publicKey")
                .cloned()
                .unwrap_or_default(),
            mediation: challenge
                .options
                .get("mediation")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned),
        }
    }
}

/// The second step a `401 mfa_required` asks for: `mfa_token` (shown once, 5 minutes), the
/// `methods` it may be finished with, and when it lapses.
#[derive(Clone)]
pub struct MfaRequiredView {
    pub mfa_token: String,
    pub methods: Vec<&'static str>,
    pub expires_at: String,
    pub passkey: Option<PasskeyCeremonyView>,
}

impl std::fmt::Debug for MfaRequiredView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MfaRequiredView")
            .field("mfa_token", &"[redacted]")
            .field("methods", &self.methods)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// What the envelope renders; `detail` goes to the log only.
#[derive(Debug, Clone)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    pub fields: Option<BTreeMap<String, String>>,
    pub retry_after_secs: Option<u64>,
    pub detail: Option<String>,
    pub mfa: Option<MfaRequiredView>,
}

#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        Self(e)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// Status and stable code of a core error.
#[must_use]
pub fn classify(e: &Error) -> (StatusCode, ErrorCode, &'static str) {
    match e {
        Error::NotFound => (StatusCode::NOT_FOUND, ErrorCode::NotFound, "Not found."),
        Error::Conflict(what) => (
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            match what {
                ConflictReason::EmailTaken => "An account with this email already exists.",
                ConflictReason::LastOwner => "An org must keep at least one owner.",
                ConflictReason::AlreadyMember => "Already a member of this org.",
                ConflictReason::TotpEnabled => "TOTP is already on; turn it off first.",
                ConflictReason::PasskeyRegistered => "This passkey is registered already.",
                ConflictReason::IdentityLinked => "This provider account is linked already.",
                ConflictReason::LastSignInMethod => {
                    "This is your last way to sign in; add another first."
                }
                ConflictReason::SecretVersionTaken => {
                    "The secret was written by another request at the same time; try again."
                }
                ConflictReason::KeyCollision | ConflictReason::KidTaken => {
                    "The request conflicts with the current state."
                }
            },
        ),
        Error::MfaRequired(_) => (
            StatusCode::UNAUTHORIZED,
            ErrorCode::MfaRequired,
            "A second factor is required to finish signing in.",
        ),
        Error::Unauthenticated(f) => (
            StatusCode::UNAUTHORIZED,
            match f {
                AuthFailure::Unauthenticated => ErrorCode::Unauthenticated,
                AuthFailure::InvalidCredentials => ErrorCode::InvalidCredentials,
                AuthFailure::Expired => ErrorCode::TokenExpired,
                AuthFailure::Revoked => ErrorCode::TokenRevoked,
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
                ForbiddenReason::Forbidden => ErrorCode::Forbidden,
                ForbiddenReason::InsufficientScope => ErrorCode::InsufficientScope,
                ForbiddenReason::CsrfFailed => ErrorCode::CsrfFailed,
                ForbiddenReason::SignupDisabled => ErrorCode::SignupDisabled,
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
            ErrorCode::ValidationFailed,
            "Validation failed.",
        ),
        Error::InvalidRequest(_) => (
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidRequest,
            "Invalid request.",
        ),
        Error::RateLimited { .. } => (
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            "Too many requests.",
        ),
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Unavailable,
            "Service unavailable.",
        ),
        Error::Internal(_) | Error::Unsealable => (
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
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
                Error::Unsealable => Some(self.0.to_string()),
                _ => None,
            },
            mfa: match &self.0 {
                Error::MfaRequired(c) => Some(MfaRequiredView {
                    mfa_token: c.token.clone(),
                    methods: c.methods.clone(),
                    expires_at: gatehouse_core::clock::rfc3339(c.expires_at),
                    passkey: c.passkey.as_ref().map(PasskeyCeremonyView::new),
                }),
                _ => None,
            },
        };
        let mut response = status.into_response();
        response.extensions_mut().insert(body);
        response
    }
}

/// The envelope for a bare status produced by the framework (unknown route, wrong method…).
#[must_use]
pub fn body_for_status(status: StatusCode) -> ErrorBody {
    let (code, message) = match status.as_u16() {
        400 => (ErrorCode::InvalidRequest, "Invalid request."),
        401 => (ErrorCode::Unauthenticated, "Authentication required."),
        403 => (ErrorCode::Forbidden, "Not allowed."),
        404 => (ErrorCode::NotFound, "Not found."),
        405 => (ErrorCode::MethodNotAllowed, "Method not allowed."),
        413 => (
            ErrorCode::PayloadTooLarge,
            "Request body too large (limit 64 KiB).",
        ),
        415 => (
            ErrorCode::UnsupportedMediaType,
            "Expected Content-Type: application/json.",
        ),
        422 => (ErrorCode::ValidationFailed, "Validation failed."),
        429 => (ErrorCode::RateLimited, "Too many requests."),
        503 => (ErrorCode::Unavailable, "Service unavailable."),
        s if s >= 500 => (ErrorCode::Internal, "Internal error."),
        _ => (ErrorCode::InvalidRequest, "Invalid request."),
    };
    ErrorBody {
        code,
        message: message.to_owned(),
        fields: None,
        retry_after_secs: None,
        detail: None,
        mfa: None,
    }
}

/// `400 invalid_request` with per-field reasons (the forward-auth described request).
#[must_use]
pub fn invalid_request_fields(message: &str, fields: &[(&str, &str)]) -> Response {
    let mut response = error_response(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidRequest,
        format!("Invalid request: {message}"),
    );
    if let Some(body) = response.extensions_mut().get_mut::<ErrorBody>() {
        body.fields = Some(
            fields
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
    }
    response
}

/// An error answer with its own status, code and message (the gateway's `413`, `502`, `504`).
#[must_use]
pub fn error_response(status: StatusCode, code: ErrorCode, message: String) -> Response {
    let mut response = status.into_response();
    response.extensions_mut().insert(ErrorBody {
        code,
        message,
        fields: None,
        retry_after_secs: None,
        detail: None,
        mfa: None,
    });
    response
}
