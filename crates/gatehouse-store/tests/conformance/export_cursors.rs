//! Export cursors: per sink and chain, the acknowledged position only moves forward, sinks and
//! chains do not share one, and a stop is remembered without losing the position. And the
//! export round over them: in order, retried until acknowledged, stopped for good at a break.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;

use gatehouse_core::audit::Chain;
use gatehouse_core::audit::chain::GENESIS;
use gatehouse_core::clock::ManualClock;
use gatehouse_core::ids::OrgId;
use gatehouse_core::service::audit_export::{Deliver, RoundOutcome, export_round};
use gatehouse_core::service::{AuditService, AuditWriter};
use gatehouse_core::store::ExportCursor;

use crate::audit::tamper;
use crate::audit_verify::append;
use crate::conformance;
use crate::harness::{Fresh, at};

conformance!(
    a_cursor_only_moves_forward,
    a_stop_is_remembered_beside_the_position,
    rounds_deliver_in_order_and_retry_what_was_not_acknowledged,
    a_break_stops_the_sink_for_good,
    a_chain_cut_below_the_cursor_stops_the_sink
);

fn audit_service(f: &Fresh) -> AuditService {
    let writer = AuditWriter::start(f.store.clone());
    AuditService::new(
        f.store.clone(),
        std::sync::Arc::new(ManualClock::at_a_fixed_time()),
        writer,
    )
}

