//! The HTTP middleware, one module per job: the request id and span, the envelope every request
//! passes through (client IP, CORS, errors, security headers, access log, metrics), the rate
//! limiter, and the body limit's drain.

pub mod body_limit;
pub mod envelope;
pub mod rate_limit;
pub mod request_id;
