//! Each chain's remembered verified head, the scheduled verification that continues from it
//! (hashing only what is new, while a full verification still finds an old edit), and the
//! per-minute coalescing of anonymous events through the audit service with a manual clock.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use gatehouse_core::audit::{Actor, Chain, NewEvent};
use gatehouse_core::clock::Clock;
use gatehouse_core::ids::OrgId;
use gatehouse_core::service::audit::{verify_chain, verify_new};
use gatehouse_core::service::{AuditService, AuditWriter, ClientInfo, events};
use time::OffsetDateTime;

use crate::audit::{event, tamper};
use crate::conformance;
use crate::harness::{Fresh, at};

conformance!(
    the_verified_head_only_moves_forward,
    scheduled_verification_hashes_only_what_is_new,
    anonymous_events_are_coalesced_per_client_and_minute
);

pub(crate) async fn append(f: &Fresh, chain: Chain, n: usize) {
    let events: Vec<NewEvent> = (0..n)
        .map(|i| event(chain, &format!("thing.{i}")))
        .collect();
    f.store.append_events(&events).await.unwrap();
}

async fn the_verified_head_only_moves_forward(f: Fresh) {
    let org = Chain::Org(OrgId::new());
    assert_eq!(
        f.store.verified_head(org).await.unwrap(),
        None,
        "no chain yet"
    );
    append(&f, org, 3).await;
    assert_eq!(
        f.store.verified_head(org).await.unwrap(),
        None,
        "nothing verified yet"
    );
    f.store.record_verified(org, 2, "hash-two").await.unwrap();
    assert_eq!(
        f.store.verified_head(org).await.unwrap(),
        Some((2, "hash-two".to_owned()))
    );
    f.store.record_verified(org, 1, "hash-one").await.unwrap();
    assert_eq!(
        f.store.verified_head(org).await.unwrap(),
        Some((2, "hash-two".to_owned())),
        "an older head never replaces a newer one"
    );
    f.store.record_verified(org, 3, "hash-three").await.unwrap();
    assert_eq!(
        f.store.verified_head(org).await.unwrap().map(|h| h.0),
        Some(3)
    );
    assert_eq!(
        f.store.verified_head(Chain::System).await.unwrap(),
        None,
        "per chain"
    );
    // Appending moves the chain's head, not its verified head.
    append(&f, org, 2).await;
    assert_eq!(f.store.chain_head(org).await.unwrap().map(|h| h.0), Some(5));
    assert_eq!(
        f.store.verified_head(org).await.unwrap().map(|h| h.0),
        Some(3)
    );
}

async fn scheduled_verification_hashes_only_what_is_new(f: Fresh) {
    let org = Chain::Org(OrgId::new());
    let chain = org.name();
    append(&f, org, 5).await;
    let first = verify_new(f.store.as_ref(), org).await.unwrap();
    assert!(
        first.valid && first.events == 5 && first.head_seq == 5,
        "{first:?}"
    );
    assert_eq!(
        f.store.verified_head(org).await.unwrap(),
        Some((5, first.head_hash.clone()))
    );
    let idle = verify_new(f.store.as_ref(), org).await.unwrap();
    assert!(
        idle.valid && idle.events == 0 && idle.head_seq == 5,
        "{idle:?}"
    );
    append(&f, org, 3).await;
    let next = verify_new(f.store.as_ref(), org).await.unwrap();
    assert!(next.valid && next.head_seq == 8, "{next:?}");
    assert_eq!(next.events, 3, "only the new events are hashed");

    // An edit behind the verified head: the incremental pass does not look back, a full
    // verification (which never trusts the remembered head) does.
    tamper(&f, &[format!(
        "UPDATE audit_events SET body = replace(body, 'thing.1', 'thing.X') WHERE chain = '{chain}' AND seq = 2"
    ).as_str()])
    .await;
    append(&f, org, 1).await;
    let incremental = verify_new(f.store.as_ref(), org).await.unwrap();
    assert!(
        incremental.valid && incremental.events == 1,
        "{incremental:?}"
    );
    let full = verify_chain(f.store.as_ref(), org).await.unwrap();
    assert_eq!(
        (full.valid, full.first_bad_seq),
        (false, Some(2)),
        "{full:?}"
    );

    // An edit to the remembered head's own event is found, and named exactly.
    tamper(&f, &[format!(
        "UPDATE audit_events SET body = replace(body, 'thing.0', 'thing.Y') WHERE chain = '{chain}' AND seq = 9"
    ).as_str()])
    .await;
    let r = verify_new(f.store.as_ref(), org).await.unwrap();
    assert!(!r.valid, "{r:?}");
    assert_eq!(
        r.first_bad_seq,
        Some(2),
        "falls back to a full verification: {r:?}"
    );
    assert_eq!(
        f.store.verified_head(org).await.unwrap().map(|h| h.0),
        Some(9),
        "a broken verification remembers nothing"
    );

    // An edit after the verified head is found by the incremental pass itself.
    let other = Chain::Org(OrgId::new());
    let other_name = other.name();
    append(&f, other, 4).await;
    verify_new(f.store.as_ref(), other).await.unwrap();
    append(&f, other, 2).await;
    tamper(&f, &[format!(
        "UPDATE audit_events SET body = replace(body, 'thing.1', 'thing.Z') WHERE chain = '{other_name}' AND seq = 6"
    ).as_str()])
    .await;
    let r = verify_new(f.store.as_ref(), other).await.unwrap();
    assert_eq!((r.valid, r.first_bad_seq), (false, Some(6)), "{r:?}");

    // A chain cut back behind its recorded head as well (so it verifies on its own): the
    // remembered head is missing, which the scheduled verification reports.
    let cut = Chain::Org(OrgId::new());
    let name = cut.name();
    append(&f, cut, 6).await;
    verify_new(f.store.as_ref(), cut).await.unwrap();
    tamper(
        &f,
        &[
            format!("DELETE FROM audit_events WHERE chain = '{name}' AND seq > 4").as_str(),
            format!("UPDATE audit_chains SET head_seq = 4, head_hash = (SELECT hash FROM audit_events WHERE chain = '{name}' AND seq = 4) WHERE chain = '{name}'").as_str(),
        ],
    )
    .await;
    assert!(verify_chain(f.store.as_ref(), cut).await.unwrap().valid);
    let r = verify_new(f.store.as_ref(), cut).await.unwrap();
    assert_eq!((r.valid, r.first_bad_seq), (false, Some(5)), "{r:?}");
}

