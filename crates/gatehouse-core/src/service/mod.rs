//! Use cases written against the storage ports and a clock.

pub mod auth;
pub mod import;

pub use auth::{AuthService, AuthSettings, ClientInfo, LoginOutcome, SessionPrincipal};
