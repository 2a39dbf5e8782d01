//! The tamper-evident audit log (SPEC §9): events, their chains, and the public hashing
//! algorithm. One chain per org plus `system`; `hash = hex(SHA-256(prev_hash + "\n" +
//! JCS(event without "hash")))`, with 64 zeros before the first event.

pub mod chain;
pub mod jcs;
pub mod signature;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::client::ClientInfo;
use crate::ids::{ApiKeyId, OrgId, UserId};

/// The name of the chain that belongs to no org.
pub const SYSTEM_CHAIN: &str = "system";

/// Which chain an event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Chain {
    Org(OrgId),
    System,
}

impl Chain {
    /// The `chain` field: the org id, or `system`.
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::Org(org) => org.to_string(),
            Self::System => SYSTEM_CHAIN.to_owned(),
        }
    }

    #[must_use]
    pub fn org(&self) -> Option<OrgId> {
        match self {
            Self::Org(org) => Some(*org),
            Self::System => None,
        }
    }

    /// Back from a `chain` field.
    pub fn parse(name: &str) -> Option<Self> {
        if name == SYSTEM_CHAIN {
            Some(Self::System)
        } else {
            name.parse().ok().map(Chain::Org)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    Audit,
    Security,
}

impl Category {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Audit => "audit",
            Self::Security => "security",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "audit" => Some(Self::Audit),
            "security" => Some(Self::Security),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

impl Outcome {
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            "denied" => Some(Self::Denied),
            _ => None,
        }
    }
}

/// Who did it: `user`, `api_key`, `system` or `anonymous` (SPEC §9). `system` is gatehouse
/// itself or the CLI; `anonymous` is a request that carried no credential (a failed sign-in, a
/// refused cross-site request, an RFC 7009 revocation): its `id` is the client's IP, and the
/// event's `ip`, `user_agent` and `request_id` say the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    User(UserId),
    ApiKey(ApiKeyId),
    System,
    Anonymous,
}

impl Actor {
    fn to_json(self, ip: Option<&str>) -> Value {
        match self {
            Self::User(id) => json!({ "type": "user", "id": id }),
            Self::ApiKey(id) => json!({ "type": "api_key", "id": id }),
            Self::System => json!({ "type": "system", "id": null }),
            Self::Anonymous => json!({ "type": "anonymous", "id": ip }),
        }
    }
}

/// What it was done to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: String,
    pub id: String,
}

impl Target {
    #[must_use]
    #[allow(clippy::needless_pass_by_value)] // ids come by value, names by reference: either works
    pub fn new(kind: &'static str, id: impl ToString) -> Self {
        Self {
            kind: kind.to_owned(),
            id: id.to_string(),
        }
    }

    /// A target named by an app (validated by the caller).
    #[must_use]
    pub fn dynamic(kind: &str, id: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            id: id.to_owned(),
        }
    }
}

/// An event before it is sealed into its chain (the store assigns `seq` and `prev_hash`).
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub chain: Chain,
    pub at: OffsetDateTime,
    pub category: Category,
    pub action: String,
    pub outcome: Outcome,
    pub actor: Actor,
    pub target: Option<Target>,
    pub source: ClientInfo,
    pub details: Value,
    /// The user this event concerns (for `/v1/auth/events`); not part of the hashed event.
    pub subject: Option<UserId>,
}

impl NewEvent {
    /// An event with no target, empty details and outcome `success`.
    #[must_use]
    pub fn new(
        chain: Chain,
        category: Category,
        action: &str,
        actor: Actor,
        source: &ClientInfo,
        at: OffsetDateTime,
    ) -> Self {
        let mut source = source.clone();
        source.user_agent = source.user_agent.map(|ua| ua.chars().take(512).collect());
        Self {
            chain,
            at,
            category,
            action: action.to_owned(),
            outcome: Outcome::Success,
            actor,
            target: None,
            source,
            details: json!({}),
            subject: match actor {
                Actor::User(u) => Some(u),
                _ => None,
            },
        }
    }

    #[must_use]
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    #[must_use]
    pub fn outcome(mut self, outcome: Outcome) -> Self {
        self.outcome = outcome;
        self
    }

    #[must_use]
    pub fn details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    #[must_use]
    pub fn subject(mut self, user: Option<UserId>) -> Self {
        self.subject = user;
        self
    }

    /// The event as hashed: every field but `hash`, with its place in the chain.
    #[must_use]
    pub fn body(&self, seq: i64, prev_hash: &str) -> Value {
        let mut body = json!({
            "id": chain::event_id(&self.chain, seq, prev_hash, self.at).to_string(),
            "chain": self.chain.name(),
            "seq": seq,
            "at": timestamp(self.at),
            "category": self.category.as_str(),
            "action": self.action,
            "outcome": self.outcome.as_str(),
            "actor": self.actor.to_json(self.source.ip.as_deref()),
            "ip": self.source.ip,
            "user_agent": self.source.user_agent,
            "request_id": self.source.request_id,
            "details": self.details,
            "prev_hash": prev_hash,
        });
        if let Some(t) = &self.target {
            body["target"] = json!({ "type": t.kind, "id": t.id });
        }
        body
    }
}

/// RFC 3339 UTC with milliseconds: `2026-11-23T16:45:34.123Z`.
#[must_use]
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// An event as stored: its place, its canonical body (without `hash`) and its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub body: String,
    pub hash: String,
}

impl StoredEvent {
    /// The full event as the API and exports show it: the body plus `hash`.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let mut v: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert("hash".to_owned(), Value::String(self.hash.clone()));
        }
        v
    }

    /// The same event as JSON text without building a tree of the body: the stored canonical
    /// body (checked to be one JSON object) with `hash` added as its last member.
    #[must_use]
    pub fn to_json_text(&self) -> String {
        let one_object = self.body.starts_with('{')
            && serde_json::from_str::<serde::de::IgnoredAny>(&self.body).is_ok();
        match self.body.strip_suffix('}') {
            Some(open) if one_object && open.len() > 1 => {
                let hash = Value::String(self.hash.clone());
                format!("{open},\"hash\":{hash}}}")
            }
            _ => self.to_json().to_string(),
        }
    }
}
