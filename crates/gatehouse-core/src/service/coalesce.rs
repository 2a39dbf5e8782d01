//! Coalescing the events anonymous clients cause (SPEC §9): `csrf.rejected`, `authz.denied`
//! without a credential, … are written at most once per client (IPv4 address, IPv6 /64), chain
//! and action per minute, with a `count` of the occurrences the event stands for. So nobody can
//! fill a chain by sending forged requests.
//!
//! The first occurrence in a window is written at once (count 1, plus any occurrences still
//! counted from the window before); later ones in the same minute are only counted, and
//! [`Coalescer::flush`] writes one event for them once their window is over (a window that
//! ends by a flush is followed by a new one, so even then one minute never holds two events
//! of a key). Counts not yet flushed are lost if the process stops: at most a minute's worth.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::audit::NewEvent;

/// One event per key per this long.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Keys remembered at most (each holds one event of a few KiB at most: its path and user agent
/// are cut to 512 characters); past this, new clients share one key per chain and action.
const MAX_KEYS: usize = 10_000;
/// The client part of the shared key when [`MAX_KEYS`] is reached.
const OVERFLOW: &str = "*";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    chain: String,
    action: String,
    client: String,
}

#[derive(Debug)]
struct Entry {
    window_start: OffsetDateTime,
    /// Occurrences counted but not yet written, and the last of them (the flushed event's model).
    pending: u64,
    last: Option<NewEvent>,
}

/// The memory of recent anonymous events; shared by every request of the instance.
#[derive(Debug, Default)]
pub struct Coalescer {
    entries: Mutex<HashMap<Key, Entry>>,
}

/// The client an event is counted for: the IPv4 address, or the /64 an IPv6 address is in
/// (an IPv4-mapped IPv6 address counts as the IPv4 address).
#[must_use]
pub fn client_key(ip: Option<&str>) -> String {
    match ip.and_then(|s| s.parse::<IpAddr>().ok()) {
        Some(IpAddr::V6(v6)) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                v4.to_string()
            } else {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                format!("{}/64", std::net::Ipv6Addr::from(prefix))
            }
        }
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => ip.unwrap_or("").to_owned(),
    }
}

fn with_count(mut event: NewEvent, count: u64) -> NewEvent {
    match &mut event.details {
        Value::Object(map) => {
            map.insert("count".to_owned(), json!(count));
        }
        other => *other = json!({ "count": count }),
    }
    event
}

impl Coalescer {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// `Some(event)` (with its `count`) when it is to be written now; `None` when it was
    /// counted into its key's current window.
    pub fn admit(&self, event: NewEvent, now: OffsetDateTime) -> Option<NewEvent> {
        let Ok(mut entries) = self.entries.lock() else {
            return Some(with_count(event, 1));
        };
        let mut key = Key {
            chain: event.chain.name(),
            action: event.action.clone(),
            client: client_key(event.source.ip.as_deref()),
        };
        if !entries.contains_key(&key) && entries.len() >= MAX_KEYS {
            key.client = OVERFLOW.to_owned();
        }
        match entries.get_mut(&key) {
            Some(e) if now < e.window_start + WINDOW => {
                e.pending += 1;
                e.last = Some(event);
                None
            }
            Some(e) => {
                let count = 1 + e.pending;
                *e = Entry {
                    window_start: now,
                    pending: 0,
                    last: None,
                };
                Some(with_count(event, count))
            }
            None => {
                entries.insert(
                    key,
                    Entry {
                        window_start: now,
                        pending: 0,
                        last: None,
                    },
                );
                Some(with_count(event, 1))
            }
        }
    }

    /// The events of windows that are over and still hold counted occurrences (each starts a
    /// new window); windows that are over with nothing counted are forgotten.
    pub fn flush(&self, now: OffsetDateTime) -> Vec<NewEvent> {
        let Ok(mut entries) = self.entries.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        entries.retain(|_, e| {
            if now < e.window_start + WINDOW {
                return true;
            }
            match e.last.take() {
                Some(last) if e.pending > 0 => {
                    out.push(with_count(last, e.pending));
                    e.pending = 0;
                    e.window_start = now;
                    true
                }
                _ => false,
            }
        });
        out
    }

    /// Keys remembered now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_per_64() {
        assert_eq!(
            client_key(Some("2001:db8:1:2:aaaa::1")),
            client_key(Some("2001:db8:1:2:ffff::9"))
        );
        assert_eq!(client_key(Some("2001:db8:1:2::1")), "2001:db8:1:2::/64");
        assert_ne!(
            client_key(Some("2001:db8:1:2::1")),
            client_key(Some("2001:db8:1:3::1"))
        );
        assert_eq!(client_key(Some("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(client_key(Some("192.0.2.1")), "192.0.2.1");
        assert_ne!(client_key(Some("192.0.2.1")), client_key(Some("192.0.2.2")));
    }

    #[test]
    fn remembered_events_stay_small() {
        let client = crate::service::ClientInfo {
            ip: Some("192.0.2.1".into()),
            user_agent: Some("u".repeat(10_000)),
            request_id: None,
        };
        let long = format!("/{}", "p".repeat(10_000));
        let e = crate::service::events::csrf_rejected(
            crate::audit::Actor::Anonymous,
            "POST",
            &long,
            &client,
            OffsetDateTime::UNIX_EPOCH,
        );
        assert_eq!(e.details["path"].as_str().map(str::len), Some(512));
        assert_eq!(e.source.user_agent.as_deref().map(str::len), Some(512));
    }
}
