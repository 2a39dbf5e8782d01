//! Rate-limit decisions: the memory backend (goal under 1 µs) and the database backend on
//! SQLite and PostgreSQL (goal 5,000 decisions a second), one at a time and 64 in flight.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::BenchDb;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatehouse_core::clock::SystemClock;
use gatehouse_core::rate_limit::{Limit, MemoryLimiter};
use gatehouse_core::service::limiter::{Backend, RateLimiter};

const IN_FLIGHT: u64 = 64;

fn limit() -> Limit {
    Limit {
        count: 1_000_000_000,
        period: Duration::from_secs(60),
    }
}

fn rate_limit(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut group = c.benchmark_group("rate_limit");
    group.throughput(Throughput::Elements(1));
    let memory = MemoryLimiter::default();
    let mut n = 0u64;
    group.bench_function("memory_one_key", |b| {
        b.iter(|| memory.check("api:key:one", 0, limit()).allowed)
    });
    group.bench_function("memory_many_keys", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            memory
                .check(
                    &format!("api:ip:10.0.{}.{}", (n >> 8) & 255, n & 255),
                    0,
                    limit(),
                )
                .allowed
        })
    });
    let sqlite = rt.block_on(BenchDb::sqlite());
    let postgres = rt.block_on(BenchDb::postgres());
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let store = rt.block_on(async {
            gatehouse_store::migrate(&db.url).await.unwrap();
            gatehouse_store::open(&db.url).await.unwrap().store
        });
        let limiter = Arc::new(RateLimiter::new(
            Backend::Database(store),
            Arc::new(SystemClock),
        ));
        group.bench_function(format!("database_sequential_{label}"), |b| {
            b.to_async(&rt)
                .iter(|| async { limiter.check("api:key:one", limit()).await.unwrap().allowed })
        });
        group.bench_function(format!("database_{IN_FLIGHT}_in_flight_{label}"), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let limiter = limiter.clone();
                async move {
                    let per_task = iters.div_ceil(IN_FLIGHT);
                    let started = Instant::now();
                    let tasks: Vec<_> = (0..IN_FLIGHT)
                        .map(|t| {
                            let limiter = limiter.clone();
                            tokio::spawn(async move {
                                for _ in 0..per_task {
                                    limiter
                                        .check(&format!("api:key:{t}"), limit())
                                        .await
                                        .unwrap();
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
            })
        });
    }
    group.finish();
    if let Some(db) = postgres {
        rt.block_on(db.drop_now());
    }
}

criterion_group!(benches, rate_limit);
criterion_main!(benches);
