//! Use cases written against the storage ports and a clock.

pub mod access;
pub mod api_keys;
pub mod audit;
pub mod audit_export;
pub mod audit_verify;
pub mod audit_writer;
pub mod auth;
pub mod coalesce;
pub mod events;
pub mod gateway;
pub mod grants;
pub mod import;
pub mod introspect;
pub mod key_cache;
pub mod last_used;
pub mod limiter;
pub mod oidc;
pub mod orgs;
pub mod readiness;
pub mod reencrypt;
pub mod secrets;
pub mod tokens;
pub mod user_cache;

pub use access::{KeyPrincipal, Manager, OrgAccess, OrgActor, Owner, PlatformAdmin, Principal};
pub use api_keys::{ApiKeyService, OrgApiKey};
pub use audit::AuditService;
pub use audit_writer::AuditWriter;
pub use auth::{AuthService, AuthSettings, ClientInfo, LoginOutcome, SessionPrincipal};
pub use gateway::{GatewayService, Identity};
pub use grants::GrantService;
pub use key_cache::KeyCache;
pub use orgs::{OrgMember, OrgService};
pub use readiness::Readiness;
pub use secrets::SecretService;
pub use tokens::{TokenPrincipal, TokenService};
