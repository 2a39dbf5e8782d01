//! Reading and verifying audit chains, apps' own events, and a user's security events.

use std::sync::Arc;

use serde_json::Value;

use crate::audit::chain::{Report, Verifier};
use crate::audit::{Actor, Category, Chain, NewEvent, Outcome, StoredEvent, Target};
use crate::clock::Clock;
use crate::service::ClientInfo;
use crate::service::access::{OrgAccess, OrgActor};
use crate::service::audit_writer::AuditWriter;
use crate::store::Store;
use crate::{Error, Result};

/// Default and largest page of `GET …/audit`.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
/// Events read per page while verifying.
const VERIFY_PAGE: u32 = 10_000;

/// Action prefixes that belong to gatehouse; apps write their own names.
const RESERVED: &[&str] = &[
    "auth.",
    "token.",
    "authz.",
    "csrf.",
    "session.",
    "password.",
    "org.",
    "member.",
    "invitation.",
    "api_key.",
    "user.",
    "users.",
    "setup.",
    "audit.",
];

/// An app's own event, as `POST /v1/orgs/{org}/audit/events` receives it.
#[derive(Debug, Clone)]
pub struct AppEvent {
    pub action: String,
    pub outcome: Option<String>,
    pub target: Option<(String, String)>,
    pub details: Value,
}

pub struct AuditService {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    writer: AuditWriter,
}

impl AuditService {
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>, writer: AuditWriter) -> Self {
        AuditService {
            store,
            clock,
            writer,
        }
    }

    pub fn writer(&self) -> &AuditWriter {
        &self.writer
    }

    /// `GET /v1/orgs/{org}/audit`: owners and admins, or a key with `audit:read`.
    pub async fn list(
        &self,
        access: &OrgAccess,
        category: Option<&str>,
        after: i64,
        limit: Option<u32>,
    ) -> Result<Vec<StoredEvent>> {
        access.manager_or_scope("audit:read")?;
        let (category, limit) = page_args(category, limit)?;
        self.store
            .chain_events(Chain::Org(access.org().id), after.max(0), limit, category)
            .await
    }

    /// `GET /v1/orgs/{org}/audit/verify`.
    pub async fn verify_org(&self, access: &OrgAccess) -> Result<Report> {
        access.manager_or_scope("audit:read")?;
        verify_chain(self.store.as_ref(), Chain::Org(access.org().id)).await
    }

    /// `POST /v1/orgs/{org}/audit/events`: a key with `audit:write` appends to its org's chain.
    pub async fn append_app_event(
        &self,
        access: &OrgAccess,
        event: AppEvent,
        client: &ClientInfo,
    ) -> Result<StoredEvent> {
        access.member_or_scope("audit:write")?;
        let OrgActor::Key { id, .. } = access.actor() else {
            return Err(crate::service::access::insufficient_scope());
        };
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
            Actor::ApiKey(*id),
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
    pub async fn list_system(
        &self,
        category: Option<&str>,
        after: i64,
        limit: Option<u32>,
    ) -> Result<Vec<StoredEvent>> {
        let (category, limit) = page_args(category, limit)?;
        self.store
            .chain_events(Chain::System, after.max(0), limit, category)
            .await
    }

    pub async fn verify_system(&self) -> Result<Report> {
        verify_chain(self.store.as_ref(), Chain::System).await
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

/// Verifies a whole chain from the store, and its last event against the recorded head (so a
/// deleted last event is found too).
pub async fn verify_chain(store: &dyn Store, chain: Chain) -> Result<Report> {
    let mut verifier = Verifier::new();
    let mut after = 0;
    loop {
        let page = store.chain_events(chain, after, VERIFY_PAGE, None).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            if !verifier.push_event(e) {
                break;
            }
        }
        if verifier.is_broken() || (page.len() as u32) < VERIFY_PAGE {
            break;
        }
    }
    let mut report = verifier.report();
    if report.valid {
        let (head_seq, head_hash) = store
            .chain_head(chain)
            .await?
            .unwrap_or((0, crate::audit::chain::GENESIS.to_owned()));
        if head_seq != report.head_seq || head_hash != report.head_hash {
            report.valid = false;
            report.first_bad_seq = Some(report.head_seq.min(head_seq) + 1);
        }
    }
    Ok(report)
}