/// A clock the test moves by hand.
struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap();
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.0.lock().unwrap()
    }
}

fn forged(ip: &str, clock: &ManualClock) -> NewEvent {
    let client = ClientInfo {
        ip: Some(ip.to_owned()),
        user_agent: Some("forger".into()),
        request_id: None,
    };
    events::csrf_rejected(
        Actor::Anonymous,
        "POST",
        "/v1/auth/login",
        &client,
        clock.now(),
    )
}

async fn csrf_events(f: &Fresh) -> Vec<serde_json::Value> {
    f.store
        .chain_events(Chain::System, 0, 1000, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.to_json())
        .filter(|e| e["action"] == "csrf.rejected")
        .collect()
}

async fn anonymous_events_are_coalesced_per_client_and_minute(f: Fresh) {
    let clock = Arc::new(ManualClock(Mutex::new(at(0))));
    let writer = AuditWriter::start(f.store.clone());
    let audit = AuditService::new(f.store.clone(), clock.clone(), writer);
    for i in 0..300 {
        let ip = if i % 2 == 0 {
            "2001:db8:7:7::1"
        } else {
            "2001:db8:7:7:abcd::2"
        };
        audit.record_anonymous(forged(ip, &clock)).await.unwrap();
    }
    audit
        .record_anonymous(forged("192.0.2.9", &clock))
        .await
        .unwrap();
    let seen = csrf_events(&f).await;
    assert_eq!(seen.len(), 2, "one per client (an IPv6 /64) and action");
    assert!(seen.iter().all(|e| e["details"]["count"] == 1));
    assert_eq!(
        seen[0]["actor"],
        serde_json::json!({ "type": "anonymous", "id": "2001:db8:7:7::1" })
    );

    // Within the minute: counted only, even when a flush runs.
    clock.advance(Duration::from_secs(59));
    audit
        .record_anonymous(forged("2001:db8:7:7::3", &clock))
        .await
        .unwrap();
    assert_eq!(audit.flush_coalesced().await.unwrap(), 0);
    assert_eq!(csrf_events(&f).await.len(), 2);

    // The minute is over: one event carries the 300 counted occurrences (299 + 1 just now);
    // the other client counted nothing more, so it has nothing to write.
    clock.advance(Duration::from_secs(1));
    assert_eq!(audit.flush_coalesced().await.unwrap(), 1);
    let seen = csrf_events(&f).await;
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2]["details"]["count"], 300);
    assert_eq!(
        seen[2]["ip"], "2001:db8:7:7::3",
        "the last occurrence stands for them"
    );

    // That flush began a new minute for its client: the next occurrence is counted, not written.
    clock.advance(Duration::from_secs(30));
    audit
        .record_anonymous(forged("2001:db8:7:7::1", &clock))
        .await
        .unwrap();
    assert_eq!(csrf_events(&f).await.len(), 3);
    // After it, the next occurrence is written at once, counting the one before it.
    clock.advance(Duration::from_secs(31));
    audit
        .record_anonymous(forged("2001:db8:7:7::1", &clock))
        .await
        .unwrap();
    let seen = csrf_events(&f).await;
    assert_eq!(seen.len(), 4);
    assert_eq!(seen[3]["details"]["count"], 2);
    // A quiet minute forgets the client: nothing left to flush.
    clock.advance(Duration::from_secs(61));
    assert_eq!(audit.flush_coalesced().await.unwrap(), 0);
    assert!(
        gatehouse_core::service::audit::verify_chain(f.store.as_ref(), Chain::System)
            .await
            .unwrap()
            .valid
    );
}
