//! The time rules, proven at service level: the services `serve` builds (`app::services`), over
//! a real store (SQLite and PostgreSQL), with a manual clock the tests move by hand, so expiry
//! windows are checked to the second without sleeping. The black-box suite (tests/api) keeps
//! only the real-time checks that must cross a process boundary.
// Test predicates take the result they judge by value, as the calls read best.
#![allow(clippy::needless_pass_by_value)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

// The storage conformance suite's fresh-database harness and `conformance!` macro, shared.
#[path = "../../../gatehouse-store/tests/conformance/harness.rs"]
#[allow(dead_code)]
mod harness;
mod world;

mod api_keys;
mod email;
mod grants;
mod invitations;
mod lockout;
mod mfa;
mod passkeys;
mod rate_limits;
mod sessions;
mod signing_keys;
mod tokens;
