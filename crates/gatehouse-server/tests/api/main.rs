//! Black-box tests: the real binary over real HTTP, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

mod api_key_reach;
mod api_keys;
mod audit;
mod audit_bounds;
mod audit_chain;
mod audit_webhook;
mod cli;
mod client_crate;
mod config;
mod console_grants;
mod console_pages;
mod conventions;
mod credential_races;
mod forward_auth;
mod forward_auth_proxies;
mod gateway;
mod grant_rules;
mod grants;
mod hardening;
mod identity;
mod invitation_rules;
mod invitations;
mod isolation;
mod jcs;
mod limits;
mod log_lines;
mod mfa;
mod mfa_login;
mod openapi_contract;
mod openapi_schemas;
mod operations;
mod orgs;
mod password_change;
mod pg_roles;
mod secrets;
mod serving;
mod sessions;
mod token_lifecycle;
mod token_rules;
mod tokens;
mod user_cache_reach;
mod vault;
mod vault_rotation;
