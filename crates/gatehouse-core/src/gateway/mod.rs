//! Gateway and forward-auth rules (SPEC §11): the route table, ambiguous paths, return-to
//! safety and the signed assertion an upstream receives.

pub mod assertion;
pub mod path;
pub mod resource;
pub mod return_to;
pub mod routes;

pub use assertion::{ASSERTION_TTL_SECS, ASSERTION_TYP, AssertionClaims, verify_assertion};
pub use path::is_ambiguous;
pub use resource::{CapabilityRule, ResourceTemplate};
pub use return_to::ReturnToPolicy;
pub use routes::{AuditPolicy, AuthMode, Route, RouteError, RouteTable};
