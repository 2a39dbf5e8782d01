//! The storage conformance suite: every port behaviour, run against SQLite and PostgreSQL by the
//! same test bodies. A backend that passes here is interchangeable with the other.
// Test predicates take the result they judge by value, as the calls read best.
#![allow(clippy::needless_pass_by_value)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

mod api_keys;
mod audit;
mod audit_verify;
mod email;
mod export_cursors;
mod grants;
mod identity;
mod invitations;
mod limits;
mod mfa;
mod oidc;
mod orgs;
mod passkeys;
mod personal_tokens;
mod rls;
mod secrets;
mod sessions;
mod system;
mod token_rules;
mod tokens;
mod user_changes;
