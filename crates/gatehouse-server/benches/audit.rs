//! The audit log: durable appends per second (through the group-commit writer, on one chain and
//! spread over ten; and one event per transaction for comparison), and verification speed (in
//! memory, and reading the chain back from the database), on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::BenchDb;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_core::audit::chain::{GENESIS, Verifier, seal};
use gatehouse_core::audit::{Actor, Category, Chain, NewEvent};
use gatehouse_core::ids::OrgId;
use gatehouse_core::service::audit::verify_chain;
use gatehouse_core::service::{AuditWriter, ClientInfo};
use gatehouse_core::store::Store;
use serde_json::json;

/// Requests in flight at once while measuring appends.
const IN_FLIGHT: u64 = 256;
const VERIFY_EVENTS: u64 = 100_000;

fn event(chain: Chain, i: u64) -> NewEvent {
    let client = ClientInfo {
        ip: Some("203.0.113.10".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) bench".into()),
        request_id: Some(uuid::Uuid::now_v7().to_string()),
    };
    NewEvent::new(chain, Category::Audit, "agent.work_logged", Actor::System, &client, time::OffsetDateTime::now_utc())
        .details(json!({ "engine": "bench", "summary": "a typical event of a few hundred bytes", "i": i, "duration_s": 1.5 }))
}

async fn open(db: &BenchDb) -> Arc<dyn Store> {
    gatehouse_store::migrate(&db.url).await.unwrap();
    gatehouse_store::open(&db.url).await.unwrap().store
}

/// `iters` durable appends by `IN_FLIGHT` concurrent callers through the writer.
async fn appends(writer: &AuditWriter, chains: &[Chain], iters: u64) -> Duration {
    let per_task = iters.div_ceil(IN_FLIGHT);
    let started = Instant::now();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|t| {
            let writer = writer.clone();
            let chains = chains.to_vec();
            tokio::spawn(async move {
                for i in 0..per_task {
                    let chain = chains[((t * per_task + i) as usize) % chains.len()];
                    writer.append(vec![event(chain, i)]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started
        .elapsed()
        .mul_f64(iters as f64 / (per_task * IN_FLIGHT) as f64)
}

fn audit(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sqlite = rt.block_on(BenchDb::sqlite());
    let postgres = rt.block_on(BenchDb::postgres());

    let mut group = c.benchmark_group("audit_append");
    group.throughput(Throughput::Elements(1));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let store = rt.block_on(open(db));
        let writer = rt.block_on(async { AuditWriter::start(store.clone()) });
        let one = [Chain::Org(OrgId::new())];
        let ten: Vec<Chain> = (0..10).map(|_| Chain::Org(OrgId::new())).collect();
        group.bench_function(format!("group_commit_one_chain_{label}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let writer = writer.clone();
                async move { appends(&writer, &one, iters).await }
            })
        });
        group.bench_function(format!("group_commit_ten_chains_{label}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let (writer, ten) = (writer.clone(), ten.clone());
                async move { appends(&writer, &ten, iters).await }
            })
        });
        let own = Chain::Org(OrgId::new());
        group.bench_function(format!("own_transaction_one_chain_{label}"), |b| {
            b.to_async(&rt)
                .iter(|| async { store.append_events(&[event(own, 0)]).await.unwrap() })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("audit_verify");
    group.throughput(Throughput::Elements(VERIFY_EVENTS));
    group.sample_size(10);
    let mut prev = GENESIS.to_owned();
    let sealed: Vec<_> = (1..=VERIFY_EVENTS as i64)
        .map(|seq| {
            let s = seal(&event(Chain::System, seq as u64), seq, &prev);
            prev = s.hash.clone();
            s
        })
        .collect();
    group.bench_function("in_memory", |b| {
        b.iter(|| {
            let mut v = Verifier::new();
            for e in &sealed {
                v.push_event(e);
            }
            assert!(v.report().valid);
        })
    });
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let store = rt.block_on(open(db));
        let chain = Chain::Org(OrgId::new());
        rt.block_on(async {
            let events: Vec<NewEvent> = (0..VERIFY_EVENTS).map(|i| event(chain, i)).collect();
            for batch in events.chunks(2_000) {
                store.append_events(batch).await.unwrap();
            }
        });
        group.bench_function(format!("from_database_{label}"), |b| {
            b.to_async(&rt).iter(|| async {
                let r = verify_chain(store.as_ref(), chain).await.unwrap();
                assert!(r.valid && r.events == VERIFY_EVENTS);
            })
        });
    }
    group.finish();
    if let Some(db) = postgres {
        rt.block_on(db.drop_now());
    }
}

criterion_group!(benches, audit);
criterion_main!(benches);
