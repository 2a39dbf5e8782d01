//! Reading and verifying audit chains, apps' own events, a user's security events, and the
//! events anonymous clients cause (coalesced, [`super::coalesce`]).

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::audit::chain::Report;
use crate::audit::{Actor, Category, Chain, NewEvent, Outcome, StoredEvent, Target, jcs};
use crate::clock::Clock;
use crate::ids::ApiKeyId;
use crate::service::ClientInfo;
use crate::service::SessionPrincipal;
use crate::service::access::{OrgAccess, OrgActor, PlatformAdmin};
use crate::service::audit_writer::AuditWriter;
use crate::service::coalesce::Coalescer;
use crate::store::Store;
use crate::{Error, Result};

pub use crate::service::audit_verify::{VERIFY_PAGE, verify_chain, verify_new};

/// Default and largest page of `GET …/audit`.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
/// Events read from the store at a time while a listing is written out.
pub const LIST_PAGE: u32 = 100;
/// Verifications that may run at once in one instance, by default.
pub const DEFAULT_VERIFY_CONCURRENCY: usize = 2;
/// `Retry-After` when every verification slot is busy.
pub const VERIFY_BUSY_RETRY_SECS: u64 = 5;
/// Largest canonical (RFC 8785) `details` of an app's event.
pub const MAX_DETAILS_BYTES: usize = 8 * 1024;

/// Action prefixes that belong to gatehouse (SPEC §9); apps write their own names.
pub const RESERVED: &[&str] = &[
    "auth.",
    "token.",
    "session.",
    "password.",
    "user.",
    "org.",
    "member.",
    "invitation.",
    "api_key.",
    "secret.",
    "signing_key.",
    "grant.",
    "mfa.",
    "passkey.",
    "email.",
    "gateway.",
    "audit.",
    "authz.",
    "csrf.",
    "system.",
    "users.",
    "setup.",
];

/// An app's own event, as `POST /v1/orgs/{org}/audit/events` receives it.
#[derive(Debug, Clone)]
pub struct AppEvent {
    pub action: String,
    pub outcome: Option<String>,
    pub target: Option<(String, String)>,
    pub details: Value,
}

/// Cheap to clone: every part is shared.
#[derive(Clone)]
pub struct AuditService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    writer: AuditWriter,
    verify_slots: Arc<Semaphore>,
    coalescer: Arc<Coalescer>,
}

/// A page of a chain being read: the events come from the store [`LIST_PAGE`] at a time, so a
/// listing of up to [`MAX_LIMIT`] events is written out without holding them all.
pub struct Listing {
    store: Arc<dyn Store>,
    chain: Chain,
    category: Option<Category>,
    after: i64,
    remaining: u32,
    page: u32,
}

impl Listing {
    /// Reads `n` events a time (at least 1) instead of [`LIST_PAGE`]: for a caller that holds the
    /// whole listing anyway (the console's page), one query instead of ten.
    #[must_use]
    pub fn in_pages_of(mut self, n: u32) -> Self {
        self.page = n.max(1);
        self
    }

    /// The next events (empty at the end).
    pub async fn next_page(&mut self) -> Result<Vec<StoredEvent>> {
        if self.remaining == 0 {
            return Ok(Vec::new());
        }
        let want = self.remaining.min(self.page);
        let page = self
            .store
            .chain_events(self.chain, self.after, want, self.category)
            .await?;
        self.remaining = if (page.len() as u32) < want {
            0
        } else {
            self.remaining - want
        };
        if let Some(last) = page.last() {
            self.after = last.seq;
        }
        Ok(page)
    }
}

