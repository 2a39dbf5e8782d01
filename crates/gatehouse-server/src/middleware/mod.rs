//! The HTTP middleware, one module per job: the envelope every request passes through (request
//! id, client IP, CORS, errors, security headers, access log, metrics), the rate limiter, and the
//! body limit's drain.

pub mod body_limit;
pub mod envelope;
pub mod rate_limit;
