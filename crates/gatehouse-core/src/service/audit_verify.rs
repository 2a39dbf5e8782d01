//! Verifying chains from the store in bounded memory: events are read and hashed in small
//! pages, whatever their sizes. A full verification ([`verify_chain`]: the API, the CLI,
//! `doctor`, the export sink) starts from the genesis every time and never trusts a remembered
//! head; the scheduled one ([`verify_new`]) continues from the chain's last verified head and
//! hashes only what was appended since.

use crate::Result;
use crate::audit::chain::{GENESIS, Report, Verifier, link_hash};
use crate::audit::{Chain, StoredEvent};
use crate::store::Store;

/// Events read per page while verifying: with events of at most a body limit (64 KiB) each, a
/// verification holds a few MiB at most.
pub const VERIFY_PAGE: u32 = 100;

/// Verifies a whole chain from the store, and its last event against the recorded head (so a
/// deleted last event is found too).
pub async fn verify_chain(store: &dyn Store, chain: Chain) -> Result<Report> {
    continue_from(store, chain, Verifier::new(), 0).await
}

/// Scheduled verification: hashes only the events after the chain's last verified head, then
/// remembers the new head. The remembered head's own event is re-hashed behind its predecessor
/// first, so an edit to it (or a chain cut below it) is still found; an edit further back is
/// left to a full verification, which ignores the remembered head. A head that does not check
/// out falls back to a full verification, which names the exact first bad `seq`; if the chain
/// verifies all the same, it no longer holds events that had verified (cut back, rewritten
/// whole, restored from an older backup) and is reported broken after its last event.
pub async fn verify_new(store: &dyn Store, chain: Chain) -> Result<Report> {
    let Some((seq, hash)) = store.verified_head(chain).await? else {
        return remember(store, chain, verify_chain(store, chain).await?).await;
    };
    let (after, limit) = if seq > 1 { (seq - 2, 2) } else { (0, 1) };
    let around = store.chain_events(chain, after, limit, None).await?;
    let (prev_hash, head) = match around.as_slice() {
        [prev, head] if seq > 1 && prev.seq == seq - 1 => (prev.hash.as_str(), Some(head)),
        [head] if seq == 1 => (GENESIS, Some(head)),
        _ => (GENESIS, None),
    };
    let head_holds = head.is_some_and(|e: &StoredEvent| {
        e.seq == seq && e.hash == hash && link_hash(prev_hash, &e.body) == hash
    });
    if head_holds {
        let report = continue_from(store, chain, Verifier::resume(seq, &hash), seq).await?;
        return remember(store, chain, report).await;
    }
    let mut report = verify_chain(store, chain).await?;
    if report.valid {
        // Valid, yet without the head verified before: the chain was cut back or rewritten
        // whole (or restored from an older backup), which loses events that had verified.
        report.valid = false;
        report.first_bad_seq = Some(seq.min(report.head_seq + 1));
    }
    Ok(report)
}

async fn remember(store: &dyn Store, chain: Chain, report: Report) -> Result<Report> {
    if report.valid && report.head_seq > 0 {
        store
            .record_verified(chain, report.head_seq, &report.head_hash)
            .await?;
    }
    Ok(report)
}

async fn continue_from(
    store: &dyn Store,
    chain: Chain,
    mut verifier: Verifier,
    mut after: i64,
) -> Result<Report> {
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
            .unwrap_or((0, GENESIS.to_owned()));
        if head_seq != report.head_seq || head_hash != report.head_hash {
            report.valid = false;
            report.first_bad_seq = Some(report.head_seq.min(head_seq) + 1);
        }
    }
    Ok(report)
}
