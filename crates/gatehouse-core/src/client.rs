//! Where a request came from (IP, user agent, request id): recorded on sessions and in audit
//! events. Its own module so that `audit` and `service` both use it without depending on each
//! other.

/// Where a request came from: recorded on sessions and in audit events.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}
