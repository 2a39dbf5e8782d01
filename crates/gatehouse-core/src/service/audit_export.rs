//! One round of an audit export sink for one chain (SPEC §12), independent of where the events
//! go: from the sink's acknowledged cursor, the whole chain is verified, then batches of new
//! events (each checked to continue the chain from the cursor) are handed to the receiver in
//! `seq` order; each acknowledged batch moves the cursor. A chain whose head fell below the
//! cursor (acknowledged events gone) counts as broken. Delivery is at-least-once: a batch
//! sent but not acknowledged (crash, timeout) is sent again. A break stops the sink for that
//! chain, remembered in the store, so it stays stopped across restarts.

use std::time::Duration;

use async_trait::async_trait;

use crate::Result;
use crate::audit::chain::{GENESIS, Verifier};
use crate::audit::{Actor, Category, Chain, NewEvent, Outcome, StoredEvent};
use crate::client::ClientInfo;
use crate::service::AuditService;
use crate::service::audit_verify::verify_chain;

/// Where a sink delivers a batch: a JSON array of events, in `seq` order.
#[async_trait]
pub trait Deliver: Send + Sync {
    /// `Ok` once the receiver acknowledged the batch; `Err` with a reason otherwise.
    async fn deliver(&self, chain: Chain, body: Vec<u8>) -> std::result::Result<(), String>;
}

/// What one round did for a chain.
#[derive(Debug, PartialEq, Eq)]
pub enum RoundOutcome {
    /// This many events were acknowledged (0: nothing new, or the sink is stopped).
    Delivered(u64),
    /// The chain breaks at this `seq`: the sink stopped for it now.
    Stopped(i64),
    /// The receiver refused or could not be reached after this many events were acknowledged.
    Failed { delivered: u64, reason: String },
}

/// The JSON array of `events`, each as the export format writes it (with `hash`).
#[must_use]
pub fn batch_body(events: &[StoredEvent]) -> Vec<u8> {
    let mut body = String::from("[");
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&e.to_json_text());
    }
    body.push(']');
    body.into_bytes()
}

/// Delivers what `chain` holds beyond `sink`'s cursor, `batch` events at a time. The whole
/// chain's verification takes one of `audit`'s verification slots (released before anything
/// is sent); `audit`'s clock stamps the cursor and a stop.
pub async fn export_round(
    audit: &AuditService,
    sink: &str,
    chain: Chain,
    batch: u32,
    to: &dyn Deliver,
) -> Result<RoundOutcome> {
    let store = audit.store().as_ref();
    let cursor = store.export_cursor(sink, chain).await?;
    if cursor.as_ref().is_some_and(|c| c.stopped_seq.is_some()) {
        return Ok(RoundOutcome::Delivered(0));
    }
    let (mut seq, hash) = cursor.map_or((0, GENESIS.to_owned()), |c| (c.seq, c.hash));
    let head_seq = store.chain_head(chain).await?.map_or(0, |(s, _)| s);
    if head_seq < seq {
        // Events the receiver acknowledged are gone (a restore from an older backup, a
        // truncation): the chain no longer continues what was delivered.
        return stop(audit, sink, chain, head_seq + 1).await;
    }
    if head_seq == seq {
        return Ok(RoundOutcome::Delivered(0));
    }
    let whole = {
        let _slot = audit.verify_slot().await?;
        verify_chain(store, chain).await?
    };
    if let Some(bad) = whole.first_bad_seq {
        return stop(audit, sink, chain, bad).await;
    }
    let mut verifier = Verifier::resume(seq, &hash);
    let mut delivered = 0;
    loop {
        let events = store.chain_events(chain, seq, batch, None).await?;
        let Some(last) = events.last() else {
            return Ok(RoundOutcome::Delivered(delivered));
        };
        for e in &events {
            if !verifier.push_event(e) {
                let bad = verifier.report().first_bad_seq.unwrap_or(e.seq);
                return stop(audit, sink, chain, bad).await;
            }
        }
        if let Err(reason) = to.deliver(chain, batch_body(&events)).await {
            return Ok(RoundOutcome::Failed { delivered, reason });
        }
        store
            .record_exported(sink, chain, last.seq, &last.hash, audit.now())
            .await?;
        delivered += events.len() as u64;
        seq = last.seq;
        if (events.len() as u32) < batch {
            return Ok(RoundOutcome::Delivered(delivered));
        }
    }
}

/// Stops `sink` for `chain` and records `audit.export_stopped`, in one transaction.
async fn stop(audit: &AuditService, sink: &str, chain: Chain, bad: i64) -> Result<RoundOutcome> {
    let now = audit.now();
    let event = stopped_event(sink, chain, bad, now);
    audit
        .store()
        .record_export_stopped(sink, chain, bad, now, &[event])
        .await?;
    Ok(RoundOutcome::Stopped(bad))
}

/// The security event a stopped sink records in the system chain.
#[must_use]
pub fn stopped_event(sink: &str, chain: Chain, bad: i64, at: time::OffsetDateTime) -> NewEvent {
    NewEvent::new(
        Chain::System,
        Category::Security,
        "audit.export_stopped",
        Actor::System,
        &ClientInfo::default(),
        at,
    )
    .outcome(Outcome::Failure)
    .details(serde_json::json!({ "sink": sink, "chain": chain.name(), "first_bad_seq": bad }))
}

/// How long a sink waits after `failures` consecutive failed rounds: `base` doubled each time,
/// at most `max`.
#[must_use]
pub fn backoff(base: Duration, failures: u32, max: Duration) -> Duration {
    let factor = 1u32.checked_shl(failures.min(16)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let s = Duration::from_secs;
        assert_eq!(backoff(s(1), 0, s(300)), s(1));
        assert_eq!(backoff(s(1), 1, s(300)), s(2));
        assert_eq!(backoff(s(1), 5, s(300)), s(32));
        assert_eq!(backoff(s(1), 9, s(300)), s(300));
        assert_eq!(backoff(s(1), u32::MAX, s(300)), s(300));
    }
}