impl AuditService {
    /// The service's clock (background tasks stamp their own events with it).
    #[must_use]
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, writer: AuditWriter) -> Self {
        Self {
            store,
            clock,
            writer,
            verify_slots: Arc::new(Semaphore::new(DEFAULT_VERIFY_CONCURRENCY)),
            coalescer: Arc::new(Coalescer::new()),
        }
    }

    /// At most `n` (at least 1) verifications at once in this instance.
    #[must_use]
    pub fn with_verify_concurrency(mut self, n: usize) -> Self {
        self.verify_slots = Arc::new(Semaphore::new(n.max(1)));
        self
    }

    #[must_use]
    pub fn writer(&self) -> &AuditWriter {
        &self.writer
    }

    #[must_use]
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// A verification slot, waiting for one (background verification).
    pub async fn verify_slot(&self) -> Result<OwnedSemaphorePermit> {
        self.verify_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Unavailable("verification closed".into()))
    }

    /// A verification slot now, or `429` with `Retry-After` (API requests never queue).
    fn verify_slot_now(&self) -> Result<OwnedSemaphorePermit> {
        self.verify_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::RateLimited {
                retry_after_secs: VERIFY_BUSY_RETRY_SECS,
            })
    }

    /// `GET /v1/orgs/{org}/audit`: owners and admins, or a key with `audit:read`.
    pub fn list(
        &self,
        access: &OrgAccess,
        category: Option<&str>,
        after: i64,
        limit: Option<u32>,
    ) -> Result<Listing> {
        access.manager_or_scope(crate::scope::AUDIT_READ)?;
        self.listing(Chain::Org(access.org().id), category, after, limit)
    }

    fn listing(
        &self,
        chain: Chain,
        category: Option<&str>,
        after: i64,
        limit: Option<u32>,
    ) -> Result<Listing> {
        let (category, limit) = page_args(category, limit)?;
        Ok(Listing {
            store: self.store.clone(),
            chain,
            category,
            after: after.max(0),
            remaining: limit,
            page: LIST_PAGE,
        })
    }

    /// `GET /v1/orgs/{org}/audit/verify`: always the whole chain.
    pub async fn verify_org(&self, access: &OrgAccess) -> Result<Report> {
        access.manager_or_scope(crate::scope::AUDIT_READ)?;
        let _slot = self.verify_slot_now()?;
        verify_chain(self.store.as_ref(), Chain::Org(access.org().id)).await
    }

    /// The writer key of `POST /v1/orgs/{org}/audit/events` (checked before the body is).
    pub fn may_append(&self, access: &OrgAccess) -> Result<ApiKeyId> {
        access.member_or_scope(crate::scope::AUDIT_WRITE)?;
        match access.actor() {
            OrgActor::Key { id, .. } => Ok(*id),
            OrgActor::User { .. } => Err(crate::service::access::insufficient_scope()),
        }
    }

    /// An event an anonymous client caused: written now, or counted into the one its client
    /// and action already had this minute.
    pub async fn record_anonymous(&self, event: NewEvent) -> Result<()> {
        match self.coalescer.admit(event, self.clock.now()) {
            Some(e) => self.writer.append(vec![e]).await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// Writes the counts of anonymous events whose minute is over; how many events that took.
    pub async fn flush_coalesced(&self) -> Result<usize> {
        let events = self.coalescer.flush(self.clock.now());
        let n = events.len();
        self.writer.append(events).await?;
        Ok(n)
    }

    /// `POST /v1/orgs/{org}/audit/events`: a key with `audit:write` appends to its org's chain.
    pub async fn append_app_event(
        &self,
        access: &OrgAccess,
        event: AppEvent,
        client: &ClientInfo,
    ) -> Result<StoredEvent> {
        let id = self.may_append(access)?;
        let mut fields = std::collections::BTreeMap::new();
        if !valid_action(&event.action) {
            fields.insert("action".to_owned(), "invalid".to_owned());
        } else if RESERVED.iter().any(|p| event.action.starts_with(p)) {
            fields.insert("action".to_owned(), "reserved".to_owned());
        }
        let outcome = match event.outcome.as_deref() {
            None => Some(Outcome::Success),
            Some(o) => Outcome::parse(o),
        };
        if outcome.is_none() {
            fields.insert("outcome".to_owned(), "invalid".to_owned());
        }
        if !event.details.is_object() {
            fields.insert("details".to_owned(), "invalid".to_owned());
        } else if let Some(code) = jcs::value_problem(&event.details) {
            fields.insert("details".to_owned(), code.to_owned());
        } else if jcs::canonical(&event.details).len() > MAX_DETAILS_BYTES {
            fields.insert("details".to_owned(), "too_large".to_owned());
        }
        let target = match &event.target {
            Some((kind, tid)) if valid_action(kind) && !tid.is_empty() && tid.len() <= 200 => {
                Some(Target::dynamic(kind, tid))
            }
            Some(_) => {
                fields.insert("target".to_owned(), "invalid".to_owned());
                None
            }
            None => None,
        };
        if !fields.is_empty() {
            return Err(Error::Validation(fields));
        }
        let mut e = NewEvent::new(
            Chain::Org(access.org().id),
            Category::Audit,
            &event.action,
            Actor::ApiKey(id),
            client,
            self.clock.now(),
        )
        .outcome(outcome.unwrap_or(Outcome::Success))
        .details(event.details);
        e.target = target;
        let mut sealed = self.writer.append(vec![e]).await?;
        sealed
            .pop()
            .ok_or_else(|| Error::internal("audit writer returned nothing"))
    }

    /// `GET /v1/auth/events`: the caller's own security events, newest first.
    pub async fn user_events(&self, user: crate::ids::UserId) -> Result<Vec<StoredEvent>> {
        self.store.user_events(user, DEFAULT_LIMIT).await
    }

    /// The `system` chain, for platform admins.
    /// The proof the `system` chain's routes take: a platform admin's session, else `403`.
    pub fn platform_admin(&self, session: &SessionPrincipal) -> Result<PlatformAdmin> {
        PlatformAdmin::check(session)
    }

    pub fn list_system(
        &self,
        _admin: &PlatformAdmin,
        category: Option<&str>,
        after: i64,
        limit: Option<u32>,
    ) -> Result<Listing> {
        self.listing(Chain::System, category, after, limit)
    }

    pub async fn verify_system(&self, _admin: &PlatformAdmin) -> Result<Report> {
        let _slot = self.verify_slot_now()?;
        verify_chain(self.store.as_ref(), Chain::System).await
    }
}

/// The text of an app event's body, before parsing: `422` (`details`: `number_out_of_range`)
/// for a number no RFC 8785 implementation writes back exactly.
pub fn check_app_event_text(text: &str) -> Result<()> {
    match jcs::literal_problem(text) {
        Some(code) => Err(Error::field("details", code)),
        None => Ok(()),
    }
}

fn page_args(category: Option<&str>, limit: Option<u32>) -> Result<(Option<Category>, u32)> {
    let category =
        match category {
            None | Some("") => None,
            Some(c) => Some(Category::parse(c).ok_or_else(|| {
                Error::InvalidRequest("category must be audit or security".into())
            })?),
        };
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(Error::InvalidRequest("limit must be 1 to 1000".into())),
        Some(n) => n.min(MAX_LIMIT),
    };
    Ok((category, limit))
}

/// `^[a-z][a-z0-9_.-]{0,63}$`
fn valid_action(s: &str) -> bool {
    let mut bytes = s.bytes();
    s.len() <= 64
        && matches!(bytes.next(), Some(b'a'..=b'z'))
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}
