//! API key verification in-process, on SQLite and PostgreSQL: a cache hit (SHA-256 of the key,
//! a read-locked map lookup, a constant-time compare, expiry and revocation checks) and a cache
//! miss (the same plus the database lookup by public id).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{BenchDb, api_key};
use criterion::{Criterion, criterion_group, criterion_main};

fn api_key_verification(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut group = c.benchmark_group("api_key_verification");
    let sqlite = rt.block_on(BenchDb::sqlite());
    let postgres = rt.block_on(BenchDb::postgres());
    for (label, db) in [("sqlite", Some(&sqlite)), ("postgres", postgres.as_ref())] {
        let Some(db) = db else { continue };
        let services = rt.block_on(db.services(Some("m=1024,t=1,p=1")));
        let key = rt.block_on(api_key(&services, "bench@example.com", &["tasks:read"]));
        // PostgreSQL's cache goes live once the change feed listens.
        rt.block_on(async {
            for _ in 0..200 {
                services.keys.authenticate(&key).await.expect("valid key");
                if !services.keys.cache().is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        });
        assert!(
            !services.keys.cache().is_empty(),
            "the cache never went live"
        );
        group.bench_function(format!("cache_hit_{label}"), |b| {
            b.to_async(&rt)
                .iter(|| async { services.keys.authenticate(&key).await.expect("valid key") })
        });
        group.bench_function(format!("cache_miss_{label}"), |b| {
            b.to_async(&rt).iter(|| async {
                services.keys.cache().clear();
                services.keys.authenticate(&key).await.expect("valid key")
            })
        });
    }
    group.finish();
    if let Some(db) = postgres {
        rt.block_on(db.drop_now());
    }
}

criterion_group!(benches, api_key_verification);
criterion_main!(benches);