/// The `audit.export_stopped` events of the system chain: (chain, first_bad_seq).
async fn stops(f: &Fresh) -> Vec<(String, i64)> {
    let events = f
        .store
        .chain_events(Chain::System, 0, 1000, None)
        .await
        .unwrap();
    events
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.body).unwrap())
        .filter(|v| v["action"] == "audit.export_stopped")
        .map(|v| {
            assert_eq!(v["details"]["sink"], "webhook");
            (
                v["details"]["chain"].as_str().unwrap().to_owned(),
                v["details"]["first_bad_seq"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn cursor(seq: i64, hash: &str, stopped_seq: Option<i64>) -> Option<ExportCursor> {
    Some(ExportCursor {
        seq,
        hash: hash.to_owned(),
        stopped_seq,
    })
}

async fn a_cursor_only_moves_forward(f: Fresh) {
    let org = Chain::Org(OrgId::new());
    let s = &f.store;
    assert_eq!(s.export_cursor("webhook", org).await.unwrap(), None);
    s.record_exported("webhook", org, 5, "h5", at(1))
        .await
        .unwrap();
    s.record_exported("webhook", org, 3, "h3", at(2))
        .await
        .unwrap();
    assert_eq!(
        s.export_cursor("webhook", org).await.unwrap(),
        cursor(5, "h5", None),
        "an older acknowledgement does not move it back"
    );
    s.record_exported("webhook", org, 9, "h9", at(3))
        .await
        .unwrap();
    assert_eq!(
        s.export_cursor("webhook", org).await.unwrap(),
        cursor(9, "h9", None)
    );
    assert_eq!(
        s.export_cursor("other", org).await.unwrap(),
        None,
        "sinks keep their own cursors"
    );
    assert_eq!(
        s.export_cursor("webhook", Chain::System).await.unwrap(),
        None,
        "chains keep their own cursors"
    );
}

async fn a_stop_is_remembered_beside_the_position(f: Fresh) {
    let s = &f.store;
    let org = Chain::Org(OrgId::new());
    s.record_export_stopped("webhook", Chain::System, 4, at(1), &[])
        .await
        .unwrap();
    assert_eq!(
        s.export_cursor("webhook", Chain::System).await.unwrap(),
        cursor(0, GENESIS, Some(4)),
        "a chain broken before any delivery"
    );
    s.record_exported("webhook", org, 7, "h7", at(1))
        .await
        .unwrap();
    s.record_export_stopped("webhook", org, 8, at(2), &[])
        .await
        .unwrap();
    assert_eq!(
        s.export_cursor("webhook", org).await.unwrap(),
        cursor(7, "h7", Some(8))
    );
}

/// A receiver that records every batch and fails while `failing` is set.
#[derive(Default)]
struct Receiver {
    batches: Mutex<Vec<Vec<i64>>>,
    failing: AtomicBool,
}

#[async_trait]
impl Deliver for Receiver {
    async fn deliver(&self, _chain: Chain, body: Vec<u8>) -> Result<(), String> {
        let events: Vec<serde_json::Value> = serde_json::from_slice(&body).unwrap();
        let seqs = events.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
        self.batches.lock().unwrap().push(seqs);
        if self.failing.load(Ordering::SeqCst) {
            return Err("503".into());
        }
        Ok(())
    }
}

async fn rounds_deliver_in_order_and_retry_what_was_not_acknowledged(f: Fresh) {
    let org = Chain::Org(OrgId::new());
    let s = f.store.as_ref();
    let audit = audit_service(&f);
    let to = Receiver::default();
    append(&f, org, 5).await;
    let r = export_round(&audit, "webhook", org, 2, &to).await.unwrap();
    assert_eq!(r, RoundOutcome::Delivered(5));
    assert_eq!(
        *to.batches.lock().unwrap(),
        vec![vec![1, 2], vec![3, 4], vec![5]]
    );
    let r = export_round(&audit, "webhook", org, 2, &to).await.unwrap();
    assert_eq!(r, RoundOutcome::Delivered(0), "nothing new, nothing sent");
    assert_eq!(to.batches.lock().unwrap().len(), 3);

    append(&f, org, 3).await;
    to.failing.store(true, Ordering::SeqCst);
    let r = export_round(&audit, "webhook", org, 2, &to).await.unwrap();
    assert_eq!(
        r,
        RoundOutcome::Failed {
            delivered: 0,
            reason: "503".into()
        }
    );
    to.failing.store(false, Ordering::SeqCst);
    let r = export_round(&audit, "webhook", org, 2, &to).await.unwrap();
    assert_eq!(r, RoundOutcome::Delivered(3));
    assert_eq!(
        to.batches.lock().unwrap()[3..],
        [vec![6, 7], vec![6, 7], vec![8]],
        "the refused batch is sent again, then the rest"
    );
    assert_eq!(
        s.export_cursor("webhook", org).await.unwrap().unwrap().seq,
        8
    );
}

async fn a_break_stops_the_sink_for_good(f: Fresh) {
    let org = OrgId::new();
    let chain = Chain::Org(org);
    let s = f.store.as_ref();
    let audit = audit_service(&f);
    let to = Receiver::default();
    append(&f, chain, 3).await;
    export_round(&audit, "webhook", chain, 10, &to)
        .await
        .unwrap();
    append(&f, chain, 3).await;
    let edit = format!(
        "UPDATE audit_events SET body = replace(body, '\"n\":1', '\"n\":2') \
         WHERE chain = '{org}' AND seq = 2"
    );
    tamper(&f, &[&edit]).await;
    let r = export_round(&audit, "webhook", chain, 10, &to)
        .await
        .unwrap();
    assert_eq!(r, RoundOutcome::Stopped(2), "an old edit stops it too");
    assert_eq!(
        to.batches.lock().unwrap().len(),
        1,
        "nothing after the break"
    );
    let r = export_round(&audit, "webhook", chain, 10, &to)
        .await
        .unwrap();
    assert_eq!(r, RoundOutcome::Delivered(0), "stopped stays stopped");
    assert_eq!(
        stops(&f).await,
        vec![(org.to_string(), 2)],
        "one audit.export_stopped, written with the stop"
    );
    let c = s.export_cursor("webhook", chain).await.unwrap().unwrap();
    assert_eq!((c.seq, c.stopped_seq), (3, Some(2)));
}

async fn a_chain_cut_below_the_cursor_stops_the_sink(f: Fresh) {
    let org = OrgId::new();
    let chain = Chain::Org(org);
    let audit = audit_service(&f);
    let to = Receiver::default();
    append(&f, chain, 4).await;
    export_round(&audit, "webhook", chain, 10, &to)
        .await
        .unwrap();
    // A restore from an older backup: the acknowledged events 3 and 4 are gone.
    tamper(
        &f,
        &[
            &format!("DELETE FROM audit_events WHERE chain = '{org}' AND seq > 2"),
            &format!("UPDATE audit_chains SET head_seq = 2 WHERE chain = '{org}'"),
        ],
    )
    .await;
    let r = export_round(&audit, "webhook", chain, 10, &to)
        .await
        .unwrap();
    assert_eq!(r, RoundOutcome::Stopped(3));
    assert_eq!(stops(&f).await, vec![(org.to_string(), 3)]);
}
