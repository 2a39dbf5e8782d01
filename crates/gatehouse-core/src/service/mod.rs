//! Use cases written against the storage ports and a clock.

pub mod access;
pub mod api_keys;
pub mod auth;
pub mod import;
pub mod introspect;
pub mod key_cache;
pub mod orgs;

pub use access::{KeyPrincipal, Manager, OrgAccess, OrgActor, Principal};
pub use api_keys::ApiKeyService;
pub use auth::{AuthService, AuthSettings, ClientInfo, LoginOutcome, SessionPrincipal};
pub use key_cache::KeyCache;
pub use orgs::OrgService;
