//! The grants port (SPEC §7): what a subject (`user:<id>` or `api_key:<id>`) may do on one
//! resource of an org (`view`, `edit`, `share`, `delete`), optionally until an instant. One grant
//! per (resource, subject): granting again replaces capabilities and expiry. Removing a member
//! or deleting a key removes its grants (in the same transaction).

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::Result;
use crate::audit::NewEvent;
use crate::ids::{GrantId, OrgId};
use crate::permission::Subject;
use crate::role::Role;

/// A stored grant. `created_by` is the subject form of who made it (`user:<id>`, `api_key:<id>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub id: GrantId,
    pub org_id: OrgId,
    pub resource: String,
    pub subject: String,
    /// A non-empty set, in the order `view`, `edit`, `share`, `delete`.
    pub capabilities: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
    pub created_by: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl Grant {
    /// Whether it still counts at `now` (an expiry is exact to the instant: at it, it no longer does).
    #[must_use]
    pub fn live_at(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

/// The audit events of a put, made from the stored grant and whether it is new.
pub type GrantAudit<'a> = &'a (dyn Fn(&Grant, bool) -> Vec<NewEvent> + Send + Sync);

/// What a check knows of its subject, from one read: who they are in the org, and their grant
/// on the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub holder: Holder,
    pub held: Option<Held>,
}

/// The subject as the org knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// A member, with their live role.
    Member(Role),
    /// A key of the org, with when it stops working.
    Key {
        revoked: bool,
        expires_at: Option<OffsetDateTime>,
    },
}

/// The terms of the subject's grant on the resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub capabilities: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Grants of one org. Every method reads and writes that org only (row security on PostgreSQL).
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Inserts `g`, or, when (resource, subject) already has a grant, replaces its capabilities
    /// and expiry (keeping its id, creator and creation time); the stored grant, and whether it
    /// is new. The events `audit` makes of the stored grant (and whether it is new) commit
    /// with it, so a replace is never recorded as a creation.
    async fn put_grant(&self, g: &Grant, audit: GrantAudit<'_>) -> Result<(Grant, bool)>;
    /// The resource's grants, expired ones included, by subject.
    async fn grants_of_resource(&self, org: OrgId, resource: &str) -> Result<Vec<Grant>>;
    /// The subject's grants, expired ones included, by resource.
    async fn grants_of_subject(&self, org: OrgId, subject: &str) -> Result<Vec<Grant>>;
    async fn grant(&self, org: OrgId, id: GrantId) -> Result<Option<Grant>>;
    /// The one grant of (resource, subject), if any: the check's single indexed read.
    async fn grant_for(&self, org: OrgId, resource: &str, subject: &str) -> Result<Option<Grant>>;
    /// The subject's standing in the org and its grant on `resource`, in one indexed read;
    /// `None` when the subject is neither a member nor a key of the org.
    async fn standing(
        &self,
        org: OrgId,
        resource: &str,
        subject: Subject,
    ) -> Result<Option<Standing>>;
    /// Removes the grant; false when the org has no such grant.
    async fn delete_grant(&self, org: OrgId, id: GrantId, audit: &[NewEvent]) -> Result<bool>;
}
