//! gatehouse-core: what gatehouse is — domain types, rules, storage ports and use cases, with no
//! web or SQL framework.

pub mod ambient;
pub mod audit;
pub mod changes;
pub mod client;
pub mod clock;
pub mod email;
pub mod error;
pub mod gateway;
pub mod identity_chars;
pub mod ids;
pub mod jwt;
pub mod mail;
pub mod oidc;
pub mod outbound;
pub mod passkey;
pub mod password;
pub mod paths;
pub mod permission;
pub mod random;
pub mod rate_limit;
pub mod redact;
pub mod role;
pub mod scope;
pub mod secret;
pub mod service;
pub mod store;
pub mod token;
pub mod token_policy;
pub mod totp;
pub mod vault;

pub use error::{Error, Result};
