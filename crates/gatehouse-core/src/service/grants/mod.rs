//! Per-resource grants (SPEC §7): granting, listing, revoking and checking, with the share
//! limit (a member holding `share` grants others at most what they hold themselves, never
//! beyond their own grant's expiry, and revokes or replaces only what they created). Every
//! change is audited in its own transaction; checks are not audited and read the database
//! every time, so every instance answers from the last committed write.

mod check;
mod reach;

use std::sync::Arc;

use serde_json::json;
use time::OffsetDateTime;

pub use check::{Reason, Verdict, judge, live_grant};
use reach::{Reach, forbidden, reach};

use crate::ambient::Ambient;
use crate::audit::{Category, Chain, NewEvent, Target};
use crate::ids::{GrantId, OrgId};
use crate::permission::{Capabilities, Capability, Subject, valid_resource};
use crate::scope::{CHECK, GRANTS_READ, GRANTS_WRITE};
use crate::service::{ClientInfo, OrgAccess, OrgActor};
use crate::store::{Grant, Standing, Store};
use crate::{Error, Result};

/// A grant as asked for, unchecked.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub resource: String,
    pub subject: String,
    pub capabilities: Vec<String>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Which grants a listing shows.
#[derive(Debug, Clone, Copy)]
pub enum GrantsOf<'a> {
    Resource(&'a str),
    Subject(&'a str),
}

pub struct GrantService {
    store: Arc<dyn Store>,
    ambient: Ambient,
}

/// The subject form of who acts: `user:<id>` or `api_key:<id>`.
fn acting_subject(actor: &OrgActor) -> Subject {
    match actor {
        OrgActor::User { id, .. } => Subject::User(*id),
        OrgActor::Key { id, .. } => Subject::ApiKey(*id),
    }
}

fn resource_of(s: &str) -> Result<&str> {
    if valid_resource(s) {
        Ok(s)
    } else {
        Err(Error::field("resource", "invalid"))
    }
}

fn subject_of(s: &str) -> Result<Subject> {
    Subject::parse(s).ok_or_else(|| Error::field("subject", "invalid"))
}

fn capability_of(s: &str) -> Result<Capability> {
    Capability::parse(s).ok_or_else(|| Error::field("capability", "invalid"))
}

fn grant_details(g: &Grant) -> serde_json::Value {
    json!({
        "resource": g.resource,
        "subject": g.subject,
        "capabilities": g.capabilities,
        "expires_at": g.expires_at.map(crate::clock::rfc3339),
    })
}

impl GrantService {
    pub fn new(store: Arc<dyn Store>, ambient: Ambient) -> Self {
        Self { store, ambient }
    }

    fn event(
        &self,
        org: OrgId,
        action: &str,
        actor: &OrgActor,
        g: &Grant,
        client: &ClientInfo,
    ) -> NewEvent {
        NewEvent::new(
            Chain::Org(org),
            Category::Audit,
            action,
            actor.audit_actor(),
            client,
            self.ambient.now(),
        )
        .target(Target::new("grant", g.id))
        .details(grant_details(g))
    }

    /// The subject's standing on `resource`; `422 subject` when it is neither a member nor a
    /// key of the org.
    async fn standing_of(&self, org: OrgId, resource: &str, subject: Subject) -> Result<Standing> {
        self.store
            .standing(org, resource, subject)
            .await?
            .ok_or_else(|| Error::field("subject", "not_in_org"))
    }

    /// `POST /v1/orgs/{org}/grants`: the stored grant, and whether it is new (`201`) rather
    /// than a replacement (`200`).
    pub async fn put(
        &self,
        access: &OrgAccess,
        req: &GrantRequest,
        client: &ClientInfo,
    ) -> Result<(Grant, bool)> {
        let reach = reach(access.actor(), GRANTS_WRITE)?;
        let org = access.org().id;
        let now = self.ambient.now();
        let resource = resource_of(&req.resource)?;
        let subject = subject_of(&req.subject)?;
        let capabilities = Capabilities::parse(req.capabilities.iter().map(String::as_str))
            .filter(|c| !c.is_empty())
            .ok_or_else(|| Error::field("capabilities", "invalid"))?;
        // Stored to the second: what is answered is what every later check compares.
        let expires_at = req.expires_at.map(|t| t.replace_nanosecond(0).unwrap_or(t));
        if expires_at.is_some_and(|t| t <= now) {
            return Err(Error::field("expires_at", "in_the_past"));
        }
        self.standing_of(org, resource, subject).await?;
        if let Reach::Member(me) = reach {
            self.within_share_limit(
                org,
                resource,
                Subject::User(me),
                subject,
                capabilities,
                expires_at,
            )
            .await?;
        }
        let grant = Grant {
            id: self.ambient.id()?,
            org_id: org,
            resource: resource.to_owned(),
            subject: subject.to_string(),
            capabilities: capabilities.names(),
            expires_at,
            created_by: acting_subject(access.actor()).to_string(),
            created_at: now,
            updated_at: now,
        };
        let actor = access.actor();
        let audit = |stored: &Grant, created: bool| {
            let action = if created {
                "grant.created"
            } else {
                "grant.updated"
            };
            vec![self.event(org, action, actor, stored, client)]
        };
        self.store.put_grant(&grant, &audit).await
    }

    /// A member may grant `subject` on `resource` only when they hold `share` there, ask for no
    /// more than they hold, until no later than their own grant ends, for someone else, and
    /// replace only a grant they made.
    async fn within_share_limit(
        &self,
        org: OrgId,
        resource: &str,
        me: Subject,
        subject: Subject,
        wanted: Capabilities,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<()> {
        if subject == me {
            return Err(forbidden());
        }
        let mine = self.standing_of(org, resource, me).await?;
        let (held, until) = live_grant(&mine, self.ambient.now()).ok_or_else(forbidden)?;
        let outlives = match (until, expires_at) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(mine), Some(theirs)) => theirs > mine,
        };
        if !held.contains(Capability::Share) || !wanted.within(held) || outlives {
            return Err(forbidden());
        }
        let existing = self
            .store
            .grant_for(org, resource, &subject.to_string())
            .await?;
        if existing.is_some_and(|g| g.created_by != me.to_string()) {
            return Err(forbidden());
        }
        Ok(())
    }

    /// `GET /v1/orgs/{org}/grants?resource=…|?subject=…`: expired grants included. A member
    /// may list their own grants, and the grants of a resource they may share.
    pub async fn list(&self, access: &OrgAccess, of: GrantsOf<'_>) -> Result<Vec<Grant>> {
        let reach = reach(access.actor(), GRANTS_READ)?;
        let org = access.org().id;
        match of {
            GrantsOf::Resource(resource) => {
                let resource = resource_of(resource)?;
                if let Reach::Member(me) = reach {
                    let mine = self.standing_of(org, resource, Subject::User(me)).await?;
                    let shares = live_grant(&mine, self.ambient.now())
                        .is_some_and(|(held, _)| held.contains(Capability::Share));
                    if !shares {
                        return Err(forbidden());
                    }
                }
                self.store.grants_of_resource(org, resource).await
            }
            GrantsOf::Subject(subject) => {
                let subject = subject_of(subject)?;
                if let Reach::Member(me) = reach
                    && subject != Subject::User(me)
                {
                    return Err(forbidden());
                }
                self.store
                    .grants_of_subject(org, &subject.to_string())
                    .await
            }
        }
    }

    /// `DELETE /v1/orgs/{org}/grants/{id}`: `404` when the org has no such grant; a member
    /// revokes only grants they created.
    pub async fn delete(&self, access: &OrgAccess, id: GrantId, client: &ClientInfo) -> Result<()> {
        let reach = reach(access.actor(), GRANTS_WRITE)?;
        let org = access.org().id;
        let grant = self.store.grant(org, id).await?.ok_or(Error::NotFound)?;
        if let Reach::Member(me) = reach
            && grant.created_by != Subject::User(me).to_string()
        {
            return Err(forbidden());
        }
        let event = self.event(org, "grant.deleted", access.actor(), &grant, client);
        if self.store.delete_grant(org, id, &[event]).await? {
            Ok(())
        } else {
            Err(Error::NotFound)
        }
    }

    /// `POST /v1/orgs/{org}/check`: owners and admins, keys with `check`, or a member asking
    /// about themselves (a token needs `check` too).
    pub async fn check(
        &self,
        access: &OrgAccess,
        subject: &str,
        resource: &str,
        capability: &str,
    ) -> Result<Verdict> {
        let reach = reach(access.actor(), CHECK)?;
        let subject = subject_of(subject)?;
        let resource = resource_of(resource)?;
        let capability = capability_of(capability)?;
        if let Reach::Member(me) = reach
            && subject != Subject::User(me)
        {
            return Err(forbidden());
        }
        self.verdict(access.org().id, subject, resource, capability)
            .await?
            .ok_or_else(|| Error::field("subject", "not_in_org"))
    }

    /// The verdict for `subject` in `org` (the gateway's check; `/check` after its rules);
    /// `None` when the subject is neither a member nor a key of the org.
    pub async fn verdict(
        &self,
        org: OrgId,
        subject: Subject,
        resource: &str,
        capability: Capability,
    ) -> Result<Option<Verdict>> {
        let standing = self.store.standing(org, resource, subject).await?;
        Ok(standing.map(|s| judge(&s, capability, self.ambient.now())))
    }
}
